"""The hub: this instance's live connections, their subscriptions, and fan-out.

Framework-free: a :class:`Connection` is a bounded queue of outgoing text frames that the
WebSocket layer drains. The hub never waits on a socket: a message is offered to every
queue it concerns, and a connection whose queue is full (a client that does not read) is
marked :attr:`Connection.dropped` and closed by its WebSocket task; the others are never
slowed down.

Article messages carry their event's id (``eventId``). A connection remembers the ids of
the last :data:`REMEMBERED_IDS` article messages it was sent and never sends one twice, so a
message both replayed on resume (:mod:`conduit.live.resume`) and published live reaches the
client once. While an article's replay is read, that article's live messages are held
(:meth:`Connection.hold`) and sent after the replayed ones (:meth:`Connection.release`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

_log = structlog.get_logger("conduit.live")

# followers_among(author_id, user_ids) -> the user ids that follow the author
FollowersAmong = Callable[[int, Collection[int]], Awaitable[set[int]]]
# notifications_of(source_event_id, user_ids) -> {recipient id: notification as REST shows it}
# for those of user_ids that the event notified (provided by the notifications feature).
NotificationsOf = Callable[[str, Collection[int]], Awaitable[dict[int, dict[str, Any]]]]

# Article messages whose ids a connection remembers, to send none twice.
REMEMBERED_IDS = 2048


@dataclass(eq=False)
class Sent:
    """Messages queued to the sockets of one hub, counted (read by the metrics)."""

    messages: int = 0


@dataclass(eq=False)
class Connection:
    """One authenticated socket: whose it is, what it follows, what waits to be sent."""

    user_id: int
    outbox: asyncio.Queue[str]
    articles: set[str] = field(default_factory=set)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    sent: Sent = field(default_factory=Sent)
    # slug -> live messages (event id, frame) held while that article's replay is read
    held: dict[str, list[tuple[str | None, str]]] = field(default_factory=dict)
    _sent_ids: set[str] = field(default_factory=set)
    _sent_order: deque[str] = field(default_factory=deque)

    def offer(self, text: str) -> bool:
        """Queue a frame; a full queue marks the connection dropped (it is not reading)."""
        if self.dropped.is_set():
            return False
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped.set()
            return False
        self.sent.messages += 1
        return True

    def send(self, message: dict[str, Any]) -> bool:
        return self.offer(orjson.dumps(message).decode())

    def offer_article(self, slug: str, event_id: str | None, text: str) -> bool:
        """Queue an article message unless this connection was sent its event already;
        held instead while the article's replay is being read."""
        held = self.held.get(slug)
        if held is not None:
            held.append((event_id, text))
            return True
        if event_id is not None:
            if event_id in self._sent_ids:
                return True
            self.remember(event_id)
        return self.offer(text)

    def remember(self, event_id: str) -> None:
        self._sent_ids.add(event_id)
        self._sent_order.append(event_id)
        if len(self._sent_order) > REMEMBERED_IDS:
            self._sent_ids.discard(self._sent_order.popleft())

    def was_sent(self, event_id: str) -> bool:
        return event_id in self._sent_ids

    def hold(self, slug: str) -> None:
        """Hold the article's live messages until :meth:`release` (a replay is being read)."""
        self.held.setdefault(slug, [])

    def release(self, slug: str) -> None:
        """Send the held live messages of the article, less those already sent."""
        for event_id, text in self.held.pop(slug, []):
            self.offer_article(slug, event_id, text)

    async def put(self, text: str, wait_seconds: float) -> bool:
        """Queue a frame, waiting up to ``wait_seconds`` for room (a replay, which may be
        longer than the queue); a client that does not read by then is dropped."""
        if self.dropped.is_set():
            return False
        try:
            await asyncio.wait_for(self.outbox.put(text), wait_seconds)
        except TimeoutError:
            self.dropped.set()
            return False
        self.sent.messages += 1
        return True


class Hub:
    def __init__(
        self,
        *,
        followers_among: FollowersAmong,
        notifications_of: NotificationsOf | None = None,
        max_connections_per_user: int = 5,
        max_subscriptions: int = 50,
        queue_size: int = 256,
    ) -> None:
        self._followers_among = followers_among
        self._notifications_of = notifications_of
        self.max_connections_per_user = max_connections_per_user
        self.max_subscriptions = max_subscriptions
        self._queue_size = queue_size
        self._by_user: dict[int, set[Connection]] = {}
        self._by_article: dict[str, set[Connection]] = {}
        self.sent = Sent()

    @property
    def connections(self) -> int:
        return sum(len(found) for found in self._by_user.values())

    def connect(self, user_id: int) -> Connection | None:
        """A new connection for the user, or None when they already have the most allowed."""
        mine = self._by_user.setdefault(user_id, set())
        if len(mine) >= self.max_connections_per_user:
            return None
        connection = Connection(
            user_id=user_id, outbox=asyncio.Queue(maxsize=self._queue_size), sent=self.sent
        )
        mine.add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        for slug in list(connection.articles):
            self.unsubscribe(connection, slug)
        mine = self._by_user.get(connection.user_id)
        if mine is not None:
            mine.discard(connection)
            if not mine:
                del self._by_user[connection.user_id]

    def subscribe(self, connection: Connection, slug: str) -> bool:
        """Follow an article's updates; False when the connection follows too many already."""
        if slug in connection.articles:
            return True
        if len(connection.articles) >= self.max_subscriptions:
            return False
        connection.articles.add(slug)
        self._by_article.setdefault(slug, set()).add(connection)
        return True

    def unsubscribe(self, connection: Connection, slug: str) -> None:
        connection.articles.discard(slug)
        subscribers = self._by_article.get(slug)
        if subscribers is not None:
            subscribers.discard(connection)
            if not subscribers:
                del self._by_article[slug]

    async def deliver(self, raw: bytes) -> None:
        """Route one bus message (see :mod:`conduit.live.messages`) to this instance's sockets."""
        try:
            bus_message = orjson.loads(raw)
            if "notificationsOf" in bus_message:
                await self._notifications(str(bus_message["notificationsOf"]))
                return
            message = bus_message["message"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            _log.warning("live_message_invalid", size=len(raw))
            return
        slug = bus_message.get("article")
        if isinstance(slug, str):
            await self._to_article(slug, bus_message, message)
        users = bus_message.get("users")
        if isinstance(users, list):
            text = orjson.dumps(message).decode()
            for user_id in users:
                for connection in list(self._by_user.get(user_id, ())):
                    connection.offer(text)

    async def _notifications(self, source_event_id: str) -> None:
        """Push the notifications an event created to their recipients connected here.

        The recipients are found in the database (one query, only when someone is connected
        here), so the bus message stays small however many followers an article notifies.
        """
        if self._notifications_of is None or not self._by_user:
            return
        found = await self._notifications_of(source_event_id, list(self._by_user))
        for recipient_id, notification in found.items():
            text = orjson.dumps({"type": "notification", "notification": notification}).decode()
            for connection in list(self._by_user.get(recipient_id, ())):
                connection.offer(text)

    async def _to_article(self, slug: str, bus_message: dict[str, Any], message: Any) -> None:
        subscribers = list(self._by_article.get(slug, ()))
        if not subscribers:
            return
        event_id = message.get("eventId")
        event_id = event_id if isinstance(event_id, str) else None
        texts = await self._texts(bus_message, message, {c.user_id for c in subscribers})
        for connection in subscribers:
            connection.offer_article(slug, event_id, texts(connection.user_id))
        if message.get("type") == "article.deleted":
            for connection in subscribers:
                self.unsubscribe(connection, slug)

    async def _texts(
        self, bus_message: dict[str, Any], message: Any, readers: Collection[int]
    ) -> Callable[[int], str]:
        """The frame of an article message for each reader (by user id).

        A comment's ``author.following`` is from each reader's view: one query for all.
        """
        author_id = bus_message.get("authorId")
        if isinstance(author_id, int) and isinstance(message.get("comment"), dict):
            following = await self._followers_among(author_id, readers)
            by_flag = {}
            for flag in (False, True):
                message["comment"]["author"]["following"] = flag
                by_flag[flag] = orjson.dumps(message).decode()
            return lambda user_id: by_flag[user_id in following]
        text = orjson.dumps(message).decode()
        return lambda _user_id: text
