"""Notifications: one row per recipient and event that concerns them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base, Timestamp
from conduit.profiles.models import Profile

# 64-bit ids: one article fans out to every follower of its author. SQLite only
# auto-increments an INTEGER PRIMARY KEY (which is 64-bit there anyway).
NotificationId = BigInteger().with_variant(Integer(), "sqlite")
MAX_ID = 2**63 - 1

Kind = Literal["follow", "favorite", "comment", "article"]
KINDS: tuple[Kind, ...] = ("follow", "favorite", "comment", "article")


class NotificationRow(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # The list, newest first, and the unread list and count, per recipient.
        Index("ix_notifications_recipient_id_created_at_id", "recipient_id", "created_at", "id"),
        Index(
            "ix_notifications_recipient_id_read_at_created_at_id",
            "recipient_id",
            "read_at",
            "created_at",
            "id",
        ),
        # Deleting an article, a comment or a user removes what points at it.
        Index("ix_notifications_article_id", "article_id"),
        Index("ix_notifications_comment_id", "comment_id"),
        Index("ix_notifications_actor_id", "actor_id"),
        # The consumer applies an event once (processed_events); this is a second guard.
        UniqueConstraint("event_id", "recipient_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(NotificationId, primary_key=True, autoincrement=True)
    recipient_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    article_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=True
    )
    comment_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("comments.id", ondelete="CASCADE"), nullable=True
    )
    event_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    read_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)


notifications = cast(Table, NotificationRow.__table__)


@dataclass(frozen=True, slots=True)
class ArticleRef:
    slug: str
    title: str


@dataclass(frozen=True, slots=True)
class CommentRef:
    id: int
    body: str


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification as its recipient reads it; ``actor.following`` is from their view."""

    id: int
    type: Kind
    created_at: dt.datetime
    read: bool
    actor: Profile
    article: ArticleRef | None
    comment: CommentRef | None


@dataclass(frozen=True, slots=True)
class NotificationPage:
    items: list[Notification]
    total: int  # that match the filter
    unread: int  # of the recipient, whatever the filter
