"""Queries on uploads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.models import articles
from conduit.core.tables import utcnow
from conduit.uploads.models import Upload, uploads
from conduit.users.models import users


def _upload(row: Any) -> Upload:
    return Upload(**row._mapping)


async def add(
    conn: AsyncConnection,
    *,
    key: str,
    thumbnail_key: str,
    owner_id: int,
    content_type: str,
    size: int,
    width: int,
    height: int,
) -> Upload:
    now = utcnow()
    values: dict[str, Any] = {
        "key": key,
        "thumbnail_key": thumbnail_key,
        "owner_id": owner_id,
        "content_type": content_type,
        "size": size,
        "width": width,
        "height": height,
        "created_at": now,
    }
    result = await conn.execute(insert(uploads).values(**values))
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return Upload(id=int(primary_key[0]), **values)


async def owned(conn: AsyncConnection, *, key: str, owner_id: int) -> Upload | None:
    query = select(uploads).where(uploads.c.key == key, uploads.c.owner_id == owner_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _upload(row)


async def remove(conn: AsyncConnection, upload_ids: list[int]) -> None:
    if upload_ids:
        await conn.execute(delete(uploads).where(uploads.c.id.in_(upload_ids)))


async def created_before(
    conn: AsyncConnection, moment: dt.datetime, *, after_id: int, limit: int
) -> list[Upload]:
    """Uploads made before ``moment`` with an id above ``after_id``, by id (at most ``limit``)."""
    query = (
        select(uploads)
        .where(uploads.c.created_at < moment, uploads.c.id > after_id)
        .order_by(uploads.c.id)
        .limit(limit)
    )
    return [_upload(row) for row in await conn.execute(query)]


async def referenced(conn: AsyncConnection, stems: list[str]) -> set[str]:
    """Which of the uploads named by ``stems`` (the random part of their keys, shared by the
    image and its thumbnail) a user has as avatar or an article body links to; two
    statements, whatever the base URL the links were written with."""
    if not stems:
        return set()
    found: set[str] = set()
    for column in (users.c.image, articles.c.body):
        mentions = [column.contains(stem, autoescape=True) for stem in stems]
        for (text,) in await conn.execute(select(column).where(or_(*mentions))):
            found.update(stem for stem in stems if stem in text)
    return found
