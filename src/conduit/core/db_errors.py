"""What a database error means, on every backend: a duplicate key, a lost connection, a
server that cannot serve now, a deadlock victim; running a transaction again after a
deadlock; and an insert that ignores a duplicate.

Decided by the databases' error codes, never by the wording of their messages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from sqlalchemy import Table, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")
_log = structlog.get_logger("conduit.db")


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
# 25006 read_only_sql_transaction on a write: the server behind the connection no longer
# takes writes ("cannot execute INSERT in a read-only transaction"), a primary demoted to a
# standby or fenced read-only. The connection is no use to Conduit's writes any more: it is
# dropped like a lost one, and the next one finds the primary (target_session_attrs).
_PG_NOT_WRITABLE = "25006"
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
    lost-connection error numbers, or a driver connection left unusable; and, on
    PostgreSQL, a connection to a server that stopped being the primary (a failover or
    switchover), which takes no more writes.
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
        if _sqlstate(error) == _PG_NOT_WRITABLE:
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
