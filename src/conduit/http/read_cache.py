"""Read-through cache of anonymous API reads, in front of the routers.

Why here, and not in the use cases: what is cached is the finished answer — the JSON bytes
and their ETag — for requests without an Authorization header, keyed by the path and the
normalised query. That is HTTP knowledge (the use cases return domain objects; a signed-in
reader's flags are computed there), and a hit answered at this layer skips routing,
validation, dependency injection, the database and serialisation: the fastest path there
is. The use cases stay framework-free and cache-free; what a write changes is declared
once, in :func:`conduit.core.cache.generations_changed_by`, from the events the use case
already emits, and applied at commit by the cache adapter.

Only 200 answers are stored, so errors (a 404 for a profile that does not exist *yet*, a
422 for a bad ``limit``) always come from the application.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduit.core import cache as generations
from conduit.core.cache import ResponseCache
from conduit.http.conditional import strong_etag

ETAG_BYTES = len(strong_etag(b""))
MAX_REQUEST_CHARS = 1024

Route = tuple[re.Pattern[str], Callable[[re.Match[str]], tuple[str, ...]]]

# Every anonymous read of the API with the generations its answer depends on. A new GET
# route is not cached until it is listed here.
ROUTES: tuple[Route, ...] = (
    (re.compile(r"/api/articles"), lambda _m: (generations.ALL, generations.LISTS)),
    (re.compile(r"/api/tags"), lambda _m: (generations.ALL, generations.TAGS)),
    # Search results are article lists: any article write makes them stale.
    (re.compile(r"/api/articles/search"), lambda _m: (generations.ALL, generations.LISTS)),
    (
        re.compile(r"/api/articles/(?P<slug>[^/]+)"),
        lambda m: (generations.ALL, generations.article(m["slug"])),
    ),
    (
        re.compile(r"/api/articles/(?P<slug>[^/]+)/comments"),
        lambda m: (generations.ALL, generations.comments(m["slug"])),
    ),
    (re.compile(r"/api/profiles/[^/]+"), lambda _m: (generations.ALL,)),
)
_NEVER = frozenset({"/api/articles/feed"})  # signed-in only


def generations_for(path: str) -> tuple[str, ...] | None:
    """The generations an anonymous ``GET path`` depends on; None when it is not cached."""
    if path in _NEVER:
        return None
    for pattern, scopes in ROUTES:
        found = pattern.fullmatch(path)
        if found is not None:
            return scopes(found)
    return None


def normalised_request(path: str, query_string: bytes) -> str:
    """``path?query`` with the parameters sorted by name (repeated ones keep their order)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    pairs.sort(key=lambda pair: pair[0])
    return f"{path}?{urlencode(pairs)}" if pairs else path


class ReadCache:
    """Answers anonymous reads from the response cache; stores what the app answered."""

    def __init__(self, app: ASGIApp, *, cache: ResponseCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.cache.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        scopes = generations_for(path)
        if scopes is None or any(name == b"authorization" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        request = normalised_request(path, scope.get("query_string", b""))
        if len(request) > MAX_REQUEST_CHARS:
            await self.app(scope, receive, send)
            return
        found = await self.cache.lookup(request, scopes)
        if found.value is not None:
            await _send_cached(send, found.value)
            return
        if found.key is None:  # the cache is unavailable: read through, store nothing
            await self.app(scope, receive, send)
            return

        status = 0
        chunks: list[bytes] = []

        async def capturing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capturing_send)
        if status == 200:
            body = b"".join(chunks)
            await self.cache.store(found.key, strong_etag(body) + body)


async def _send_cached(send: Send, entry: bytes) -> None:
    etag, body = entry[:ETAG_BYTES], entry[ETAG_BYTES:]
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"etag", etag),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
