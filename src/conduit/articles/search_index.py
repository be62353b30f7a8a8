"""The full-text index of articles on each database, and how a search uses it.

What is indexed: title, description, body and the tag names (``articles.search_tags``, a
space-separated copy of the article's tags written by the create and update use cases in
the same statement as the article). Migration 0007 builds the index; it is current as soon
as the writing transaction commits, on every database:

- SQLite: the FTS5 table ``articles_fts`` (external content: it reads ``articles``;
  Porter stemming, accents ignored), kept in sync by triggers on ``articles`` that run in
  the writing statement's transaction.
- PostgreSQL: ``articles.search_vector``, a stored generated ``tsvector`` (english
  configuration: stemming and stopwords; title weighted A, tags and description B, body D)
  with a GIN index. PostgreSQL recomputes it in the writing statement.
- MariaDB: FULLTEXT indexes (InnoDB) on two stored generated columns in a case- and
  accent-insensitive collation (the article columns are ``utf8mb4_bin``, which the InnoDB
  full-text parser matches by case): ``search_text`` (every field) and ``search_title``.
  InnoDB applies full-text changes at commit. It does not index words shorter than 3
  characters (``innodb_ft_min_token_size``) or stopwords, and has no stemming.

Ranking: most relevant first — SQLite ``bm25`` with the title weighted 10, description and
tags 5, body 1; PostgreSQL ``ts_rank`` over the weighted vector; MariaDB the title's score
(4x) plus the whole article's. Ties: newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Integer, TextClause, column, table, text

from conduit.articles.models import articles
from conduit.articles.search_query import SearchQuery

FTS5_TABLE = "articles_fts"
# Parts of the index that the models do not describe (the migration creates them): the
# schema comparison leaves them alone.
UNMODELLED_TABLES = frozenset(
    {FTS5_TABLE, *(f"{FTS5_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))}
)
UNMODELLED_COLUMNS = frozenset({"search_vector", "search_text", "search_title"})
UNMODELLED_INDEXES = frozenset(
    {"ix_articles_search_vector", "ft_articles_search_text", "ft_articles_search_title"}
)


def is_unmodelled(name: str | None, kind: str) -> bool:
    """True for a table, column or index of the full-text index (for schema comparisons)."""
    if name is None:
        return False
    if kind == "table":
        return name in UNMODELLED_TABLES
    if kind == "column":
        return name in UNMODELLED_COLUMNS
    if kind == "index":
        return name in UNMODELLED_INDEXES
    return False


def search_tags(names: Sequence[str]) -> str:
    """The indexed text of an article's tags."""
    return " ".join(dict.fromkeys(names))


_FTS5 = table(FTS5_TABLE, column("rowid", Integer))
_FTS5_RANK = "bm25(articles_fts, 10.0, 5.0, 1.0, 5.0)"  # title, description, body, tags
_PG_QUERY = "websearch_to_tsquery('english', CAST(:search AS TEXT))"
_PG_EXCLUDED = "websearch_to_tsquery('english', CAST(:search_excluded AS TEXT))"
_MARIADB_MATCH = "MATCH (articles.search_text) AGAINST (:search IN BOOLEAN MODE)"
_MARIADB_TITLE = "MATCH (articles.search_title) AGAINST (:search_any IN BOOLEAN MODE)"


@dataclass(frozen=True, slots=True)
class SearchSQL:
    """What a search adds to the article list query: a table to join, conditions, order."""

    join: tuple[FromClause, ColumnElement[bool]] | None
    conditions: tuple[ColumnElement[bool] | TextClause, ...]
    most_relevant_first: TextClause


def _family(dialect: str) -> str:
    return "mariadb" if dialect in ("mysql", "mariadb") else dialect


def search_sql(dialect: str, *, excluding: bool) -> SearchSQL:
    """The match and rank of ``dialect``; ``excluding`` when the query has exclusions."""
    family = _family(dialect)
    if family == "sqlite":
        return SearchSQL(
            join=(_FTS5, _FTS5.c.rowid == articles.c.id),
            conditions=(text("articles_fts MATCH :search"),),
            most_relevant_first=text(f"{_FTS5_RANK} ASC"),
        )
    if family == "postgresql":
        conditions: tuple[TextClause, ...] = (text(f"articles.search_vector @@ {_PG_QUERY}"),)
        if excluding:
            conditions += (text(f"NOT (articles.search_vector @@ {_PG_EXCLUDED})"),)
        return SearchSQL(
            join=None,
            conditions=conditions,
            most_relevant_first=text(f"ts_rank(articles.search_vector, {_PG_QUERY}) DESC"),
        )
    if family == "mariadb":
        return SearchSQL(
            join=None,
            conditions=(text(_MARIADB_MATCH),),
            most_relevant_first=text(f"({_MARIADB_TITLE} * 4 + {_MARIADB_MATCH}) DESC"),
        )
    raise ValueError(f"no full-text search for {dialect}")


def finds_nothing(dialect: str, query: SearchQuery) -> bool:
    """True when ``query`` has nothing this database's index could find."""
    if _family(dialect) == "mariadb":
        return not query.mariadb_wanted()
    return query.is_empty


def search_params(dialect: str, query: SearchQuery) -> dict[str, Any]:
    """The bound values of :func:`search_sql` for ``query``."""
    family = _family(dialect)
    if family == "sqlite":
        return {"search": query.fts5()}
    if family == "postgresql":
        return {"search": query.websearch(), "search_excluded": query.websearch_excluded()}
    return {"search": query.mariadb_boolean(), "search_any": query.mariadb_any()}
