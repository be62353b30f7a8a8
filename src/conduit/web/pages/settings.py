"""The reader's settings (``/settings``): picture, name, bio, email and password.

Saved through the same use case as ``PUT /api/user`` (:func:`conduit.auth.service.update_account`)
and checked by the same model (``UpdateUser``), so the web refuses what the API refuses, with its
messages. An empty picture or bio clears it; an empty password leaves it as it is; a new password
signs out the reader's other sessions (this one stays signed in). The page also holds the sign-out
buttons: this browser, or every session of the reader.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.auth import service as auth
from conduit.core.errors import ConduitError
from conduit.http.kit import client_of
from conduit.users import service as users
from conduit.users.models import Account
from conduit.users.schemas import UpdateUser
from conduit.web import session
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors, messages_of
from conduit.web.forms import text, validated
from conduit.web.templating import page, redirect

FIELDS = ("image", "username", "bio", "email")


def _values_of(account: Account) -> dict[str, str]:
    """What the form shows for ``account`` ('' for a picture or bio it has not set)."""
    return {
        "image": account.image or "",
        "username": account.username,
        "bio": account.bio or "",
        "email": account.email,
    }


def _changes(typed: dict[str, str], password: str, account: Account) -> dict[str, object]:
    """The fields the reader changed, as ``PUT /api/user`` would receive them."""
    shown = _values_of(account)
    sent: dict[str, object] = {name: typed[name] for name in FIELDS if typed[name] != shown[name]}
    if password:
        sent["password"] = password
    return validated(UpdateUser, sent).changes()


async def _settings_page(
    request: Request, values: dict[str, str], errors: list[str] | None = None
) -> Response:
    status = 422 if errors else 200
    return await page(request, "pages/settings.html", status, values=values, errors=errors or [])


@answers_errors
async def settings_page(request: Request) -> Response:
    reader = await session.visitor(request)
    if reader is None:
        return redirect(request, "/login")
    account = await users.current(web_of(request).db, user_id=reader.id)
    return await _settings_page(request, _values_of(account))


@answers_errors
async def save_settings(request: Request) -> Response:
    form = await checked_form(request)
    reader = await session.visitor(request)
    if reader is None:
        return redirect(request, "/login")
    web = web_of(request)
    typed = {name: text(form, name) for name in FIELDS}
    try:
        account = await users.current(web.db, user_id=reader.id)
        changes = _changes(typed, text(form, "password"), account)
        if changes:
            account = await auth.update_account(
                web.db, actor=reader.principal, changes=changes, client=client_of(request)
            )
    except ConduitError as refused:
        if refused.status not in (409, 422):
            raise
        return await _settings_page(request, typed, messages_of(refused))
    session.remember_who(request, account)
    return redirect(request, f"/profile/{quote(account.username, safe='')}")


ROUTES = [
    Route("/settings", settings_page, methods=["GET"]),
    Route("/settings", save_settings, methods=["POST"]),
]
