"""The response cache, on Redis and on Memcached, against a private server started for each
test (``cache_server``: each test runs on both).

Two app instances share one database and one cache server, as two ``conduit serve``
processes would: what one writes, the other must never serve in its pre-write version.
Memcached's own cases (evicted generations) are in ``test_memcached_cache.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from conduit.adapters import cache_breaker
from conduit.adapters.memcached_cache import MemcachedResponseCache
from conduit.adapters.redis_cache import RedisResponseCache
from conduit.bootstrap import CACHE_RULES, Container, response_cache
from conduit.core import security
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.http import conditional, exchange, read_cache
from conduit.settings import Settings
from tests.conftest import _unreachable
from tests.helpers import auth, create_article, register
from tests.integration.support import count_statements
from tests.memcached_server import PrivateMemcached
from tests.redis_server import PrivateRedis

CacheServer = PrivateRedis | PrivateMemcached
Cache = RedisResponseCache | MemcachedResponseCache
# Reads timed out in a row before an adapter (either one) stops waiting for its server.
TIMEOUTS_TO_OPEN = cache_breaker.TIMEOUTS_TO_OPEN
# How long warm() reads on: past the bypass after a recovery, with room for a loaded machine.
WARM_WITHIN = cache_breaker.READS_RESUME_AFTER + 7.5


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(params=["redis", "memcached"])
def cache_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CacheServer]:
    server: CacheServer
    if request.param == "memcached":
        server = PrivateMemcached()
        server.start()
    else:
        try:
            server = PrivateRedis(tmp_path)
            server.start()
        except RuntimeError as exc:
            _unreachable("redis-server", exc)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Instance:
    """One Conduit process: its own engine, its own cache client, its own app."""

    http: httpx.AsyncClient
    db: Database
    cache: Cache

    async def get(self, url: str, token: str | None = None) -> httpx.Response:
        response = await self.http.get(url, headers=auth(token) if token else None)
        return response

    async def read(self, url: str) -> Any:
        response = await self.get(url)
        assert response.status_code == 200, (url, response.text)
        return response.json()

    async def warm(self, *urls: str) -> dict[str, Any]:
        """Read each url until it is served from the cache (no SQL); the cached answers.

        A Redis call that times out on a loaded machine makes the cache bypass reads until
        it has replayed its invalidations and waited ``reads_resume_after`` (never stale,
        only slower), so the reads are retried for a while before the test gives up.
        """
        answers = {}
        for url in urls:
            deadline = time.monotonic() + WARM_WITHIN
            while True:
                await self.read(url)
                with count_statements(self.db) as log:
                    answers[url] = await self.read(url)
                if log.count == 0 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert log.count == 0, (url, log)
        return answers


@pytest.fixture
async def instances(
    db: Database, settings: Settings, tokens: TokenCodec, cache_server: CacheServer
) -> AsyncIterator[tuple[Instance, Instance]]:
    # Redis as the default (CONDUIT_REDIS_URL alone), Memcached named by CONDUIT_CACHE_URL
    memcached = isinstance(cache_server, PrivateMemcached)
    variable = "cache_url" if memcached else "redis_url"
    # No admission limit: 200 concurrent readers in one process would be shed past it.
    cached = settings.model_copy(update={variable: cache_server.url, "max_in_flight": 0})
    # Each instance has its own engine (``db`` only empties the tables afterwards). The
    # pool waits long enough for 200 concurrent readers: a read with the cache gone queues for
    # a connection, and what is tested is the cache, not the pool's timeout (nor admission).
    engines = [
        Database(create_engine(cached.effective_database_url, pool_size=5, pool_timeout=120))
        for _ in range(2)
    ]
    made = []
    for database in engines:
        cache = response_cache(cached, database, CACHE_RULES)
        assert isinstance(cache, MemcachedResponseCache if memcached else RedisResponseCache)
        app = create_app(container=Container(cached, database, tokens, cache=cache))
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://conduit.test/api"
        )
        made.append(Instance(http=http, db=database, cache=cache))
    try:
        yield made[0], made[1]
    finally:
        for instance in made:
            await instance.http.aclose()
            await instance.cache.close()
        for database in engines:
            await database.dispose()


async def _world(a: Instance) -> dict[str, str]:
    author = await register(a.http, "author")
    reader = await register(a.http, "reader")
    article = await create_article(a.http, author, "Cached", tagList=["cache", "redis"])
    slug = article["slug"]
    response = await a.http.post(
        f"/articles/{slug}/comments", json={"comment": {"body": "first"}}, headers=auth(reader)
    )
    assert response.status_code == 201
    await a.http.post(f"/articles/{slug}/favorite", headers=auth(reader))
    return {"author": author, "reader": reader, "slug": slug}


def _anonymous_reads(slug: str) -> list[str]:
    return [
        "/articles",
        "/articles?tag=cache",
        "/articles?author=author",
        "/articles?favorited=reader",
        "/articles?limit=5&offset=0",
        f"/articles/{slug}",
        f"/articles/{slug}/comments",
        "/profiles/author",
        "/tags",
    ]


async def test_hits_serve_the_same_bytes_without_the_database(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    world = await _world(a)
    for url in _anonymous_reads(world["slug"]):
        first = await a.get(url)
        assert first.status_code == 200
        for instance in (a, b):  # the entry is shared by every instance
            with count_statements(instance.db) as log:
                again = await instance.get(url)
            assert log.count == 0, (url, log)
            assert again.status_code == 200
            assert again.content == first.content
            assert again.headers["etag"] == first.headers["etag"]
            assert again.headers["content-type"] == "application/json"
            assert again.headers["x-request-id"]  # the outer middleware still runs
    # the query is normalised: the same parameters in another order are the same entry
    with count_statements(b.db) as log:
        swapped = await b.get("/articles?offset=0&limit=5")
    assert log.count == 0
    assert swapped.status_code == 200


async def test_a_head_is_answered_from_the_cache_with_the_gets_headers(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    world = await _world(a)
    for url in _anonymous_reads(world["slug"]):
        got = await a.get(url)
        with count_statements(b.db) as log:
            head = await b.http.head(url)
        assert log.count == 0, (url, log)
        assert head.status_code == 200
        assert head.content == b""
        for name in ("etag", "content-type", "content-length"):
            assert head.headers[name] == got.headers[name], (url, name)


async def test_signed_in_reads_and_errors_are_never_cached(
    instances: tuple[Instance, Instance],
) -> None:
    a, _ = instances
    world = await _world(a)
    for url in _anonymous_reads(world["slug"]):
        await a.get(url, world["reader"])
        with count_statements(a.db) as log:
            response = await a.get(url, world["reader"])
        assert response.status_code == 200, url
        assert log.count > 0, url
        assert response.headers["cache-control"] == "private, no-cache"
        assert (await a.get(url)).headers["cache-control"] == "no-cache"
    assert (await a.get(f"/articles/{world['slug']}")).json()["article"]["favorited"] is False
    signed_in = await a.get(f"/articles/{world['slug']}", world["reader"])
    assert signed_in.json()["article"]["favorited"] is True
    for missing in ("/profiles/nobody", "/articles/nothing-here", "/articles?limit=0"):
        await a.get(missing)
        with count_statements(a.db) as log:
            assert (await a.get(missing)).status_code in (404, 422)
        assert log.count > 0 or missing.endswith("limit=0"), missing


async def test_etag_and_if_none_match_on_misses_and_hits(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    world = await _world(a)
    url = f"/articles/{world['slug']}"
    miss = await a.get(url)
    etag = miss.headers["etag"]
    assert etag.startswith('"')
    assert not etag.startswith("W/")
    for instance in (a, b):  # b's first read is a hit on the entry a stored
        response = await instance.http.get(url, headers={"If-None-Match": etag})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "no-cache"
    other = await a.http.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.content == miss.content


async def test_a_body_is_fingerprinted_once_on_a_miss_and_never_on_a_hit(
    instances: tuple[Instance, Instance], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ETag the cache stores is the one sent: the conditional step does not hash the
    answer again, and a hit carries the stored tag."""
    a, _ = instances
    world = await _world(a)
    url = f"/articles/{world['slug']}"
    hashed: list[bytes] = []

    def counting(body: bytes) -> bytes:
        hashed.append(body)
        return conditional.strong_etag(body)

    monkeypatch.setattr(read_cache, "strong_etag", counting)
    monkeypatch.setattr(exchange, "strong_etag", counting)
    miss = await a.get(url)
    assert miss.status_code == 200
    assert hashed == [miss.content]
    await a.warm(url)
    hashed.clear()
    with count_statements(a.db) as log:
        hit = await a.get(url)
    assert log.count == 0  # from the cache
    assert hit.headers["etag"] == miss.headers["etag"]
    assert hashed == []


async def test_a_write_on_one_instance_is_never_read_stale_on_another(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    world = await _world(a)
    author, reader, slug = world["author"], world["reader"], world["slug"]
    article_url, comments_url = f"/articles/{slug}", f"/articles/{slug}/comments"

    # article.created: lists (and their filters) and tags
    await b.warm("/articles", "/articles?tag=fresh", "/articles?author=author", "/tags")
    await b.warm("/articles/search?q=fresh")
    second = await create_article(a.http, author, "Second", tagList=["fresh"])
    assert (await b.read("/articles/search?q=fresh"))["articlesCount"] == 1
    assert (await b.read("/articles"))["articlesCount"] == 2
    assert (await b.read("/articles?tag=fresh"))["articlesCount"] == 1
    assert (await b.read("/articles?author=author"))["articlesCount"] == 2
    assert "fresh" in (await b.read("/tags"))["tags"]

    # article.updated: the article, the lists, the tags
    await b.warm(article_url, "/articles", "/tags", "/articles?tag=cache")
    await b.warm("/articles/search?q=retitled")
    changes = {"title": "Retitled", "body": "new body", "tagList": ["renamed"]}
    response = await a.http.put(article_url, json={"article": changes}, headers=auth(author))
    assert response.status_code == 200
    assert (await b.read("/articles/search?q=retitled"))["articlesCount"] == 1
    assert (await b.read(article_url))["article"]["body"] == "new body"
    listed = {item["slug"]: item for item in (await b.read("/articles"))["articles"]}
    assert listed[slug]["title"] == "Retitled"
    assert "renamed" in (await b.read("/tags"))["tags"]
    assert (await b.read("/articles?tag=cache"))["articlesCount"] == 0

    # article.favorited / article.unfavorited: the article and the lists
    for method, count in (("POST", 2), ("DELETE", 1)):
        await b.warm(article_url, "/articles", "/articles?favorited=author")
        favorite = await a.http.request(method, f"{article_url}/favorite", headers=auth(author))
        assert favorite.status_code == 200
        assert (await b.read(article_url))["article"]["favoritesCount"] == count
        listed = {item["slug"]: item for item in (await b.read("/articles"))["articles"]}
        assert listed[slug]["favoritesCount"] == count
        by_author = (await b.read("/articles?favorited=author"))["articlesCount"]
        assert by_author == (1 if method == "POST" else 0)

    # comment.created / comment.deleted: the comments
    await b.warm(comments_url)
    added = await a.http.post(
        comments_url, json={"comment": {"body": "second"}}, headers=auth(author)
    )
    assert added.status_code == 201
    assert len((await b.read(comments_url))["comments"]) == 2
    await b.warm(comments_url)
    comment_id = added.json()["comment"]["id"]
    deleted = await a.http.delete(f"{comments_url}/{comment_id}", headers=auth(author))
    assert deleted.status_code == 204
    assert len((await b.read(comments_url))["comments"]) == 1

    # user.followed: nothing an anonymous reader sees changes, so the entry stays (a hit)
    await b.warm("/profiles/author")
    followed = await a.http.post("/profiles/author/follow", headers=auth(reader))
    assert followed.status_code == 200
    with count_statements(b.db) as log:
        assert (await b.read("/profiles/author"))["profile"]["following"] is False
    assert log.count == 0
    signed_in = await b.get("/profiles/author", reader)
    assert signed_in.json()["profile"]["following"] is True

    # user.updated: profiles, and every answer that embeds the author
    await b.warm("/profiles/author", article_url, "/articles", comments_url)
    await b.warm(f"/articles/{second['slug']}")
    renamed = await a.http.put(
        "/user", json={"user": {"username": "writer", "bio": "new bio"}}, headers=auth(author)
    )
    assert renamed.status_code == 200
    assert (await b.get("/profiles/author")).status_code == 404
    assert (await b.read("/profiles/writer"))["profile"]["bio"] == "new bio"
    assert (await b.read(article_url))["article"]["author"]["username"] == "writer"
    assert (await b.read("/articles"))["articles"][0]["author"]["bio"] == "new bio"
    assert (await b.read(f"/articles/{second['slug']}"))["article"]["author"]["bio"] == "new bio"
    commenters = {c["author"]["username"] for c in (await b.read(comments_url))["comments"]}
    assert commenters == {"reader"}

    # article.deleted: the article, its comments, the lists, the tags
    await b.warm(article_url, comments_url, "/articles", "/tags")
    gone = await a.http.delete(article_url, headers=auth(author))
    assert gone.status_code == 204
    assert (await b.get(article_url)).status_code == 404
    assert (await b.get(comments_url)).status_code == 404
    assert (await b.read("/articles"))["articlesCount"] == 1
    assert "renamed" not in (await b.read("/tags"))["tags"]


async def test_cache_server_stopped_under_concurrent_reads_fails_no_request(
    instances: tuple[Instance, Instance], cache_server: CacheServer
) -> None:
    a, _ = instances
    world = await _world(a)
    urls = _anonymous_reads(world["slug"])
    await a.warm(*urls)
    statuses: list[int] = []
    stop = asyncio.Event()
    goal = {"count": 200}
    reached = asyncio.Event()

    async def reader(n: int) -> None:
        while not stop.is_set():
            statuses.append((await a.get(urls[n % len(urls)])).status_code)
            if len(statuses) >= goal["count"]:
                reached.set()

    workers = [asyncio.create_task(reader(n)) for n in range(200)]
    try:
        await reached.wait()  # 200 concurrent readers, served from the cache
        await asyncio.to_thread(cache_server.stop)
        goal["count"] = len(statuses) + 200
        reached.clear()
        await reached.wait()  # 200 more with the cache server gone
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert len(statuses) >= 400
    assert set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    # The breaker notices at the first read that reaches for the server. Under a loaded
    # machine a timeout may have opened it before the stop, and reads then skip the server
    # for the 2.5 s after its recovery (cache_breaker.READS_RESUME_AFTER): read on until then.
    for _ in range(60):
        if not a.cache.available:
            break
        assert (await a.get(urls[0])).status_code == 200
        await asyncio.sleep(0.1)
    assert not a.cache.available

    ready = await a.http.get("http://conduit.test/health/ready")
    assert ready.status_code == 200

    # The server back (empty, as a restarted cache without persistence is): caching resumes
    await asyncio.to_thread(cache_server.start)
    await _until_available(a.cache)
    await a.warm(*urls)


async def test_a_hung_cache_server_delays_no_write_and_serves_nothing_stale(
    instances: tuple[Instance, Instance], cache_server: CacheServer
) -> None:
    a, b = instances
    world = await _world(a)
    url = f"/articles/{world['slug']}"
    await a.warm(url)
    await b.warm(url)
    cache_server.pause()  # connections stay open; every call times out
    try:
        changed = await a.http.put(
            url, json={"article": {"body": "while the cache hung"}}, headers=auth(world["author"])
        )
        assert changed.status_code == 200
        assert not a.cache.available  # the invalidation timed out: bypass from now on
        for _ in range(20):  # no request waits for the cache server any more
            assert (await a.read(url))["article"]["body"] == "while the cache hung"
    finally:
        cache_server.resume()
    await _until_available(a.cache)
    for instance in (b, a):
        assert (await instance.read(url))["article"]["body"] == "while the cache hung"
    assert (await b.warm(url))[url]["article"]["body"] == "while the cache hung"


async def test_one_slow_read_costs_only_its_own_hit(
    instances: tuple[Instance, Instance], cache_server: CacheServer
) -> None:
    a, _ = instances
    await a.warm("/tags")
    cache_server.pause()
    try:
        assert (await a.get("/tags")).status_code == 200  # timed out: read the database
        assert a.cache.available  # a lagging event loop must not switch the cache off
        for _ in range(TIMEOUTS_TO_OPEN):
            assert (await a.get("/tags")).status_code == 200
        assert not a.cache.available  # the server really is unresponsive: stop waiting for it
        with count_statements(a.db) as log:
            started = time.monotonic()
            assert (await a.get("/tags")).status_code == 200
        assert log.count > 0
        assert time.monotonic() - started < a.cache.timeout_seconds
    finally:
        cache_server.resume()
    await _until_available(a.cache)
    await a.warm("/tags")


@pytest.mark.parametrize("cache_server", ["redis"], indirect=True)
async def test_no_stale_answer_after_an_invalidation_lost_while_redis_was_down(
    instances: tuple[Instance, Instance], cache_server: CacheServer
) -> None:
    redis_server = cache_server
    assert isinstance(redis_server, PrivateRedis)  # Memcached keeps nothing across a restart
    a, b = instances
    world = await _world(a)
    url = f"/articles/{world['slug']}"
    await a.warm(url, "/articles")
    await b.warm(url, "/articles")
    redis_server.snapshot()  # Redis comes back from this snapshot, with the old entries
    await asyncio.to_thread(redis_server.stop)
    changed = await a.http.put(
        url,
        json={"article": {"body": "written while Redis was down"}},
        headers=auth(world["author"]),
    )
    assert changed.status_code == 200  # its invalidation was lost
    assert not a.cache.available
    await asyncio.to_thread(redis_server.start)
    assert redis_server.client().dbsize() > 0  # the entries from before the write are back
    await _until_available(a.cache)
    # Whoever reconnects first bumps the "all" generation before reading Redis again, so
    # no instance serves an entry written before the outage.
    for instance in (b, a):
        assert (await instance.read(url))["article"]["body"] == "written while Redis was down"
    await _until_available(b.cache)
    answers = await b.warm(url)  # and caching has resumed
    assert answers[url]["article"]["body"] == "written while Redis was down"


async def _until_available(cache: Cache) -> None:
    deadline = time.monotonic() + 10
    while not cache.available:
        assert time.monotonic() < deadline, "the cache did not resume"
        await asyncio.sleep(0.05)
