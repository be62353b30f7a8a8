"""The users table and the account it maps to."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.db import TABLE_ARGS, Base, Timestamp, utcnow


class UserRow(Base):
    __tablename__ = "users"
    __table_args__ = TABLE_ARGS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text, nullable=True)
    image: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


users = cast(Table, UserRow.__table__)


@dataclass(frozen=True, slots=True)
class Account:
    """A registered user as the use cases see it."""

    id: int
    username: str
    email: str
    bio: str | None
    image: str | None
    password_hash: str
