"""Bans: a banned user reads and nothing more; lifting a ban makes them sign in again.

The writes themselves (:func:`apply_ban`, :func:`lift_ban`) are shared by the admins' account
changes (:func:`conduit.admin.service.set_account`) and by the moderators' :func:`ban` and
:func:`unban` of the moderation console. Moderators ban users; only an admin bans a moderator
or an admin (:func:`conduit.core.policy.may_ban`). Each ban or unban is audited with the
reason given, if any.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from conduit.admin.audit import USER_BANNED, USER_UNBANNED
from conduit.auth.access import BAN
from conduit.auth.models import sessions
from conduit.auth.service import next_millisecond, wait_past
from conduit.core import audit, policy
from conduit.core.audit import UNKNOWN_CLIENT, Client, reason_details
from conduit.core.db import Database, UnitOfWork
from conduit.core.errors import ConduitError, Forbidden
from conduit.core.formatting import iso
from conduit.core.principal import Principal
from conduit.core.tables import utcnow
from conduit.users import repository
from conduit.users.events import SessionRevoked, UserBanned, UserSignedOutEverywhere, UserUnbanned
from conduit.users.exceptions import LockingOneselfOut, UserNotFound
from conduit.users.models import Account, users


class StaffBanRefused(Forbidden):
    """A moderator tried to ban or unban a moderator or an admin (403)."""

    def __init__(self) -> None:
        ConduitError.__init__(
            self, "user", "is a moderator or an admin: only an admin may ban or unban them"
        )


async def apply_ban(
    uow: UnitOfWork,
    account: Account,
    *,
    actor_id: int | None,
    client: Client,
    reason: str | None = None,
) -> None:
    """Ban: reads only from now on; every open session of the user is revoked."""
    now = utcnow()
    await uow.conn.execute(update(users).where(users.c.id == account.id).values(banned_at=now))
    open_sessions = list(
        (
            await uow.conn.execute(
                select(sessions.c.id).where(
                    sessions.c.user_id == account.id,
                    sessions.c.revoked_at.is_(None),
                    sessions.c.expires_at > now,
                )
            )
        ).scalars()
    )
    if open_sessions:
        await uow.conn.execute(
            update(sessions)
            .where(sessions.c.id.in_(open_sessions), sessions.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=BAN)
        )
    for session_id in open_sessions:
        uow.emit(
            SessionRevoked(user_id=account.id, session_id=session_id, reason=BAN),
            actor_id=actor_id,
        )
    uow.emit(UserBanned(user_id=account.id, username=account.username), actor_id=actor_id)
    await audit.record(
        uow.conn,
        USER_BANNED,
        actor_id=actor_id,
        subject_id=account.id,
        client=client,
        details={
            "username": account.username,
            "sessionsRevoked": len(open_sessions),
            **reason_details(reason),
        },
    )


async def lift_ban(
    uow: UnitOfWork,
    account: Account,
    *,
    actor_id: int | None,
    client: Client,
    reason: str | None = None,
) -> dt.datetime:
    """Lift the ban, but not for the tokens issued before it: every access token issued
    until now is cut off for good (``tokens_revoked_before``, as a sign-out everywhere does;
    a banned user could get no new one), so the user signs in again. The returned cutoff
    is to be waited past before answering."""
    cutoff = next_millisecond(utcnow())
    await uow.conn.execute(
        update(users)
        .where(users.c.id == account.id)
        .values(banned_at=None, tokens_revoked_before=cutoff)
    )
    uow.emit(
        UserSignedOutEverywhere(user_id=account.id, revoked_before=iso(cutoff)),
        actor_id=actor_id,
    )
    uow.emit(UserUnbanned(user_id=account.id, username=account.username), actor_id=actor_id)
    await audit.record(
        uow.conn,
        USER_UNBANNED,
        actor_id=actor_id,
        subject_id=account.id,
        client=client,
        details={"username": account.username, **reason_details(reason)},
    )
    return cutoff


async def _set_ban(
    db: Database,
    *,
    actor: Principal,
    username: str,
    banned: bool,
    reason: str | None,
    client: Client,
) -> Account:
    policy.require_moderator(actor)
    cutoff = None
    async with db.uow() as uow:
        account = await repository.get_by_username(uow.conn, username)
        if account is None:
            raise UserNotFound()
        if not policy.may_ban(actor, target_roles=account.roles):
            raise StaffBanRefused()
        if account.id == actor.id:
            raise LockingOneselfOut("cannot ban yourself")
        if banned and not account.banned:
            await apply_ban(uow, account, actor_id=actor.id, client=client, reason=reason)
        elif not banned and account.banned:
            cutoff = await lift_ban(uow, account, actor_id=actor.id, client=client, reason=reason)
        await uow.commit()
    if cutoff is not None:
        await wait_past(cutoff)
    return account


async def ban(
    db: Database,
    *,
    actor: Principal,
    username: str,
    reason: str | None = None,
    client: Client = UNKNOWN_CLIENT,
) -> None:
    """A moderator bans ``username`` (banning a banned user changes nothing)."""
    await _set_ban(db, actor=actor, username=username, banned=True, reason=reason, client=client)


async def unban(
    db: Database,
    *,
    actor: Principal,
    username: str,
    reason: str | None = None,
    client: Client = UNKNOWN_CLIENT,
) -> None:
    """A moderator lifts the ban of ``username`` (a user not banned stays as they are)."""
    await _set_ban(db, actor=actor, username=username, banned=False, reason=reason, client=client)
