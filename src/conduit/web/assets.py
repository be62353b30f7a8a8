"""The web app's own static files (theme, script, icons, default avatar), cached by browsers.

Served at ``/static/web`` from the package. Pages name the style sheet and the script with
a version (``?v=``, a digest of every file here, computed once at start): a versioned
answer may be kept a year, so a browser fetches them once per release; the icons and the
default avatar, named by plain URLs (the style sheet's and the RealWorld markup's), are kept
a day and revalidated by their ETag.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/web"
VERSIONED = "public, max-age=31536000, immutable"
UNVERSIONED = "public, max-age=86400"


@functools.cache
def version() -> str:
    """A digest of every static file: it changes whenever one of them does."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class WebAssets(StaticFiles):
    """The static folder, answered with the cache lifetimes above."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            versioned = b"v=" in scope.get("query_string", b"")
            response.headers["cache-control"] = VERSIONED if versioned else UNVERSIONED
        return response
