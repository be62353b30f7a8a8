"""Statements counted from the database's own log, not from Conduit's side of the driver.

The SQLAlchemy listener in ``tests/integration/support.py`` sees what Conduit sends; this
counter sees what the database server ran, so a driver that splits, repeats or adds a
statement is caught too:

- SQLite: the library's trace callback (``sqlite3_trace``) on every pooled connection the
  block uses (the writer's and the readers').
- PostgreSQL: ``log_statement = 'all'`` for the test database, read back from the server's
  log file between two marker statements.
- MariaDB: the general query log written to the ``mysql.general_log`` table, filtered to the
  threads connected to the test database, between two marker statements.

Transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT) and session settings (SET) are kept
apart from the data statements (SELECT, INSERT, UPDATE, DELETE) that budgets are about.

The server-side logs are switched on only inside :func:`measure`, so the rest of the suite
runs unlogged; measure a block that makes its requests through an app without background
tasks (the ``client`` fixture: no lifespan), so every data statement in the window is the
block's own.
"""

from __future__ import annotations

import asyncio
import glob
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_

from conduit.core.db import Database

_CONTROL = re.compile(
    r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET\b|SHOW\b)",
    re.IGNORECASE,
)
_MARK = "conduit-log-mark-"


@dataclass
class DatabaseLog:
    """The statements the database server logged inside a :func:`measure` window."""

    backend: str
    statements: list[str] = field(default_factory=list)

    @property
    def data(self) -> list[str]:
        """Statements that read or write data (not transaction control or session setup)."""
        return [s for s in self.statements if not _CONTROL.match(s)]

    @property
    def count(self) -> int:
        return len(self.data)

    def __str__(self) -> str:
        return f"{self.backend}: {self.count} data statements\n" + "\n".join(
            f"  {s[:160]}" for s in self.statements
        )


def _clean(statements: list[str]) -> list[str]:
    return [" ".join(s.split()) for s in statements if _MARK not in s and s.strip()]


async def measure(db: Database, block: Callable[[], Awaitable[Any]]) -> DatabaseLog:
    """Run ``block`` once to warm up (connections opened, types loaded), then again with the
    database's own statement log on; return what the server logged for the second run."""
    await block()
    backend = db.engine.dialect.name
    if backend == "sqlite":
        return await _sqlite(db, block)
    if backend == "postgresql":
        return await _postgresql(db.engine, block)
    if backend in ("mysql", "mariadb"):
        return await _mariadb(db.engine, block)
    raise ValueError(f"no statement log for {backend}")


# --- SQLite ------------------------------------------------------------------------------


async def _sqlite(db: Database, block: Callable[[], Awaitable[Any]]) -> DatabaseLog:
    log = DatabaseLog("sqlite")
    seen: list[str] = []
    # The writer's single connection and the read pool: each connection the block checks out
    # gets the trace callback, so every statement is seen whichever connection ran it. The
    # connections stay open (warm, as in service), so a module's one-off set-up on a new
    # connection (FTS5 reading its configuration) is not counted as the block's.
    engines = {db.engine, db.read_engine}
    traced: dict[int, Any] = {}

    def trace(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if id(driver) not in traced:
            await_(driver.set_trace_callback(seen.append))
            traced[id(driver)] = driver

    for engine in engines:
        event.listen(engine.sync_engine, "checkout", trace)
    try:
        await block()
    finally:
        for engine in engines:
            event.remove(engine.sync_engine, "checkout", trace)
        for driver in traced.values():
            await driver.set_trace_callback(None)
    log.statements = _clean(seen)
    return log


# --- PostgreSQL --------------------------------------------------------------------------


def _postgres_log_file(configured: str | None) -> Path:
    override = os.environ.get("CONDUIT_TEST_PG_LOG")
    if override:
        return Path(override)
    if configured:  # logging_collector on: the server names its current file
        return Path(configured)
    # Debian's pg_ctlcluster sends the server's stderr here when logging_collector is off.
    candidates = sorted(glob.glob("/var/log/postgresql/postgresql-*-main.log"))
    if not candidates:
        raise RuntimeError(
            "PostgreSQL's log file was not found: set CONDUIT_TEST_PG_LOG to its path"
        )
    return Path(candidates[-1])


_PG_LINE = re.compile(r"^\S+ \S+ \S+ \[\d+\] \S*@(?P<db>\S+) LOG:  (?:statement|execute [^:]*): ")


def _postgres_statements(lines: list[str], database: str, start: str, end: str) -> list[str]:
    """Statements of ``database`` between the two marker lines (continuation lines joined)."""
    logged: list[tuple[str, list[str]]] = []  # (database, lines of one statement)
    for line in lines:
        match = _PG_LINE.match(line)
        if match is not None:
            logged.append((match.group("db"), [line[match.end() :]]))
        elif line.startswith("\t") and logged:
            logged[-1][1].append(line.strip())
        else:
            logged.append(("", []))  # another kind of line ends the statement before it
    statements: list[str] = []
    inside = False
    for db_name, parts in logged:
        if db_name != database:
            continue
        statement = " ".join(parts)
        if start in statement:
            inside = True
        elif end in statement:
            break
        elif inside:
            statements.append(statement)
    return statements


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


async def _postgresql(engine: AsyncEngine, block: Callable[[], Awaitable[Any]]) -> DatabaseLog:
    database = engine.url.database
    assert database
    async with engine.connect() as conn:
        configured = (await conn.execute(text("SELECT pg_current_logfile()"))).scalar()
    path = _postgres_log_file(configured)
    # Only what the server writes from here on is read (the file holds every run's log, and
    # other test processes write to it meanwhile).
    offset = path.stat().st_size
    start, end = f"{_MARK}{uuid.uuid4().hex}", f"{_MARK}{uuid.uuid4().hex}"
    async with engine.connect() as conn:
        await conn.execute(text(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'"))
        await conn.commit()
    # The setting applies to new sessions: reopen the pool's connections, warm them again.
    await engine.dispose()
    try:
        await block()
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT '{start}'"))
        await block()
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT '{end}'"))
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f'ALTER DATABASE "{database}" RESET log_statement'))
            await conn.commit()
        await engine.dispose()
    deadline = time.monotonic() + 10
    while True:  # the server writes its log asynchronously to the file
        lines = _read_from(path, offset).splitlines()
        if any(end in line for line in lines):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"the end marker never reached {path}")
        await asyncio.sleep(0.02)
    found = _postgres_statements(lines, database, start, end)
    return DatabaseLog("postgresql", _clean(found))


# --- MariaDB -----------------------------------------------------------------------------


# The general log is switched on and off for the whole server: one window at a time on the
# server, whichever test process (xdist worker, another run on the machine) opens it.
_GENERAL_LOG_LOCK = "conduit_test_general_log"


async def _mariadb(engine: AsyncEngine, block: Callable[[], Awaitable[Any]]) -> DatabaseLog:
    async with engine.connect() as holder:
        taken = await holder.scalar(text(f"SELECT GET_LOCK('{_GENERAL_LOG_LOCK}', 120)"))
        assert taken == 1, "another test process kept the general log for 120 s"
        try:
            return await _mariadb_window(engine, block)
        finally:
            await holder.execute(text(f"SELECT RELEASE_LOCK('{_GENERAL_LOG_LOCK}')"))


async def _mariadb_window(engine: AsyncEngine, block: Callable[[], Awaitable[Any]]) -> DatabaseLog:
    database = engine.url.database
    start, end = f"{_MARK}{uuid.uuid4().hex}", f"{_MARK}{uuid.uuid4().hex}"
    async with engine.connect() as conn:
        previous = (await conn.execute(text("SELECT @@global.log_output"))).scalar()
        await conn.execute(text("SET GLOBAL log_output = 'TABLE'"))
        await conn.execute(text("SET GLOBAL general_log = 1"))
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT '{start}'"))
        await block()
        async with engine.connect() as conn:
            await conn.execute(text(f"SELECT '{end}'"))
            threads = {
                row[0]
                for row in await conn.execute(
                    text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = :db"),
                    {"db": database},
                )
            }
            rows = (
                await conn.execute(
                    text(
                        "SELECT thread_id, command_type, argument FROM mysql.general_log "
                        "WHERE event_time >= NOW(6) - INTERVAL 10 MINUTE ORDER BY event_time"
                    )
                )
            ).all()
    finally:
        async with engine.connect() as conn:
            await conn.execute(text("SET GLOBAL general_log = 0"))
            await conn.execute(text(f"SET GLOBAL log_output = '{previous}'"))
    statements: list[str] = []
    inside = False
    for thread_id, command, argument in rows:
        value = argument.decode(errors="replace") if isinstance(argument, bytes) else argument
        if start in value:
            inside = True
            continue
        if end in value:
            break
        if inside and thread_id in threads and command in ("Query", "Execute"):
            statements.append(value)
    return DatabaseLog("mariadb", _clean(statements))
