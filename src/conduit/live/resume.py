"""Resuming an article's live updates after a reconnect: ``subscribe`` with ``since``.

Every article message carries ``eventId`` (its event's id) and ``cursor``. A client that
reconnects sends ``{"type": "subscribe", "article": slug, "since": <last cursor it got>}``
and receives, before any live message, every message of that article committed since, read
from the outbox table (rows are kept ``CONDUIT_EVENT_RETENTION_DAYS``).

What "since" means, and why it is not the outbox ``seq``: on PostgreSQL and MariaDB ``seq``
is handed out when a row is inserted, not when its transaction commits, so a row with a
lower ``seq`` can become visible after a higher one was already pushed; and live pushes
from different instances race each other, so the last message a client got is not proof
that it got everything committed before it. A cursor that meant "everything after this
row" would skip such events for good. The cursor is instead a point in time: the creation
time of its event, which the event id (a UUIDv7) carries. A replay sends every message of
the article whose event was created at most :data:`REPLAY_MARGIN` before that point, in
``seq`` order, and the client drops the ones it has (same ``eventId``). The margin bounds
the time from an event's creation to its commit (one request's transaction: the event is
written at commit), the clock difference between instances, and the time a push takes to
arrive; an event created earlier than that and committed after the cursor's would be
missed, which no request of Conduit's comes near. The read is a range of the outbox's
unique ``event_id`` index (UUIDv7 strings sort by time), so its cost is the rows of the
margin plus those since the cursor, never the whole table.

Duplicates: the connection itself remembers the ids it sent (:mod:`conduit.live.hub`), so
on one socket a message is sent once, replayed or live; across reconnects the client
dedupes by ``eventId``.

Refusals (an ``error`` message with a ``code``, the socket stays open): ``since_expired``
when the cursor is older than the events kept (minus the margin): the client re-reads the
article and its comments through the REST API and subscribes without ``since``;
``since_invalid`` when it is not a cursor Conduit sent; ``replay_too_long`` past
:data:`MAX_REPLAY` messages (re-read through REST too); ``replay_unavailable`` when the
database cannot be read now (try again later).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
import structlog
from sqlalchemy import select

from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.outbox import outbox
from conduit.core.tables import utcnow
from conduit.live.hub import Connection, Hub
from conduit.live.messages import ARTICLE_MESSAGE_TYPES, bus_message_dicts

_log = structlog.get_logger("conduit.live")

REPLAY_MARGIN = dt.timedelta(seconds=30)
MAX_REPLAY = 1000
# How long a replay waits for a client that does not read before dropping it (seconds).
REPLAY_SEND_TIMEOUT = 10.0


class ResumeRefused(Exception):
    """A ``since`` that cannot be honoured; ``code`` is sent to the client with the text."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def cursor_time(cursor: Any) -> dt.datetime:
    """When the cursor's event was created (naive UTC); ResumeRefused when it is not one."""
    try:
        parsed = uuid.UUID(cursor) if isinstance(cursor, str) and len(cursor) == 36 else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.version != 7:
        raise ResumeRefused("since_invalid", "subscribe: since must be a cursor Conduit sent")
    milliseconds = parsed.int >> 80
    return dt.datetime.fromtimestamp(milliseconds / 1000, dt.UTC).replace(tzinfo=None)


def lowest_id(moment: dt.datetime) -> str:
    """The smallest UUIDv7 string of an event created at ``moment`` or later."""
    stamp = f"{int(moment.replace(tzinfo=dt.UTC).timestamp() * 1000):012x}"
    return f"{stamp[:8]}-{stamp[8:]}-0000-0000-000000000000"


def _like(slug: str) -> str:
    """A LIKE pattern for outbox payloads that may name the article (checked after)."""
    quoted = orjson.dumps(slug).decode()
    escaped = quoted.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f'%"slug":{escaped}%'


async def replay(
    db: Database, *, slug: str, since: dt.datetime, retention: dt.timedelta, viewer_id: int
) -> list[dict[str, Any]]:
    """The article's messages, as ``viewer_id`` receives them, whose events were created
    from ``since - REPLAY_MARGIN`` on, in outbox order (three statements in all)."""
    start = since - REPLAY_MARGIN
    if start < utcnow() - retention:
        raise ResumeRefused(
            "since_expired",
            "subscribe: since is older than the events kept; re-read the article through "
            "the REST API and subscribe without since",
        )
    query = (
        select(outbox.c.payload)
        .where(
            outbox.c.event_id >= lowest_id(start),
            outbox.c.type.in_(ARTICLE_MESSAGE_TYPES),
            outbox.c.payload.like(_like(slug), escape="/"),
        )
        .order_by(outbox.c.seq)
        .limit(MAX_REPLAY + 1)
    )
    async with db.reader() as uow:
        payloads = (await uow.conn.execute(query)).scalars().all()
        if len(payloads) > MAX_REPLAY:
            raise ResumeRefused(
                "replay_too_long",
                f"subscribe: over {MAX_REPLAY} messages since then; re-read the article "
                "through the REST API and subscribe without since",
            )
        events = [Event.from_json(payload) for payload in payloads]
        ours = [event for event in events if event.data.get("slug") == slug]
        built = await bus_message_dicts(uow.conn, ours, viewer_id)
    return [bus_message["message"] for bus_message in built]


async def resume(
    hub: Hub,
    db: Database,
    connection: Connection,
    *,
    slug: str,
    since: Any,
    retention: dt.timedelta,
) -> None:
    """Subscribe ``connection`` to the article and send it what it missed since ``since``.

    The article's live messages are held while the replay is read, then sent after it
    (less those it replayed): a message committed meanwhile is sent once, and after the
    replayed ones. Sends ``subscribed`` (with ``replayed``: how many follow) first.
    """
    moment = cursor_time(since)
    connection.hold(slug)
    hub.subscribe(connection, slug)
    try:
        messages = await replay(
            db, slug=slug, since=moment, retention=retention, viewer_id=connection.user_id
        )
    except ResumeRefused:
        connection.held.pop(slug, None)
        hub.unsubscribe(connection, slug)
        raise
    except Exception as exc:
        _log.warning("live_replay_failed", error=repr(exc), article=slug)
        connection.held.pop(slug, None)
        hub.unsubscribe(connection, slug)
        raise ResumeRefused(
            "replay_unavailable", "subscribe: the missed messages cannot be read now; try again"
        ) from exc
    fresh = [message for message in messages if not connection.was_sent(message["eventId"])]
    connection.send({"type": "subscribed", "article": slug, "replayed": len(fresh)})
    for message in fresh:
        connection.remember(message["eventId"])
        if not await connection.put(orjson.dumps(message).decode(), REPLAY_SEND_TIMEOUT):
            break
    connection.release(slug)
