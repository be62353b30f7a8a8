"""Who may open the console, and how a console page is answered.

Moderators and admins only: an anonymous reader is sent to ``/login``, a signed-in reader
without the role (or banned) gets the 403 page; every use case checks the role again. A
console page knows whether its reader is an admin, to offer only what they may do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from conduit.core import policy
from conduit.core.errors import Unauthenticated
from conduit.core.pagination import Page
from conduit.core.principal import Principal
from conduit.web import paging
from conduit.web.paging import ROWS_PER_CONSOLE_PAGE
from conduit.web.session import Visitor, visitor
from conduit.web.templating import page, redirect

# What a console page says after an action: ``?done=<key>`` names one of these (the page
# never shows text taken from the address).
NOTICES = {
    "banned": "The user is banned: their sessions are revoked and they can only read.",
    "unbanned": "The ban is lifted: the user signs in again to write.",
    "granted": "The role is granted.",
    "revoked": "The role is revoked.",
    "article-deleted": "The article is deleted.",
    "comment-deleted": "The comment is deleted.",
    "replayed": "The event is queued again for its consumer.",
}


@dataclass(frozen=True, slots=True)
class Staff:
    """The moderator or admin reading a console page."""

    visitor: Visitor

    @property
    def principal(self) -> Principal:
        return self.visitor.principal

    @property
    def admin(self) -> bool:
        return policy.is_admin(self.visitor.principal)


async def staff(request: Request) -> Staff:
    """The reader, if a moderator or an admin; Unauthenticated (to /login) or Forbidden."""
    reader = await visitor(request)
    if reader is None:
        raise Unauthenticated("user", "must sign in to open the console")
    policy.require_moderator(reader.principal)
    return Staff(reader)


async def console_page(
    request: Request, staff: Staff, template: str, status: int = 200, **context: Any
) -> Response:
    """A console template, told whether the reader is an admin and what was just done."""
    done = NOTICES.get(request.query_params.get("done", ""))
    return await page(
        request, f"console/{template}", status, is_admin=staff.admin, notice=done, **context
    )


def done(request: Request, back: str, what: str) -> Response:
    """After an action: back to ``back`` (303), saying ``what`` was done."""
    path, _, query = back.partition("?")
    kept = [pair for pair in query.split("&") if pair and not pair.startswith("done=")]
    kept.append(urlencode({"done": what}))
    return redirect(request, f"{path}?{'&'.join(kept)}")


def page_number(request: Request) -> int:
    """``?page=N`` of a console table."""
    return paging.page_number(request, ROWS_PER_CONSOLE_PAGE)


def page_of(number: int) -> Page:
    return paging.page_of(number, ROWS_PER_CONSOLE_PAGE)


def page_count(total: int) -> int:
    return paging.page_count(total, ROWS_PER_CONSOLE_PAGE)


def with_query(path: str, **values: str | None) -> str:
    """``path`` with the non-empty ``values`` as its query (for pagination links)."""
    query = urlencode({name: value for name, value in values.items() if value})
    return f"{path}?{query}" if query else path
