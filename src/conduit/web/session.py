"""The web session: who is reading the page, from cookies over the server-side sessions.

A sign-in on the web starts the same session row as one through the API
(:func:`conduit.auth.service.login`), so it is listed, revoked and signed out everywhere like
any other. Three cookies, all HttpOnly, Secure and SameSite=Lax, on ``/``:

``conduit_session``      the session's access token, checked in memory by the
                         :class:`~conduit.core.principal.Authenticator` on every page (a
                         revoked session or a ban applies at once, as for the API);
``conduit_web_refresh``  the session's refresh token: when the access token has expired,
                         the page rotates the session (:func:`conduit.auth.service.refresh`)
                         and sets both again; a revoked or expired session signs out;
``conduit_who``          the name and picture the header shows, signed, written at sign-in,
                         on saving the settings and at each rotation, so that a page needs
                         no query for them (a change made through the API shows after the
                         next rotation or sign-in).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson
from starlette.requests import Request
from starlette.responses import Response

from conduit.auth import service as auth
from conduit.core.errors import ConduitError, Unauthenticated
from conduit.core.principal import Principal
from conduit.core.security import TokenExpired
from conduit.http.kit import client_of, signed_in
from conduit.users import service as users
from conduit.users.models import Account
from conduit.web.context import web_of
from conduit.web.signing import sign, unsign

SESSION_COOKIE = "conduit_session"
REFRESH_COOKIE = "conduit_web_refresh"
WHO_COOKIE = "conduit_who"
_WHO = "who"
_STATE = "web_visitor"
_PENDING = "web_cookies"


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in reader of a page: the principal and what the header shows of them."""

    principal: Principal
    username: str
    image: str | None

    @property
    def id(self) -> int:
        return self.principal.id


def queue_cookie(request: Request, name: str, value: str | None, max_age: int | None) -> None:
    """Queue a cookie for the answer (value None: delete it; max_age None: until the browser
    closes); :func:`apply` writes them."""
    request.state.__dict__.setdefault(_PENDING, {})[name] = (value, max_age)


def apply(request: Request, response: Response) -> Response:
    """Write the cookies this request changed onto its answer."""
    for name, (value, max_age) in request.state.__dict__.get(_PENDING, {}).items():
        if value is None:
            response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")
        else:
            response.set_cookie(
                name,
                value,
                max_age=max_age,
                path="/",
                secure=True,
                httponly=True,
                samesite="lax",
            )
    return response


def _who_value(account: Account) -> str:
    data = orjson.dumps({"id": account.id, "u": account.username, "i": account.image})
    return base64.urlsafe_b64encode(data).decode()


def remember_who(request: Request, account: Account) -> None:
    """Write the header's name and picture for ``account`` (after a change to them)."""
    web = web_of(request)
    queue_cookie(
        request,
        WHO_COOKIE,
        sign(web.tokens.secret, _WHO, _who_value(account)),
        web.refresh_ttl_seconds,
    )


def start(request: Request, signed_in: auth.SignedIn) -> None:
    """The browser holds the new session from this answer on."""
    web = web_of(request)
    ttl = signed_in.refresh_max_age
    queue_cookie(request, SESSION_COOKIE, signed_in.access_token, ttl)
    queue_cookie(request, REFRESH_COOKIE, signed_in.refresh_token, ttl)
    remember_who(request, signed_in.account)
    request.state.__dict__[_STATE] = Visitor(
        web.authenticator.authenticate(signed_in.access_token),
        signed_in.account.username,
        signed_in.account.image,
    )


def end(request: Request) -> None:
    """The browser forgets the session (the caller revokes it)."""
    for name in (SESSION_COOKIE, REFRESH_COOKIE, WHO_COOKIE):
        queue_cookie(request, name, None, None)
    request.state.__dict__[_STATE] = None


def refresh_token_of(request: Request) -> str | None:
    return request.cookies.get(REFRESH_COOKIE) or None


def _who(request: Request, principal: Principal) -> tuple[str, str | None] | None:
    raw = request.cookies.get(WHO_COOKIE)
    value = raw and unsign(web_of(request).tokens.secret, _WHO, raw)
    if not value:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(value))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if data.get("id") != principal.id or not isinstance(data.get("u"), str):
        return None
    image = data.get("i")
    return data["u"], image if isinstance(image, str) else None


async def _rotate(request: Request) -> Visitor | None:
    """A new access token from the refresh cookie, or None (and the cookies cleared)."""
    web = web_of(request)
    try:
        signed_in = await auth.refresh(
            web.db,
            refresh_token=refresh_token_of(request),
            client=client_of(request),
            tokens=web.tokens,
            refresh_ttl_seconds=web.refresh_ttl_seconds,
            reuse_grace_seconds=web.settings.refresh_reuse_grace_seconds,
        )
    except ConduitError:  # expired, revoked, reused or banned: signed out
        end(request)
        return None
    start(request, signed_in)
    visitor: Visitor | None = request.state.__dict__[_STATE]
    return visitor


async def visitor(request: Request) -> Visitor | None:
    """The signed-in reader of this request, or None; worked out once per request."""
    known = request.state.__dict__
    if _STATE in known:
        cached: Visitor | None = known[_STATE]
        return cached
    found = await _visitor(request)
    known[_STATE] = found
    if found is not None:
        signed_in(request, found.principal)  # its log line; its reads see its own writes
    return found


async def _visitor(request: Request) -> Visitor | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return await _rotate(request) if refresh_token_of(request) else None
    web = web_of(request)
    try:
        principal = web.authenticator.authenticate(token)
    except Unauthenticated as refused:
        if isinstance(refused, TokenExpired) and refresh_token_of(request):
            return await _rotate(request)
        end(request)  # revoked or tampered with: signed out
        return None
    who = _who(request, principal)
    if who is None:
        try:
            account = await users.current(web.db, user_id=principal.id)
        except ConduitError:
            end(request)
            return None
        remember_who(request, account)
        who = account.username, account.image
    return Visitor(principal, *who)
