"""REST routes of account administration: /admin/users/{username}, /admin/audit (admins only)."""

# No ``from __future__ import annotations``: FastAPI reads a route's annotations from the
# module's globals when they are strings, and audit_router's route names the audit types
# it was given in its parameter's annotation.

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query

from conduit.admin import service as admin
from conduit.admin.schemas import (
    AccountChangesRequest,
    AccountStatusResponse,
    AuditRecordsResponse,
    account_status_json,
    audit_records_json,
)
from conduit.http.kit import DB, ClientInfo, CurrentUser, JSONReply, PageParams, error_responses

router = APIRouter(tags=["Admin"])


@router.put(
    "/admin/users/{username}",
    response_model=AccountStatusResponse,
    responses=error_responses(401, 403, 404, 422),
    summary="Set a user's roles and ban (admins only)",
    description=(
        'Body `{"user": {"roles": ["moderator"], "banned": true}}` (the inner object '
        "alone is accepted too). `roles` is the whole set: moderator, admin; `user` is "
        "everyone's. A ban leaves reading and revokes every session of the user; each change "
        "is written to the audit log. An admin cannot ban themselves or drop their own admin "
        "role (403)."
    ),
    operation_id="AdminUpdateUser",
)
async def update_user(
    username: str,
    body: AccountChangesRequest,
    user: CurrentUser,
    db: DB,
    client: ClientInfo,
) -> JSONReply:
    changes = body.user
    status = await admin.set_account(
        db,
        actor=user,
        username=username,
        roles=changes.roles,
        banned=changes.banned,
        client=client,
    )
    return JSONReply(account_status_json(status))


def audit_router(types: Sequence[str]) -> APIRouter:
    """``GET /admin/audit``, filtering by ``types``: every feature's audit types, which only
    the wiring knows (``conduit.bootstrap.AUDIT_TYPES``, from each feature's ``audit.py``)."""
    known = tuple(types)
    audit = APIRouter(tags=["Admin"])

    @audit.get(
        "/admin/audit",
        response_model=AuditRecordsResponse,
        responses=error_responses(401, 403, 422),
        summary="Read the audit log, newest first (admins only)",
        operation_id="AdminGetAuditRecords",
    )
    async def audit_records(
        user: CurrentUser,
        page: PageParams,
        db: DB,
        type: Annotated[
            str | None,
            Query(
                max_length=64,
                description="Only records of this type.",
                json_schema_extra={"enum": list(known)},
            ),
        ] = None,
    ) -> JSONReply:
        entries, total = await admin.audit_log(db, actor=user, page=page, types=known, kind=type)
        return JSONReply(audit_records_json(entries, total))

    return audit
