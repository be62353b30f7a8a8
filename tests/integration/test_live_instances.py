"""Live updates across instances: two ``conduit serve`` processes, one PostgreSQL, one Redis.

A WebSocket client on process A receives within a second what a write through process B
caused (the fault test of issue 7, section 6), and the Redis live bus itself delivers to
every instance and comes back by itself after Redis restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from redis.exceptions import RedisError

from conduit.adapters.redis_live import RedisLiveBus
from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.live import LiveHandler
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.conftest import TEST_SECRET, Backend, _unreachable
from tests.helpers import auth, create_article, register
from tests.live_support import (
    NOTIFICATION,
    add_comment,
    conduit_servers,
    frame,
    free_port,
    private_redis,
    serving,
    signed_in,
    subscribe,
)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with private_redis(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except RuntimeError as exc:
        _unreachable("redis-server", exc)


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    backend = Backend("postgresql", tmp_path_factory.mktemp("pg"))
    try:
        url = backend.create()
    except Exception as exc:
        _unreachable("postgresql", exc)
    yield url
    backend.drop()


async def test_a_write_on_one_instance_reaches_a_socket_on_the_other_within_a_second(
    postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {
        "CONDUIT_DATABASE_URL": postgres_url,
        "CONDUIT_SECRET_KEY": TEST_SECRET,
        "CONDUIT_REDIS_URL": redis_url,
        "CONDUIT_AUTO_MIGRATE": "false",
        "CONDUIT_DATA_DIR": str(tmp_path),
        "CONDUIT_LOG_LEVEL": "WARNING",
    }
    with conduit_servers(env, [tmp_path / "a.log", tmp_path / "b.log"]) as (api_a, api_b):
        ws_a = api_a.replace("http://", "ws://") + "/ws"
        async with httpx.AsyncClient(base_url=api_b, timeout=10) as b:
            author = await register(b, "author")
            reader = await register(b, "reader")
            slug = (await create_article(b, author))["slug"]
            assert (await b.post("/profiles/author/follow", headers=auth(reader))).is_success
            async with signed_in(ws_a, reader) as ws:
                await subscribe(ws, slug)
                latencies = []
                for n in range(5):
                    started = time.monotonic()
                    comment = await add_comment(b, author, slug, f"from B #{n}")
                    pushed = await frame(ws, wait=1.0)  # the bound: within one second
                    latencies.append(time.monotonic() - started)
                    assert pushed["type"] == "comment.created"
                    assert pushed["article"] == slug
                    assert pushed["comment"]["id"] == comment["id"]
                    assert pushed["comment"]["author"]["following"] is True
                print(f"cross-instance comment push, ms: {[round(x * 1000) for x in latencies]}")
            # A follow through B: the notification it causes reaches the followee's socket on A.
            async with signed_in(ws_a, reader) as ws:
                started = time.monotonic()
                followed = await b.post("/profiles/reader/follow", headers=auth(author))
                assert followed.status_code == 200
                # The consumer runs on either instance (B's relay wakes at once for B's commit,
                # A's polls every 0.5 s); its commit publishes the push.
                pushed = await frame(ws, wait=1.0, kinds=NOTIFICATION)
                assert pushed["type"] == "notification"
                notification = pushed["notification"]
                assert notification["type"] == "follow"
                assert notification["actor"]["username"] == "author"
                elapsed = round((time.monotonic() - started) * 1000)
                print(f"cross-instance notification push, ms: {elapsed}")


async def test_redis_live_bus_reaches_every_instance_and_survives_a_redis_restart(
    redis_url: str, tmp_path: Path
) -> None:
    heard: dict[str, list[bytes]] = {"a": [], "b": []}

    def listener(name: str) -> LiveHandler:
        async def handle(message: bytes) -> None:
            heard[name].append(message)

        return handle

    # A Redis of this test's own, on a port we can start it again on.
    with private_redis(tmp_path) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        a, b = RedisLiveBus(url), RedisLiveBus(url)
        await a.start(listener("a"))
        await b.start(listener("b"))
    try:
        # (Redis is down now) publishing fails loudly; the publisher logs it, no write fails.
        with pytest.raises(RedisError):
            await a.publish(b"lost")
        with private_redis(tmp_path, port=port):
            # Both listeners reconnect by themselves; a message published afterwards reaches
            # both instances. (Redis pub/sub keeps nothing: what was published while an
            # instance was away is not replayed.)
            deadline = time.monotonic() + 10
            while not (b"two" in heard["a"] and b"two" in heard["b"]):
                assert time.monotonic() < deadline, heard
                with contextlib.suppress(RedisError):
                    await b.publish(b"two")
                await asyncio.sleep(0.1)
            await a.publish(b"three")
            await _until(lambda: heard["a"][-1] == b"three" and heard["b"][-1] == b"three")
            assert b"lost" not in heard["a"] + heard["b"]
    finally:
        await a.close()
        await b.close()


async def test_redis_live_bus_delivers_to_every_subscriber(redis_url: str) -> None:
    heard: list[tuple[str, bytes]] = []

    def listener(name: str) -> LiveHandler:
        async def handle(message: bytes) -> None:
            heard.append((name, message))

        return handle

    a, b = RedisLiveBus(redis_url, channel="test:a-b"), RedisLiveBus(redis_url, channel="test:a-b")
    try:
        await a.start(listener("a"))
        await b.start(listener("b"))
        await a.publish(b"one")
        await b.publish(b"two")
        await _until(lambda: len(heard) == 4)
        assert sorted(heard) == [("a", b"one"), ("a", b"two"), ("b", b"one"), ("b", b"two")]
    finally:
        await a.close()
        await b.close()


async def _until(condition: Callable[[], bool], wait: float = 5.0) -> None:
    deadline = time.monotonic() + wait
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_writes_succeed_while_redis_is_down(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    dead = RedisLiveBus(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens, live=dead))
    async with serving(app) as running, httpx.AsyncClient(base_url=running.api_url) as api:
        author = await register(api, "author")
        slug = (await create_article(api, author))["slug"]
        async with signed_in(running.ws_url, author) as ws:
            await subscribe(ws, slug)  # the socket works; only cross-instance pushes are off
            for n in range(3):
                await add_comment(api, author, slug, f"while Redis is down #{n}")
            listed = (await api.get(f"/articles/{slug}/comments")).json()["comments"]
            assert len(listed) == 3
