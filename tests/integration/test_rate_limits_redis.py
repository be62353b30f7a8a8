"""Rate limits on Redis: one budget shared by every instance, and requests served without it.

Two real ``conduit serve`` processes share a private redis-server (a free port, no
persistence); the machine's Redis is not touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from conduit.adapters.rate_limits import parse_rule, redis_rate_limiter
from conduit.bootstrap import Container, rate_limiter
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.conftest import _unreachable
from tests.faults.support import ConduitServer
from tests.redis_server import PrivateRedis, free_port


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    try:
        server.start()
    except RuntimeError as exc:
        _unreachable("redis-server", exc)
    try:
        yield server
    finally:
        server.stop()


def test_two_instances_share_one_budget_and_serve_on_when_redis_is_down(
    database_url: str, tmp_path: Path, redis_server: PrivateRedis
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    servers = [
        ConduitServer(
            database_url,
            tmp_path / name,
            CONDUIT_REDIS_URL=redis_server.url,
            CONDUIT_RATE_LIMITS_ENABLED="true",
            CONDUIT_RATE_LIMIT_READS_PER_IP="6/minute",
        )
        for name in ("a", "b")
    ]
    try:
        for server in servers:
            server.start()
        # Each request claims another address: neither uvicorn (proxy_headers=False) nor
        # Conduit (no trusted proxies) believes it, so all six count against 127.0.0.1.
        answers = [
            httpx.get(
                f"{servers[n % 2].base_url}/api/tags",
                headers={"X-Forwarded-For": f"198.51.100.{n}"},
                timeout=10,
            )
            for n in range(6)
        ]
        assert [answer.status_code for answer in answers] == [200] * 6
        # One budget: each instance counts the other's requests.
        assert [answer.headers["ratelimit-remaining"] for answer in answers] == [
            "5",
            "4",
            "3",
            "2",
            "1",
            "0",
        ]
        for server in servers:
            refused = httpx.get(f"{server.base_url}/api/tags", timeout=10)
            assert refused.status_code == 429, refused.text
            assert refused.json() == {"errors": {"request": ["too many requests"]}}
            assert int(refused.headers["retry-after"]) >= 1

        redis_server.stop()
        for server in servers:
            for _ in range(3):
                served = httpx.get(f"{server.base_url}/api/tags", timeout=10)
                assert served.status_code == 200, served.text  # fails open, not 500 or 429
                assert "ratelimit-limit" not in served.headers
            assert "rate_limits_unavailable" in server.logs()
    finally:
        for server in servers:
            server.stop()


async def test_an_unreachable_redis_lets_requests_through(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    configured = settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{free_port()}/0",
            "rate_limit_reads_per_ip": "1/minute",
        }
    )
    limiter = rate_limiter(configured)
    container = Container(settings=configured, db=db, tokens=tokens, rate_limiter=limiter)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as http:
        for _ in range(3):
            response = await http.get("/tags")
            assert response.status_code == 200, response.text
            assert "ratelimit-limit" not in response.headers
    assert limiter is not None
    await limiter.close()


async def test_a_frozen_redis_costs_a_timeout_then_is_left_alone_until_it_answers(
    redis_server: PrivateRedis,
) -> None:
    limiter = redis_rate_limiter(
        redis_server.url,
        {"reads_per_ip": parse_rule("3/minute")},
        secret="a secret key of the test, long enough to be strong",
        timeout_seconds=0.25,
    )
    try:
        counted = await limiter.hit("reads_per_ip", "198.51.100.1")
        assert counted is not None
        assert (counted.allowed, counted.limit, counted.remaining) == (True, 3, 2)
        redis_server.pause()  # connections stay open, nothing answers
        try:
            # Bounded by the call timeout, not by the operating system's TCP timeouts.
            assert await asyncio.wait_for(limiter.hit("reads_per_ip", "198.51.100.1"), 5) is None
            assert await asyncio.wait_for(limiter.hit("reads_per_ip", "198.51.100.1"), 5) is None
        finally:
            redis_server.resume()
        for _ in range(50):  # counted again once Redis answers (after the pause)
            quota = await limiter.hit("reads_per_ip", "198.51.100.2")
            if quota is not None:
                break
            await asyncio.sleep(0.1)
        assert quota is not None
        assert quota.remaining == 2
    finally:
        await limiter.close()


def _redis_app(
    db: Database, settings: Settings, tokens: TokenCodec, url: str, **values: object
) -> tuple[httpx.AsyncClient, Container]:
    configured = settings.model_copy(update={"redis_url": url, **values})
    container = Container(
        settings=configured, db=db, tokens=tokens, rate_limiter=rate_limiter(configured)
    )
    transport = httpx.ASGITransport(app=create_app(container=container), client=("192.0.2.1", 1))
    return httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api"), container


async def test_redis_keys_name_no_email_nor_address(
    db: Database, settings: Settings, tokens: TokenCodec, redis_server: PrivateRedis
) -> None:
    http, container = _redis_app(db, settings, tokens, redis_server.url)
    try:
        user = {"username": "carol", "email": "carol@example.com", "password": "password123"}
        assert (await http.post("/users", json={"user": user})).status_code == 201
        for password in ("wrong-guess", "password123"):
            body = {"user": {"email": "Carol@Example.com", "password": password}}
            response = await http.post("/users/login", json=body)
            assert "ratelimit-limit" in response.headers, response.text
        assert (await http.get("/tags")).status_code == 200
    finally:
        await http.aclose()
        assert container.rate_limiter is not None
        await container.rate_limiter.close()
    keys = [key.decode() for key in redis_server.client().keys("*")]
    for key in keys:
        assert "carol" not in key.lower(), key
        assert "example" not in key.lower(), key
        assert "192.0.2.1" not in key, key
        assert key.startswith("conduit:limits:"), key
    assert any("login_per_account" in key for key in keys), keys
    assert any("login_failures_per_address" in key for key in keys), keys


def _calls(server: redis.Redis) -> dict[str, int]:
    stats = server.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


# What the counting script runs inside Redis (counted by INFO too, but no round trips).
_INSIDE_THE_SCRIPT = {"get", "pttl", "set", "incrby", "exists", "rename", "info"}


async def test_a_counted_request_costs_one_round_trip_per_limit(
    db: Database, settings: Settings, tokens: TokenCodec, redis_server: PrivateRedis
) -> None:
    http, container = _redis_app(db, settings, tokens, redis_server.url)
    try:
        user = {"username": "dave", "email": "dave@conduit.test", "password": "password123"}
        token = (await http.post("/users", json={"user": user})).json()["user"]["token"]
        assert (await http.get("/tags")).status_code == 200  # the script is loaded by now
        probe = redis_server.client()
        before = _calls(probe)
        for _ in range(5):
            response = await http.get("/tags")
            assert response.status_code == 200
            assert response.headers["ratelimit-remaining"]
        bio = await http.put(
            "/user", json={"user": {"bio": "x"}}, headers={"Authorization": f"Token {token}"}
        )
        assert bio.status_code == 200, bio.text
        after = _calls(probe)
        delta = {name: after[name] - before.get(name, 0) for name in after}
        delta = {name: calls for name, calls in delta.items() if calls}
        assert delta["evalsha"] == 6, delta  # one call per request: 5 reads, 1 write
        # On MariaDB the write's commit also wakes the other instances over Redis (one
        # PUBLISH, docs/operating/wake-ups.md): not the rate limiter's.
        assert set(delta) - {"evalsha", "publish"} <= _INSIDE_THE_SCRIPT, delta
        assert delta.get("publish", 0) <= 1, delta

        # A login: its address counted, its account looked at; one call each.
        before = _calls(probe)
        body = {"user": {"email": "dave@conduit.test", "password": "password123"}}
        assert (await http.post("/users/login", json=body)).status_code == 200
        after = _calls(probe)
        assert after["evalsha"] - before["evalsha"] == 2
    finally:
        await http.aclose()
        assert container.rate_limiter is not None
        await container.rate_limiter.close()
