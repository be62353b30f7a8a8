"""Queries on tags."""

from __future__ import annotations

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


_USES = (
    select(article_tags.c.tag_id, func.count().label("uses"))
    .group_by(article_tags.c.tag_id)
    .subquery("uses")
)
# Counting per tag_id first lets the database read only the (tag_id, article_id) index.
_POPULAR = (
    select(tags.c.name)
    .join(_USES, _USES.c.tag_id == tags.c.id)
    .order_by(_USES.c.uses.desc(), tags.c.name)
    .limit(bindparam("limit", type_=Integer))
)


async def popular(conn: AsyncConnection, *, limit: int) -> list[str]:
    """The ``limit`` tags in use most, most used first (ties by name)."""
    return list((await conn.execute(_POPULAR, {"limit": limit})).scalars())


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
