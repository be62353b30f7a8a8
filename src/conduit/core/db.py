"""Database engine, declarative base and the unit of work.

One use case = one transaction::

    async with db.uow() as uow:
        ...                      # queries on uow.conn
        uow.emit(ArticleCreated(...), actor_id=user_id)   # recorded, written on commit
        await uow.commit()       # anything else (an exception, no commit) rolls back

Events recorded with ``emit`` go to the outbox in the same transaction as the change, so a
rolled-back use case (or a retried attempt that did not commit) leaves none. Once the
transaction has committed, the database's commit listeners hear of them (the embedded
relay wakes up, the cache forgets what they changed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import structlog
from sqlalchemy import DateTime, MetaData, Table, event, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine, ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import greenlet_spawn

from conduit.core.events import Event, EventData

CommitListener = Callable[[Sequence[Event]], Awaitable[None]]
T = TypeVar("T")
_log = structlog.get_logger("conduit.db")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Timestamps are naive UTC with microseconds on every database (MariaDB needs fsp=6).
Timestamp = DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

# MariaDB: utf8mb4 for emoji, binary collation so that uniqueness is case-sensitive
# exactly as on PostgreSQL and SQLite.
TABLE_ARGS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
    "mariadb_engine": "InnoDB",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """Now, as the naive UTC timestamp every table stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def is_sqlite_file(engine: AsyncEngine) -> bool:
    """True for an engine on an SQLite file (not an in-memory database)."""
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and database not in ("", ":memory:")


def create_sqlite_read_engine(engine: AsyncEngine, *, readers: int) -> AsyncEngine:
    """A pool of ``readers`` read-only connections to the SQLite file ``engine`` writes to.

    In WAL mode readers never wait for the writer nor for each other, and each sees what
    had committed when its statement (or read transaction) began. They are opened with
    ``query_only`` so that a write sent to them by mistake fails instead of racing the
    writer for the lock.
    """
    reader = create_async_engine(
        engine.url,
        echo=engine.echo,
        pool_pre_ping=False,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=readers,
        max_overflow=0,
        pool_timeout=30.0,
    )
    event.listen(reader.sync_engine, "connect", _sqlite_pragmas)
    event.listen(reader.sync_engine, "connect", _sqlite_read_only)
    return reader


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 10.0,
    echo: bool = False,
) -> AsyncEngine:
    """An async engine tuned per database.

    SQLite allows one writer at a time: Conduit gives it a single pooled connection so that
    concurrent writes queue in the pool (a bounded wait) instead of failing with
    "database is locked". Reads go to a separate pool (see :class:`Database`).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": False}
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.update(
            poolclass=AsyncAdaptedQueuePool, pool_size=1, max_overflow=0, pool_timeout=30.0
        )
    else:
        kwargs.update(
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=1800,
        )
        if backend in ("mysql", "mariadb"):
            query = dict(parsed.query)
            query.setdefault("charset", "utf8mb4")
            url = parsed.set(query=query).render_as_string(hide_password=False)
            # READ COMMITTED as on PostgreSQL: a statement sees rows other transactions have
            # committed (a read after INSERT IGNORE finds the row that made it a no-op), and
            # InnoDB takes no gap locks on reads, which deadlocked concurrent writers.
            kwargs["isolation_level"] = "READ COMMITTED"
    engine = create_async_engine(url, **kwargs)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine, "handle_error", _invalidate_lost_connections)
    return engine


def _invalidate_lost_connections(context: ExceptionContext) -> None:
    """Treat every sign of a lost server connection as a disconnect.

    SQLAlchemy then discards the connection instead of returning it to the pool, and marks
    every older pooled connection stale (they all went with the server), so after a restart
    the pool hands out fresh connections only. The drivers' own checks miss some cases: an
    asyncpg connection told "terminating connection due to administrator command" looks
    open until its socket closes, and its next query failed with "another operation is in
    progress".
    """
    if not context.is_disconnect and is_connection_lost(context.original_exception):
        context.is_disconnect = True


def _check_out(engine: Engine, autocommit: bool) -> Connection:
    """A pooled connection in a transaction, or in autocommit mode (run in a greenlet)."""
    conn = engine.connect()
    try:
        if autocommit:
            conn.execution_options(isolation_level="AUTOCOMMIT")
        else:
            conn.begin()
    except BaseException:
        conn.close()
        raise
    return conn


class UnitOfWork:
    """One transaction on one pooled connection; rolled back unless committed.

    A read-only unit of work takes its connection from the database's read pool.
    """

    __slots__ = ("_committed", "_database", "_events", "_read_only", "_reads_only", "conn")

    def __init__(self, database: Database, *, read_only: bool = False) -> None:
        self._database = database
        self._committed = False
        self._events: list[Event] = []
        self._reads_only = read_only
        # PostgreSQL gives every statement its own snapshot under READ COMMITTED anyway, so a
        # read-only use case skips BEGIN/ROLLBACK: two round trips fewer per request.
        self._read_only = read_only and database.engine.dialect.name == "postgresql"
        self.conn: AsyncConnection

    async def __aenter__(self) -> UnitOfWork:
        database = self._database
        engine = database.read_engine if self._reads_only else database.engine
        # The checkout and the start of the transaction (or autocommit) in one pass through
        # SQLAlchemy's async bridge instead of two: each pass runs in a new greenlet, and
        # CPython maps a fresh frame stack for every one (bench/README.md, fourth round).
        checked_out = await greenlet_spawn(_check_out, engine.sync_engine, self._read_only)
        self.conn = AsyncConnection(engine, checked_out)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and not self._read_only:
                await self.conn.rollback()
        finally:
            if not self._committed:
                self._events.clear()
            await self.conn.close()

    def emit(self, data: EventData, *, actor_id: int | None) -> Event:
        """Record an event; it is written to the outbox by :meth:`commit`, or never."""
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot emit events")
        event = Event.of(data, actor_id=actor_id)
        self._events.append(event)
        return event

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(self._events)

    async def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        from conduit.core import outbox  # the outbox tables are built on this module

        await outbox.write(self.conn, self._events)
        await self.conn.commit()
        self._committed = True
        if self._events:
            await self._database.committed(self._events)


class Database:
    """The engines and a factory of units of work; built once in bootstrap.

    ``engine`` carries every write. On an SQLite file, which allows one writer at a time,
    that engine has a single connection and read-only use cases get a pool of ``readers``
    read-only connections of their own (``read_engine``): reads run in parallel, on their
    own threads, while writes stay serialized. On PostgreSQL and MariaDB both are the
    same engine.
    """

    def __init__(self, engine: AsyncEngine, *, readers: int = 4) -> None:
        self.engine = engine
        self.read_engine = (
            create_sqlite_read_engine(engine, readers=readers)
            if is_sqlite_file(engine) and readers > 0
            else engine
        )
        self._commit_listeners: list[CommitListener] = []

    def on_commit(self, listener: CommitListener) -> None:
        """Call ``listener(events)`` after each transaction that committed events."""
        self._commit_listeners.append(listener)

    async def committed(self, events: Sequence[Event]) -> None:
        """Tell the listeners; one that fails is logged and never fails the use case."""
        for listener in self._commit_listeners:
            try:
                await listener(events)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("commit listener failed")

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self)

    def reader(self) -> UnitOfWork:
        """A unit of work for a use case that only reads."""
        return UnitOfWork(self, read_only=True)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
        await self.engine.dispose()


# The codes each database gives a duplicate key: PostgreSQL's SQLSTATE, MariaDB/MySQL's errno
# (ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME), SQLite's extended result codes.
_PG_UNIQUE_VIOLATION = "23505"
_MYSQL_DUPLICATE_ENTRY = frozenset({1062, 1586})
_SQLITE_UNIQUE_CODES = frozenset({2067, 1555})  # SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY


def _driver_errors(exc: BaseException) -> list[BaseException]:
    """The error and the driver errors it wraps (SQLAlchemy's ``orig``, adapters' causes)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return chain


def _is_mysql_error(error: BaseException) -> bool:
    return type(error).__module__.split(".")[0] in ("asyncmy", "pymysql", "MySQLdb")


def is_unique_violation(exc: BaseException) -> bool:
    """True when a database error is a unique-constraint violation, on any backend.

    Decided by the database's error code, never by the wording of its message.
    """
    for error in _driver_errors(exc):
        if _sqlstate(error) == _PG_UNIQUE_VIOLATION:
            return True
        if getattr(error, "sqlite_errorcode", None) in _SQLITE_UNIQUE_CODES:
            return True
        if _mysql_errno(error) in _MYSQL_DUPLICATE_ENTRY:
            return True
    return False


# SQLSTATEs of a connection that is gone or going: connection exceptions (08xxx), and
# operator intervention: 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now.
_PG_CONNECTION_LOST = ("08", "57P01", "57P02", "57P03")
# ... and of a server that cannot take one more: 53300 too many connections.
_PG_UNAVAILABLE = (*_PG_CONNECTION_LOST, "53300")
# MariaDB/MySQL: 1053 server shutdown in progress, 1927 connection killed, 2006 server has gone
# away, 2013 lost connection during query, 2014 commands out of sync, 2055 lost connection,
# 4031 disconnected for inactivity.
_MYSQL_CONNECTION_LOST = frozenset({1053, 1927, 2006, 2013, 2014, 2055, 4031})
# ... 1040 too many connections, 2002 / 2003 cannot connect (socket / TCP), 2005 unknown host.
_MYSQL_UNAVAILABLE = _MYSQL_CONNECTION_LOST | {1040, 2002, 2003, 2005}
# asyncpg's client-side errors carry no code: a protocol state machine out of step (its
# InternalClientError) or these messages mean the connection cannot be used any more.
_ASYNCPG_BROKEN = ("connection is closed", "another operation is in progress")


def _mysql_errno(error: BaseException) -> int | None:
    if _is_mysql_error(error) and error.args and isinstance(error.args[0], int):
        return error.args[0]
    return None


def _sqlstate(error: BaseException) -> str:
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return state if isinstance(state, str) else ""


def _is_broken_asyncpg_connection(error: BaseException) -> bool:
    kinds = {kind.__name__ for kind in type(error).__mro__ if kind.__module__.startswith("asyncpg")}
    if "InternalClientError" in kinds:
        return True
    return "InterfaceError" in kinds and any(text in str(error) for text in _ASYNCPG_BROKEN)


def is_connection_lost(exc: BaseException) -> bool:
    """True when an error says the connection to the database server is gone.

    A socket error, PostgreSQL's connection-exception or shutdown SQLSTATEs, MariaDB's
    lost-connection error numbers, or a driver connection left unusable.
    """
    for error in _driver_errors(exc):
        if isinstance(error, sa_exc.DisconnectionError):
            return True
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, OSError):  # ConnectionError, TimeoutError, socket errors
            return True
        if _sqlstate(error).startswith(_PG_CONNECTION_LOST):
            return True
        if _mysql_errno(error) in _MYSQL_CONNECTION_LOST:
            return True
        if _is_broken_asyncpg_connection(error):
            return True
    return False


def is_database_unavailable(exc: BaseException) -> bool:
    """True when a request failed because the database cannot serve now, not because of it.

    A lost connection, a server that refuses or cannot take connections, a transaction the
    server undid to break a deadlock (asyncpg raises that as a plain DBAPIError), and what
    the DB-API calls operational errors (on SQLite: "database is locked"); not an interface
    error as such, which asyncpg also raises for a bad query argument (a bug: 500). A
    client should retry later; pool exhaustion (sqlalchemy's TimeoutError) is told apart
    by the caller.
    """
    if is_connection_lost(exc) or is_deadlock(exc):
        return True
    for error in _driver_errors(exc):
        if isinstance(error, sa_exc.OperationalError):
            return True
        if _sqlstate(error).startswith(_PG_UNAVAILABLE):
            return True
        if _mysql_errno(error) in _MYSQL_UNAVAILABLE:
            return True
    return False


# A transaction the database aborted so that a concurrent one could go on; its message says
# "try restarting transaction". PostgreSQL: 40P01 deadlock_detected, 40001
# serialization_failure; MariaDB/MySQL: 1213 ER_LOCK_DEADLOCK.
_PG_TRY_AGAIN = frozenset({"40P01", "40001"})
_MYSQL_DEADLOCK = 1213
DEADLOCK_ATTEMPTS = 3


def is_deadlock(exc: BaseException) -> bool:
    """True when the database rolled the transaction back to break a deadlock."""
    return any(
        _sqlstate(error) in _PG_TRY_AGAIN or _mysql_errno(error) == _MYSQL_DEADLOCK
        for error in _driver_errors(exc)
    )


async def retry_deadlocks(
    transaction: Callable[[], Awaitable[T]], *, attempts: int = DEADLOCK_ATTEMPTS
) -> T:
    """Run ``transaction`` (one unit of work, start to commit) again if a deadlock undid it.

    The victim's work was rolled back whole, so running it again is safe, and at once: the
    second run waits for the transaction that won, then sees what it committed (after a
    lost unique race, the constraint: the loser answers 409 instead of 503). After
    ``attempts`` defeats the error goes up: a database too contended to serve now (503).
    """
    for attempt in range(1, attempts):
        try:
            return await transaction()
        except sa_exc.DBAPIError as exc:
            if not is_deadlock(exc):
                raise
            _log.info("deadlock_retried", attempt=attempt, error=str(exc.orig))
    return await transaction()  # the last attempt: its error goes up as it is


async def insert_ignore(conn: AsyncConnection, table: Table, values: dict[str, Any]) -> bool:
    """Insert a row unless one with the same key exists; True when a row was added.

    Idempotent under concurrency on every backend (no error, no aborted transaction).
    """
    dialect = conn.dialect.name
    statement: Any
    if dialect == "postgresql":
        statement = pg_insert(table).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite_insert(table).values(**values).on_conflict_do_nothing()
    else:
        statement = insert(table).values(**values).prefix_with("IGNORE")
    result = await conn.execute(statement)
    return bool(result.rowcount)
