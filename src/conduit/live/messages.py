"""From committed events to live messages.

A *bus message* is what one instance publishes on the :class:`~conduit.core.live.LiveBus`
and every instance routes to its own sockets::

    {"article": "<slug>", "message": {...}}                 to that article's subscribers
    {"article": "<slug>", "authorId": 7, "message": {...}}  ... a comment: each reader gets
                                                            author.following from their view
    {"users": [3, 9], "message": {...}}                     to those users' sockets
    {"notificationsOf": "<event id>"}                       the notifications that event
                                                            created, each to its recipient

Notifications are written by the notifications consumer, after the event that causes them
(a follow, a favorite, a comment, a new article) has committed, possibly in another process
(``conduit worker``). That consumer records a :data:`NOTIFICATIONS_ADDED` event in the same
transaction as the rows; once it commits, the commit listener of that process publishes
``{"notificationsOf": <id of the causing event>}``, and every instance reads the
notifications of its connected recipients from the database and pushes them.

``message`` is exactly what the client receives (one of :data:`ARTICLE_MESSAGE_TYPES`).
Every article message carries ``eventId``, the id of the event it comes from (stable: the
same message replayed or published twice has the same one), and ``cursor``, an opaque
position a client hands back on ``subscribe`` to resume after a reconnect
(:mod:`conduit.live.resume`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.articles.events import ArticleDeleted, ArticleUpdated
from conduit.comments import repository as comments_repository
from conduit.comments.events import CommentCreated, CommentDeleted
from conduit.comments.models import Comment
from conduit.comments.schemas import comment_json
from conduit.core.events import Event

ARTICLE_MESSAGE_TYPES = (
    CommentCreated.type,
    CommentDeleted.type,
    ArticleUpdated.type,
    ArticleDeleted.type,
)
# Event types that need the database to become a message (the rest carry all they need).
NEEDS_DATABASE = frozenset({CommentCreated.type})
# Declared by the notifications feature: data {"sourceEventId": <id of the causing event>}.
NOTIFICATIONS_ADDED = "notification.added"
LIVE_EVENT_TYPES = frozenset({*ARTICLE_MESSAGE_TYPES, NOTIFICATIONS_ADDED})


def encode(bus_message: dict[str, Any]) -> bytes:
    return orjson.dumps(bus_message)


def cursor_of(event: Event) -> str:
    """The resume cursor of an event's message (see :mod:`conduit.live.resume`)."""
    return event.id


def _stamped(event: Event, message: dict[str, Any]) -> dict[str, Any]:
    message["eventId"] = event.id
    message["cursor"] = cursor_of(event)
    return message


def _comment_created(
    event: Event, data: CommentCreated, created: dict[int, Comment]
) -> dict[str, Any] | None:
    comment = created.get(data.comment_id)
    if comment is None:  # deleted again before we got here
        return None
    message = {"type": data.type, "article": data.slug, "comment": comment_json(comment)}
    return {"article": data.slug, "authorId": data.author_id, "message": _stamped(event, message)}


def _comment_deleted(event: Event) -> dict[str, Any]:
    data = CommentDeleted.model_validate(event.data)
    message = {"type": event.type, "article": data.slug, "id": data.comment_id}
    return {"article": data.slug, "message": _stamped(event, message)}


def _article_updated(event: Event) -> dict[str, Any]:
    data = ArticleUpdated.model_validate(event.data)
    message = {
        "type": event.type,
        "article": data.slug,
        "title": data.title,
        "changed": data.changed,
    }
    return {"article": data.slug, "message": _stamped(event, message)}


def _article_deleted(event: Event) -> dict[str, Any]:
    data = ArticleDeleted.model_validate(event.data)
    message = {"type": event.type, "article": data.slug}
    return {"article": data.slug, "message": _stamped(event, message)}


async def bus_messages(conn: AsyncConnection | None, events: Sequence[Event]) -> list[bytes]:
    """The bus messages of committed events (``conn`` is needed by :data:`NEEDS_DATABASE`)."""
    return [encode(message) for message in await bus_message_dicts(conn, events)]


async def bus_message_dicts(
    conn: AsyncConnection | None, events: Sequence[Event], viewer_id: int | None = None
) -> list[dict[str, Any]]:
    """The bus messages of committed events, in their order, as dicts; comments as
    ``viewer_id`` sees them (None: anonymous, each receiving instance sets the flag).

    However many comments the events created, they are read in one statement.
    """
    new_comments = {
        event.id: CommentCreated.model_validate(event.data)
        for event in events
        if event.type == CommentCreated.type
    }
    created: dict[int, Comment] = {}
    if new_comments:
        assert conn is not None
        # As an anonymous reader sees them; each receiving instance sets author.following.
        ids = [data.comment_id for data in new_comments.values()]
        created = await comments_repository.get_many(conn, ids, viewer_id)
    built: list[dict[str, Any] | None] = []
    for event in events:
        if event.type == CommentCreated.type:
            built.append(_comment_created(event, new_comments[event.id], created))
        elif event.type == CommentDeleted.type:
            built.append(_comment_deleted(event))
        elif event.type == ArticleUpdated.type:
            built.append(_article_updated(event))
        elif event.type == ArticleDeleted.type:
            built.append(_article_deleted(event))
        elif event.type == NOTIFICATIONS_ADDED:
            built.append({"notificationsOf": str(event.data["sourceEventId"])})
    return [message for message in built if message is not None]
