"""What the notifications feature does on other features' events.

``consumer`` is applied once per event (see :mod:`conduit.core.consumers`), in its own
transaction: follows, favorites, comments and new articles become notifications, each
dated by its event's ``occurredAt``, not by when it was delivered. Nobody is notified of
their own actions; unfollowing or unfavoriting leaves an earlier notification in place.

Deleting an article or a comment needs no reaction: the notifications that point at it go
with it in the same transaction (foreign keys ON DELETE CASCADE), and an event that arrives
after its article or comment is gone notifies nobody (see the repository).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.events import ArticleCreated, ArticleFavorited
from conduit.comments.events import CommentCreated
from conduit.core.consumers import Consumer
from conduit.core.db import UnitOfWork
from conduit.core.events import Event
from conduit.notifications import repository
from conduit.notifications.events import NotificationsAdded
from conduit.profiles.events import UserFollowed

Reaction = Callable[[AsyncConnection, Event], Awaitable[object]]


async def _followed(conn: AsyncConnection, event: Event) -> int:
    data = UserFollowed.model_validate(event.data)
    return await repository.add_follow(
        conn,
        event_id=event.id,
        at=event.occurred_at,
        follower_id=data.follower_id,
        followee_id=data.followee_id,
    )


async def _favorited(conn: AsyncConnection, event: Event) -> int:
    data = ArticleFavorited.model_validate(event.data)
    return await repository.add_favorite(
        conn,
        event_id=event.id,
        at=event.occurred_at,
        article_id=data.article_id,
        user_id=data.user_id,
    )


async def _commented(conn: AsyncConnection, event: Event) -> int:
    data = CommentCreated.model_validate(event.data)
    return await repository.add_comment(
        conn, event_id=event.id, at=event.occurred_at, comment_id=data.comment_id
    )


async def _published(conn: AsyncConnection, event: Event) -> int:
    data = ArticleCreated.model_validate(event.data)
    return await repository.add_article(
        conn, event_id=event.id, at=event.occurred_at, article_id=data.article_id
    )


REACTIONS: dict[str, Reaction] = {
    UserFollowed.type: _followed,
    ArticleFavorited.type: _favorited,
    CommentCreated.type: _commented,
    ArticleCreated.type: _published,
}


async def on_event(uow: UnitOfWork, event: Event) -> None:
    added = await REACTIONS[event.type](uow.conn, event)
    if isinstance(added, int) and added > 0:
        # Committed with the rows, so live updates push them once they exist.
        uow.emit(NotificationsAdded(source_event_id=event.id, count=added), actor_id=event.actor_id)


consumer = Consumer(name="notifications", types=frozenset(REACTIONS), handle=on_event)
