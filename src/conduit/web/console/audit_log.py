"""``/admin/audit``: the audit log, newest first, filtered by type and by actor (a
username), paginated; admins only (``admin.service.audit_log`` decides)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conduit.admin import accounts
from conduit.admin import service as admin
from conduit.web.console.access import (
    console_page,
    page_count,
    page_number,
    page_of,
    staff,
    with_query,
)
from conduit.web.context import web_of
from conduit.web.errors import answers_errors

AUDIT = "/admin/audit"


@answers_errors
async def audit_page(request: Request) -> Response:
    reader = await staff(request)
    web = web_of(request)
    kind = request.query_params.get("type", "").strip()
    by = request.query_params.get("actor", "").strip()
    number = page_number(request)
    entries, total = await admin.audit_log(
        web.db,
        actor=reader.principal,
        page=page_of(number),
        types=web.audit_types,
        kind=kind or None,
        by=by or None,
    )
    people = {entry.actor_id for entry in entries} | {entry.subject_id for entry in entries}
    names = await accounts.usernames(
        web.db, actor=reader.principal, user_ids={i for i in people if i is not None}
    )
    return await console_page(
        request,
        reader,
        "audit.html",
        entries=entries,
        names=names,
        total=total,
        types=web.audit_types,
        kind=kind,
        by=by,
        current_page=number,
        pages=page_count(total),
        base=with_query(AUDIT, type=kind, actor=by),
    )


ROUTES = [Route(AUDIT, audit_page, methods=["GET"])]
