"""Conditional GETs: a strong ETag on every 200 answer to a GET, 304 for If-None-Match.

The ETag is a hash of the body bytes, so two instances (or the cache and the database)
give the same tag for the same answer. A response that already carries an ETag (a cached
one: its tag was stored with it) is not hashed again.

Cache-Control on every GET: ``no-cache`` for anonymous readers — browsers and proxies may
keep the answer but revalidate it every time, which costs a 304 and keeps a RealWorld
frontend correct right after a write (a ``max-age`` would show a stale article to the
author who just edited it) — and ``private, no-cache`` when the request carries an
Authorization header (``favorited`` and ``following`` depend on the reader, so shared
caches must not keep it). ``Vary: Authorization`` tells shared caches the same.
"""

from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHODS = ("GET", "HEAD")
_ANONYMOUS = b"no-cache"
_PRIVATE = b"private, no-cache"
_DROPPED_ON_304 = (b"content-length", b"content-type")


def strong_etag(body: bytes) -> bytes:
    """A strong validator of ``body``: ``"<32 hex digits>"`` (BLAKE2b, 128 bits)."""
    return b'"' + hashlib.blake2b(body, digest_size=16).hexdigest().encode() + b'"'


def matches(if_none_match: bytes, etag: bytes) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): ``W/`` is ignored."""
    for candidate in if_none_match.split(b","):
        tag = candidate.strip()
        if tag == b"*":
            return True
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


class ConditionalGet:
    """ETag, Cache-Control and Vary on GET answers; 304 when the client's copy is current."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _METHODS:
            await self.app(scope, receive, send)
            return
        if_none_match = None
        signed_in = False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value
            elif name == b"authorization":
                signed_in = True
        extra = [
            (b"cache-control", _PRIVATE if signed_in else _ANONYMOUS),
            (b"vary", b"Authorization"),
        ]
        start: Message | None = None
        chunks: list[bytes] = []
        not_modified = False

        async def conditional_send(message: Message) -> None:
            nonlocal start, not_modified
            if message["type"] == "http.response.start":
                own = message.get("headers", [])
                # A route that set its own Cache-Control (no-store on a login redirect) keeps it.
                added = (
                    [h for h in extra if h[0] != b"cache-control"]
                    if any(name == b"cache-control" for name, _ in own)
                    else extra
                )
                headers = [*own, *added]
                message["headers"] = headers
                if message["status"] != 200:
                    await send(message)
                    return
                etag = next((value for name, value in headers if name == b"etag"), None)
                if etag is None:
                    start = message  # held until the whole body is there to hash
                    return
                not_modified = if_none_match is not None and matches(if_none_match, etag)
                await send(_not_modified(message) if not_modified else message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            if not_modified:
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            etag = strong_etag(body)
            start["headers"].append((b"etag", etag))
            if if_none_match is not None and matches(if_none_match, etag):
                await send(_not_modified(start))
                await send({"type": "http.response.body", "body": b""})
            else:
                await send(start)
                await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, conditional_send)


def _not_modified(start: Message) -> Message:
    headers = [(name, value) for name, value in start["headers"] if name not in _DROPPED_ON_304]
    return {"type": "http.response.start", "status": 304, "headers": headers}
