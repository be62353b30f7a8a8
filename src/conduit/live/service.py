"""What the live WebSocket layer asks of the database (framework-free use cases)."""

from __future__ import annotations

from collections.abc import Collection

from conduit.articles import repository as articles_repository
from conduit.core.db import Database
from conduit.live.hub import FollowersAmong
from conduit.profiles import repository as profiles_repository

MAX_SLUG_LENGTH = 255


async def article_exists(db: Database, *, slug: str) -> bool:
    async with db.reader() as uow:
        return await articles_repository.slug_exists(uow.conn, slug)


def followers_lookup(db: Database) -> FollowersAmong:
    """``followers_among(author_id, user_ids)`` over the database, for the hub."""

    async def followers_among(author_id: int, user_ids: Collection[int]) -> set[int]:
        async with db.reader() as uow:
            return await profiles_repository.followers_among(uow.conn, author_id, user_ids)

    return followers_among
