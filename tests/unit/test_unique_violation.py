"""is_unique_violation: decided by each database's error code, never by the message."""

from __future__ import annotations

import sqlite3

import asyncmy.errors
import asyncpg
import pymysql.err
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import IntegrityError

from conduit.core.db_errors import is_unique_violation

_ASYNCPG_DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)
# Messages that say "unique"/"duplicate" whatever the code: only the code may decide.
_MISLEADING = "duplicate key value violates unique constraint (Duplicate entry)"


def wrapped(orig: BaseException) -> IntegrityError:
    """What SQLAlchemy raises: the driver's error as ``orig``."""
    return IntegrityError("INSERT ...", {}, orig)


def asyncpg_error(error: asyncpg.PostgresError) -> IntegrityError:
    """asyncpg through SQLAlchemy's adapter: the adapted error, caused by asyncpg's."""
    adapted_class = _ASYNCPG_DBAPI._asyncpg_error_translate[type(error)]
    adapted = adapted_class(str(error), error)
    adapted.__cause__ = error
    return wrapped(adapted)


def sqlite_error(code: int, name: str) -> sqlite3.IntegrityError:
    error = sqlite3.IntegrityError(_MISLEADING)
    error.sqlite_errorcode = code
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg_error(asyncpg.exceptions.UniqueViolationError("dup")),
        wrapped(asyncmy.errors.IntegrityError(1062, "Duplicate entry 'a' for key 'username'")),
        wrapped(pymysql.err.IntegrityError(1062, "Duplicate entry 'a' for key 'username'")),
        wrapped(asyncmy.errors.IntegrityError(1586, "Duplicate entry 'a' for key 'username'")),
        wrapped(sqlite_error(2067, "SQLITE_CONSTRAINT_UNIQUE")),
        wrapped(sqlite_error(1555, "SQLITE_CONSTRAINT_PRIMARYKEY")),
    ],
    ids=["asyncpg", "asyncmy", "pymysql", "asyncmy-key-name", "sqlite-unique", "sqlite-pk"],
)
def test_a_duplicate_key_is_a_unique_violation(error: IntegrityError) -> None:
    assert is_unique_violation(error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg_error(asyncpg.exceptions.NotNullViolationError(_MISLEADING)),
        asyncpg_error(asyncpg.exceptions.ForeignKeyViolationError(_MISLEADING)),
        asyncpg_error(asyncpg.exceptions.CheckViolationError(_MISLEADING)),
        wrapped(asyncmy.errors.IntegrityError(1048, _MISLEADING)),
        wrapped(asyncmy.errors.IntegrityError(1452, _MISLEADING)),
        wrapped(pymysql.err.IntegrityError(1451, _MISLEADING)),
        wrapped(sqlite_error(1299, "SQLITE_CONSTRAINT_NOTNULL")),
        wrapped(sqlite_error(787, "SQLITE_CONSTRAINT_FOREIGNKEY")),
        wrapped(sqlite_error(275, "SQLITE_CONSTRAINT_CHECK")),
        wrapped(ValueError(_MISLEADING)),
        wrapped(OSError(1062, _MISLEADING)),
        ValueError(_MISLEADING),
    ],
    ids=[
        "asyncpg-not-null",
        "asyncpg-foreign-key",
        "asyncpg-check",
        "asyncmy-not-null",
        "asyncmy-foreign-key",
        "pymysql-row-referenced",
        "sqlite-not-null",
        "sqlite-foreign-key",
        "sqlite-check",
        "no-code",
        "os-error-with-1062",
        "not-a-database-error",
    ],
)
def test_other_errors_are_not_unique_violations_whatever_their_message(
    error: BaseException,
) -> None:
    assert not is_unique_violation(error)


def test_a_real_sqlite_duplicate_carries_the_extended_code() -> None:
    """Python's sqlite3 reports the extended code the check relies on (3.11+)."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
        connection.execute("INSERT INTO t VALUES (1, 'a')")
        caught = []
        for statement in (
            "INSERT INTO t VALUES (2, 'a')",
            "INSERT INTO t VALUES (1, 'b')",
            "INSERT INTO t VALUES (3, NULL)",
        ):
            with pytest.raises(sqlite3.IntegrityError) as error:
                connection.execute(statement)
            caught.append(is_unique_violation(wrapped(error.value)))
    finally:
        connection.close()
    assert caught == [True, True, False]
