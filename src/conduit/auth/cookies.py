"""The refresh cookie over HTTP: set it, clear it, read it, and refuse other sites' requests.

The refresh token travels only in an HttpOnly, Secure, SameSite=Strict cookie scoped to
the refresh route, so scripts never see it and browsers send it nowhere else. A request
the cookie authenticates must also come from an origin Conduit knows (its own, or one of
``CONDUIT_CORS_ORIGINS``): the check against cross-site request forgery.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import Response

from conduit.auth.service import SignedIn
from conduit.core.errors import ConduitError, Forbidden
from conduit.settings import Settings

REFRESH_COOKIE = "conduit_refresh"
REFRESH_PATH = "/api/users/refresh"


class ForeignOrigin(Forbidden):
    """A cookie-authenticated request from a site that is not Conduit's (CSRF)."""

    def __init__(self) -> None:
        ConduitError.__init__(self, "origin", "is not allowed")


def set_refresh_cookie(response: Response, signed_in: SignedIn) -> None:
    """Give the browser the session's (new) refresh token, for as long as it lives."""
    response.set_cookie(
        REFRESH_COOKIE,
        signed_in.refresh_token,
        max_age=signed_in.refresh_max_age,
        path=REFRESH_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_refresh_cookie(response: Response) -> None:
    """Tell the browser to forget the refresh token."""
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_PATH, secure=True, httponly=True, samesite="strict"
    )


def read_refresh_cookie(connection: HTTPConnection) -> str | None:
    return connection.cookies.get(REFRESH_COOKIE) or None


def _origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-cased; None if it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(connection: HTTPConnection, settings: Settings) -> set[str]:
    """Conduit's own origin and the listed CORS origins ('*' does not vouch for cookies)."""
    host = connection.headers.get("host") or connection.url.netloc
    own = {f"{connection.url.scheme}://{host}".lower()}
    if settings.https:
        own.add(f"https://{host}".lower())
    listed = {_origin(origin) for origin in settings.cors_origins if origin.strip() != "*"}
    return own | {origin for origin in listed if origin is not None}


def require_known_origin(connection: HTTPConnection, settings: Settings) -> None:
    """Refuse (403) a request whose Origin (or else Referer) names a foreign site.

    A request with neither header is not from a page of another site (browsers send
    Origin on every cross-site POST) and is accepted: curl, native apps, tests.
    """
    claimed = connection.headers.get("origin")
    if claimed is None:
        referer = connection.headers.get("referer")
        if referer is None:
            return
        claimed = referer
    origin = _origin(claimed)
    if origin is None or origin not in allowed_origins(connection, settings):
        raise ForeignOrigin()
