"""Cross-site request forgery: every form the web app accepts carries a token of this browser.

Synchronizer tokens over a double-submit cookie: ``conduit_csrf`` holds a random value
(HttpOnly, SameSite=Lax), and each form's hidden ``csrf_token`` is that value's keyed digest,
which a page of another site can neither read nor compute. A post is accepted only with the
matching token and from Conduit's own origin (Origin, else Referer, as
:func:`conduit.auth.cookies.require_known_origin` checks for the refresh cookie).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

from conduit.auth.cookies import require_known_origin
from conduit.core.errors import ConduitError, Forbidden
from conduit.core.rate_limits import WRITES_PER_USER
from conduit.http.kit import client_of
from conduit.web.context import web_of
from conduit.web.forms import TooMany
from conduit.web.session import queue_cookie, visitor
from conduit.web.signing import digest

CSRF_COOKIE = "conduit_csrf"
CSRF_FIELD = "csrf_token"
_PURPOSE = "csrf"
_NONCE = "csrf_nonce"


class FormRefused(Forbidden):
    """A form post without this browser's token, or from another site (403)."""

    def __init__(self) -> None:
        ConduitError.__init__(
            self, "form", "has expired or was sent from another site: reload the page and try again"
        )


def token(request: Request) -> str:
    """The token this browser's forms carry (the cookie is set with the page if missing)."""
    state = request.state.__dict__
    nonce = request.cookies.get(CSRF_COOKIE) or state.get(_NONCE)
    if not nonce:
        nonce = secrets.token_urlsafe(32)
        state[_NONCE] = nonce
        queue_cookie(request, CSRF_COOKIE, nonce, None)
    return digest(web_of(request).tokens.secret, _PURPOSE, nonce)


async def checked_form(request: Request, *, counted: bool = True) -> FormData:
    """The posted form, once its origin and token are checked; :class:`FormRefused` if not.

    ``counted``: the post is a write under the API's ``writes_per_user`` rule, sharing the
    budget of the reader's API writes (sign-in and sign-up have rules of their own).
    """
    web = web_of(request)
    require_known_origin(request, web.settings)
    form = await request.form()
    nonce = request.cookies.get(CSRF_COOKIE)
    sent = form.get(CSRF_FIELD)
    if not nonce or not isinstance(sent, str):
        raise FormRefused()
    if not hmac.compare_digest(sent, digest(web.tokens.secret, _PURPOSE, nonce)):
        raise FormRefused()
    if counted:
        await _count_write(request)
    return form


async def _count_write(request: Request) -> None:
    limiter = web_of(request).rate_limiter
    if limiter is None:
        return
    reader = await visitor(request)
    caller = f"user:{reader.id}" if reader else f"ip:{client_of(request).ip or 'unknown'}"
    quota = await limiter.hit(WRITES_PER_USER, caller)
    if quota is not None and not quota.allowed:
        raise TooMany()
