"""The response cache on Redis (``CONDUIT_REDIS_URL``), shared by every Conduit instance.

Keys::

    conduit:gen:<generation>                      a counter, INCR'd by commits (no TTL)
    conduit:cache:<path?query>|<g1>:<g2>...       a cached body (TTL ``cache_ttl_seconds``)

A lookup is one round trip: a Lua script reads the generations, composes the entry's key
and GETs it. An invalidation is one pipelined round trip of INCRs.

Redis slow or down is handled by :class:`~conduit.adapters.cache_breaker.CacheBreaker`, as
Memcached is: short timeouts, a breaker that makes requests bypass Redis without touching it,
and a probe that replays the missed bumps (and the ``all`` generation after a connection
error: Redis may have restarted from an older snapshot) before the breaker closes; reads then
wait ``READS_RESUME_AFTER`` more, until every instance's probe has replayed its own.

A Sentinel failover (``redis+sentinel://``) is such an outage: killing the primary breaks
every connection, the breaker opens, and the probe's new connections ask the Sentinels for
the primary until they name the promoted replica. Replication is asynchronous, so the
replica may lack the primary's last INCRs: a new connection that reaches another server
than the last one trips the breaker too (:meth:`RedisResponseCache._moved`, asked by the
breaker after every answer, even when the old primary's loss showed only as a timeout), and
the probe bumps ``all`` there before the cache is read again, so no entry written before the
failover can hide a commit.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from conduit.adapters.cache_breaker import (
    PROBE_TIMEOUT,
    READS_RESUME_AFTER,
    CacheBreaker,
    LoopLag,
)
from conduit.adapters.redis_client import ConnectionMaker
from conduit.core.cache import BYPASS, Lookup

GENERATION_PREFIX = "conduit:gen:"
ENTRY_PREFIX = "conduit:cache:"
MAX_ENTRY_BYTES = 4 * 1024 * 1024
MAX_IDLE_CONNECTIONS = 64

# KEYS: the generation counters; ARGV[1]: the request. Returns {entry key, entry or nil}.
_LOOKUP = """
local generations = redis.call('MGET', unpack(KEYS))
local key = ARGV[1] .. '|'
for i, value in ipairs(generations) do
  if value then key = key .. value .. ':' else key = key .. '0:' end
end
return {key, redis.call('GET', key)}
"""
_LOOKUP_SHA = hashlib.sha1(_LOOKUP.encode()).hexdigest()  # noqa: S324 - Redis names scripts so


class RedisLink:
    """A few redis-py connections used one command (or pipeline) at a time.

    Leaner than ``redis.asyncio.Redis`` on the hot path (no per-command pool checks,
    events or ``wait_for`` task): one ``asyncio.timeout`` bounds the whole call. A
    connection that failed in any way is closed, and so are the idle ones, never reused.
    With Sentinel a new connection asks where the primary is, so after a failover the
    cache's next connections reach the promoted replica.
    """

    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self._connect = ConnectionMaker(
            url,
            socket_timeout=None,  # bounded by asyncio.timeout around each call
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
        )
        self._timeout = timeout_seconds
        self._idle: list[AbstractConnection] = []
        self.lag = LoopLag()
        self._server: tuple[Any, ...] | None = None  # where the last new connection went
        self.moved = False  # a new connection reached another server (a Sentinel failover)

    async def execute(self, *commands: tuple[Any, ...], within: float | None = None) -> list[Any]:
        """Send ``commands`` in one write and read their replies (errors returned, not raised)."""
        self.lag.watch()
        fresh = not self._idle
        connection = self._connect() if fresh else self._idle.pop()
        try:
            async with asyncio.timeout((within or self._timeout) + self.lag.seconds):
                if fresh:  # connect() first: a Sentinel connection asks for the primary there
                    await connection.connect()  # type: ignore[no-untyped-call]
                await connection.send_packed_command(
                    connection.pack_commands(commands), check_health=False
                )
                replies = []
                for _ in commands:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:  # an error reply: the connection is fine
                        replies.append(exc)
        except BaseException:
            await connection.disconnect(nowait=True)
            await self.drop_idle()  # they are likely broken too (a restart, a reset)
            raise
        if fresh:
            self._arrived(connection)
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            await connection.disconnect(nowait=True)
        return replies

    def _arrived(self, connection: AbstractConnection) -> None:
        where = tuple(getattr(connection, name, None) for name in ("host", "port", "path"))
        if self._server is not None and where != self._server:
            self.moved = True
        self._server = where

    async def drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.disconnect(nowait=True)

    async def close(self) -> None:
        await self.drop_idle()
        await self._connect.close()
        await self.lag.close()


class RedisResponseCache:
    """:class:`conduit.core.cache.ResponseCache` on Redis, with a circuit breaker."""

    enabled = True

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = RedisLink(url, timeout_seconds=timeout_seconds)
        self.timeout_seconds = timeout_seconds
        self._ttl = ttl_seconds
        self._breaker = CacheBreaker(
            "Redis",
            replay=self._bump,
            ping=self._probe_ping,
            failures=(RedisError, OSError),
            replies=(ResponseError,),
            timeouts=(RedisTimeoutError,),
            moved=self._moved,
            reads_resume_after=READS_RESUME_AFTER,
            clock=clock,
        )
        # Failed calls by operation (lookup, store, invalidate), read by the metrics.
        self.failures = self._breaker.failures

    @property
    def available(self) -> bool:
        """False while requests bypass Redis (until the probe has resynchronised, and for
        ``READS_RESUME_AFTER`` more)."""
        return self._breaker.available

    async def lookup(self, request: str, generations: Sequence[str]) -> Lookup:
        keys = [GENERATION_PREFIX + name for name in generations]
        answer = await self._breaker.call(
            "lookup", lambda: self._run_lookup(keys, ENTRY_PREFIX + request)
        )
        if answer is None:
            return BYPASS
        key, value = answer
        return Lookup(key=key.decode(), value=value)

    async def _run_lookup(self, keys: list[str], request: str) -> Any:
        (reply,) = await self._redis.execute(("EVALSHA", _LOOKUP_SHA, len(keys), *keys, request))
        if isinstance(reply, NoScriptError):  # a restarted Redis forgot the script
            (reply,) = await self._redis.execute(("EVAL", _LOOKUP, len(keys), *keys, request))
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def store(self, key: str, value: bytes) -> None:
        if len(value) <= MAX_ENTRY_BYTES:
            await self._breaker.call(
                "store", lambda: self._redis.execute(("SET", key, value, "EX", self._ttl))
            )

    async def bump(self, generations: Collection[str]) -> None:
        changed = set(generations)
        if changed:
            await self._breaker.bump(changed, self.timeout_seconds)

    async def _bump(self, changed: Collection[str], within: float) -> None:
        commands = [("INCR", GENERATION_PREFIX + name) for name in sorted(changed)]
        for reply in await self._redis.execute(*commands, within=within):
            if isinstance(reply, Exception):
                raise reply

    async def _probe_ping(self, within: float) -> None:
        """The probe's PING: any reply, even an error, shows Redis answers again."""
        await self._redis.execute(("PING",), within=within)

    def _moved(self) -> bool:
        """True once after a new connection reached another server than the last one (a
        Sentinel failover): the breaker then replays ``all`` there before using its answers."""
        moved, self._redis.moved = self._redis.moved, False
        return moved

    async def ping(self) -> None:
        """One PING to Redis, whatever the breaker says (the readiness check)."""
        (reply,) = await self._redis.execute(("PING",), within=PROBE_TIMEOUT)
        if isinstance(reply, Exception):
            raise reply

    async def close(self) -> None:
        await self._breaker.close()
        await self._redis.close()
