"""The audit log: append-only records of security-relevant acts.

Logins (success and failure), refresh-token reuse, sign-outs everywhere, role changes, bans
and moderators' deletions are recorded by the use case that does them, in its own
transaction (a login failure in one of its own), so a record exists exactly when the act
happened. Nothing updates a row, and nothing deletes one but the retention of failed
OpenID Connect logins (``auth.oidc.service.prune``); admins read them at
``GET /api/admin/audit``.

This module is the mechanism: recording and reading. The kinds of record belong to the
features that record them, each in its ``audit.py`` (see :class:`AuditType`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import BigInteger, Index, Integer, String, Table, Text, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core import policy
from conduit.core.pagination import Page
from conduit.core.principal import Principal
from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow


class AuditType(str):
    """A kind of record, as stored in ``type`` and filtered by ``?type=``.

    Each feature declares the kinds it records in its ``audit.py`` (a ``TYPES`` tuple of
    ``AuditType`` constants); ``conduit.bootstrap`` assembles them with :func:`catalogue`
    into the list the admin audit view filters by. :func:`record` takes nothing else.
    """

    __slots__ = ()


def catalogue(*declared: Sequence[AuditType]) -> tuple[str, ...]:
    """Every feature's audit types, in order; a type declared twice is an error."""
    types: list[str] = []
    for feature_types in declared:
        for kind in feature_types:
            if kind in types:
                raise ValueError(f"the audit type {kind!r} is declared twice")
            types.append(str(kind))
    return tuple(types)


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_type_id", "type", "id"),
        Index("ix_audit_log_actor_id_id", "actor_id", "id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    subject_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    details: Mapped[str] = mapped_column(Text, default="{}")


audit_log = cast(Table, AuditRow.__table__)


# How long a reason (a moderator's, an admin's) a record keeps.
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request came from, as far as the entry point can tell."""

    ip: str | None = None
    user_agent: str | None = None


UNKNOWN_CLIENT = Client()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    occurred_at: dt.datetime
    type: str
    actor_id: int | None
    subject_id: int | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]


def reason_details(reason: str | None) -> dict[str, Any]:
    """``{"reason": ...}`` for a record's details when a reason was given, else nothing."""
    reason = (reason or "").strip()
    return {"reason": reason[:MAX_REASON]} if reason else {}


async def record(
    conn: AsyncConnection,
    kind: AuditType,
    *,
    actor_id: int | None,
    subject_id: int | None = None,
    client: Client = UNKNOWN_CLIENT,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one record inside the caller's transaction."""
    if not isinstance(kind, AuditType):
        raise ValueError(f"audit record type {kind!r} is not declared by a feature")
    await conn.execute(
        insert(audit_log).values(
            occurred_at=utcnow(),
            type=str(kind),
            actor_id=actor_id,
            subject_id=subject_id,
            ip=client.ip[:45] if client.ip else None,
            user_agent=client.user_agent[:512] if client.user_agent else None,
            details=orjson.dumps(details or {}).decode(),
        )
    )


async def page(
    conn: AsyncConnection, *, page: Page, kind: str | None = None, actor_id: int | None = None
) -> tuple[list[AuditEntry], int]:
    """Newest first, optionally of one type and/or by one actor; with the total count."""
    query = select(audit_log)
    count = select(func.count()).select_from(audit_log)
    if kind is not None:
        query = query.where(audit_log.c.type == kind)
        count = count.where(audit_log.c.type == kind)
    if actor_id is not None:
        query = query.where(audit_log.c.actor_id == actor_id)
        count = count.where(audit_log.c.actor_id == actor_id)
    rows = await conn.execute(
        query.order_by(audit_log.c.id.desc()).limit(page.limit).offset(page.offset)
    )
    entries = [
        AuditEntry(
            id=row.id,
            occurred_at=row.occurred_at,
            type=row.type,
            actor_id=row.actor_id,
            subject_id=row.subject_id,
            ip=row.ip,
            user_agent=row.user_agent,
            details=orjson.loads(row.details or "{}"),
        )
        for row in rows
    ]
    total = (await conn.execute(count)).scalar_one()
    return entries, int(total)


async def record_moderation(
    conn: AsyncConnection,
    kind: AuditType,
    *,
    actor: Principal,
    owner_id: int,
    client: Client,
    details: dict[str, Any],
    reason: str | None = None,
) -> None:
    """A moderator's deletion of someone else's content is recorded, with the reason given
    if any; an author's own is not."""
    if policy.is_moderation(actor, owner_id=owner_id):
        await record(
            conn,
            kind,
            actor_id=actor.id,
            subject_id=owner_id,
            client=client,
            details={**details, "authorId": owner_id, **reason_details(reason)},
        )
