"""The accounts' tables: users and their roles; the account as use cases see it.

Sessions live in auth/models.py, external identities in auth/oidc/models.py."""

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


users = cast(Table, UserRow.__table__)
user_roles = cast(Table, UserRoleRow.__table__)


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
