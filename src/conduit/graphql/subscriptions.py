"""Subscription: live updates over ``graphql-transport-ws``, fed by the same hub as
``/api/ws`` (:mod:`conduit.live.hub`): each subscription is one hub connection of the
signed-in user, so the per-user connection cap, the slow-reader cut-off and the fan-out
across instances (the live bus) are the ones REST's WebSocket has."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import strawberry

from conduit.articles.exceptions import ArticleNotFound
from conduit.comments.events import CommentCreated
from conduit.core.errors import ConduitError
from conduit.graphql.types import Comment, Info, Notification
from conduit.live import service as live
from conduit.live.hub import Connection, Hub

_ARTICLE_DELETED = "article.deleted"
_NOTIFICATION = "notification"


class TooManySubscriptions(ConduitError):
    status = 429
    code = "too_many_subscriptions"


class TooSlow(ConduitError):
    status = 429
    code = "too_slow"


def _connect(hub: Hub, user_id: int) -> Connection:
    connection = hub.connect(user_id)
    if connection is None:
        raise TooManySubscriptions(
            "subscriptions", f"at most {hub.max_connections_per_user} per user"
        )
    return connection


async def _messages(connection: Connection) -> AsyncGenerator[dict[str, Any], None]:
    """The messages the hub queues for a connection, until it is dropped for not reading."""
    dropped = asyncio.ensure_future(connection.dropped.wait())
    try:
        while True:
            queued = asyncio.ensure_future(connection.outbox.get())
            await asyncio.wait({queued, dropped}, return_when=asyncio.FIRST_COMPLETED)
            if not queued.done():
                queued.cancel()
                raise TooSlow("subscription", "is not read fast enough")
            message = orjson.loads(queued.result())
            if isinstance(message, dict):
                yield message
    finally:
        dropped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dropped


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Comments added to an article, as `comments` lists them to the caller; "
        "ends when the article is deleted. Needs a signed-in user."
    )
    async def comment_added(self, info: Info, slug: str) -> AsyncGenerator[Comment, None]:
        context = info.context
        user = context.require_user()
        if not 0 < len(slug) <= live.MAX_SLUG_LENGTH or not await live.article_exists(
            context.db, slug=slug
        ):
            raise ArticleNotFound()
        connection = _connect(context.hub, user.id)
        try:
            context.hub.subscribe(connection, slug)
            async for message in _messages(connection):
                kind, article = message.get("type"), message.get("article")
                if article != slug:
                    continue
                if kind == CommentCreated.type:
                    yield Comment.from_json(message["comment"])
                elif kind == _ARTICLE_DELETED:
                    return
        finally:
            context.hub.disconnect(connection)

    @strawberry.subscription(
        description="The caller's new notifications, as REST lists them. Needs a signed-in user."
    )
    async def notifications(self, info: Info) -> AsyncGenerator[Notification, None]:
        context = info.context
        user = context.require_user()
        connection = _connect(context.hub, user.id)
        try:
            async for message in _messages(connection):
                if message.get("type") == _NOTIFICATION:
                    yield Notification.from_json(message["notification"])
        finally:
            context.hub.disconnect(connection)
