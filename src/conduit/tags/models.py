"""Tags, and which article carries which tag."""

from __future__ import annotations

from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = TABLE_ARGS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)


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
article_tags = cast(Table, ArticleTagRow.__table__)
