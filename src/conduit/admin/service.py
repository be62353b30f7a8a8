"""Use cases of account administration: roles, bans and the audit log.

Framework-free like every use case: the admin endpoints (``PUT /api/admin/users/{username}``,
``GET /api/admin/audit``) and the ``conduit users grant|revoke`` command call these. An
``actor`` of None is the command line, trusted as whoever can reach the database.

Every change is one transaction: the rows, the events (which also update this instance's
access rules as soon as it commits, see :mod:`conduit.auth.access`) and one audit record
per change. Asking for what already holds changes nothing, emits nothing, records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.admin.audit import ROLE_GRANTED, ROLE_REVOKED
from conduit.admin.bans import apply_ban, lift_ban
from conduit.auth.service import wait_past
from conduit.core import audit, policy
from conduit.core.audit import UNKNOWN_CLIENT, AuditEntry, Client, reason_details
from conduit.core.db import Database, UnitOfWork
from conduit.core.db_errors import insert_ignore
from conduit.core.errors import Invalid
from conduit.core.pagination import Page
from conduit.core.principal import ADMIN, MODERATOR, ROLES, USER, Principal
from conduit.core.tables import utcnow
from conduit.users import repository
from conduit.users.events import (
    UserRolesChanged,
)
from conduit.users.exceptions import LockingOneselfOut, UserNotFound
from conduit.users.models import Account, user_roles

GRANTABLE = (MODERATOR, ADMIN)


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What an admin sees of an account: who, which roles (``user`` included), banned."""

    username: str
    email: str
    roles: tuple[str, ...]
    banned: bool


def _status(account: Account, granted: Iterable[str], banned: bool) -> AccountStatus:
    return AccountStatus(
        username=account.username,
        email=account.email,
        roles=tuple(sorted({USER, *granted})),
        banned=banned,
    )


def _check_roles(roles: Iterable[str]) -> frozenset[str]:
    """The granted part of ``roles`` (``user`` is implied); Invalid for anything unknown."""
    wanted = frozenset(roles)
    unknown = wanted - set(ROLES)
    if unknown:
        raise Invalid(
            "roles", f"must be among {', '.join(ROLES)} (not {', '.join(sorted(unknown))})"
        )
    return wanted - {USER}


async def _target(conn: AsyncConnection, username: str) -> Account:
    account = await repository.get_by_username(conn, username)
    if account is None:
        raise UserNotFound()
    return account


async def _set_roles(
    uow: UnitOfWork,
    account: Account,
    granted: frozenset[str],
    *,
    actor_id: int | None,
    client: Client,
    reason: str | None = None,
) -> frozenset[str]:
    """Make ``granted`` the account's roles beyond ``user``; the roles it now has."""
    current = account.roles - {USER}
    added, removed = sorted(granted - current), sorted(current - granted)
    if not added and not removed:
        return current
    now = utcnow()
    for role in added:
        await insert_ignore(
            uow.conn, user_roles, {"user_id": account.id, "role": role, "granted_at": now}
        )
    if removed:
        await uow.conn.execute(
            delete(user_roles).where(
                user_roles.c.user_id == account.id, user_roles.c.role.in_(removed)
            )
        )
    for kind, roles in ((ROLE_GRANTED, added), (ROLE_REVOKED, removed)):
        for role in roles:
            await audit.record(
                uow.conn,
                kind,
                actor_id=actor_id,
                subject_id=account.id,
                client=client,
                details={"username": account.username, "role": role, **reason_details(reason)},
            )
    uow.emit(
        UserRolesChanged(
            user_id=account.id, username=account.username, roles=sorted({USER, *granted})
        ),
        actor_id=actor_id,
    )
    return granted


async def set_account(
    db: Database,
    *,
    actor: Principal,
    username: str,
    roles: Iterable[str] | None = None,
    banned: bool | None = None,
    client: Client = UNKNOWN_CLIENT,
) -> AccountStatus:
    """An admin sets a user's roles (the whole set) and/or ban; None leaves it as it is."""
    policy.require_admin(actor)
    granted = None if roles is None else _check_roles(roles)
    async with db.uow() as uow:
        account = await _target(uow.conn, username)
        if account.id == actor.id:
            if banned:
                raise LockingOneselfOut("cannot ban yourself")
            if granted is not None and ADMIN not in granted:
                raise LockingOneselfOut("cannot remove your own admin role")
        now_granted = account.roles - {USER}
        if granted is not None:
            now_granted = await _set_roles(uow, account, granted, actor_id=actor.id, client=client)
        now_banned = account.banned
        cutoff = None
        if banned is not None and banned != account.banned:
            if banned:
                await apply_ban(uow, account, actor_id=actor.id, client=client)
            else:
                cutoff = await lift_ban(uow, account, actor_id=actor.id, client=client)
            now_banned = banned
        await uow.commit()
    if cutoff is not None:
        await wait_past(cutoff)
    return _status(account, now_granted, now_banned)


async def _change_role(
    db: Database,
    *,
    username: str,
    role: str,
    actor: Principal | None,
    client: Client,
    grant: bool,
    reason: str | None = None,
) -> AccountStatus:
    if actor is not None:
        policy.require_admin(actor)
    if role not in ROLES:
        raise Invalid("role", f"must be one of {', '.join(GRANTABLE)}")
    if role == USER:
        if grant:  # everyone's already
            async with db.reader() as uow:
                account = await _target(uow.conn, username)
            return _status(account, account.roles, account.banned)
        raise Invalid("role", "is everyone's and cannot be revoked")
    async with db.uow() as uow:
        account = await _target(uow.conn, username)
        current = account.roles - {USER}
        wanted = current | {role} if grant else current - {role}
        if actor is not None and account.id == actor.id and ADMIN not in wanted:
            raise LockingOneselfOut("cannot remove your own admin role")
        actor_id = None if actor is None else actor.id
        now_granted = await _set_roles(
            uow, account, wanted, actor_id=actor_id, client=client, reason=reason
        )
        await uow.commit()
    return _status(account, now_granted, account.banned)


async def grant(
    db: Database,
    *,
    username: str,
    role: str,
    actor: Principal | None,
    client: Client = UNKNOWN_CLIENT,
    reason: str | None = None,
) -> AccountStatus:
    """Grant ``role`` (moderator or admin) to ``username``; granting it again changes nothing."""
    return await _change_role(
        db, username=username, role=role, actor=actor, client=client, grant=True, reason=reason
    )


async def revoke(
    db: Database,
    *,
    username: str,
    role: str,
    actor: Principal | None,
    client: Client = UNKNOWN_CLIENT,
    reason: str | None = None,
) -> AccountStatus:
    """Take ``role`` from ``username``; revoking a role they lack changes nothing."""
    return await _change_role(
        db, username=username, role=role, actor=actor, client=client, grant=False, reason=reason
    )


async def audit_log(
    db: Database,
    *,
    actor: Principal,
    page: Page,
    types: Sequence[str],
    kind: str | None = None,
    by: str | None = None,
) -> tuple[list[AuditEntry], int]:
    """The audit log for an admin, newest first, optionally of one type and/or of what one
    user (``by``, a username) did; with the total.

    ``types`` are every feature's audit types (``conduit.bootstrap.AUDIT_TYPES``): the
    ones ``kind`` may name.
    """
    policy.require_admin(actor)
    if kind is not None and kind not in types:
        raise Invalid("type", f"must be one of {', '.join(types)}")
    async with db.reader() as uow:
        actor_id = None
        if by is not None:
            actor_id = await repository.id_by_username(uow.conn, by)
            if actor_id is None:
                return [], 0
        return await audit.page(uow.conn, page=page, kind=kind, actor_id=actor_id)
