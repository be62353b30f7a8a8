"""Full-text search of articles: indexed tag names, and a full-text index per database.

``articles.search_tags`` holds the article's tag names (space-separated), written by the
create and update use cases, backfilled here. The full-text index (see
``conduit.articles.search_index``) is not described by the models:

- SQLite: the FTS5 table ``articles_fts`` over ``articles`` (external content), kept in
  sync by triggers. A later migration that rebuilds ``articles`` in batch mode drops the
  triggers with the old table and must create them again (and must keep the rows that
  reference articles: dropping the old table cascades while foreign keys are on).
- PostgreSQL: ``articles.search_vector``, a stored generated tsvector, with a GIN index.
- MariaDB: stored generated columns ``search_title`` and ``search_text`` in a
  case-insensitive collation, each with a FULLTEXT index (InnoDB).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:20:00.000000
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE articles_fts USING fts5(title, description, body, search_tags,
        content='articles', content_rowid='id',
        tokenize='porter unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, description, body, search_tags)
        VALUES (new.id, new.title, new.description, new.body, new.search_tags);
    END""",
    """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, description, body, search_tags)
        VALUES ('delete', old.id, old.title, old.description, old.body, old.search_tags);
    END""",
    """CREATE TRIGGER articles_fts_update
    AFTER UPDATE OF title, description, body, search_tags ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, description, body, search_tags)
        VALUES ('delete', old.id, old.title, old.description, old.body, old.search_tags);
        INSERT INTO articles_fts(rowid, title, description, body, search_tags)
        VALUES (new.id, new.title, new.description, new.body, new.search_tags);
    END""",
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TABLE IF EXISTS articles_fts",
]
POSTGRESQL_UP = [
    """ALTER TABLE articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, title), 'A')
        || setweight(to_tsvector('english'::regconfig, search_tags), 'B')
        || setweight(to_tsvector('english'::regconfig, description), 'B')
        || setweight(to_tsvector('english'::regconfig, body), 'D')
    ) STORED""",
    "CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)",
]
POSTGRESQL_DOWN = [
    "DROP INDEX IF EXISTS ix_articles_search_vector",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_vector",
]
MARIADB_UP = [
    """ALTER TABLE articles
        ADD COLUMN search_title VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
            AS (title) STORED,
        ADD COLUMN search_text LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci
            AS (CONCAT_WS(' ', title, description, body, search_tags)) STORED""",
    "CREATE FULLTEXT INDEX ft_articles_search_title ON articles (search_title)",
    "CREATE FULLTEXT INDEX ft_articles_search_text ON articles (search_text)",
]
MARIADB_DOWN = [
    "DROP INDEX ft_articles_search_text ON articles",
    "DROP INDEX ft_articles_search_title ON articles",
    "ALTER TABLE articles DROP COLUMN search_text, DROP COLUMN search_title",
]


def _dialect() -> str:
    name = op.get_bind().dialect.name
    return "mariadb" if name in ("mysql", "mariadb") else name


def _backfill_search_tags() -> None:
    conn = op.get_bind()
    article_tags = sa.table("article_tags", sa.column("article_id"), sa.column("tag_id"))
    tags = sa.table("tags", sa.column("id"), sa.column("name"))
    articles = sa.table("articles", sa.column("id"), sa.column("search_tags"))
    names: dict[int, list[str]] = defaultdict(list)
    rows = conn.execute(
        sa.select(article_tags.c.article_id, tags.c.name)
        .join(tags, tags.c.id == article_tags.c.tag_id)
        .order_by(article_tags.c.article_id, tags.c.name)
    )
    for article_id, name in rows:
        names[article_id].append(name)
    if names:
        conn.execute(
            sa.update(articles)
            .where(articles.c.id == sa.bindparam("article_id"))
            .values(search_tags=sa.bindparam("tags_text")),
            [{"article_id": key, "tags_text": " ".join(value)} for key, value in names.items()],
        )


def upgrade() -> None:
    # A plain ADD COLUMN, never a batch rebuild of ``articles`` on SQLite: its DROP TABLE
    # would cascade to the rows that reference articles (tags, favorites, comments) while
    # SQLite enforces foreign keys. (SQLite adds a NOT NULL column only with a default.)
    op.add_column(
        "articles",
        sa.Column("search_tags", sa.Text(), nullable=False, server_default=sa.text("''")),
    )
    _backfill_search_tags()
    statements = {"sqlite": SQLITE_UP, "postgresql": POSTGRESQL_UP, "mariadb": MARIADB_UP}
    for statement in statements.get(_dialect(), []):
        op.execute(statement)


def downgrade() -> None:
    statements = {"sqlite": SQLITE_DOWN, "postgresql": POSTGRESQL_DOWN, "mariadb": MARIADB_DOWN}
    for statement in statements.get(_dialect(), []):
        op.execute(statement)
    if _dialect() == "sqlite":  # ALTER TABLE DROP COLUMN (SQLite 3.35+), no rebuild
        op.execute("ALTER TABLE articles DROP COLUMN search_tags")
    else:
        op.drop_column("articles", "search_tags")
