"""Comments on articles."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, Table, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow
from conduit.profiles.models import Profile


class CommentRow(Base):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_article_id_id", "article_id", "id"),
        Index("ix_comments_author_id", "author_id"),
        TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(Integer, ForeignKey("articles.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    # MEDIUMTEXT on MariaDB: TEXT (65,535 bytes) cannot hold 20,000 four-byte characters.
    body: Mapped[str] = mapped_column(Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


comments = cast(Table, CommentRow.__table__)


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    body: str
    created_at: dt.datetime
    updated_at: dt.datetime
    author: Profile
