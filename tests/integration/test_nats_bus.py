"""The NATS JetStream bus against a real ``nats-server -js`` of the test's own, on every database.

Round trip through ``delivery(db, consumer)``, broker-side de-duplication by ``Nats-Msg-Id``,
retry with backoff, dead-lettering at ``max_deliver``, a message that is not an envelope,
competing workers on one durable, and the broker going away and coming back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from sqlalchemy import select

from conduit.adapters.nats import MESSAGE_ID_HEADER, NatsBus, subject_for
from conduit.core.bus import Deliver, Outcome, backoff_seconds, delivery
from conduit.core.consumers import Consumer
from conduit.core.db import Database, UnitOfWork
from conduit.core.events import Event
from conduit.core.outbox import dead_letters, processed_events
from tests.integration.nats_server import NatsServer
from tests.integration.support import count_rows, fetch_all

WANTED = "article.created"


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[NatsBus]:
    bus = NatsBus(nats_server.url, max_attempts=3)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


def event(event_type: str = WANTED, n: int = 1) -> Event:
    return Event(type=event_type, data={"articleId": n, "slug": f"a-{n}"}, actor_id=1)


class Recorder:
    """A consumer whose handler fails ``failures`` times per event, then records it."""

    def __init__(self, name: str = "recorder", failures: int = 0, pause: float = 0.0) -> None:
        self.failures = failures
        self.pause = pause
        self.failed: dict[str, int] = {}
        self.handled: list[str] = []
        self.consumer = Consumer(name=name, types=frozenset({WANTED}), handle=self.handle)

    async def handle(self, _uow: UnitOfWork, evt: Event) -> None:
        if self.pause:
            await asyncio.sleep(self.pause)
        if self.failed.get(evt.id, 0) < self.failures:
            self.failed[evt.id] = self.failed.get(evt.id, 0) + 1
            raise RuntimeError(f"handler failure {self.failed[evt.id]}")
        self.handled.append(evt.id)


class Deliveries:
    """Wraps ``deliver`` to see every delivery the bus makes: (event id, attempt, time)."""

    def __init__(self, deliver: Deliver) -> None:
        self.inner = deliver
        self.seen: list[tuple[str, int, float]] = []

    async def __call__(self, evt: Event, attempt: int) -> Outcome:
        self.seen.append((evt.id, attempt, time.monotonic()))
        return await self.inner(evt, attempt)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def processed(db: Database, consumer: str) -> int:
    return await count_rows(db, processed_events, processed_events.c.consumer == consumer)


async def test_round_trip_through_delivery(db: Database, bus: NatsBus) -> None:
    recorder = Recorder()
    deliveries = Deliveries(delivery(db, recorder.consumer, max_attempts=3))
    task = asyncio.create_task(bus.consume(recorder.consumer, deliveries))
    wanted = [event(n=i) for i in range(3)]
    other = event("user.registered")
    await bus.publish([*wanted, other])
    try:
        await eventually(lambda: _equals(processed(db, "recorder"), 3))
        await asyncio.sleep(0.3)
    finally:
        await stop(task)

    assert sorted(recorder.handled) == sorted(e.id for e in wanted)
    # A type the consumer does not want is acknowledged without reaching the database.
    assert other.id not in {seen[0] for seen in deliveries.seen}
    assert await processed(db, "recorder") == 3
    nc = await nats.connect(bus.url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("CONDUIT")
        assert info.config.subjects == ["conduit.events.>"]
        assert info.state.messages == 4
        stored = await js.get_msg("CONDUIT", 1)
        assert stored.subject == subject_for(WANTED) == "conduit.events.article.created"
        assert stored.headers is not None
        assert stored.headers[MESSAGE_ID_HEADER] == wanted[0].id
        assert Event.from_json(stored.data or b"").envelope() == wanted[0].envelope()
        consumer = await js.consumer_info("CONDUIT", "recorder")
        assert consumer.config.max_deliver == 4  # one spare delivery, see the adapter
        assert consumer.num_ack_pending == 0
        assert consumer.num_pending == 0
    finally:
        await nc.close()


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_start_is_idempotent(bus: NatsBus) -> None:
    await bus.start()
    again = NatsBus(bus.url, duplicate_window_seconds=300)
    await again.start()  # updates the existing stream
    await again.close()
    nc = await nats.connect(bus.url)
    try:
        info = await nc.jetstream().stream_info("CONDUIT")
        assert info.config.duplicate_window == 300
    finally:
        await nc.close()


async def test_same_event_published_twice_is_stored_and_delivered_once(
    db: Database, bus: NatsBus
) -> None:
    recorder = Recorder()
    deliveries = Deliveries(delivery(db, recorder.consumer, max_attempts=3))
    first = event()
    await bus.publish([first])
    await bus.publish([first])  # a relay that crashed before marking its row as sent
    task = asyncio.create_task(bus.consume(recorder.consumer, deliveries))
    try:
        await eventually(lambda: _equals(processed(db, "recorder"), 1))
        await asyncio.sleep(1.0)  # time for a second copy to arrive, if there were one
        assert [seen[0] for seen in deliveries.seen] == [first.id]

        # A replay carries its own message id, so the broker does not drop it.
        await bus.publish([first], message_ids={first.id: f"{first.id}.replay.1"})
        await eventually(lambda: _length(deliveries.seen, 2))
    finally:
        await stop(task)
    assert recorder.handled == [first.id]  # the replay found it applied already


async def _length(items: list[tuple[str, int, float]], expected: int) -> bool:
    return len(items) == expected


async def test_failure_is_retried_with_backoff_then_applied(db: Database, bus: NatsBus) -> None:
    recorder = Recorder(failures=2)
    deliveries = Deliveries(delivery(db, recorder.consumer, max_attempts=3))
    task = asyncio.create_task(bus.consume(recorder.consumer, deliveries))
    one = event()
    await bus.publish([one])
    try:
        await eventually(lambda: _equals(processed(db, "recorder"), 1))
    finally:
        await stop(task)

    assert [(eid, attempt) for eid, attempt, _ in deliveries.seen] == [
        (one.id, 1),
        (one.id, 2),
        (one.id, 3),
    ]
    gaps = [b[2] - a[2] for a, b in zip(deliveries.seen, deliveries.seen[1:], strict=False)]
    for attempt, gap in enumerate(gaps, start=1):
        assert gap >= backoff_seconds(attempt) * 0.9, (attempt, gap)
    assert recorder.handled == [one.id]
    assert await count_rows(db, dead_letters) == 0


async def test_last_failure_lands_in_dead_letters(db: Database, bus: NatsBus) -> None:
    recorder = Recorder(failures=10)
    deliveries = Deliveries(delivery(db, recorder.consumer, max_attempts=3))
    task = asyncio.create_task(bus.consume(recorder.consumer, deliveries))
    doomed = event()
    await bus.publish([doomed])
    try:
        await eventually(lambda: _equals(count_rows(db, dead_letters), 1))
        await asyncio.sleep(backoff_seconds(3) * 2)  # no fourth delivery
    finally:
        await stop(task)

    assert [attempt for _, attempt, _ in deliveries.seen] == [1, 2, 3]
    rows = await fetch_all(db, select(dead_letters))
    assert len(rows) == 1
    row = rows[0]
    assert (row.consumer, row.event_id, row.type, row.attempts) == (
        "recorder",
        doomed.id,
        WANTED,
        3,
    )
    assert "handler failure 3" in row.error
    assert Event.from_json(row.payload).envelope() == doomed.envelope()
    assert recorder.handled == []
    assert await processed(db, "recorder") == 0
    nc = await nats.connect(bus.url)
    try:
        info = await nc.jetstream().consumer_info("CONDUIT", "recorder")
        assert info.num_ack_pending == 0  # acknowledged: JetStream will not try again
    finally:
        await nc.close()


async def test_message_that_is_not_an_envelope_is_terminated(db: Database, bus: NatsBus) -> None:
    recorder = Recorder()
    deliveries = Deliveries(delivery(db, recorder.consumer, max_attempts=3))
    task = asyncio.create_task(bus.consume(recorder.consumer, deliveries))
    nc = await nats.connect(bus.url)
    try:
        js = nc.jetstream()
        await js.publish(subject_for(WANTED), b"not json")
        await js.publish(subject_for(WANTED), b'{"type": "article.created"}')
        good = event()
        await bus.publish([good])
        await eventually(lambda: _equals(processed(db, "recorder"), 1))
        await asyncio.sleep(1.0)
        info = await js.consumer_info("CONDUIT", "recorder")
        assert info.num_ack_pending == 0
        assert info.num_redelivered == 0
    finally:
        await nc.close()
        await stop(task)
    assert [seen[0] for seen in deliveries.seen] == [good.id]


async def test_workers_on_one_durable_share_the_work(db: Database, nats_server: NatsServer) -> None:
    buses = [NatsBus(nats_server.url, max_attempts=3, fetch_batch=1) for _ in range(2)]
    recorder = Recorder(pause=0.01)
    per_bus = [Deliveries(delivery(db, recorder.consumer, max_attempts=3)) for _ in buses]
    for each in buses:
        await each.start()
    tasks = [
        asyncio.create_task(each.consume(recorder.consumer, seen))
        for each, seen in zip(buses, per_bus, strict=True)
    ]
    events = [event(n=i) for i in range(40)]
    try:
        await buses[0].publish(events)
        await eventually(lambda: _equals(processed(db, "recorder"), 40), within=30)
        await asyncio.sleep(0.5)
    finally:
        await stop(*tasks)
        for each in buses:
            await each.close()

    assert sorted(recorder.handled) == sorted(e.id for e in events)  # each applied once
    delivered = [[seen[0] for seen in d.seen] for d in per_bus]
    assert all(delivered), [len(ids) for ids in delivered]  # both workers got some
    assert sorted(delivered[0] + delivered[1]) == sorted(e.id for e in events)


async def test_broker_down_publish_raises_and_work_resumes_after_restart(
    db: Database, nats_server: NatsServer
) -> None:
    bus = NatsBus(nats_server.url, publish_timeout_seconds=1.0)
    await bus.start()
    recorder = Recorder()
    task = asyncio.create_task(
        bus.consume(recorder.consumer, delivery(db, recorder.consumer, max_attempts=5))
    )
    before, during, after = event(n=1), event(n=2), event(n=3)
    try:
        await bus.publish([before])
        await eventually(lambda: _equals(processed(db, "recorder"), 1))

        nats_server.stop()
        with pytest.raises(Exception):  # noqa: PT011 - timeout or connection error
            await bus.publish([during])

        nats_server.start()  # same port, same store: the stream and the durable survive

        async def published() -> bool:  # what the relay does: try again until confirmed
            try:
                await bus.publish([during])
            except Exception:
                return False
            return True

        await eventually(published, within=30)
        await bus.publish([after])
        await eventually(lambda: _equals(processed(db, "recorder"), 3), within=30)
    finally:
        await stop(task)
        await bus.close()
    assert sorted(recorder.handled) == sorted([before.id, during.id, after.id])


async def test_last_attempt_cut_short_still_ends_in_dead_letters(
    db: Database, nats_server: NatsServer
) -> None:
    """A worker that dies during the last attempt: JetStream's spare delivery lets the next
    worker dead-letter the event instead of JetStream dropping it silently."""
    started_last = asyncio.Event()

    async def handle(_uow: UnitOfWork, evt: Event) -> None:
        if len(deliveries.seen) == 3:  # the last attempt hangs until its worker dies
            started_last.set()
            await asyncio.Event().wait()
        raise RuntimeError("handler failure")

    consumer = Consumer(name="recorder", types=frozenset({WANTED}), handle=handle)
    deliveries = Deliveries(delivery(db, consumer, max_attempts=3))
    dying = NatsBus(nats_server.url, max_attempts=3, ack_wait_seconds=1.0)
    task = asyncio.create_task(dying.consume(consumer, deliveries))
    doomed = event()
    await dying.publish([doomed])
    try:
        await asyncio.wait_for(started_last.wait(), 15)
    finally:
        await stop(task)  # the worker dies without settling the message
        await dying.close()

    successor = NatsBus(nats_server.url, max_attempts=3, ack_wait_seconds=1.0)
    task = asyncio.create_task(successor.consume(consumer, deliveries))
    try:
        await eventually(lambda: _equals(count_rows(db, dead_letters), 1))
    finally:
        await stop(task)
        await successor.close()
    assert [attempt for _, attempt, _ in deliveries.seen] == [1, 2, 3, 4]
    rows = await fetch_all(db, select(dead_letters.c.event_id, dead_letters.c.attempts))
    assert [(row.event_id, row.attempts) for row in rows] == [(doomed.id, 4)]
