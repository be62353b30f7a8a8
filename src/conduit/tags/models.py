"""Tags, and which article carries which tag."""

from __future__ import annotations

from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.db import TABLE_ARGS, Base


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = TABLE_ARGS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # How many articles carry the tag, kept in the transaction that links or unlinks it
    # (tags/repository.py): GET /tags reads the most used tags off an index instead of
    # counting every link of the site on each request.
    article_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ArticleTagRow(Base):
    __tablename__ = "article_tags"
    __table_args__ = (
        Index("ix_article_tags_tag_id_article_id", "tag_id", "article_id"),
        TABLE_ARGS,
    )

    article_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
    )


tags = cast(Table, TagRow.__table__)
# The popular tags in the order GET /tags lists them: most used first, ties by name.
Index("ix_tags_article_count_name", tags.c.article_count.desc(), tags.c.name)
article_tags = cast(Table, ArticleTagRow.__table__)
