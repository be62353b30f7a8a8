"""Every failure of a GraphQL operation, mapped once to an error with ``extensions.code``.

A use case's :class:`~conduit.core.errors.ConduitError` keeps its REST field messages in
``extensions.errors`` (``{"title": ["can't be blank"]}``); pydantic validation goes through
the same :func:`~conduit.core.validation.validation_errors` as REST. Unexpected errors are
logged and answered ``INTERNAL_SERVER_ERROR`` without details.

=======================  ========================================================
code                     when
=======================  ========================================================
UNAUTHENTICATED          no token, or an invalid / expired / revoked one (REST 401)
FORBIDDEN                not allowed (REST 403)
NOT_FOUND                no such article, comment or profile (REST 404)
BAD_USER_INPUT           invalid arguments or input (REST 422)
CONFLICT                 username or email already taken (REST 409)
RATE_LIMITED             over a rate limit (REST 429)
LIMIT_EXCEEDED           the document is too deep, costly, long or has too many aliases
GRAPHQL_PARSE_FAILED     the document is not GraphQL
GRAPHQL_VALIDATION_FAILED  the document does not fit the schema
SERVICE_UNAVAILABLE      the database did not answer (REST 503)
INTERNAL_SERVER_ERROR    anything else (logged)
=======================  ========================================================
"""

from __future__ import annotations

from typing import Any

import structlog
from graphql import GraphQLError
from pydantic import ValidationError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import MaskErrors

from conduit.core.db_errors import is_database_unavailable
from conduit.core.errors import ConduitError
from conduit.core.validation import validation_errors

log = structlog.get_logger("conduit.graphql")

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
BAD_USER_INPUT = "BAD_USER_INPUT"
CONFLICT = "CONFLICT"
RATE_LIMITED = "RATE_LIMITED"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
INTERNAL = "INTERNAL_SERVER_ERROR"

_BY_STATUS = {
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: CONFLICT,
    422: BAD_USER_INPUT,
    429: RATE_LIMITED,
    503: SERVICE_UNAVAILABLE,
}
# Messages of Strawberry's limiters (depth, aliases, tokens); the cost check sets its code.
_LIMIT_MARKS = ("exceeds maximum operation depth", "aliases found. Allowed", "tokens. Parsing")


class TooManyRequests(ConduitError):
    """Over a rate limit: the same answer as REST's 429 body."""

    status = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__("request", "too many requests")
        self.retry_after = retry_after


def _rebuilt(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=extensions,
    )


def _errors_message(errors: dict[str, list[str]]) -> str:
    field, messages = next(iter(errors.items()))
    return f"{field} {messages[0]}"


def _conduit(error: GraphQLError, exc: ConduitError) -> GraphQLError:
    extensions: dict[str, Any] = {"code": _BY_STATUS.get(exc.status, "BAD_REQUEST")}
    extensions["errors"] = exc.errors
    if isinstance(exc, TooManyRequests):
        extensions["retryAfter"] = exc.retry_after
    return _rebuilt(error, _errors_message(exc.errors), extensions)


def _document_code(message: str) -> str:
    if any(mark in message for mark in _LIMIT_MARKS):
        return LIMIT_EXCEEDED
    if message.startswith("Syntax Error"):
        return PARSE_FAILED
    return VALIDATION_FAILED


def public_error(error: GraphQLError) -> GraphQLError:
    """The error as a client sees it: a code, and REST's field messages where there are."""
    original = error.original_error
    if isinstance(original, GraphQLError) and original is not error:
        return public_error(original)
    if original is None:
        if error.extensions and "code" in error.extensions:
            return error
        return _rebuilt(error, error.message, {"code": _document_code(error.message)})
    if isinstance(original, ConduitError):
        return _conduit(error, original)
    if isinstance(original, ValidationError):
        errors = validation_errors(list(original.errors()))  # type: ignore[arg-type]
        extensions = {"code": BAD_USER_INPUT, "errors": errors}
        return _rebuilt(error, _errors_message(errors), extensions)
    if isinstance(original, PoolTimeout):
        errors = {"server": ["is busy, try again"]}
        return _rebuilt(
            error, "server is busy, try again", {"code": SERVICE_UNAVAILABLE, "errors": errors}
        )
    if _unavailable(original):
        errors = {"database": ["is unavailable"]}
        return _rebuilt(
            error, "database is unavailable", {"code": SERVICE_UNAVAILABLE, "errors": errors}
        )
    return _rebuilt(
        error, "internal error", {"code": INTERNAL, "errors": {"server": ["internal error"]}}
    )


def is_expected(error: GraphQLError) -> bool:
    """Errors that say something about the request, not about Conduit (not logged)."""
    original = error.original_error
    return original is None or isinstance(original, ConduitError | ValidationError | GraphQLError)


class PublicErrors(MaskErrors):
    """Replaces every error of a result by :func:`public_error` (queries, mutations and
    each event of a subscription)."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [public_error(error) for error in errors]


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, PoolTimeout | OSError) or is_database_unavailable(exc)


def log_unexpected(errors: list[GraphQLError]) -> None:
    """A database that went away is a warning (it comes back); anything else an error."""
    for error in errors:
        original = error.original_error
        if original is None or is_expected(error):
            continue
        if _unavailable(original):
            first_line = (str(original).splitlines() or [""])[0]
            log.warning("db_unavailable", error_type=type(original).__name__, error=first_line)
            continue
        log.error(
            "graphql_unhandled_error",
            error_type=type(original).__name__,
            path=error.path,
            exc_info=original,
        )
