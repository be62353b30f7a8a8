"""Tags keep how many articles carry them, for GET /tags off an index.

``tags.article_count`` is kept by the use cases that link and unlink tags (in the same
transaction); here it is filled from the existing links. The index orders the tags the
way GET /tags lists them (most used first, ties by name), so the endpoint reads its first
entries instead of counting every link of the site on each request.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, never a batch rebuild of ``tags`` on SQLite: its DROP TABLE would
    # cascade to article_tags while SQLite enforces foreign keys.
    op.add_column(
        "tags",
        sa.Column("article_count", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    tags = sa.table("tags", sa.column("id"), sa.column("article_count"))
    article_tags = sa.table("article_tags", sa.column("tag_id"))
    uses = (
        sa.select(sa.func.count())
        .select_from(article_tags)
        .where(article_tags.c.tag_id == tags.c.id)
        .scalar_subquery()
    )
    op.execute(tags.update().values(article_count=uses))
    op.create_index(
        "ix_tags_article_count_name",
        "tags",
        [sa.text("article_count DESC"), "name"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tags_article_count_name", table_name="tags")
    if op.get_bind().dialect.name == "sqlite":  # ALTER TABLE DROP COLUMN (SQLite 3.35+)
        op.execute("ALTER TABLE tags DROP COLUMN article_count")
    else:
        op.drop_column("tags", "article_count")
