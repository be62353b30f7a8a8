"""Tags, and which article carries which tag.

``tags.articles`` is how many articles carry the tag, kept by the ``tags`` consumer
(:mod:`conduit.tags.handlers`) from ``article_tags`` after each article write commits, never
in the writing transaction; ``GET /api/tags`` reads it through ``ix_tags_popularity``
(most used first, ties by name: the order of the answer, so the read is an index scan that
stops after ``limit`` rows).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import ForeignKey, Index, Integer, String, Table, text
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.tables import TABLE_ARGS, Base


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = TABLE_ARGS

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # Articles carrying the tag (0: none, not listed); eventually consistent, see above.
    articles: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)


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
Index("ix_tags_popularity", tags.c.articles.desc(), tags.c.name)
article_tags = cast(Table, ArticleTagRow.__table__)
