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
        redis_server.url, {"reads_per_ip": parse_rule("3/minute")}, timeout_seconds=0.25
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
