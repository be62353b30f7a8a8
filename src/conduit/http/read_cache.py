"""Read-through cache of anonymous API reads, in front of the routers.

Why here, and not in the use cases: what is cached is the finished answer — the JSON bytes
and their ETag — for requests without an Authorization header, keyed by the path and the
normalised query. That is HTTP knowledge (the use cases return domain objects; a signed-in
reader's flags are computed there), and a hit answered at this layer skips routing,
validation, dependency injection, the database and serialisation: the fastest path there
is. The use cases stay framework-free and cache-free. Which reads are cached and what a
write changes are declared by each feature in its ``cache_rules.py`` (see
:mod:`conduit.core.cache`), the latter from the events the use case already emits, and
applied at commit.

Only 200 answers are stored, so errors (a 404 for a profile that does not exist *yet*, a
422 for a bad ``limit``) always come from the application.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conduit.core.cache import ALL, DependsOn, ResponseCache
from conduit.http.conditional import strong_etag

ETAG_BYTES = len(strong_etag(b""))
MAX_REQUEST_CHARS = 1024
_PARAMETER = re.compile(r"\{(\w+)\}")


class CachedPaths:
    """Which anonymous ``GET`` paths are cached, and the generations each one depends on.

    Built from the reads the features declare (:attr:`conduit.core.cache.CacheRules.reads`),
    written as their routers write paths (``/articles/{slug}``) under ``prefix``. A path
    without parameters is found by its exact text first (so ``/articles/feed`` and
    ``/articles/search`` are not taken for an article); then the templates, in the order
    they were declared. Every cached read also depends on :data:`~conduit.core.cache.ALL`.
    A new GET route is not cached until its feature declares it.
    """

    def __init__(self, reads: Mapping[str, DependsOn | None], *, prefix: str) -> None:
        self._exact: dict[str, DependsOn | None] = {}
        self._templates: list[tuple[re.Pattern[str], DependsOn | None]] = []
        for template, depends_on in reads.items():
            path = prefix + template
            if _PARAMETER.search(template) is None:
                self._exact[path] = depends_on
            else:
                self._templates.append((_pattern(path), depends_on))

    def generations_for(self, path: str) -> tuple[str, ...] | None:
        """The generations an anonymous ``GET path`` depends on; None when it is not cached."""
        if path in self._exact:
            return _generations(self._exact[path], {})
        for pattern, depends_on in self._templates:
            found = pattern.fullmatch(path)
            if found is not None:
                return _generations(depends_on, found.groupdict())
        return None


def _pattern(path: str) -> re.Pattern[str]:
    """``/api/articles/{slug}`` as a pattern: each parameter one path segment, by name."""
    parts = _PARAMETER.split(path)  # literal, name, literal, name, ..., literal
    return re.compile(
        "".join(
            f"(?P<{part}>[^/]+)" if index % 2 else re.escape(part)
            for index, part in enumerate(parts)
        )
    )


def _generations(depends_on: DependsOn | None, path: Mapping[str, str]) -> tuple[str, ...] | None:
    return None if depends_on is None else (ALL, *depends_on(path))


def normalised_request(path: str, query_string: bytes) -> str:
    """``path?query`` with the parameters sorted by name (repeated ones keep their order)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    pairs.sort(key=lambda pair: pair[0])
    return f"{path}?{urlencode(pairs)}" if pairs else path


class ReadCache:
    """Answers anonymous reads from the response cache; stores what the app answered."""

    def __init__(self, app: ASGIApp, *, cache: ResponseCache, paths: CachedPaths) -> None:
        self.app = app
        self.cache = cache
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.cache.enabled:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        scopes = self.paths.generations_for(path)
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

        # A 200 is held until its body is complete, then fingerprinted once: the tag goes
        # out with it (the conditional step does not hash it again) and is stored with it.
        start: Message | None = None
        chunks: list[bytes] = []
        stored: bytes | None = None

        async def capturing_send(message: Message) -> None:
            nonlocal start, stored
            if message["type"] == "http.response.start" and message["status"] == 200:
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            etag = strong_etag(body)
            start["headers"] = [*start.get("headers", []), (b"etag", etag)]
            stored = etag + body
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capturing_send)
        if stored is not None:
            await self.cache.store(found.key, stored)


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
