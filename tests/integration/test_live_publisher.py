"""The live publisher under a write load: it keeps up by batching, and a full backlog is
reported once per interval instead of once per dropped commit."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from structlog.testing import capture_logs

from conduit.articles import repository as articles_repository
from conduit.comments import repository as comments_repository
from conduit.comments.events import CommentCreated, CommentDeleted
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.live.publisher import LivePublisher
from tests.integration.support import count_statements, make_user


class GatedBus:
    """A live bus that holds its first publish until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.messages: list[dict[str, Any]] = []

    async def start(self, handler: object) -> None:
        pass

    async def publish(self, message: bytes) -> None:
        await self.gate.wait()
        self.messages.append(orjson.loads(message))

    async def close(self) -> None:
        pass


async def _comments(db: Database, count: int) -> list[Event]:
    """``count`` real comments on one article, and the events their commits emitted."""
    author = await make_user(db, "livewriter")
    async with db.uow() as uow:
        article_id = await articles_repository.add(
            uow.conn,
            slug="live-load",
            title="Live load",
            description="d",
            body="b",
            author_id=author,
        )
        ids = [
            await comments_repository.add(
                uow.conn, article_id=article_id, author_id=author, body=f"comment {n}"
            )
            for n in range(count)
        ]
        await uow.commit()
    return [
        Event.of(
            CommentCreated(
                comment_id=comment_id,
                article_id=article_id,
                slug="live-load",
                article_author_id=author,
                author_id=author,
                body=f"comment {n}",
            ),
            actor_id=author,
        )
        for n, comment_id in enumerate(ids)
    ]


def _sent(bus: GatedBus) -> list[dict[str, Any]]:
    """What the readers receive: the ``message`` of each bus message."""
    return [bus_message["message"] for bus_message in bus.messages]


async def _settled(bus: GatedBus, expected: int) -> None:
    for _ in range(500):
        if len(bus.messages) >= expected:
            return
        await asyncio.sleep(0.01)


async def test_commits_queued_behind_a_slow_bus_are_published_with_one_read(
    db: Database,
) -> None:
    events = await _comments(db, 60)
    bus = GatedBus()
    publisher = LivePublisher(db, bus)
    publisher.start()
    try:
        with count_statements(db) as log:
            await publisher.committed(events[:1])
            await asyncio.sleep(0.05)  # the first round is now waiting on the bus
            for event in events[1:]:
                await publisher.committed([event])  # one commit each, as under load
            bus.gate.set()
            await _settled(bus, len(events))
    finally:
        await publisher.close()

    published = [message["comment"]["body"] for message in _sent(bus)]
    assert published == [f"comment {n}" for n in range(60)]
    reads = [s for s in log.statements if "FROM comments" in s]
    assert len(reads) == 2, log  # the first commit alone, then the 59 queued ones together


async def test_a_comment_deleted_before_publishing_is_skipped_and_the_rest_go_out(
    db: Database,
) -> None:
    events = await _comments(db, 3)
    async with db.uow() as uow:
        await comments_repository.remove(uow.conn, events[1].data["commentId"])
        await uow.commit()
    deleted = Event.of(
        CommentDeleted(
            comment_id=events[1].data["commentId"],
            article_id=events[1].data["articleId"],
            slug="live-load",
            author_id=events[1].data["authorId"],
        ),
        actor_id=None,
    )
    bus = GatedBus()
    bus.gate.set()
    publisher = LivePublisher(db, bus)
    publisher.start()
    try:
        await publisher.committed([*events, deleted])
        await _settled(bus, 3)
    finally:
        await publisher.close()
    kinds = [(m["type"], m.get("comment", {}).get("body")) for m in _sent(bus)]
    assert kinds == [
        ("comment.created", "comment 0"),
        ("comment.created", "comment 2"),
        ("comment.deleted", None),
    ]


async def test_a_full_backlog_is_logged_once_per_interval_with_the_count_dropped(
    db: Database,
) -> None:
    events = await _comments(db, 12)
    bus = GatedBus()
    publisher = LivePublisher(db, bus, backlog=2)
    publisher.start()
    with capture_logs() as logs:
        try:
            await publisher.committed(events[:1])
            await asyncio.sleep(0.05)  # taken off the queue, waiting on the bus
            for event in events[1:]:
                await publisher.committed([event])
            bus.gate.set()
            await _settled(bus, 3)
        finally:
            await publisher.close()
    warnings = [entry["dropped"] for entry in logs if entry["event"] == "live_backlog_full"]
    # The first drop at once, the other eight in one line (here: on close, within 10 s).
    assert warnings == [1, 8]
    assert len(bus.messages) == 3  # the one in flight and the two the backlog held
