"""SQLite, the zero-config default: reads run in parallel, writes stay serialized.

WAL lets readers work beside the one writer. Conduit gives an SQLite file one writer
connection (writes queue for it instead of failing with "database is locked") and a pool of
read-only connections for the use cases that only read.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select, text

from conduit import migrations
from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.profiles import service as profiles_service
from conduit.settings import Settings
from conduit.users.models import users
from tests.conftest import TEST_SECRET
from tests.helpers import auth, register
from tests.integration.support import make_user

# Long enough for any healthy read on a loaded machine; a read that waits for a connection
# held by the test would wait for the pool's 30 s timeout instead.
NO_WAIT = 10.0


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{(tmp_path / 'conduit.db').as_posix()}"
    migrations.upgrade(url)
    return url


@pytest.fixture
async def sqlite_db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(create_engine(sqlite_url), readers=4)
    yield database
    await database.dispose()


async def test_a_read_does_not_wait_for_an_open_write_and_sees_only_committed_rows(
    sqlite_db: Database,
) -> None:
    await make_user(sqlite_db, "committed")
    async with sqlite_db.uow() as uow:
        await uow.conn.execute(
            users.insert().values(username="pending", email="p@conduit.test", password_hash="x")
        )
        # The writer holds SQLite's write lock (and its only connection) from here on.
        profile = await asyncio.wait_for(
            profiles_service.get(sqlite_db, username="committed", viewer_id=None), NO_WAIT
        )
        assert profile.username == "committed"
        async with sqlite_db.reader() as reader:
            names = (await reader.conn.execute(select(users.c.username))).scalars().all()
        assert names == ["committed"]
        await uow.commit()

    async with sqlite_db.reader() as reader:
        names = (await reader.conn.execute(select(users.c.username))).scalars().all()
    assert sorted(names) == ["committed", "pending"]


async def test_several_reads_hold_connections_at_once(sqlite_db: Database) -> None:
    await make_user(sqlite_db, "reader")
    entered = asyncio.Event()
    holding = 0

    async def read() -> str:
        nonlocal holding
        async with sqlite_db.reader() as reader:
            holding += 1
            if holding == 3:
                entered.set()
            # Every reader keeps its connection until all three are inside at once.
            await asyncio.wait_for(entered.wait(), NO_WAIT)
            return str((await reader.conn.execute(select(users.c.username))).scalar_one())

    assert await asyncio.gather(read(), read(), read()) == ["reader"] * 3


async def test_read_connections_refuse_writes(sqlite_db: Database) -> None:
    async with sqlite_db.read_engine.connect() as conn:
        with pytest.raises(sa_exc.OperationalError, match="readonly"):
            await conn.execute(
                users.insert().values(username="x", email="x@conduit.test", password_hash="x")
            )
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"


async def test_no_readers_setting_keeps_one_connection_for_everything(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{(tmp_path / 'single.db').as_posix()}"
    database = Database(create_engine(url), readers=0)
    try:
        assert database.read_engine is database.engine
    finally:
        await database.dispose()


async def test_concurrent_writes_and_reads_over_http_all_succeed(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = Settings(
        environment="test",
        database_url=str(sqlite_db.engine.url),
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        auto_migrate=False,
        rate_limits_enabled=False,
        log_level="WARNING",
    )
    tokens = TokenCodec(secret=TEST_SECRET, ttl_seconds=3600)
    app = create_app(container=Container(settings=settings, db=sqlite_db, tokens=tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as http:
        token = await register(http, "author")

        async def write(n: int) -> int:
            article = {"title": f"Title {n}", "description": "d", "body": "b", "tagList": ["t"]}
            response = await http.post("/articles", json={"article": article}, headers=auth(token))
            return response.status_code

        async def read() -> int:
            return (await http.get("/articles", params={"limit": 5})).status_code

        statuses = await asyncio.gather(
            *(write(n) for n in range(20)), *(read() for _ in range(40))
        )
        assert Counter(statuses[:20]) == {201: 20}
        assert Counter(statuses[20:]) == {200: 40}
        listing = (await http.get("/articles", params={"limit": 50})).json()
        assert listing["articlesCount"] == 20
