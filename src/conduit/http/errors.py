"""Maps every failure to the RealWorld error format: {"errors": {"<field>": ["<message>"]}}."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from conduit.core.db_errors import is_database_unavailable
from conduit.core.errors import ConduitError
from conduit.core.validation import validation_errors
from conduit.http.kit import JSONReply

log = structlog.get_logger("conduit.http")

# A restarted database accepts connections again within seconds; the pool recovers by itself.
RETRY_AFTER_UNAVAILABLE_SECONDS = 2

_STATUS_MESSAGES = {404: "not found", 405: "method not allowed", 413: "is too large"}

# FastAPI's 400 for a JSON body it cannot decode other than by JSONDecodeError (invalid
# UTF-8, an integer too long): as malformed JSON, a 422 like the others. Nesting deeper
# than the parser goes (RecursionError, some 900 levels) is valid JSON: it is said so.
_UNPARSABLE_BODY = "There was an error parsing the body"
NESTED_TOO_DEEPLY = {"body": ["is nested too deeply"]}
# A body FastAPI did not read as JSON (no Content-Type, or another type) reaches validation
# as bytes; every body the API takes is JSON, so the fix is the header: 415 says which.
NOT_JSON_TYPED = {"body": ["must be sent with Content-Type: application/json"]}


def errors_body(errors: dict[str, list[str]]) -> dict[str, Any]:
    return {"errors": errors}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConduitError)
    async def conduit_error(_request: Request, exc: ConduitError) -> JSONReply:
        headers = {"WWW-Authenticate": "Token"} if exc.status == 401 else None
        return JSONReply(errors_body(exc.errors), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONReply:
        if isinstance(exc.body, bytes | bytearray):
            return JSONReply(errors_body(NOT_JSON_TYPED), status_code=415)
        return JSONReply(errors_body(validation_errors(list(exc.errors()))), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONReply:
        if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
            if isinstance(exc.__cause__, RecursionError):
                return JSONReply(errors_body(NESTED_TOO_DEEPLY), status_code=422)
            return JSONReply(errors_body({"body": ["is not valid JSON"]}), status_code=422)
        message = _STATUS_MESSAGES.get(exc.status_code, str(exc.detail).lower())
        key = {404: "path", 413: "body"}.get(exc.status_code, "request")
        headers = _allowing_head(exc.headers) if exc.status_code == 405 else exc.headers
        return JSONReply(
            errors_body({key: [message]}), status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_request: Request, exc: PoolTimeout) -> JSONReply:
        log.warning("db_pool_timeout", error=str(exc))
        return busy_reply()

    # Every way the database can go away answers 503, each handled here (not by the
    # catch-all below, after which the server would close the client's connection): the
    # DB-API errors of a lost or refused connection, SQLAlchemy's DisconnectionError, and a
    # socket error (OSError: ConnectionRefusedError, ConnectionResetError, TimeoutError...)
    # that a driver raised while connecting.
    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONReply:
        if is_database_unavailable(exc):
            return unavailable_reply(exc)
        return _internal_error(exc)

    @app.exception_handler(DisconnectionError)
    async def database_disconnected(_request: Request, exc: DisconnectionError) -> JSONReply:
        return unavailable_reply(exc)

    @app.exception_handler(OSError)
    async def database_unreachable(_request: Request, exc: OSError) -> JSONReply:
        return unavailable_reply(exc)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONReply:
        if is_database_unavailable(exc):
            return unavailable_reply(exc)
        return _internal_error(exc)


def _allowing_head(headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """A 405's ``Allow`` with HEAD beside GET: every GET route answers HEAD too
    (:mod:`conduit.http.head`)."""
    allow = (headers or {}).get("Allow")
    if allow is None:
        return headers
    methods = [method.strip() for method in allow.split(",")]
    if "GET" not in methods or "HEAD" in methods:
        return headers
    return {**(headers or {}), "Allow": ", ".join([*methods, "HEAD"])}


def busy_reply() -> JSONReply:
    """503 for an exhausted connection pool: every connection is busy, retry in a second."""
    return JSONReply(
        errors_body({"server": ["is busy, try again"]}),
        status_code=503,
        headers={"Retry-After": "1"},
    )


def unavailable_reply(exc: BaseException) -> JSONReply:
    """503 for a database that is down, restarting or unreachable."""
    first_line = (str(exc).splitlines() or [""])[0]
    log.warning("db_unavailable", error_type=type(exc).__name__, error=first_line)
    return JSONReply(
        errors_body({"database": ["is unavailable"]}),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_SECONDS)},
    )


def _internal_error(exc: BaseException) -> JSONReply:
    log.error("unhandled_error", error_type=type(exc).__name__, exc_info=exc)
    return JSONReply(errors_body({"server": ["internal error"]}), status_code=500)
