"""The access rules every instance keeps in memory, from the accounts' tables and events.

:func:`load` reads them (four small indexed queries); :func:`apply` folds this process's
own committed events in at once, so a sign-out, a ban or a role change holds on the
instance that made it before its transaction's reply is sent. :data:`TRIGGERS` are the
event types that change them: when another process commits one, the wake-up channel
(``core/wakeups.py``) tells every instance's keeper to load them again; otherwise a keeper
loads them only every CONDUIT_SAFETY_POLL_SECONDS (every second without a channel).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.auth.models import sessions
from conduit.core.events import Event
from conduit.core.formatting import parse_iso
from conduit.core.principal import AccessRules
from conduit.users.events import (
    SessionRevoked,
    UserBanned,
    UserRolesChanged,
    UserSignedOutEverywhere,
    UserUnbanned,
)
from conduit.users.models import user_roles, users

# Sessions revoked by a ban stay usable for reading: the ban itself makes every write
# answer 403 (and refresh too); revoking their access tokens would turn that into 401.
BAN = "ban"
# The event types that change the access rules: what the keeper folds in and wakes for.
TRIGGERS = frozenset(
    {
        SessionRevoked.type,
        UserSignedOutEverywhere.type,
        UserRolesChanged.type,
        UserBanned.type,
        UserUnbanned.type,
    }
)


async def load(conn: AsyncConnection, *, horizon: dt.datetime) -> AccessRules:
    """The rules as stored; revocations older than ``horizon`` (a token lifetime) are moot."""
    cutoffs = await conn.execute(
        select(users.c.id, users.c.tokens_revoked_before).where(
            users.c.tokens_revoked_before > horizon
        )
    )
    revoked = await conn.execute(
        select(sessions.c.id).where(
            sessions.c.revoked_at > horizon, sessions.c.revoked_reason != BAN
        )
    )
    banned = await conn.execute(select(users.c.id).where(users.c.banned_at.is_not(None)))
    granted: dict[int, set[str]] = {}
    for user_id, role in await conn.execute(select(user_roles.c.user_id, user_roles.c.role)):
        granted.setdefault(user_id, set()).add(role)
    return AccessRules(
        revoked_before={user_id: moment for user_id, moment in cutoffs},
        revoked_sessions=frozenset(session_id for (session_id,) in revoked),
        banned=frozenset(user_id for (user_id,) in banned),
        granted_roles={user_id: frozenset(roles) for user_id, roles in granted.items()},
    )


def apply(rules: AccessRules, events: Sequence[Event]) -> AccessRules:
    """``rules`` with this process's own committed changes folded in."""
    relevant = [event for event in events if event.type in TRIGGERS]
    if not relevant:
        return rules
    revoked_before = dict(rules.revoked_before)
    revoked_sessions = set(rules.revoked_sessions)
    banned = set(rules.banned)
    granted = dict(rules.granted_roles)
    for event in relevant:
        data = event.data
        user_id = int(data["userId"])
        if event.type == SessionRevoked.type and data["reason"] != BAN:
            revoked_sessions.add(str(data["sessionId"]))
        elif event.type == UserSignedOutEverywhere.type:
            revoked_before[user_id] = parse_iso(str(data["revokedBefore"]))
        elif event.type == UserRolesChanged.type:
            granted[user_id] = frozenset(data["roles"]) - {"user"}
        elif event.type == UserBanned.type:
            banned.add(user_id)
        elif event.type == UserUnbanned.type:
            banned.discard(user_id)
    return AccessRules(
        revoked_before=revoked_before,
        revoked_sessions=frozenset(revoked_sessions),
        banned=frozenset(banned),
        granted_roles=granted,
    )
