"""ASGI middleware: request ids, access logs, request body size limit.

Every HTTP request is logged once, when its answer has been sent: one ``request`` line with
``request_id``, ``method``, ``path``, ``route`` (the route's template, such as
``/api/articles/{slug}``; absent when no route matched), ``status``, ``duration_ms``,
``user_id`` (a signed-in caller's id, never a token) and ``trace_id`` (the trace of an
incoming W3C ``traceparent`` header; with tracing on, the request's own trace and
``span_id``, added by observability's log processor). See ``docs/operating/logs.md``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import structlog
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduit.core import read_routing
from conduit.core.trace_ids import trace_id_of
from conduit.http.kit import STALE_TOKEN, USER_ID

log = structlog.get_logger("conduit.access")

_REQUEST_ID = b"x-request-id"
_TRACEPARENT = b"traceparent"


class BodyTooLarge(HTTPException):
    """Raised while the body is read; the app's error handler answers 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="is too large")


def _valid_request_id(value: bytes) -> bool:
    return 0 < len(value) <= 128 and all(32 < byte < 127 for byte in value)


class RequestContext:
    """Gives every request an id (``X-Request-ID`` in and out), logs it, limits its body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        route_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths whose bodies may be larger (or must be smaller) than max_body_bytes: the
        # image uploads. Still enforced while the body is read, never trusted from a header.
        self.route_limits = dict(route_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(_REQUEST_ID, b"")
        request_id = incoming.decode() if _valid_request_id(incoming) else uuid.uuid4().hex
        started = time.perf_counter()
        status = 500
        state = scope.setdefault("state", {})  # shared with inner copies of the scope
        received = 0
        limit = self.route_limits.get(scope["path"], self.max_body_bytes)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (_REQUEST_ID, request_id.encode()),
                    *_stale_token_header(scope, status),
                ]
            await send(message)

        context = {"request_id": request_id}
        trace_id = trace_id_of(headers.get(_TRACEPARENT, b"").decode("latin-1"))
        if trace_id is not None:
            context["trace_id"] = trace_id
        structlog.contextvars.bind_contextvars(**context)
        # Anonymous until a token says otherwise (kit.signed_in): reads may go to a replica.
        reading = read_routing.read_as(None)
        try:
            declared = headers.get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                status = 413
                await _too_large(send, request_id, limit)
            elif _has_nul(scope):
                status = 422
                await _reply(send, request_id, 422, {"url": ["is invalid"]})
            else:
                await self.app(scope, limited_receive, send_with_id)
        except BodyTooLarge:
            status = 413
            await _too_large(send, request_id, limit)
        finally:
            fields: dict[str, Any] = {"method": scope["method"], "path": scope["path"]}
            route = route_of(scope)
            if route is not None:
                fields["route"] = route
            user_id = state.get(USER_ID)
            if user_id is not None:
                fields["user_id"] = user_id
            log.info(
                "request",
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **fields,
            )
            structlog.contextvars.unbind_contextvars(*context)
            read_routing.forget(reading)


def route_of(scope: Scope) -> str | None:
    """The template of the route that answered (``/api/articles/{slug}``), for logs and
    metrics: the route the router matched, or, when none ran (a cached read, a HEAD, an
    answer given before routing), the one the app's routes would match; None for a path
    no route serves."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", None)
    router = getattr(scope.get("app"), "router", None)
    partial = None
    for candidate in getattr(router, "routes", ()):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return getattr(candidate, "path", None)
        if match is Match.PARTIAL and partial is None:
            partial = getattr(candidate, "path", None)
    return partial


def _stale_token_header(scope: Scope, status: int) -> list[tuple[bytes, bytes]]:
    """An ignored token (optional authentication) is explained; a 401 explains itself."""
    reason = scope.get("state", {}).get(STALE_TOKEN)
    if reason is None or status == 401:
        return []
    value = f'Token error="invalid_token", error_description="{reason}"'
    return [(b"www-authenticate", value.encode())]


def _has_nul(scope: Scope) -> bool:
    """A NUL in the path or the query: no resource has one, and PostgreSQL refuses them."""
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    await _reply(send, request_id, 413, {"body": [f"is too large (maximum is {limit} bytes)"]})


async def _reply(send: Send, request_id: str, status: int, errors: dict[str, list[str]]) -> None:
    body = orjson.dumps({"errors": errors})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (_REQUEST_ID, request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
