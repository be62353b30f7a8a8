"""Queries on tags."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Dialect,
    Integer,
    String,
    Text,
    TypeDecorator,
    bindparam,
    cast,
    delete,
    func,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.db_errors import insert_ignore
from conduit.tags.models import article_tags, tags


class _Names(TypeDecorator[list[str]]):
    """Tag names as a list, from what each database aggregates them into.

    PostgreSQL gives an array (a list already); SQLite and MariaDB a JSON array, or NULL
    for none on MariaDB. Every database orders by code point: PostgreSQL with the "C"
    collation whatever the database's own, MariaDB by the tables' utf8mb4_bin; SQLite
    cannot order inside its aggregate, so its names are sorted here (its BINARY collation's
    order: UTF-8 byte order is code point order).
    """

    impl = String
    cache_ok = True

    def __init__(self, sort: bool = False) -> None:  # positional: part of the cache key
        super().__init__()
        self.sort = sort

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, str):
            return list(value)
        names: list[str] = orjson.loads(value)
        return sorted(names) if self.sort else names


def names_of(article_id: ColumnElement[int], dialect: str) -> ColumnElement[list[str]]:
    """A column with the tag names of the article ``article_id`` refers to, alphabetical.

    A correlated subquery: a page or an article comes with its tags in its own statement.
    """
    names = (
        select(tags.c.name)
        .join(article_tags, article_tags.c.tag_id == tags.c.id)
        .where(article_tags.c.article_id == article_id)
    )
    if dialect == "postgresql":
        # text[], not varchar[]: asyncpg decodes it without asking the server about the type.
        by_code_point = tags.c.name.collate("C")
        as_text = names.with_only_columns(cast(tags.c.name, Text)).order_by(by_code_point)
        column: Any = func.array(as_text.scalar_subquery())
    elif dialect == "sqlite":
        column = names.with_only_columns(func.json_group_array(tags.c.name)).scalar_subquery()
    else:  # MariaDB (MySQL takes no ORDER BY in JSON_ARRAYAGG)
        aggregate = func.json_arrayagg(tags.c.name).aggregate_order_by(tags.c.name)
        column = names.with_only_columns(aggregate).scalar_subquery()
    return type_coerce(column, _Names(sort=dialect == "sqlite")).label("tag_list")


# Most used first, ties by name: the order of ``ix_tags_popularity`` (articles DESC, name),
# so the database walks the index from its start and stops after ``limit`` rows in use.
POPULAR = (
    select(tags.c.name)
    .where(tags.c.articles > 0)
    .order_by(tags.c.articles.desc(), tags.c.name)
    .limit(bindparam("limit", type_=Integer))
)


async def popular(conn: AsyncConnection, *, limit: int) -> list[str]:
    """The ``limit`` tags in use most, most used first (ties by name): one index scan of
    the kept counts (``tags.articles``), eventually consistent with ``article_tags``."""
    return list((await conn.execute(POPULAR, {"limit": limit})).scalars())


def _uses(tag_id: ColumnElement[int]) -> Any:
    """How many articles carry the tag ``tag_id`` refers to (the (tag_id, article_id) index)."""
    return (
        select(func.count())
        .select_from(article_tags)
        .where(article_tags.c.tag_id == tag_id)
        .scalar_subquery()
    )


async def recount(conn: AsyncConnection, names: Collection[str] | None) -> list[str]:
    """Set ``tags.articles`` of the tags ``names`` (None: every tag) to what ``article_tags``
    holds now; the names whose count changed, sorted.

    Counted from the truth, so running it twice, late or out of order leaves the right
    count. On PostgreSQL and MariaDB the rows are locked first (in id order: two recounts
    never deadlock) and counted in a second statement: under READ COMMITTED that statement
    sees every link committed before the lock was granted, so a recount that waited for
    another one cannot write a count older than the one it waited for (an ``UPDATE`` whose
    count subquery ran before the wait could). SQLite has one writer at a time.
    """
    chosen = tags.c.name.in_(sorted(names)) if names is not None else true()
    if names is not None and not names:
        return []
    if conn.dialect.name != "sqlite":
        await conn.execute(select(tags.c.id).where(chosen).order_by(tags.c.id).with_for_update())
    counted = _uses(tags.c.id)
    statement = (
        update(tags)
        .where(chosen, tags.c.articles != counted)
        .values(articles=counted)
        .returning(tags.c.name)
    )
    if conn.dialect.name == "sqlite" or conn.dialect.name == "postgresql":
        return sorted((await conn.execute(statement)).scalars())
    # MariaDB has no UPDATE ... RETURNING: read which counts are off, then fix those.
    stale = select(tags.c.id, tags.c.name).where(chosen, tags.c.articles != counted)
    rows = (await conn.execute(stale)).all()
    if rows:
        fix = update(tags).where(tags.c.id.in_([row.id for row in rows])).values(articles=counted)
        await conn.execute(fix)
    return sorted(row.name for row in rows)


async def recount_ids(conn: AsyncConnection, tag_ids: Collection[int]) -> None:
    """Set ``tags.articles`` of the tags ``tag_ids`` from ``article_tags``: a bulk load
    (``conduit seed``) that writes links without events keeps the counts itself."""
    ids = sorted(set(tag_ids))
    for start in range(0, len(ids), 500):
        batch = ids[start : start + 500]
        counted = _uses(tags.c.id)
        await conn.execute(update(tags).where(tags.c.id.in_(batch)).values(articles=counted))


async def ids_for(conn: AsyncConnection, names: Sequence[str]) -> list[int]:
    """Ids of ``names``, creating the tags that do not exist yet, in the order given.

    New tags are inserted in sorted order, so that writers introducing the same tags at the
    same time lock them in the same order instead of deadlocking.
    """
    if not names:
        return []
    for name in sorted(set(names)):
        await insert_ignore(conn, tags, {"name": name})
    rows = await conn.execute(select(tags.c.name, tags.c.id).where(tags.c.name.in_(names)))
    by_name = {row.name: row.id for row in rows}
    return [by_name[name] for name in names]


async def set_for_article(conn: AsyncConnection, article_id: int, names: Sequence[str]) -> None:
    """Make ``names`` the article's tags (replacing any it had)."""
    await conn.execute(delete(article_tags).where(article_tags.c.article_id == article_id))
    tag_ids = await ids_for(conn, list(dict.fromkeys(names)))  # a tag links once
    if tag_ids:
        await conn.execute(
            article_tags.insert(),
            [{"article_id": article_id, "tag_id": tag_id} for tag_id in tag_ids],
        )
