"""Request and response bodies of the admin endpoints (Conduit extensions to RealWorld)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from conduit.admin.service import AccountStatus
from conduit.core.audit import AuditEntry
from conduit.core.formatting import iso
from conduit.core.principal import ROLES
from conduit.core.validation import RequestModel


class AccountChanges(RequestModel):
    """Left out (or null): unchanged."""

    roles: Annotated[
        list[str] | None,
        Field(
            max_length=len(ROLES),
            description="The whole set of roles: moderator, admin (user is everyone's).",
            examples=[["moderator"]],
        ),
    ] = None
    banned: Annotated[
        bool | None,
        Field(description="true: the user may read but no longer write; false: lift the ban."),
    ] = None


class AccountChangesRequest(RequestModel):
    """``{"user": {"roles": [...], "banned": ...}}``; the bare inner object is taken too."""

    user: AccountChanges

    @model_validator(mode="before")
    @classmethod
    def _accept_unwrapped(cls, data: Any) -> Any:
        if isinstance(data, dict) and "user" not in data and ({"roles", "banned"} & set(data)):
            return {"user": data}
        return data


class AccountStatusModel(BaseModel):
    username: str
    email: str
    roles: list[str]
    banned: bool


class AccountStatusResponse(BaseModel):
    user: AccountStatusModel


class AuditRecordModel(BaseModel):
    id: int
    type: str
    occurredAt: str = Field(json_schema_extra={"format": "date-time"})
    actorId: int | None
    subjectId: int | None
    ip: str | None
    userAgent: str | None
    details: dict[str, Any]


class AuditRecordsResponse(BaseModel):
    auditRecords: list[AuditRecordModel]
    auditRecordsCount: int


def account_status_json(status: AccountStatus) -> dict[str, Any]:
    return {
        "user": {
            "username": status.username,
            "email": status.email,
            "roles": list(status.roles),
            "banned": status.banned,
        }
    }


def audit_records_json(entries: list[AuditEntry], total: int) -> dict[str, Any]:
    return {
        "auditRecords": [
            {
                "id": entry.id,
                "type": entry.type,
                "occurredAt": iso(entry.occurred_at),
                "actorId": entry.actor_id,
                "subjectId": entry.subject_id,
                "ip": entry.ip,
                "userAgent": entry.user_agent,
                "details": entry.details,
            }
            for entry in entries
        ],
        "auditRecordsCount": total,
    }
