"""503, never 500: an exhausted pool, a database that is not there, connections cut under it.

Each answer is the RealWorld error body with ``Retry-After``; the app is driven over ASGI,
which re-raises anything that reached the catch-all handler (there a real server would also
close the client's connection), so these tests see that too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.db_errors import is_connection_lost, is_database_unavailable
from conduit.core.engines import create_engine
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.conftest import BACKENDS, MARIADB_ADMIN, PG_ADMIN, TEST_SECRET, _admin_engine
from tests.faults.support import free_port

BUSY = {"errors": {"server": ["is busy, try again"]}}
UNAVAILABLE = {"errors": {"database": ["is unavailable"]}}
NEW_USER = {"user": {"username": "ann", "email": "ann@conduit.test", "password": "password123"}}


@contextlib.asynccontextmanager
async def serve(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        environment="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        auto_migrate=False,
        log_level="CRITICAL",
    )
    db = Database(engine, readers=0)  # reads and writes share the engine's pool
    tokens = TokenCodec(secret=TEST_SECRET, ttl_seconds=60)
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://conduit.test/api"
        ) as http:
            yield http
    finally:
        await db.dispose()


def assert_unavailable(response: httpx.Response, body: dict[str, object] = UNAVAILABLE) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == body
    assert int(response.headers["retry-after"]) >= 1


def one_connection_engine(database_url: str) -> AsyncEngine:
    """An engine with exactly one connection and a 0.2 s wait for it."""
    if database_url.startswith("sqlite"):  # create_engine keeps SQLite's 30 s queue
        return create_async_engine(
            database_url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=0.2,
        )
    return create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)


async def test_an_exhausted_pool_answers_503_busy_then_serves_again(
    database_url: str, tmp_path: Path
) -> None:
    engine = one_connection_engine(database_url)
    async with serve(database_url, engine, tmp_path) as http:
        assert (await http.get("/tags")).status_code == 200
        async with engine.connect() as held:  # the pool's only connection
            await held.execute(text("SELECT 1"))
            assert_unavailable(await http.get("/articles"), BUSY)
            assert_unavailable(await http.post("/users", json=NEW_USER), BUSY)
        assert (await http.get("/articles")).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:{port}/conduit",
        "mysql+asyncmy://root@127.0.0.1:{port}/conduit",
    ],
    ids=["postgresql", "mariadb"],
)
async def test_a_database_that_is_not_listening_answers_503(url: str, tmp_path: Path) -> None:
    database_url = url.format(port=free_port())  # nothing listens there
    async with serve(database_url, create_engine(database_url), tmp_path) as http:
        assert_unavailable(await http.get("/articles"))
        assert_unavailable(await http.get("/tags"))
        assert_unavailable(await http.post("/users", json=NEW_USER))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:{port}/conduit",
        "mysql+asyncmy://root@127.0.0.1:{port}/conduit",
    ],
    ids=["postgresql", "mariadb"],
)
async def test_a_database_that_hangs_up_answers_503(url: str, tmp_path: Path) -> None:
    """A port that accepts and closes at once (a crashing or overloaded server, a proxy)."""

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    listener = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    database_url = url.format(port=port)
    try:
        async with serve(database_url, create_engine(database_url), tmp_path) as http:
            assert_unavailable(await http.get("/articles"))
            assert_unavailable(await http.post("/users", json=NEW_USER))
    finally:
        listener.close()
        await listener.wait_closed()


def _cut_connections(database_url: str) -> int:
    """Ends every server session of the test database, as a restart or an admin would."""
    name = database_url.rsplit("/", 1)[-1]
    if database_url.startswith("postgresql"):
        with _admin_engine(PG_ADMIN).connect() as admin:
            rows = admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).all()
        return len(rows)
    with _admin_engine(MARIADB_ADMIN).connect() as admin:
        ids = admin.execute(
            text("SELECT id FROM information_schema.processlist WHERE db = :name"),
            {"name": name},
        ).scalars()
        for session in list(ids):
            admin.execute(text(f"KILL CONNECTION {int(session)}"))
    return 1


@pytest.mark.parametrize(
    "database_url", [name for name in BACKENDS if name != "sqlite"], indirect=True
)
async def test_cut_connections_are_replaced_not_handed_out_again(
    database_url: str, tmp_path: Path
) -> None:
    """Every pooled connection is cut while idle: at most one 503, then only 200s."""
    engine = create_engine(database_url, pool_size=4, max_overflow=0, pool_timeout=5)
    async with serve(database_url, engine, tmp_path) as http:
        warm = await asyncio.gather(*(http.get("/articles") for _ in range(4)))
        assert [r.status_code for r in warm] == [200] * 4
        assert engine.pool.checkedin() == 4  # type: ignore[attr-defined]
        assert await asyncio.to_thread(_cut_connections, database_url) > 0
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle sockets

        statuses = [(await http.get("/articles")).status_code for _ in range(8)]
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(503) <= 1, statuses
        assert statuses[-6:] == [200] * 6, statuses


SHUTDOWN_ERRORS = {
    # What a server says to its sessions as it shuts down, raised without closing the
    # connection: the drivers' own checks do not see a disconnect in it.
    "postgresql": "DO $$ BEGIN RAISE EXCEPTION 'shutting down' USING ERRCODE = '57P01'; END $$",
    "mysql": "SIGNAL SQLSTATE '08S01' SET MYSQL_ERRNO = 1053, "
    "MESSAGE_TEXT = 'Server shutdown in progress'",
}


@pytest.mark.parametrize(
    "database_url", [name for name in BACKENDS if name != "sqlite"], indirect=True
)
async def test_a_shutdown_error_discards_the_connection_and_the_older_pooled_ones(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=2, max_overflow=0)
    connects: list[object] = []
    event.listen(engine.sync_engine, "connect", lambda conn, _record: connects.append(conn))
    try:
        async with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                await conn.execute(text("SELECT 1"))
        assert len(connects) == 2

        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text(SHUTDOWN_ERRORS[engine.dialect.name]))
        assert caught.value.connection_invalidated
        assert is_connection_lost(caught.value)
        assert is_database_unavailable(caught.value)

        async with engine.connect() as first, engine.connect() as second:
            for conn in (first, second):
                await conn.execute(text("SELECT 1"))
        assert len(connects) == 4  # both pooled connections were replaced
    finally:
        await engine.dispose()
