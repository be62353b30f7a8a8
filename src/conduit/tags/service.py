"""Use cases of the tags feature."""

from __future__ import annotations

from conduit.core.db import Database
from conduit.tags import repository


async def popular(db: Database) -> list[str]:
    async with db.reader() as uow:
        return await repository.popular(uow.conn)
