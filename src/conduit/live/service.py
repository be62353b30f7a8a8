"""What the live WebSocket layer asks of the database (framework-free use cases)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from conduit.articles import repository as articles_repository
from conduit.core.db import Database
from conduit.live.hub import FollowersAmong, NotificationsOf
from conduit.notifications import service as notifications
from conduit.notifications.schemas import notification_json
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


def notifications_lookup(db: Database) -> NotificationsOf:
    """The hub's ``notifications_of``: what an event notified, as each recipient lists it."""

    async def notifications_of(event_id: str, users: Collection[int]) -> dict[int, dict[str, Any]]:
        found = await notifications.of_event(db, event_id=event_id, recipient_ids=users)
        return {user: notification_json(item) for user, item in found.items()}

    return notifications_of
