"""Queries on tags."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.db import insert_ignore
from conduit.tags.models import article_tags, tags

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
)


async def popular(conn: AsyncConnection, *, limit: int) -> list[str]:
    """The ``limit`` tags in use most, most used first (ties by name)."""
    return list((await conn.execute(_POPULAR.limit(limit))).scalars())


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
