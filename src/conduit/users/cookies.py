"""The refresh-token cookie: HttpOnly, Secure, SameSite=Strict, sent to the refresh route only."""

from __future__ import annotations

import datetime as dt

from starlette.responses import Response

from conduit.settings import Settings
from conduit.users.sessions import IssuedSession

REFRESH_COOKIE = "conduit_refresh"
REFRESH_COOKIE_PATH = "/api/users/refresh"


def set_refresh_cookie(response: Response, issued: IssuedSession, settings: Settings) -> None:
    """Give the browser the session's refresh token, which scripts can never read."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    max_age = max(0, int((issued.expires_at - now).total_seconds()))
    response.set_cookie(
        REFRESH_COOKIE,
        issued.refresh_token,
        max_age=min(max_age, settings.refresh_token_ttl_seconds),
        path=REFRESH_COOKIE_PATH,
        httponly=True,
        secure=True,
        samesite="strict",
    )
