"""The response cache's circuit breaker, shared by the Redis and Memcached adapters: when the
cache is read again after an outage, and what is replayed first."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from conduit.adapters.cache_breaker import READS_RESUME_AFTER, CacheBreaker
from conduit.core.cache import ALL


class Server:
    """A cache server that can refuse connections, or be replaced by another one."""

    def __init__(self) -> None:
        self.down = False
        self.moved = False
        self.replays: list[set[str]] = []

    async def replay(self, changed: Collection[str], within: float) -> None:
        self.answer_or_refuse()
        self.replays.append(set(changed))

    async def ping(self, within: float) -> None:
        self.answer_or_refuse()

    async def entry(self) -> str:
        self.answer_or_refuse()
        return "cached body"

    def answer_or_refuse(self) -> None:
        if self.down:
            raise ConnectionRefusedError("refused")

    def has_moved(self) -> bool:
        moved, self.moved = self.moved, False
        return moved


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(server: Server, clock: Clock) -> CacheBreaker:
    return CacheBreaker(
        "the cache server",
        replay=server.replay,
        ping=server.ping,
        failures=(OSError,),
        replies=(),
        moved=server.has_moved,
        clock=clock,
    )


async def _until_replayed(server: Server) -> None:
    for _ in range(200):
        if server.replays:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the probe replayed nothing")


async def test_reads_wait_after_a_recovery_while_invalidations_go_through() -> None:
    server, clock = Server(), Clock()
    breaker = _breaker(server, clock)
    try:
        assert await breaker.call("lookup", server.entry) == "cached body"
        server.down = True
        assert await breaker.call("lookup", server.entry) is None  # read the database
        assert not breaker.available
        await breaker.bump({"article:a"}, 1.0)  # skipped: the probe replays it
        server.down = False
        await _until_replayed(server)
        assert server.replays == [{ALL}]  # a broken connection: perhaps a restarted server

        # Another instance may not have replayed its own skipped invalidations yet.
        assert await breaker.call("lookup", server.entry) is None
        assert not breaker.available
        await breaker.bump({"article:b"}, 1.0)
        assert server.replays[-1] == {"article:b"}

        clock.now += READS_RESUME_AFTER
        assert breaker.available
        assert await breaker.call("lookup", server.entry) == "cached body"
    finally:
        await breaker.close()


async def test_an_answer_from_another_server_is_not_used_before_all_is_replayed_there() -> None:
    server, clock = Server(), Clock()
    breaker = _breaker(server, clock)
    try:
        assert await breaker.call("lookup", server.entry) == "cached body"
        server.moved = True  # a failover: the new primary may lack the last bumps
        assert await breaker.call("lookup", server.entry) is None
        assert not breaker.available
        await _until_replayed(server)
        assert server.replays == [{ALL}]
        clock.now += READS_RESUME_AFTER
        assert await breaker.call("lookup", server.entry) == "cached body"
    finally:
        await breaker.close()
