"""Conduit with ``CONDUIT_REDIS_URL=redis+sentinel://...`` loses its Redis primary under load.

Two ``conduit serve`` instances on a fresh PostgreSQL database share a Redis primary, its
replica and three Sentinels (tests/redis_sentinel.py). Readers and writers keep both
instances busy while the primary is killed (SIGKILL) and the Sentinels promote the
replica. What users rely on:

- every request is answered 2xx (no 5xx, no dropped connection) before, during and after;
- no read is stale: an article read after its update was acknowledged shows that update,
  whichever instance served either, whenever it happened (before, during, after the
  failover), so the cache's invalidations survive the failover;
- the cache is used again (hits resume) on the promoted replica, without a restart;
- rate limits count again on the promoted replica, shared by both instances;
- a comment written through one instance is pushed again to a WebSocket on the other.

The seconds from the kill until the promotion, the cache's first hits and the first live
push are printed (``-s``) for the operating docs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from conduit.adapters.redis_cache import RedisResponseCache
from tests.conftest import TEST_SECRET, Backend, _unreachable
from tests.helpers import auth, create_article, register
from tests.live_support import add_comment, conduit_servers, frame, signed_in, subscribe
from tests.redis_sentinel import SentinelRedis, sentinel_redis

pytestmark = pytest.mark.cluster

LOGIN_LIMIT = 5  # failed logins per account and minute
READERS = 6
WRITERS = 2


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    backend = Backend("postgresql", tmp_path)
    try:
        url = backend.create()
    except Exception as exc:
        _unreachable("postgresql", exc)
    yield url
    backend.drop()


@pytest.fixture
def redis_ha(tmp_path: Path) -> Iterator[SentinelRedis]:
    with sentinel_redis(tmp_path / "redis") as deployment:
        yield deployment


@dataclass
class Load:
    """Readers and writers on both instances; every answer that is not 2xx is kept."""

    apis: list[httpx.AsyncClient]
    articles: dict[str, str]  # slug -> token of its author
    acknowledged: dict[str, int] = field(default_factory=dict)  # slug -> last version 200
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    written_at: list[float] = field(default_factory=list)  # when each update was answered
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def request(self, api: httpx.AsyncClient, method: str, url: str, **kw: object) -> object:
        try:
            response = await api.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            self.failures.append(f"{method} {url}: {exc!r}")
            return None
        self.answers[f"{method} {response.status_code}"] += 1
        if not response.is_success:
            self.failures.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
            return None
        return response.json()

    async def reader(self, n: int) -> None:
        slugs = itertools.cycle(sorted(self.articles))
        for turn in itertools.count(n):
            if self.stop.is_set():
                return
            api = self.apis[turn % len(self.apis)]
            if turn % 4 == 0:
                await self.request(api, "GET", "/articles?limit=5")
                continue
            slug = next(slugs)
            floor = self.acknowledged[slug]  # acknowledged before this read began
            body = await self.request(api, "GET", f"/articles/{slug}")
            if body is not None:
                self._check(slug, floor, body)

    async def writer(self, slug: str) -> None:
        token = self.articles[slug]
        for version in itertools.count(self.acknowledged[slug] + 1):
            if self.stop.is_set():
                return
            api, other = self.apis[version % 2], self.apis[(version + 1) % 2]
            change = {"article": {"body": f"version {version}"}}
            answer = await self.request(
                api, "PUT", f"/articles/{slug}", json=change, headers=auth(token)
            )
            if answer is None:
                await asyncio.sleep(0.05)
                continue
            self.acknowledged[slug] = version
            self.written_at.append(time.monotonic())
            # Read back at once, anonymously (the cached read), on the other instance.
            body = await self.request(other, "GET", f"/articles/{slug}")
            if body is not None:
                self._check(slug, version, body)
            await asyncio.sleep(0.02)

    def _check(self, slug: str, floor: int, body: object) -> None:
        assert isinstance(body, dict)
        text = body["article"]["body"]
        seen = int(text.removeprefix("version ")) if text.startswith("version ") else 0
        if seen < floor:
            self.stale.append(f"{slug}: read version {seen} after version {floor} was answered")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        tasks = [asyncio.create_task(self.reader(n)) for n in range(READERS)]
        tasks += [asyncio.create_task(self.writer(slug)) for slug in self.articles]
        try:
            yield
        finally:
            self.stop.set()
            await asyncio.gather(*tasks)


async def cache_counters(api: httpx.AsyncClient) -> dict[str, float]:
    """The instance's cache hits and bypasses so far (its /metrics, read from loopback)."""
    text = (await api.get("/metrics")).text
    found = {}
    for name in ("hits", "bypasses"):
        match = re.search(rf"^conduit_cache_{name}_total (\S+)$", text, re.MULTILINE)
        found[name] = float(match.group(1)) if match else 0.0
    return found


async def hits_resume(api: httpx.AsyncClient, before: dict[str, float], killed_at: float) -> float:
    """Seconds from the kill until this instance answers from the cache again: after reads
    bypassed the cache, the first interval in which hits grew and no read bypassed."""
    previous, bypassed = before, False
    while True:
        now = await cache_counters(api)
        if now["bypasses"] > previous["bypasses"]:
            bypassed = True
        elif bypassed and now["hits"] > previous["hits"]:
            return time.monotonic() - killed_at
        previous = now
        await asyncio.sleep(0.1)


async def _until(condition: Callable[[dict[str, float]], bool], *apis: httpx.AsyncClient) -> None:
    """Until ``condition`` holds for the cache counters of every one of ``apis``."""
    while True:
        if all([condition(await cache_counters(api)) for api in apis]):
            return
        await asyncio.sleep(0.05)


async def live_resumes(
    ws: ClientConnection, writer: httpx.AsyncClient, token: str, slug: str, killed_at: float
) -> float:
    """Seconds from the kill until a comment written through one instance is pushed to the
    socket on the other (comments written meanwhile may be lost: pushes are best-effort)."""
    for n in itertools.count():
        comment = await add_comment(writer, token, slug, f"during the failover #{n}")
        with contextlib.suppress(TimeoutError):
            while True:
                pushed = await frame(ws, wait=0.3)
                if pushed.get("comment", {}).get("id") == comment["id"]:
                    return time.monotonic() - killed_at
    raise AssertionError("unreachable")


async def test_losing_the_redis_primary_under_load_fails_no_request_and_everything_resumes(
    postgres_url: str, redis_ha: SentinelRedis, tmp_path: Path
) -> None:
    env = {
        "CONDUIT_DATABASE_URL": postgres_url,
        "CONDUIT_SECRET_KEY": TEST_SECRET,
        "CONDUIT_REDIS_URL": redis_ha.url,
        "CONDUIT_AUTO_MIGRATE": "false",
        "CONDUIT_DATA_DIR": str(tmp_path),
        "CONDUIT_LOG_LEVEL": "WARNING",
        "CONDUIT_RATE_LIMIT_LOGIN_PER_ACCOUNT": f"{LOGIN_LIMIT}/minute",
        "CONDUIT_DB_POOL_SIZE": "8",  # the shared server's connections are for everyone
    }
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with conduit_servers(env, logs) as urls:
        async with contextlib.AsyncExitStack() as stack:
            a, b = [
                await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
                for url in urls
            ]
            metrics = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url.removesuffix("/api"), timeout=10)
                )
                for url in urls
            ]
            await _scenario(redis_ha, a, b, metrics, urls[0])


async def _scenario(
    redis_ha: SentinelRedis,
    a: httpx.AsyncClient,
    b: httpx.AsyncClient,
    metrics: list[httpx.AsyncClient],
    api_a: str,
) -> None:
    authors = [await register(b, f"writer{n}") for n in range(WRITERS)]
    articles = {
        (await create_article(b, token, title=f"Failover {n}", body="version 0"))["slug"]: token
        for n, token in enumerate(authors)
    }
    reader = await register(b, "reader")
    talked_about = (await create_article(b, authors[0], title="Live"))["slug"]
    load = Load(apis=[a, b], articles=articles, acknowledged=dict.fromkeys(articles, 0))
    ws_a = api_a.replace("http://", "ws://") + "/ws"

    async with signed_in(ws_a, reader) as ws:
        await subscribe(ws, talked_about)
        comment = await add_comment(b, authors[0], talked_about, "before the failover")
        assert (await frame(ws, wait=2.0))["comment"]["id"] == comment["id"]

        async with load.running():
            await _until(lambda counters: counters["hits"] >= 20, *metrics)  # cache in use
            before = [await cache_counters(m) for m in metrics]
            killed_at = time.monotonic()
            old_primary = await asyncio.to_thread(redis_ha.kill_primary)

            async def promoted() -> tuple[int, float]:
                port = await asyncio.to_thread(redis_ha.wait_for_failover, old_primary)
                return port, time.monotonic() - killed_at

            promotion_task = asyncio.create_task(promoted())
            cache_tasks = [
                asyncio.create_task(hits_resume(m, counters, killed_at))
                for m, counters in zip(metrics, before, strict=True)
            ]
            live_task = asyncio.create_task(
                live_resumes(ws, b, authors[0], talked_about, killed_at)
            )
            waited = [promotion_task, *cache_tasks, live_task]
            _, pending = await asyncio.wait(waited, timeout=45)
            for task in pending:
                task.cancel()
            assert not pending, {
                "promotion": promotion_task.done(),
                "cache hits on A, B": [task.done() for task in cache_tasks],
                "live push": live_task.done(),
                "failures": load.failures[:5],
            }
            new_primary, promotion = promotion_task.result()
            cache_a, cache_b = [task.result() for task in cache_tasks]
            live = live_task.result()
            await asyncio.sleep(2)  # more load on the promoted replica

    # Rate limits count on the promoted replica, shared by both instances.
    victim = "victim@conduit.test"
    await register(a, "victim")
    refused = [
        await (a, b)[n % 2].post(
            "/users/login", json={"user": {"email": victim, "password": "wrong-password"}}
        )
        for n in range(LOGIN_LIMIT + 1)
    ]
    statuses = [response.status_code for response in refused]
    assert statuses == [401] * LOGIN_LIMIT + [429], statuses
    promoted_replica = redis_ha.client(new_primary)
    assert promoted_replica.keys("conduit:limits:*")
    # The cache's generations live on the promoted replica too (and "all" was bumped there).
    assert promoted_replica.exists("conduit:gen:all")

    # After everything: each article reads its last acknowledged version on both instances.
    for slug, version in load.acknowledged.items():
        for api in (a, b):
            body = (await api.get(f"/articles/{slug}")).json()["article"]["body"]
            assert body == f"version {version}"

    print(
        f"\nRedis Sentinel failover under load: {sum(load.answers.values())} answers "
        f"{dict(load.answers)}; promoted {old_primary} -> {new_primary} after {promotion:.1f} s; "
        f"cache hits again after {cache_a:.1f} s (A) / {cache_b:.1f} s (B); "
        f"live push again after {live:.1f} s (seconds from SIGKILL)"
    )
    assert load.failures == [], load.failures[:10]
    assert load.stale == [], load.stale[:10]
    # Updates were answered while no primary answered, and after the cache was back.
    assert any(killed_at < at < killed_at + promotion for at in load.written_at)
    assert any(at > killed_at + max(cache_a, cache_b) for at in load.written_at)


async def test_an_invalidation_an_instance_could_not_send_is_not_hidden_by_another_instance(
    redis_ha: SentinelRedis,
) -> None:
    """Instance A reaches the promoted replica first; B reaches it a moment later (here its
    only Sentinel is frozen for half a second). A write on B in that moment skips its
    invalidation until B's probe replays it: A must not answer from the cache meanwhile
    what it stored before that write."""
    first, *others = redis_ha.sentinel_ports
    a = RedisResponseCache(redis_ha.url_of(*others), ttl_seconds=60, timeout_seconds=0.25)
    b = RedisResponseCache(redis_ha.url_of(first), ttl_seconds=60, timeout_seconds=0.25)
    request, generations = "/articles/failover", ["all", "article:failover"]
    try:
        for cache in (a, b):
            assert (await cache.lookup(request, generations)).key is not None
        old_primary = await asyncio.to_thread(redis_ha.kill_primary)
        assert (await b.lookup(request, generations)).key is None  # B knows: bypass
        await asyncio.to_thread(redis_ha.wait_for_failover, old_primary)
        redis_ha.pause(first)
        answers: list[bytes | None] = []
        written_at: float | None = None
        started = time.monotonic()
        while time.monotonic() < started + 6:
            found = await a.lookup(request, generations)
            if written_at is None:
                if found.key is not None and found.value is None:
                    await a.store(found.key, b"read before the write")  # A read the database
                if time.monotonic() > started + 0.5:
                    await b.bump(["article:failover"])  # the write on B commits: not sent
                    written_at = time.monotonic()
            else:
                answers.append(found.value)
                if time.monotonic() > written_at + 0.3:
                    redis_ha.resume(first)  # B reaches the promoted replica: replays
            await asyncio.sleep(0.05)
        assert b"read before the write" not in answers
        assert b.available
    finally:
        with contextlib.suppress(Exception):
            redis_ha.resume(first)
        await a.close()
        await b.close()
