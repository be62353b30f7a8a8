"""Conditional GETs: a strong ETag on every 200 answer to a GET, 304 for If-None-Match.

A step of :class:`conduit.http.pipeline.HttpPipeline` (these are its pieces).

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

from starlette.types import Message

METHODS = ("GET", "HEAD")
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


def caching_headers(own: list[tuple[bytes, bytes]], signed_in: bool) -> list[tuple[bytes, bytes]]:
    """``own`` (an answer's headers) with Cache-Control and Vary added; a route that set its
    own Cache-Control (no-store on a login redirect) keeps it."""
    cache_control = _PRIVATE if signed_in else _ANONYMOUS
    if any(name == b"cache-control" for name, _ in own):
        return [*own, (b"vary", b"Authorization")]
    return [*own, (b"cache-control", cache_control), (b"vary", b"Authorization")]


def etag_of(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    return next((value for name, value in headers if name == b"etag"), None)


def not_modified(start: Message) -> Message:
    """The 304 in place of a 200 whose ETag the client has."""
    headers = [(name, value) for name, value in start["headers"] if name not in _DROPPED_ON_304]
    return {"type": "http.response.start", "status": 304, "headers": headers}
