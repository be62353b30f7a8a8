"""The accounts' tables: users, their roles, sessions (refresh tokens) and external identities."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.principal import USER
from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_banned_at", "banned_at"),
        Index("ix_users_tokens_revoked_before", "tokens_revoked_before"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text, nullable=True)
    image: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    # Set by an admin; a banned user may read but not write, refresh or log in.
    banned_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)
    # Sign-out everywhere: access tokens issued before this moment answer 401.
    tokens_revoked_before: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)


class UserRoleRow(Base):
    """Roles beyond ``user`` (which everyone has): one row per (user, role)."""

    __tablename__ = "user_roles"
    __table_args__ = TABLE_ARGS

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


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


class IdentityRow(Base):
    """An account at an OpenID Connect provider linked to a Conduit user."""

    __tablename__ = "user_identities"
    __table_args__ = (Index("ix_user_identities_user_id", "user_id"), TABLE_ARGS)

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class LoginStateRow(Base):
    """An OpenID Connect login in flight: state, nonce and PKCE verifier, used once."""

    __tablename__ = "login_states"
    __table_args__ = (Index("ix_login_states_created_at", "created_at"), TABLE_ARGS)

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


users = cast(Table, UserRow.__table__)
user_roles = cast(Table, UserRoleRow.__table__)
sessions = cast(Table, SessionRow.__table__)
refresh_tokens = cast(Table, RefreshTokenRow.__table__)
user_identities = cast(Table, IdentityRow.__table__)
login_states = cast(Table, LoginStateRow.__table__)


@dataclass(frozen=True, slots=True)
class Account:
    """A registered user as the use cases see it."""

    id: int
    username: str
    email: str
    bio: str | None
    image: str | None
    password_hash: str
    banned: bool = False
    # ``user`` (everyone's) and the granted ones: moderator, admin
    roles: frozenset[str] = frozenset({USER})
