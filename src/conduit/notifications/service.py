"""Use cases of the notifications feature: list them, mark them read.

Notifications are written by the consumer in :mod:`conduit.notifications.handlers`, never
by a request; these use cases only read and mark the signed-in user's own.
"""

from __future__ import annotations

from collections.abc import Iterable

from conduit.core import policy
from conduit.core.db import Database
from conduit.core.pagination import Page
from conduit.core.principal import Principal
from conduit.core.tables import utcnow
from conduit.notifications import repository
from conduit.notifications.models import MAX_ID, Notification, NotificationPage


async def list_for(
    db: Database, *, user_id: int, page: Page, unread_only: bool = False
) -> NotificationPage:
    """The user's notifications, newest first, with the totals the page is out of."""
    async with db.reader() as uow:
        return await repository.list_page(uow.conn, user_id, page, unread_only=unread_only)


async def of_event(
    db: Database, *, event_id: str, recipient_ids: Iterable[int] | None = None
) -> dict[int, Notification]:
    """What an event notified, by recipient, each as its recipient reads it (one statement).

    For live updates: once the consumer has applied an event, whoever pushes to connected
    users can send each of them exactly the object the REST list shows.
    """
    wanted = None if recipient_ids is None else sorted(set(recipient_ids))
    async with db.reader() as uow:
        return await repository.of_event(uow.conn, event_id, wanted)


async def mark_read(db: Database, *, actor: Principal, ids: Iterable[int]) -> int:
    """Mark the listed notifications of ``actor`` read; how many stay unread.

    Ids of someone else's notifications, or of none at all, are ignored.
    """
    policy.require_active(actor)
    user_id = actor.id
    wanted = sorted({value for value in ids if 0 < value <= MAX_ID})
    async with db.uow() as uow:
        await repository.mark_read(uow.conn, user_id, wanted, utcnow())
        unread = await repository.unread_count(uow.conn, user_id)
        await uow.commit()
    return unread


async def mark_all_read(db: Database, *, actor: Principal) -> int:
    """Mark every notification of ``actor`` read; how many stay unread (0, or new ones)."""
    policy.require_active(actor)
    user_id = actor.id
    async with db.uow() as uow:
        await repository.mark_read(uow.conn, user_id, None, utcnow())
        unread = await repository.unread_count(uow.conn, user_id)
        await uow.commit()
    return unread
