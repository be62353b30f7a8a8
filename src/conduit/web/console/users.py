"""``/admin/users``: find accounts by username or email prefix; ban and unban them
(moderators), grant and revoke the moderator and admin roles (admins).

Each action is a form (CSRF-checked) that posts, then comes back to the list it was sent
from; the use cases decide who may do it and audit it with the reason given.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.admin import accounts, bans
from conduit.admin import service as admin
from conduit.core.errors import Invalid
from conduit.http.kit import client_of
from conduit.web.console.access import (
    console_page,
    done,
    page_count,
    page_number,
    page_of,
    staff,
    with_query,
)
from conduit.web.context import web_of
from conduit.web.csrf import checked_form
from conduit.web.errors import answers_errors
from conduit.web.forms import back_to, text

USERS = "/admin/users"


@answers_errors
async def users_page(request: Request) -> Response:
    reader = await staff(request)
    query = request.query_params.get("q", "").strip()
    number = page_number(request)
    found, total = await accounts.find(
        web_of(request).db, actor=reader.principal, prefix=query, page=page_of(number)
    )
    return await console_page(
        request,
        reader,
        "users.html",
        query=query,
        accounts=found,
        total=total,
        current_page=number,
        pages=page_count(total),
        base=with_query(USERS, q=query),
        grantable=admin.GRANTABLE,
    )


async def _set_ban(request: Request, *, banned: bool) -> Response:
    reader = await staff(request)
    form = await checked_form(request)
    change = bans.ban if banned else bans.unban
    await change(
        web_of(request).db,
        actor=reader.principal,
        username=request.path_params["username"],
        reason=text(form, "reason"),
        client=client_of(request),
    )
    return done(request, back_to(form, USERS), "banned" if banned else "unbanned")


@answers_errors
async def ban(request: Request) -> Response:
    return await _set_ban(request, banned=True)


@answers_errors
async def unban(request: Request) -> Response:
    return await _set_ban(request, banned=False)


@answers_errors
async def change_role(request: Request) -> Response:
    """``change=grant|revoke`` of ``role`` (moderator or admin); admins only."""
    reader = await staff(request)
    form = await checked_form(request)
    granting = text(form, "change") == "grant"
    if not granting and text(form, "change") != "revoke":
        raise Invalid("change", "must be grant or revoke")
    change = admin.grant if granting else admin.revoke
    await change(
        web_of(request).db,
        username=request.path_params["username"],
        role=text(form, "role"),
        actor=reader.principal,
        client=client_of(request),
        reason=text(form, "reason"),
    )
    return done(request, back_to(form, USERS), "granted" if granting else "revoked")


ROUTES = [
    Route(USERS, users_page, methods=["GET"]),
    Route(USERS + "/{username}/ban", ban, methods=["POST"]),
    Route(USERS + "/{username}/unban", unban, methods=["POST"]),
    Route(USERS + "/{username}/roles", change_role, methods=["POST"]),
]
