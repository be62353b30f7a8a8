"""Articles and favorites."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table, Text, text
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow
from conduit.profiles.models import Profile

LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class ArticleRow(Base):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_author_id_id", "author_id", "id"), TABLE_ARGS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1000))
    body: Mapped[str] = mapped_column(LongText)
    author_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    # The tag names, space-separated, for the full-text index (see articles.search_index).
    search_tags: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))


class FavoriteRow(Base):
    __tablename__ = "favorites"
    __table_args__ = (Index("ix_favorites_article_id", "article_id"), TABLE_ARGS)

    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


articles = cast(Table, ArticleRow.__table__)
favorites = cast(Table, FavoriteRow.__table__)


@dataclass(frozen=True, slots=True)
class Article:
    """An article as a reader sees it. ``body`` is None in lists, which never carry it."""

    id: int
    slug: str
    title: str
    description: str
    body: str | None
    tag_list: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    favorited: bool
    favorites_count: int
    author: Profile


@dataclass(frozen=True, slots=True)
class ArticleFilter:
    """What a list of articles is narrowed to; all unset means every article."""

    tag: str | None = None
    author: str | None = None
    favorited_by: str | None = None
    feed_of: int | None = None
