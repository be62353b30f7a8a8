"""Who follows whom, and the public profile of a user."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, Table
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow


class FollowRow(Base):
    __tablename__ = "follows"
    __table_args__ = (Index("ix_follows_followee_id", "followee_id"), TABLE_ARGS)

    follower_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followee_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


follows = cast(Table, FollowRow.__table__)


@dataclass(frozen=True, slots=True)
class Profile:
    """A user as others see them; ``following`` is from the reader's point of view."""

    username: str
    bio: str | None
    image: str | None
    following: bool
