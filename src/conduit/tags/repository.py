"""Queries on tags."""

from __future__ import annotations

import functools
from collections.abc import Sequence
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
    type_coerce,
    update,
)
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

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


# Off the (article_count DESC, name) index: the first ``limit`` entries, nothing counted.
_POPULAR = (
    select(tags.c.name)
    .where(tags.c.article_count > 0)
    .order_by(tags.c.article_count.desc(), tags.c.name)
    .limit(bindparam("limit", type_=Integer))
)


async def popular(conn: AsyncConnection, *, limit: int) -> list[str]:
    """The ``limit`` tags in use most, most used first (ties by name)."""
    return list((await conn.execute(_POPULAR, {"limit": limit})).scalars())


async def set_for_article(
    conn: AsyncConnection, article_id: int, names: Sequence[str], *, new: bool = False
) -> None:
    """Make ``names`` the article's tags (replacing any it had; ``new``: it has none yet).

    Tags that do not exist yet are created, and every tag's count moves with its links.
    """
    wanted = list(dict.fromkeys(names))  # a tag links once
    current = {} if new else await _linked(conn, article_id)
    added = [name for name in wanted if name not in current]
    removed = [name for name in current if name not in set(wanted)]
    await _count(conn, added=added, removed=removed)
    if removed:
        gone = [current[name] for name in removed]
        await conn.execute(
            delete(article_tags).where(
                article_tags.c.article_id == article_id, article_tags.c.tag_id.in_(gone)
            )
        )
    if added:
        rows = await conn.execute(select(tags.c.id).where(tags.c.name.in_(added)))
        await conn.execute(
            article_tags.insert(),
            [{"article_id": article_id, "tag_id": tag_id} for tag_id in rows.scalars()],
        )


async def unlink_article(conn: AsyncConnection, article_id: int) -> None:
    """Take the article's tags off it (before it is deleted), keeping the tags' counts."""
    await _count(conn, added=[], removed=list(await _linked(conn, article_id)))
    await conn.execute(delete(article_tags).where(article_tags.c.article_id == article_id))


async def _linked(conn: AsyncConnection, article_id: int) -> dict[str, int]:
    """The article's tags: name to id."""
    rows = await conn.execute(
        select(tags.c.name, tags.c.id)
        .join(article_tags, article_tags.c.tag_id == tags.c.id)
        .where(article_tags.c.article_id == article_id)
    )
    return {name: tag_id for name, tag_id in rows}


async def _count(conn: AsyncConnection, *, added: Sequence[str], removed: Sequence[str]) -> None:
    """One more article for each ``added`` tag (created at 1 if new), one fewer for each
    ``removed`` one.

    One statement per tag, in name order: every writer takes the tags' row locks in the same
    order, so writers sharing tags queue instead of deadlocking. Each statement takes the
    exclusive lock at once (an upsert, not ``INSERT IGNORE`` then ``UPDATE``: InnoDB's
    shared lock on a duplicate key, or on the tag a new link refers to, held by two writers
    that both then need the exclusive one, is a deadlock).
    """
    adding = set(added)
    for name in sorted(adding.union(removed)):
        if name in adding:
            await conn.execute(_count_up(conn.dialect.name), {"tag_name": name})
        else:
            await conn.execute(_COUNT_DOWN, {"tag_name": name})


_COUNT_DOWN = (
    update(tags)
    .where(tags.c.name == bindparam("tag_name"))
    .values(article_count=tags.c.article_count - 1)
)


@functools.cache
def _count_up(dialect: str) -> Any:
    """``INSERT`` the tag with a count of 1, or add 1 to the count of the existing one."""
    values = {"name": bindparam("tag_name"), "article_count": 1}
    if dialect == "postgresql":
        pg = pg_insert(tags).values(values)
        return pg.on_conflict_do_update(
            index_elements=[tags.c.name], set_={"article_count": tags.c.article_count + 1}
        )
    if dialect == "sqlite":
        lite = sqlite_insert(tags).values(values)
        return lite.on_conflict_do_update(
            index_elements=[tags.c.name], set_={"article_count": tags.c.article_count + 1}
        )
    maria = mysql_insert(tags).values(values)
    return maria.on_duplicate_key_update(article_count=tags.c.article_count + 1)


async def recount(conn: AsyncConnection) -> None:
    """Every tag's count from its links (after links were written in bulk: the seed)."""
    uses = (
        select(func.count())
        .select_from(article_tags)
        .where(article_tags.c.tag_id == tags.c.id)
        .scalar_subquery()
    )
    await conn.execute(update(tags).values(article_count=uses))
