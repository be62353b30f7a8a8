"""Conduit through pgbouncer in transaction pooling mode, under concurrent reads and writes.

A private pgbouncer (tests/pgbouncer_server.py) lends 4 server connections to the app's 20
pooled ones, so consecutive transactions of one app connection land on different server
connections. With ``CONDUIT_DATABASE_POOLER=pgbouncer`` every answer is right and no
prepared statement is left on the server connections; without it, the same load fails on
prepared statements (asyncpg's cached statements are unknown on the next server
connection), which is what the setting is for.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psycopg2
import pytest

from conduit import migrations
from conduit.bootstrap import build
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.conftest import TEST_SECRET
from tests.helpers import auth, create_article, register
from tests.pgbouncer_server import Pgbouncer, running_pgbouncer
from tests.ports import free_port
from tests.processes import program

pytestmark = pytest.mark.cluster

PG_ADMIN = os.environ.get("CONDUIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVER_CONNECTIONS = 4
WRITERS = 6
CONCURRENCY = 50


def _admin(sql: str) -> None:
    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def bouncer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pgbouncer]:
    binary = program("pgbouncer", how_to_get="apt-get install pgbouncer")
    with running_pgbouncer(
        tmp_path_factory.mktemp("pgbouncer"),
        port=free_port(),
        binary=binary,
        pool_size=SERVER_CONNECTIONS,
    ) as running:
        yield running


@pytest.fixture
def database(bouncer: Pgbouncer) -> Iterator[str]:
    """A new database, migrated through pgbouncer (``conduit db upgrade`` works there)."""
    name = f"conduit_pgbouncer_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        migrations.upgrade(bouncer.url(name))
        yield name
    finally:
        # FORCE ends the server connections pgbouncer still keeps to it.
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _app_client(url: str, pooler: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        environment="test",
        database_url=url,
        database_pooler=pooler,  # type: ignore[arg-type]
        db_pool_size=20,
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        auto_migrate=False,
        rate_limits_enabled=False,
        log_level="ERROR",
    )
    container = build(settings)
    transport = httpx.ASGITransport(app=create_app(container=container))
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://conduit.test/api", timeout=60
        ) as client:
            yield client
    finally:
        await container.db.dispose()


async def _prepared_statements_left(bouncer: Pgbouncer, database: str) -> int:
    """Prepared statements on every server connection pgbouncer holds to ``database``: as
    many clients as server connections each hold a transaction open at once, so each one
    looks at a different server connection."""
    gate = asyncio.Barrier(SERVER_CONNECTIONS)

    async def look() -> tuple[int, int]:
        conn = await asyncpg.connect(bouncer.dsn(database), statement_cache_size=0)
        try:
            async with conn.transaction():
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                count = await conn.fetchval("SELECT count(*) FROM pg_prepared_statements")
                await gate.wait()
                return int(pid), int(count)
        finally:
            await conn.close()

    seen = await asyncio.gather(*(look() for _ in range(SERVER_CONNECTIONS)))
    assert len({pid for pid, _ in seen}) == SERVER_CONNECTIONS
    return sum(count for _, count in seen)


class Workload:
    """Writers publish articles, then 50 requests at a time mix reads (lists, articles,
    comments, profiles, tags, anonymous and signed in) with writes (comments, favorites).
    Records every status and what the writes should have left."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.tokens: dict[str, str] = {}
        self.slugs: dict[str, str] = {}  # author -> slug
        self.comments: dict[str, set[str]] = {}  # slug -> bodies written
        self.favorited: dict[str, set[str]] = {}  # slug -> users who favorited

    async def _call(self, method: str, path: str, token: str = "", **kwargs: Any) -> Any:
        headers = auth(token) if token else {}
        try:
            response = await self.client.request(method, path, headers=headers, **kwargs)
        except Exception as exc:  # an exception the app let through: a failed request too
            self.statuses[0] += 1
            self.failures.append(f"{method} {path}: {type(exc).__name__}: {exc}"[:300])
            return None
        self.statuses[response.status_code] += 1
        if response.status_code >= 300:
            self.failures.append(f"{method} {path}: {response.status_code} {response.text}"[:300])
            return None
        return response.json()

    async def set_up(self) -> None:
        names = [f"writer{n}" for n in range(WRITERS)]
        tokens = await asyncio.gather(*(register(self.client, name) for name in names))
        self.tokens = dict(zip(names, tokens, strict=True))
        articles = await asyncio.gather(
            *(
                create_article(self.client, token, title=f"Pooled {name}", tagList=["pooled"])
                for name, token in self.tokens.items()
            )
        )
        self.slugs = {a["author"]["username"]: a["slug"] for a in articles}
        self.comments = {slug: set() for slug in self.slugs.values()}
        self.favorited = {slug: set() for slug in self.slugs.values()}

    def _request(self, n: int) -> Any:
        names = list(self.tokens)
        reader = names[n % len(names)]
        author = names[(n * 7 + 3) % len(names)]
        slug = self.slugs[author]
        token = self.tokens[reader]
        kind = n % 10
        if kind == 0:
            body = f"comment {n} by {reader}"
            self.comments[slug].add(body)
            payload = {"comment": {"body": body}}
            return self._call("POST", f"/articles/{slug}/comments", token, json=payload)
        if kind == 1 and reader not in self.favorited[slug]:
            self.favorited[slug].add(reader)
            return self._call("POST", f"/articles/{slug}/favorite", token)
        reads = [
            ("/articles", ""),
            ("/articles?tag=pooled", token),
            (f"/articles/{slug}", ""),
            (f"/articles/{slug}", token),
            (f"/articles/{slug}/comments", ""),
            (f"/profiles/{author}", token),
            ("/tags", ""),
            ("/articles/feed", token),
        ]
        path, who = reads[n % len(reads)]
        return self._call("GET", path, who)

    async def run(self, rounds: int) -> None:
        for round_number in range(rounds):
            start = round_number * CONCURRENCY
            await asyncio.gather(*(self._request(n) for n in range(start, start + CONCURRENCY)))

    async def check_answers(self) -> None:
        """What every writer's article says now equals what the writes did."""
        for author, slug in self.slugs.items():
            article = await self._call("GET", f"/articles/{slug}")
            assert article is not None, self.failures[-3:]
            assert article["article"]["title"] == f"Pooled {author}"
            assert article["article"]["favoritesCount"] == len(self.favorited[slug])
            listed = await self._call("GET", f"/articles/{slug}/comments")
            assert listed is not None, self.failures[-3:]
            assert {c["body"] for c in listed["comments"]} == self.comments[slug]
        listed = await self._call("GET", "/articles?tag=pooled&limit=50")
        assert listed is not None
        assert listed["articlesCount"] == WRITERS


async def test_reads_and_writes_through_pgbouncer_give_right_answers(
    bouncer: Pgbouncer, database: str, tmp_path: Path
) -> None:
    async for client in _app_client(bouncer.url(database), "pgbouncer", tmp_path):
        workload = Workload(client)
        await workload.set_up()
        await workload.run(rounds=6)
        assert workload.failures == []
        assert set(workload.statuses) <= {200, 201}
        await workload.check_answers()
    # Nothing piles up on the server connections, whoever used them.
    assert await _prepared_statements_left(bouncer, database) == 0


async def test_the_same_load_without_the_pooler_setting_fails_on_prepared_statements(
    bouncer: Pgbouncer, database: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The proof that the setting matters: asyncpg's defaults through the same pgbouncer.

    How many requests fail depends on which server connection each transaction lands on
    (from a few to a third of them): rounds of 50 run until some have failed, 20 at most.
    """
    async for client in _app_client(bouncer.url(database), "pgbouncer", tmp_path):
        workload = Workload(client)
        await workload.set_up()  # the data, written the right way
    async for client in _app_client(bouncer.url(database), "none", tmp_path):
        workload.client = client
        for _ in range(20):
            await workload.run(rounds=1)
            if workload.failures:
                break
    assert workload.failures, "every request succeeded through pgbouncer without the setting"
    assert all(" 500 " in failure for failure in workload.failures), workload.failures[:3]
    logged = capfd.readouterr().err
    assert "prepared statement" in logged
    assert "does not exist" in logged
