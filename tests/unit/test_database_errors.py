"""Which database errors mean "the database is away" (503) and which are bugs (500)."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncmy.errors
import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from conduit.core.db_errors import is_connection_lost, is_database_unavailable, is_deadlock
from conduit.http.errors import install_error_handlers

_ASYNCPG_DBAPI = AsyncAdapt_asyncpg_dbapi(asyncpg)


def asyncpg_error(error: Exception, wrapper: type[DBAPIError] = DBAPIError) -> DBAPIError:
    """An asyncpg error as SQLAlchemy raises it: adapted, then wrapped."""
    adapted_class = next(
        adapted
        for kind, adapted in _ASYNCPG_DBAPI._asyncpg_error_translate.items()
        if isinstance(error, kind)
    )
    adapted = adapted_class(str(error), error)
    adapted.__cause__ = error
    return wrapper("SELECT 1", {}, adapted)


def asyncmy_error(kind: type[Exception], errno: int, wrapper: type[DBAPIError]) -> DBAPIError:
    return wrapper("SELECT 1", {}, kind(errno, "message"))


LOST: dict[str, BaseException] = {
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "reset": ConnectionResetError(104, "Connection reset by peer"),
    "connect-timeout": TimeoutError(),
    "pg-admin-shutdown": asyncpg_error(asyncpg.exceptions.AdminShutdownError("terminating")),
    "pg-shutting-down": asyncpg_error(asyncpg.exceptions.CannotConnectNowError("shutting down")),
    "pg-closed-mid-operation": asyncpg_error(
        asyncpg.exceptions.ConnectionDoesNotExistError("closed in the middle of operation")
    ),
    "pg-state-machine": asyncpg_error(
        asyncpg.exceptions.InternalClientError("cannot switch to state 12"), InternalError
    ),
    "pg-closed": asyncpg_error(
        asyncpg.exceptions.InterfaceError("connection is closed"), InterfaceError
    ),
    "pg-busy-connection": asyncpg_error(
        asyncpg.exceptions.InterfaceError("another operation is in progress"), InterfaceError
    ),
    "mariadb-gone-away": asyncmy_error(asyncmy.errors.OperationalError, 2006, OperationalError),
    "mariadb-lost": asyncmy_error(asyncmy.errors.OperationalError, 2013, OperationalError),
    "mariadb-shutdown": asyncmy_error(asyncmy.errors.OperationalError, 1053, OperationalError),
    "invalidated": DBAPIError("SELECT 1", {}, Exception("x"), connection_invalidated=True),
    "disconnection": DisconnectionError("gone"),
}
BUSY_OR_REFUSING: dict[str, BaseException] = {
    "pg-too-many": asyncpg_error(asyncpg.exceptions.TooManyConnectionsError("too many")),
    "mariadb-too-many": asyncmy_error(asyncmy.errors.OperationalError, 1040, OperationalError),
    "mariadb-cannot-connect": asyncmy_error(
        asyncmy.errors.OperationalError, 2003, OperationalError
    ),
    "sqlite-locked": OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked")),
    **(
        DEADLOCKS := {
            "pg-deadlock": asyncpg_error(asyncpg.exceptions.DeadlockDetectedError("deadlock")),
            "pg-serialization": asyncpg_error(asyncpg.exceptions.SerializationError("conflict")),
            "mariadb-deadlock": asyncmy_error(
                asyncmy.errors.OperationalError, 1213, OperationalError
            ),
        }
    ),
}
BUGS: dict[str, BaseException] = {
    "pg-unique": asyncpg_error(asyncpg.exceptions.UniqueViolationError("dup"), IntegrityError),
    "pg-syntax": asyncpg_error(
        asyncpg.exceptions.PostgresSyntaxError("syntax error"), ProgrammingError
    ),
    "pg-bad-argument": asyncpg_error(
        asyncpg.exceptions.DataError("invalid input for query argument"), InterfaceError
    ),
    "mariadb-syntax": asyncmy_error(asyncmy.errors.ProgrammingError, 1064, ProgrammingError),
    "mariadb-duplicate": asyncmy_error(asyncmy.errors.IntegrityError, 1062, IntegrityError),
    "sqlite-constraint": IntegrityError("INSERT", {}, sqlite3.IntegrityError("NOT NULL")),
    "plain": ValueError("connection is closed"),
}


@pytest.mark.parametrize("error", LOST.values(), ids=LOST.keys())
def test_lost_connections_are_lost_and_unavailable(error: BaseException) -> None:
    assert is_connection_lost(error)
    assert is_database_unavailable(error)


@pytest.mark.parametrize("error", BUSY_OR_REFUSING.values(), ids=BUSY_OR_REFUSING.keys())
def test_a_refusing_server_is_unavailable_but_no_connection_is_lost(error: BaseException) -> None:
    assert is_database_unavailable(error)
    assert not is_connection_lost(error)


@pytest.mark.parametrize("error", BUGS.values(), ids=BUGS.keys())
def test_other_errors_are_neither(error: BaseException) -> None:
    assert not is_database_unavailable(error)
    assert not is_connection_lost(error)


@pytest.mark.parametrize(
    "error", [*DEADLOCKS.values(), *BUGS.values(), *LOST.values()], ids=[*DEADLOCKS, *BUGS, *LOST]
)
def test_only_a_deadlock_victim_is_worth_running_again(error: BaseException) -> None:
    assert is_deadlock(error) == (error in DEADLOCKS.values())


def app_raising(error: BaseException) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/")
    async def fail() -> Any:
        raise error

    return app


async def answer(error: BaseException) -> httpx.Response:
    transport = httpx.ASGITransport(app=app_raising(error))  # re-raises what reached the catch-all
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        return await http.get("/")


@pytest.mark.parametrize(
    "error",
    [*LOST.values(), *BUSY_OR_REFUSING.values()],
    ids=[*LOST.keys(), *BUSY_OR_REFUSING.keys()],
)
async def test_an_unavailable_database_answers_503_with_retry_after(error: BaseException) -> None:
    response = await answer(error)
    assert response.status_code == 503
    assert response.json() == {"errors": {"database": ["is unavailable"]}}
    assert int(response.headers["retry-after"]) >= 1


async def test_an_exhausted_pool_answers_503_busy() -> None:
    response = await answer(PoolTimeout("QueuePool limit of size 1 overflow 0 reached"))
    assert response.status_code == 503
    assert response.json() == {"errors": {"server": ["is busy, try again"]}}
    assert response.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    "error",
    [value for key, value in BUGS.items() if key != "plain"],
    ids=[key for key in BUGS if key != "plain"],
)
async def test_a_database_error_that_is_a_bug_answers_500(error: BaseException) -> None:
    response = await answer(error)
    assert response.status_code == 500
    assert response.json() == {"errors": {"server": ["internal error"]}}
    assert "retry-after" not in response.headers
