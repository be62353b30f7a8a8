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

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from uuid6 import uuid7

from conduit.core.db import utcnow
from conduit.users.models import refresh_tokens, sessions


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
