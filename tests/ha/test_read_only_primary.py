"""A pooled connection to a server that stopped taking writes is dropped, and the next one
reaches the server that takes them.

Two private PostgreSQL servers listed in one URL with ``target_session_attrs=read-write``,
as Conduit is configured in front of a Patroni cluster. The first is fenced read-only
(``default_transaction_read_only``, which its open sessions pick up at once), the state a
demoted primary's sessions would be in: the pooled connection's next write fails with
"cannot execute INSERT in a read-only transaction" (SQLSTATE 25006). That write is a
503 (the database is unavailable), not a 500, and the pool drops the connection, so the next
write goes to the other server instead of failing on the same connection again. With no
writable server at all, a request is a 503 too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from conduit.core.db_errors import is_connection_lost, is_database_unavailable
from conduit.core.engines import create_engine
from tests.pg_cluster import PrivatePostgres

INSERT = text("INSERT INTO writes (at) VALUES (now()) RETURNING inet_server_port()")


def _fence(server: PrivatePostgres, read_only: bool) -> None:
    value = "on" if read_only else "off"
    server.execute(f"ALTER SYSTEM SET default_transaction_read_only = {value}")
    server.execute("SELECT pg_reload_conf()")


def _started(folder: Path) -> PrivatePostgres:
    server = PrivatePostgres(folder).init().start()
    server.execute("CREATE TABLE writes (id serial PRIMARY KEY, at timestamptz NOT NULL)")
    return server


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[tuple[PrivatePostgres, PrivatePostgres]]:
    first, second = await asyncio.gather(
        asyncio.to_thread(_started, tmp_path / "first"),
        asyncio.to_thread(_started, tmp_path / "second"),
    )
    try:
        yield first, second
    finally:
        first.stop("immediate")
        second.stop("immediate")


async def _write(engine: AsyncEngine) -> int:
    """One write in its own transaction; the port of the server that took it."""
    async with engine.begin() as conn:
        return int((await conn.execute(INSERT)).scalar_one())


async def _until_read_only(engine: AsyncEngine) -> DBAPIError:
    """The error of the first write the fenced server refuses (its session reloads the
    setting between two statements, within a few milliseconds)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(0.05)"))
                await conn.execute(INSERT)
                await conn.commit()
        except DBAPIError as exc:
            return exc
        assert time.monotonic() < deadline, "the server never became read-only"


async def _first_failure(engine: AsyncEngine) -> Exception:
    """The error of the first write that fails, each on a new connection (a fresh pool)."""
    for _ in range(100):
        try:
            await _write(engine)
        except Exception as exc:  # whatever the driver raises
            return exc
        await engine.dispose()
        await asyncio.sleep(0.05)
    raise AssertionError("every write succeeded")


async def test_a_write_on_a_read_only_server_is_a_503_and_the_next_goes_to_the_primary(
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    first, second = servers
    hosts = f"host=127.0.0.1:{first.port}&host=127.0.0.1:{second.port}"
    url = f"postgresql+asyncpg://postgres@/postgres?{hosts}&target_session_attrs=read-write"
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        assert await _write(engine) == first.port  # the first writable host listed

        await asyncio.to_thread(_fence, first, True)
        refused = await _until_read_only(engine)
        assert "read-only transaction" in str(refused)
        assert is_connection_lost(refused)
        assert is_database_unavailable(refused)  # answered 503, never 500

        # The pool dropped the connection: the next write reaches the writable server.
        assert await _write(engine) == second.port
        assert await _write(engine) == second.port

        # Neither server writable (mid-switchover): a new connection finds no host to
        # take it, and that is unavailable as well.
        await asyncio.to_thread(_fence, second, True)
        await engine.dispose()
        nowhere = await _first_failure(engine)
        assert "None of the hosts match" in str(nowhere), repr(nowhere)
        assert is_database_unavailable(nowhere), repr(nowhere)
    finally:
        await engine.dispose()
