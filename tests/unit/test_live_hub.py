"""The live hub's routing, caps and slow-reader handling (no sockets, no database)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson

from conduit.core.events import Event
from conduit.live.hub import Connection, Hub
from conduit.live.messages import NOTIFICATIONS_ADDED, bus_messages


async def _nobody_follows(_author: int, _readers: Collection[int]) -> set[int]:
    return set()


def _drain(connection: Connection) -> list[dict[str, Any]]:
    frames = []
    while not connection.outbox.empty():
        frames.append(orjson.loads(connection.outbox.get_nowait()))
    return frames


async def test_notifications_go_to_their_recipients_only() -> None:
    asked: list[tuple[str, list[int]]] = []

    async def notifications_of(event_id: str, users: Collection[int]) -> dict[int, dict[str, Any]]:
        asked.append((event_id, sorted(users)))
        return {2: {"id": 10, "type": "follow"}}

    hub = Hub(followers_among=_nobody_follows, notifications_of=notifications_of)
    one, two, two_again = hub.connect(1), hub.connect(2), hub.connect(2)
    assert one
    assert two
    assert two_again
    await hub.deliver(orjson.dumps({"notificationsOf": "evt"}))
    assert asked == [("evt", [1, 2])]  # asked once, for the users connected here
    pushed = {"type": "notification", "notification": {"id": 10, "type": "follow"}}
    assert _drain(two) == [pushed]
    assert _drain(two_again) == [pushed]
    assert _drain(one) == []


async def test_no_query_when_nobody_is_connected() -> None:
    async def notifications_of(_event: str, _users: Collection[int]) -> dict[int, dict[str, Any]]:
        raise AssertionError("no query without connections")

    hub = Hub(followers_among=_nobody_follows, notifications_of=notifications_of)
    await hub.deliver(orjson.dumps({"notificationsOf": "evt"}))


async def test_a_full_queue_drops_that_connection_only() -> None:
    hub = Hub(followers_among=_nobody_follows, queue_size=2)
    slow, fast = hub.connect(1), hub.connect(2)
    assert slow
    assert fast
    hub.subscribe(slow, "a")
    hub.subscribe(fast, "a")
    for n in range(3):
        message = {"type": "comment.deleted", "article": "a", "id": n}
        await hub.deliver(orjson.dumps({"article": "a", "message": message}))
        assert len(_drain(fast)) == 1
    assert slow.dropped.is_set()
    assert not fast.dropped.is_set()


async def test_caps_and_article_deleted_ends_subscriptions() -> None:
    hub = Hub(followers_among=_nobody_follows, max_connections_per_user=1, max_subscriptions=1)
    connection = hub.connect(1)
    assert connection is not None
    assert hub.connect(1) is None
    assert hub.subscribe(connection, "a")
    assert not hub.subscribe(connection, "b")
    message = {"type": "article.deleted", "article": "a"}
    await hub.deliver(orjson.dumps({"article": "a", "message": message}))
    assert _drain(connection) == [message]
    assert connection.articles == set()
    hub.disconnect(connection)
    assert hub.connections == 0
    assert hub.connect(1) is not None


async def test_invalid_bus_messages_are_ignored() -> None:
    hub = Hub(followers_among=_nobody_follows)
    connection = hub.connect(1)
    assert connection is not None
    for raw in (b"not json", b"[]", b"{}", b'{"article": "a"}'):
        await hub.deliver(raw)
    assert _drain(connection) == []


async def test_notifications_added_becomes_a_notifications_of_message() -> None:
    event = Event(type=NOTIFICATIONS_ADDED, data={"sourceEventId": "evt-1"}, actor_id=None)
    assert [orjson.loads(raw) for raw in await bus_messages(None, [event])] == [
        {"notificationsOf": "evt-1"}
    ]
