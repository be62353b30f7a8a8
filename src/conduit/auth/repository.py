"""Sessions: a login starts one; its refresh token rotates on each use.

A refresh token is 32 random bytes given to the browser in an HttpOnly cookie and stored
only as its SHA-256. Each refresh exchanges it for a new one of the same session (the
family): its *successor*, derived from it by a keyed hash (:func:`successor_of`), so that the
same token presented again within the reuse grace period answers the same successor without
any token being stored. Presenting an exchanged token after that means it was copied, and
revokes the whole session. Access tokens carry the session id (``sid``), so revoking a session also
cuts off its access tokens (see :class:`conduit.core.principal.AccessRules`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
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


def successor_of(refresh_token: str, *, secret: str) -> str:
    """The token a refresh token is exchanged for: HMAC-SHA256 under a key derived from the
    secret key, as long and as unguessable as a random one to whoever lacks the key."""
    key = hmac.new(secret.encode(), b"conduit refresh successor", hashlib.sha256).digest()
    digest = hmac.new(key, refresh_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


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
    rotated_at: dt.datetime | None  # naive UTC; None while unused
    session_expires_at: dt.datetime
    session_revoked: bool

    @property
    def rotated(self) -> bool:
        return self.rotated_at is not None


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
        rotated_at=row.rotated_at,
        session_expires_at=row.expires_at,
        session_revoked=row.revoked_at is not None,
    )


async def rotate(
    conn: AsyncConnection,
    refresh_token: str,
    *,
    successor: str,
    session_id: str,
    ttl_seconds: int,
) -> IssuedSession | None:
    """Exchange a token for ``successor``, the next of its session; None if another request
    did it first.

    The conditional UPDATE makes concurrent exchanges of one token safe: the database lets
    exactly one of them see the token unrotated (and makes the others wait until it
    committed, successor included).
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
        refresh_token=successor,
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


async def successor_issued(
    conn: AsyncConnection, successor: str, *, session_id: str
) -> IssuedSession | None:
    """The session as the exchange that issued ``successor`` left it; None if it issued none
    or the successor was exchanged in turn (the family moved on: a late copy is reuse)."""
    row = (
        await conn.execute(
            select(sessions.c.expires_at)
            .join(refresh_tokens, refresh_tokens.c.session_id == sessions.c.id)
            .where(
                refresh_tokens.c.token_hash == token_hash(successor),
                refresh_tokens.c.rotated_at.is_(None),
                sessions.c.id == session_id,
            )
        )
    ).first()
    if row is None:
        return None
    return IssuedSession(session_id=session_id, refresh_token=successor, expires_at=row.expires_at)


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
