"""Sessions and their refresh tokens, as tables."""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow


class SessionRow(Base):
    """A sign-in: the family of refresh tokens that rotate from one login.

    Access tokens carry its id (``sid``), so revoking the session revokes them as well.
    """

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_id", "user_id"),
        Index("ix_sessions_revoked_at", "revoked_at"),
        TABLE_ARGS,
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)
    # logout, everywhere, reuse, ban
    revoked_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)


class RefreshTokenRow(Base):
    """One refresh token of a session, stored only as its SHA-256; rotated on each use."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session_id", "session_id"), TABLE_ARGS)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sessions.id", ondelete="CASCADE")
    )
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    # Set when the token was exchanged for the next one; presenting it again is reuse.
    rotated_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)


sessions = cast(Table, SessionRow.__table__)
refresh_tokens = cast(Table, RefreshTokenRow.__table__)
