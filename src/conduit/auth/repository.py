"""Sessions: a login starts one; its refresh token rotates on each use.

A refresh token is 32 random bytes given to the browser in an HttpOnly cookie and stored
only as its SHA-256. Each refresh exchanges it for a new one of the same session (the
family); presenting an already exchanged token again means it was copied, and revokes the
whole session. Access tokens carry the session id (``sid``), so revoking a session also
cuts off its access tokens (see :class:`conduit.core.principal.AccessRules`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from uuid6 import uuid7

from conduit.auth.models import refresh_tokens, sessions
from conduit.core.tables import utcnow


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """What the client gets: the session id (in access tokens) and the refresh token."""

    session_id: str
    refresh_token: str
    expires_at: dt.datetime  # naive UTC


def token_hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


async def start(conn: AsyncConnection, *, user_id: int, ttl_seconds: int) -> IssuedSession:
    """Open a session with its first refresh token, in the caller's transaction."""
    now = utcnow()
    issued = IssuedSession(
        session_id=str(uuid7()),
        refresh_token=new_refresh_token(),
        expires_at=now + dt.timedelta(seconds=ttl_seconds),
    )
    await conn.execute(
        insert(sessions).values(
            id=issued.session_id, user_id=user_id, created_at=now, expires_at=issued.expires_at
        )
    )
    await conn.execute(
        insert(refresh_tokens).values(
            token_hash=token_hash(issued.refresh_token),
            session_id=issued.session_id,
            created_at=now,
        )
    )
    return issued


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """A stored refresh token and the state of its session, as found by its hash."""

    session_id: str
    user_id: int
    rotated: bool
    session_expires_at: dt.datetime
    session_revoked: bool


async def find(conn: AsyncConnection, refresh_token: str) -> PresentedToken | None:
    """The stored token a client presents (by its hash), with its session; None if unknown."""
    row = (
        await conn.execute(
            select(
                refresh_tokens.c.session_id,
                refresh_tokens.c.rotated_at,
                sessions.c.user_id,
                sessions.c.expires_at,
                sessions.c.revoked_at,
            )
            .join(sessions, sessions.c.id == refresh_tokens.c.session_id)
            .where(refresh_tokens.c.token_hash == token_hash(refresh_token))
        )
    ).first()
    if row is None:
        return None
    return PresentedToken(
        session_id=row.session_id,
        user_id=row.user_id,
        rotated=row.rotated_at is not None,
        session_expires_at=row.expires_at,
        session_revoked=row.revoked_at is not None,
    )


async def rotate(
    conn: AsyncConnection, refresh_token: str, *, session_id: str, ttl_seconds: int
) -> IssuedSession | None:
    """Exchange a token for the next of its session; None if another request did it first.

    The conditional UPDATE makes concurrent exchanges of one token safe: the database lets
    exactly one of them see the token unrotated.
    """
    now = utcnow()
    marked = await conn.execute(
        update(refresh_tokens)
        .where(
            refresh_tokens.c.token_hash == token_hash(refresh_token),
            refresh_tokens.c.rotated_at.is_(None),
        )
        .values(rotated_at=now)
    )
    if marked.rowcount != 1:
        return None
    issued = IssuedSession(
        session_id=session_id,
        refresh_token=new_refresh_token(),
        expires_at=now + dt.timedelta(seconds=ttl_seconds),
    )
    await conn.execute(
        update(sessions).where(sessions.c.id == session_id).values(expires_at=issued.expires_at)
    )
    await conn.execute(
        insert(refresh_tokens).values(
            token_hash=token_hash(issued.refresh_token), session_id=session_id, created_at=now
        )
    )
    return issued


async def revoke(conn: AsyncConnection, *, session_id: str, user_id: int, reason: str) -> bool:
    """Revoke one session of ``user_id``; False if it was revoked already (or is not theirs)."""
    result = await conn.execute(
        update(sessions)
        .where(
            sessions.c.id == session_id,
            sessions.c.user_id == user_id,
            sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return bool(result.rowcount)


async def open_sessions(conn: AsyncConnection, *, user_id: int) -> list[str]:
    """The ids of the user's sessions that are not revoked."""
    result = await conn.execute(
        select(sessions.c.id).where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
    )
    return [session_id for (session_id,) in result]


async def revoke_all(conn: AsyncConnection, *, user_id: int, reason: str) -> int:
    """Revoke every open session of the user; how many there were."""
    result = await conn.execute(
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return int(result.rowcount)
