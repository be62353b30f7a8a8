"""The request context's pieces (request ids, access logs, the body limit's answers), for
:class:`conduit.http.pipeline.HttpPipeline`.

Every HTTP request is logged once, when its answer has been sent: one ``request`` line with
``request_id``, ``method``, ``path``, ``route`` (the route's template, such as
``/api/articles/{slug}``; absent when no route matched), ``status``, ``duration_ms``,
``user_id`` (a signed-in caller's id, never a token) and ``trace_id`` (the trace of an
incoming W3C ``traceparent`` header; with tracing on, the request's own trace and
``span_id``, added by observability's log processor). See ``docs/operating/logs.md``.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

import orjson
import structlog
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Scope, Send

from conduit.http.kit import STALE_TOKEN, USER_ID

log = structlog.get_logger("conduit.access")

REQUEST_ID = b"x-request-id"


class BodyTooLarge(HTTPException):
    """Raised while the body is read; the app's error handler answers 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="is too large")


def _valid_request_id(value: bytes) -> bool:
    return 0 < len(value) <= 128 and all(32 < byte < 127 for byte in value)


def new_request_id() -> str:
    """32 hex digits, as ``uuid4().hex`` but without the UUID object (an id, not a secret)."""
    return f"{random.getrandbits(128):032x}"


def request_id_of(incoming: bytes) -> str:
    """The caller's X-Request-ID when it is a sensible one, else a new id."""
    return incoming.decode() if _valid_request_id(incoming) else new_request_id()


def access_log_enabled() -> bool:
    """Whether the ``request`` line would be written: the logger filters below its level,
    and a line below it is not worth the fields it would be built from."""
    enabled = getattr(log, "is_enabled_for", None)
    return True if enabled is None else bool(enabled(logging.INFO))


def log_request(scope: Scope, status: int, started: float) -> None:
    """The request's one ``request`` line (see the module docstring)."""
    state = scope.get("state", {})
    route = route_of(scope)
    user_id = state.get(USER_ID)
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    fields: dict[str, Any] = {"status": status, "duration_ms": duration_ms}
    fields["method"], fields["path"] = scope["method"], scope["path"]
    if route is not None:
        fields["route"] = route
    if user_id is not None:
        fields["user_id"] = user_id
    log.info("request", **fields)


# Paths already matched against the routes (answers given before routing): the same
# article read again and again is the common case. Kept on the router; emptied when it
# grows past this.
MATCHED_PATHS = 4096
_MATCHED = "conduit_matched_paths"


def route_of(scope: Scope) -> str | None:
    """The template of the route that answered (``/api/articles/{slug}``), for logs and
    metrics: the route the router matched, or, when none ran (a cached read, a HEAD, an
    answer given before routing), the one the app's routes would match; None for a path
    no route serves."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", None)
    router = getattr(scope.get("app"), "router", None)
    matched: dict[tuple[str, str], str | None] | None = getattr(router, _MATCHED, None)
    if matched is None:
        matched = {}
        if router is not None:
            setattr(router, _MATCHED, matched)
    key = (scope["method"], scope["path"])
    if key in matched:
        return matched[key]
    partial = None
    found = None
    for candidate in getattr(router, "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            found = getattr(candidate, "path", None)
            break
        if match is Match.PARTIAL and partial is None:
            partial = getattr(candidate, "path", None)
    found = found if found is not None else partial
    if len(matched) >= MATCHED_PATHS:
        matched.clear()
    matched[key] = found
    return found


def stale_token_header(scope: Scope, status: int) -> list[tuple[bytes, bytes]]:
    """An ignored token (optional authentication) is explained; a 401 explains itself."""
    reason = scope.get("state", {}).get(STALE_TOKEN)
    if reason is None or status == 401:
        return []
    value = f'Token error="invalid_token", error_description="{reason}"'
    return [(b"www-authenticate", value.encode())]


def has_nul(scope: Scope) -> bool:
    """A NUL in the path or the query: no resource has one, and PostgreSQL refuses them."""
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


async def too_large(send: Send, request_id: str, limit: int) -> None:
    await reply(send, request_id, 413, {"body": [f"is too large (maximum is {limit} bytes)"]})


async def reply(send: Send, request_id: str, status: int, errors: dict[str, list[str]]) -> None:
    body = orjson.dumps({"errors": errors})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID, request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
