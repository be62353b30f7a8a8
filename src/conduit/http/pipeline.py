"""The HTTP kit's steps around every request, as one ASGI layer.

Outermost first, as they apply (each step's answer given in place of the app goes out
through the steps outside it only):

1. security headers on every answer (:mod:`conduit.http.hardening`), even a 413 or a 429;
2. the request context (:mod:`conduit.http.middleware`): the request id (``X-Request-ID``
   in and out), the log context, the access log line, the body size limit (413) and the
   NUL check (422);
3. the client address (:mod:`conduit.http.client_address`);
4. CORS (:mod:`conduit.http.cors`): preflights answered here, a browser can read a 429;
5. the rate limits (:mod:`conduit.http.rate_limits`): cached answers are counted too;
6. HEAD wherever GET is served (RFC 9110 9.3.2): a HEAD goes on as a GET (FastAPI routes
   answer only the methods they declare, and declaring HEAD on each would list a ``head``
   operation per path in the OpenAPI document) and its answer loses its body on the way
   out, keeping the GET's ETag, Content-Length and Content-Type; If-None-Match still gets
   its 304, the rate limits count it as the read it is, the read cache may answer it. (A
   405 lists HEAD beside GET in its ``Allow`` header: :mod:`conduit.http.errors`.) The few
   answers made further out (a 429, a 413) keep their body; the server leaves the body of
   any answer to a HEAD unsent, as HTTP requires of it;
7. conditional GETs (:mod:`conduit.http.conditional`): Cache-Control and Vary on every GET,
   a strong ETag on its 200s (hashed here unless the answer has one: the read cache's
   answers carry the tag stored with them, and it fingerprints what it stores), 304 when
   the client's copy is current.

Why one layer: as nested middleware each step re-wrapped ``send`` and re-scanned the
headers, several closures and awaits per request on every read. Here the request's headers
are read once, and the answer's start goes through one function that adds every step's
headers in the order the nested steps did. The read cache (:mod:`conduit.http.read_cache`)
stays an inner layer of its own: it answers in place of the app, after a round trip to its
backend, for the few paths it keeps, and costs a check when it is off.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduit.core import read_routing
from conduit.core.trace_ids import trace_id_of
from conduit.http.client_address import CLIENT_IP, ClientAddress, IPNetwork
from conduit.http.conditional import METHODS
from conduit.http.cors import CorsPolicy
from conduit.http.exchange import Exchange
from conduit.http.hardening import Hardening
from conduit.http.middleware import (
    REQUEST_ID,
    BodyTooLarge,
    access_log_enabled,
    has_nul,
    log_request,
    reply,
    request_id_of,
    too_large,
)
from conduit.http.rate_limits import RateLimits, too_many

__all__ = ["HttpPipeline"]


class HttpPipeline:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        route_limits: Mapping[str, int] | None = None,
        trusted_proxies: Sequence[IPNetwork] = (),
        cors: CorsPolicy,
        rate_limits: RateLimits | None = None,
        hardening: Hardening,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths whose bodies may be larger (or must be smaller) than max_body_bytes: the
        # image uploads. Still enforced while the body is read, never trusted from a header.
        self.route_limits = dict(route_limits or {})
        self.client = ClientAddress(app, trusted_proxies=trusted_proxies)
        self.cors = cors
        self.rate_limits = rate_limits
        self.hardening = hardening

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                scope.setdefault("state", {})[CLIENT_IP] = self.client.client_ip(scope)
            await self.app(scope, receive, send)
            return
        # The one pass over the request's headers (a later header wins where a dict of
        # them would keep the last; Origin is the first, as Starlette's Headers.get).
        incoming_id = traceparent = b""
        declared = if_none_match = origin = None
        signed_in = preflight_method = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                signed_in = True
            elif name == b"if-none-match":
                if_none_match = value
            elif name == REQUEST_ID:
                incoming_id = value
            elif name == b"content-length":
                declared = value
            elif name == b"traceparent":
                traceparent = value
            elif name == b"origin":
                if origin is None:
                    origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                preflight_method = True
        started = time.perf_counter()
        request_id = request_id_of(incoming_id)
        state = scope.setdefault("state", {})  # shared with inner copies of the scope
        limit = self.route_limits.get(scope["path"], self.max_body_bytes)
        exchange = Exchange(scope, send, request_id, self.hardening, self.cors, origin)
        exchange.receive = _limited(receive, limit)
        context = {"request_id": request_id}
        trace_id = trace_id_of(traceparent.decode("latin-1")) if traceparent else None
        if trace_id is not None:
            context["trace_id"] = trace_id
        structlog.contextvars.bind_contextvars(**context)
        # Anonymous until a token says otherwise (kit.signed_in): reads may go to a replica.
        reading = read_routing.read_as(None)
        try:
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                exchange.status = 413
                await too_large(exchange.send_hardened, request_id, limit)
            elif has_nul(scope):
                exchange.status = 422
                await reply(exchange.send_hardened, request_id, 422, {"url": ["is invalid"]})
            else:
                state[CLIENT_IP] = self.client.client_ip(scope)
                method = scope["method"]
                if method == "OPTIONS" and origin is not None and preflight_method:
                    await self.cors.preflight(scope)(scope, receive, exchange.send_in_context)
                else:
                    inner = await self._admit(scope, exchange, signed_in, if_none_match)
                    if inner is not None:
                        await self.app(inner, exchange.receive, exchange.send)
                        await self._answered(exchange)
        except BodyTooLarge:
            exchange.status = 413
            await too_large(exchange.send_hardened, request_id, limit)
        finally:
            if access_log_enabled():
                log_request(exchange.logged_scope(), exchange.status, started)
            structlog.contextvars.unbind_contextvars(*context)
            read_routing.forget(reading)

    async def _admit(
        self, scope: Scope, exchange: Exchange, signed_in: bool, if_none_match: bytes | None
    ) -> Scope | None:
        """The rate limits, HEAD and the conditional step: the scope the app is to answer,
        or None when the rate limits answered (429)."""
        if self.rate_limits is not None:
            admission = await self.rate_limits.admit(scope, exchange.receive)
            if admission is not None:
                if admission.quota is not None and not admission.quota.allowed:
                    start, body = too_many(admission.quota)
                    await exchange.send_with_cors(start)
                    await exchange.send_with_cors(body)
                    return None
                exchange.admission = admission
                exchange.receive = admission.receive
        method = scope["method"]
        if method in METHODS:
            exchange.conditional = True
            exchange.signed_in = signed_in
            exchange.if_none_match = if_none_match
        if method == "HEAD":
            exchange.head = True
            # A copy, so that the log line and the metrics outside still say HEAD; its state
            # is shared: what inner steps leave there.
            exchange.inner = {**scope, "method": "GET"}
            return exchange.inner
        return scope

    async def _answered(self, exchange: Exchange) -> None:
        admission = exchange.admission
        if admission is not None and self.rate_limits is not None:
            await self.rate_limits.answered(admission, exchange.app_status)


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def limited_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return limited_receive
