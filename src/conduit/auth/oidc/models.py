"""Accounts at OpenID Connect providers linked to Conduit users, and logins in flight."""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow


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


user_identities = cast(Table, IdentityRow.__table__)
login_states = cast(Table, LoginStateRow.__table__)
