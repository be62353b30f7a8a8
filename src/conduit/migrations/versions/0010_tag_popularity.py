"""Tag popularity kept, not counted per read: ``tags.articles`` and its index.

``tags.articles`` is how many articles carry the tag; the ``tags`` consumer keeps it from
``article_tags`` after each article write (``conduit.tags.handlers``). Here it is
backfilled from ``article_tags`` in one statement, so ``GET /api/tags`` answers the same
right after the upgrade. ``ix_tags_popularity`` (articles descending, then name) is the
order of that answer: the read walks the index and stops after ``limit`` rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 19:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE tags SET articles = (
    SELECT COUNT(*) FROM article_tags WHERE article_tags.tag_id = tags.id
)
"""


def upgrade() -> None:
    op.add_column(
        "tags",
        sa.Column("articles", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(BACKFILL)
    op.create_index(
        "ix_tags_popularity", "tags", [sa.column("articles").desc(), "name"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tags_popularity", table_name="tags")
    # A plain ALTER TABLE on SQLite too (3.35+): rebuilding ``tags`` would cascade to
    # ``article_tags`` while foreign keys are on.
    op.drop_column("tags", "articles")
