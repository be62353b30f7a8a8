"""Memcached as the response cache: what it does that Redis does not, against a private
memcached per test.

The behaviour both servers share (hits, invalidation by the next request on another
instance, the server stopped or hung) is tested on both in ``test_response_cache.py``.
Here: Memcached evicts items, counters included, and forgets everything when it restarts;
no eviction may ever bring back a body from before a write. And the configuration that
chooses it, its readiness check and its metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from conduit.adapters.memcached_cache import MemcachedResponseCache, generation_key
from conduit.adapters.redis_cache import RedisResponseCache
from conduit.articles.cache_rules import LISTS, article, comments
from conduit.bootstrap import CACHE_RULES, Container, build, response_cache
from conduit.bootstrap.configuration import ConfigurationError
from conduit.core.cache import ALL, NoCache
from conduit.core.db import Database
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from conduit.tags.cache_rules import TAGS
from tests.helpers import auth
from tests.integration.test_response_cache import (
    Instance,
    _world,
    fast_password_hashing,
    instances,
)
from tests.memcached_server import PrivateMemcached
from tests.observability.conftest import Samples, parse, value

__all__ = ["fast_password_hashing", "instances"]


@pytest.fixture
def cache_server() -> Iterator[PrivateMemcached]:
    """The server ``instances`` share: here always a memcached."""
    server = PrivateMemcached()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _generations(slug: str) -> list[str]:
    """Every generation the reads of ``slug`` and the lists depend on."""
    return [ALL, LISTS, TAGS, article(slug), comments(slug)]


async def test_an_evicted_generation_never_brings_back_an_older_body(
    instances: tuple[Instance, Instance], cache_server: PrivateMemcached
) -> None:
    a, b = instances
    world = await _world(a)
    url = f"/articles/{world['slug']}"
    for round_ in range(4):
        # Each round's body is cached under the generations of its time, then a write
        # bumps them, and then Memcached evicts the counters (but not the entries).
        await b.warm(url, "/articles")
        version = f"version {round_}"
        changes = {"body": version, "description": version}
        changed = await a.http.put(url, json={"article": changes}, headers=auth(world["author"]))
        assert changed.status_code == 200
        assert (await b.read(url))["article"]["body"] == version
        for name in _generations(world["slug"]):
            cache_server.delete(generation_key(name))
        assert cache_server.items() > 0  # the older bodies are still there
        for instance in (a, b):
            assert (await instance.read(url))["article"]["body"] == version
            listed = (await instance.read("/articles"))["articles"][0]
            assert listed["description"] == version
    answers = await b.warm(url)  # caching goes on with the counters made again
    assert answers[url]["article"]["body"] == "version 3"


async def test_everything_flushed_reads_the_database_then_caches_again(
    instances: tuple[Instance, Instance], cache_server: PrivateMemcached
) -> None:
    a, b = instances
    world = await _world(a)
    url = f"/articles/{world['slug']}"
    await a.warm(url, "/tags")
    cache_server.flush_all()  # as a restart or an eviction of everything would
    changed = await a.http.put(
        url, json={"article": {"tagList": ["flushed"]}}, headers=auth(world["author"])
    )
    assert changed.status_code == 200
    assert "flushed" in (await b.read("/tags"))["tags"]
    answers = await b.warm(url, "/tags")
    assert answers[url]["article"]["tagList"] == ["flushed"]
    assert a.cache.available
    assert b.cache.available


def _settings(settings: Settings, **values: Any) -> Settings:
    return Settings.model_validate({**settings.model_dump(), **values})


async def test_the_cache_url_chooses_the_server(db: Database, settings: Settings) -> None:
    caches = []
    try:
        chosen = _settings(settings, cache_url="memcached://127.0.0.1:11311")
        caches.append(memcached := response_cache(chosen, db, CACHE_RULES))
        assert isinstance(memcached, MemcachedResponseCache)
        default_port = _settings(settings, cache_url="memcached://cache.internal")
        caches.append(response_cache(default_port, db, CACHE_RULES))
        both = _settings(settings, redis_url="redis://127.0.0.1:6399/0", cache_url=chosen.cache_url)
        caches.append(response_cache(both, db, CACHE_RULES))
        assert isinstance(caches[-1], MemcachedResponseCache)  # live updates keep the Redis
        for redis in ({"redis_url": "redis://127.0.0.1:6399/0"}, {"cache_url": "redis://h:1"}):
            caches.append(response_cache(_settings(settings, **redis), db, CACHE_RULES))
            assert isinstance(caches[-1], RedisResponseCache)
        assert isinstance(response_cache(settings, db, CACHE_RULES), NoCache)
    finally:
        for cache in caches:
            await cache.close()
    for wrong in ("memcache://h:11211", "memcached://h:port", "memcached://h:1/db", "h:11211"):
        with pytest.raises(ConfigurationError) as raised:
            response_cache(_settings(settings, cache_url=wrong), db, CACHE_RULES)
        assert "CONDUIT_CACHE_URL" in str(raised.value)
        assert "memcached://host:port" in str(raised.value), str(raised.value)


@pytest.fixture
async def served(
    db: Database, settings: Settings, cache_server: PrivateMemcached
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as bootstrap builds it (metrics on) with CONDUIT_CACHE_URL=memcached://."""
    configured = _settings(settings, cache_url=cache_server.url, rate_limits_enabled=False)
    container: Container = build(configured)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(container.db.dispose)
        stack.push_async_callback(container.cache.close)
        transport = httpx.ASGITransport(app=create_app(container=container))
        http = httpx.AsyncClient(transport=transport, base_url="http://conduit.test")
        stack.push_async_callback(http.aclose)
        yield http


async def _scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


async def test_readiness_and_metrics_report_memcached(
    served: httpx.AsyncClient, cache_server: PrivateMemcached
) -> None:
    ready = await served.get("/health/ready")
    assert ready.status_code == 200
    check = ready.json()["checks"]["cache"]
    assert (check["kind"], check["state"]) == ("memcached", "up")
    assert "rate_limits" not in ready.json()["checks"]  # no Redis: counted in the process

    before = await _scrape(served)
    for _ in range(3):  # a miss, then two answers from Memcached
        assert (await served.get("/api/articles")).status_code == 200
    cached = await _scrape(served)
    cache_server.stop()
    assert (await served.get("/api/articles")).status_code == 200  # from the database
    after = await _scrape(served)

    def counted(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    assert counted(cached, "conduit_cache_misses_total") == 1
    assert counted(cached, "conduit_cache_hits_total") == 2
    assert counted(after, "conduit_cache_bypasses_total") == 1
    assert counted(after, "conduit_cache_errors_total", operation="lookup") == 1

    down = await served.get("/health/ready")
    assert down.status_code == 200  # the cache is not required: the instance stays ready
    assert down.json()["status"] == "degraded"
    assert down.json()["checks"]["cache"]["state"] == "down"

    cache_server.start()  # same port, empty: the instance finds it again by itself
    for _ in range(100):
        if (await served.get("/health/ready")).json()["status"] == "ok":
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the readiness check did not see Memcached again")
