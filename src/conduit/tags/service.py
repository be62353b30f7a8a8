"""Use cases of the tags feature."""

from __future__ import annotations

from conduit.core.db import Database
from conduit.tags import repository

# A page of tags: what a tag cloud shows, without sending a site's every tag.
DEFAULT_TAGS = 100
MAX_TAGS = 1000


async def popular(db: Database, *, limit: int = DEFAULT_TAGS) -> list[str]:
    """The most used tags, at most ``limit`` (1 to :data:`MAX_TAGS`)."""
    async with db.reader() as uow:
        return await repository.popular(uow.conn, limit=max(1, min(limit, MAX_TAGS)))
