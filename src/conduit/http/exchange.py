"""One request's answer on its way out of :class:`conduit.http.pipeline.HttpPipeline`.

:meth:`Exchange.send` is the ``send`` the app is given: the conditional step (Cache-Control,
Vary, ETag, 304), HEAD's body dropped, then the headers of the steps outside them (the
rate limits' quota, CORS, the request id, the security headers) added in one synchronous
pass, in the order the nested steps added them. An answer given by a step in place of the
app enters further out, through the steps outside it only: :meth:`send_with_cors` (a 429),
:meth:`send_in_context` (a CORS preflight), :meth:`send_hardened` (a 413, a 422).
"""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive, Scope, Send

from conduit.http.conditional import (
    caching_headers,
    etag_of,
    matches,
    not_modified,
    strong_etag,
)
from conduit.http.cors import CorsPolicy
from conduit.http.hardening import Hardening
from conduit.http.middleware import REQUEST_ID, stale_token_header
from conduit.http.rate_limits import Admission, quota_headers


def _empty_end() -> Message:
    return {"type": "http.response.body", "body": b""}


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


class Exchange:
    """The per-request state of the steps that act on the answer."""

    __slots__ = (
        "_chunks",
        "_head_ended",
        "_held",
        "_not_modified",
        "_page",
        "_page_chunks",
        "_page_passing",
        "_page_start",
        "admission",
        "app_status",
        "conditional",
        "cors",
        "downstream",
        "hardening",
        "head",
        "if_none_match",
        "inner",
        "origin",
        "receive",
        "request_id",
        "scope",
        "signed_in",
        "status",
    )

    def __init__(
        self,
        scope: Scope,
        send: Send,
        request_id: str,
        hardening: Hardening,
        cors: CorsPolicy,
        origin: str | None,
    ) -> None:
        self.scope = scope
        self.downstream = send
        self.request_id = request_id
        self.hardening = hardening
        self.cors = cors
        self.origin = origin
        self.status = 500  # as logged: unless an answer starts, an error escaped
        self.app_status = 0  # the status the app (or the read cache) answered
        self.receive: Receive = _nothing  # the app's: the body, within its size limit
        self.admission: Admission | None = None
        self.conditional = False
        self.signed_in = False
        self.if_none_match: bytes | None = None
        self.head = False
        self.inner: Scope | None = None  # the GET a HEAD goes on as
        self._held: Message | None = None  # a 200 waiting for its body to be hashed
        self._chunks: list[bytes] = []
        self._not_modified = False
        self._head_ended = False
        self._page = hardening.page_of(scope["path"])
        self._page_start: Message | None = None
        self._page_chunks: list[bytes] = []
        self._page_passing = False

    def logged_scope(self) -> Scope:
        """The scope the log line describes: the request as it came (a HEAD says HEAD),
        with the route its GET was answered by."""
        inner = self.inner
        if inner is None or "route" not in inner:
            return self.scope
        logged: dict[str, Any] = {**self.scope, "route": inner["route"]}
        return logged

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.app_status = message["status"]
            if self.conditional:
                message["headers"] = caching_headers(message.get("headers", []), self.signed_in)
                if message["status"] == 200:
                    etag = etag_of(message["headers"])
                    if etag is None:
                        self._held = message  # until the whole body is there to hash
                        return
                    if self.if_none_match is not None and matches(self.if_none_match, etag):
                        self._not_modified = True
                        message = not_modified(message)
            self._finish(message, quota=True, cors=True)
            await self._out(message)
        elif kind == "http.response.body":
            if self._held is not None:
                await self._hashed(message)
            elif self._not_modified:
                if not message.get("more_body", False):
                    await self._body(_empty_end())
            else:
                await self._body(message)
        else:
            await self.downstream(message)

    async def _hashed(self, message: Message) -> None:
        """The held 200, its body complete: its ETag, and a 304 when the client has it."""
        self._chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, self._held = self._held, None
        assert start is not None
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        etag = strong_etag(body)
        start["headers"].append((b"etag", etag))
        if self.if_none_match is not None and matches(self.if_none_match, etag):
            self._not_modified = True
            start, body = not_modified(start), b""
        self._finish(start, quota=True, cors=True)
        await self._out(start)
        await self._body({"type": "http.response.body", "body": body})

    async def _body(self, message: Message) -> None:
        if self.head:  # the GET's headers, no body
            if not message.get("more_body", False) and not self._head_ended:
                self._head_ended = True
                await self._out(_empty_end())
            return
        if self._page is None:
            await self.downstream(message)
        else:
            await self._out(message)

    def _finish(self, message: Message, *, quota: bool, cors: bool) -> None:
        """The headers of the steps outside the conditional one, but the security headers."""
        headers = message.get("headers", [])
        admission = self.admission
        if quota and admission is not None and admission.quota is not None:
            headers = [*headers, *quota_headers(admission.quota)]
            message["headers"] = headers
        if cors:
            message["headers"] = headers
            self.cors.add_headers(message, self.origin)
            headers = message["headers"]
        status = message["status"]
        self.status = status
        message["headers"] = [
            *headers,
            (REQUEST_ID, self.request_id.encode()),
            *stale_token_header(self.scope, status),
        ]

    async def send_with_cors(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._finish(message, quota=False, cors=True)
        await self._out(message)

    async def send_in_context(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._finish(message, quota=False, cors=False)
        await self._out(message)

    async def send_hardened(self, message: Message) -> None:
        await self._out(message)

    async def _out(self, message: Message) -> None:
        """The security headers: the API's, or a page's own policy once its body is known."""
        page = self._page
        if page is None or self._page_passing:
            if message["type"] == "http.response.start":
                self.hardening.harden(message)
            await self.downstream(message)
            return
        if message["type"] == "http.response.start":
            if not page.held(message):
                self._page_passing = True
                self.hardening.harden(message)
                await self.downstream(message)
                return
            self._page_start = message
            return
        start = self._page_start
        if message["type"] != "http.response.body" or start is None:
            await self.downstream(message)
            return
        self._page_chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self._page_chunks)
        self.hardening.harden_page(start, body, page)
        await self.downstream(start)
        await self.downstream({"type": "http.response.body", "body": body})
