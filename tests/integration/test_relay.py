"""The relay and the embedded bus, on every database: order, marking, at least once, retries,
dead letters and replays, concurrent relays and pruning."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select, update

from conduit.adapters.memory_bus import MemoryBus
from conduit.core.bus import Replayed, delivery, message_id
from conduit.core.db import Database
from conduit.core.dead_letters import list_dead_letters, replay
from conduit.core.engines import create_engine
from conduit.core.errors import Conflict, NotFound
from conduit.core.events import Event
from conduit.core.outbox import dead_letters, outbox, processed_events
from conduit.core.relay import Relay
from conduit.core.tables import utcnow
from conduit.users.events import UserRegistered
from tests.integration.messaging import (
    Recorder,
    consumer,
    eventually,
    outbox_ids,
    processed_count,
)
from tests.integration.support import count_rows


async def emit(db: Database, count: int, *, per_transaction: int = 1) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, per_transaction):
        async with db.uow() as uow:
            for n in range(start, min(count, start + per_transaction)):
                ids.append(uow.emit(UserRegistered(user_id=n, username=f"u{n}"), actor_id=n).id)
            await uow.commit()
    return ids


def subscribed(bus: MemoryBus, name: str, db: Database, recorder: Recorder, **kw: int) -> None:
    wanted = consumer(name, recorder)
    bus.subscribe(wanted, delivery(db, wanted, **kw))


async def test_the_relay_publishes_in_seq_order_and_marks_rows(db: Database) -> None:
    ids = await emit(db, 25, per_transaction=5)
    bus = MemoryBus()
    recorder = Recorder()
    subscribed(bus, "recorder", db, recorder)
    relay = Relay(db, bus, batch_size=10)

    assert await relay.drain() == 25
    assert recorder.applied == ids
    assert await outbox_ids(db, unpublished=True) == []
    assert await relay.drain() == 0  # nothing is published twice


async def test_a_failed_publish_leaves_the_rows_unpublished(db: Database) -> None:
    ids = await emit(db, 3)

    class Down(MemoryBus):
        async def publish(self, events: object) -> None:
            raise ConnectionError("broker is down")

    with pytest.raises(ConnectionError):
        await Relay(db, Down()).publish_batch()
    assert await outbox_ids(db, unpublished=True) == ids


async def test_the_relay_wakes_on_a_local_commit_and_polls_otherwise(db: Database) -> None:
    bus = MemoryBus()
    recorder = Recorder()
    subscribed(bus, "recorder", db, recorder)
    relay = Relay(db, bus, poll_interval=30.0)  # only a wake-up can be this quick
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.2)
        ids = await emit(db, 3)
        await eventually(lambda: _true(len(recorder.applied) == 3), within=5)
        assert recorder.applied == ids
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    other_process = Database(create_engine(str(db.engine.url.render_as_string(False))))
    try:
        polling = Relay(db, bus, poll_interval=0.1)
        task = asyncio.create_task(polling.run())
        await asyncio.sleep(0.2)
        more = await emit(other_process, 2)  # committed elsewhere: no wake-up, the poll finds it
        await eventually(lambda: _true(recorder.applied[3:] == more), within=5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await other_process.dispose()


async def _true(value: bool) -> bool:
    return value


async def test_a_redelivered_event_is_applied_once(db: Database) -> None:
    await emit(db, 4)
    bus = MemoryBus()
    recorder = Recorder()
    subscribed(bus, "recorder", db, recorder)
    await Relay(db, bus).drain()
    # The relay crashed before stamping: every row is published again.
    async with db.engine.begin() as conn:
        await conn.execute(update(outbox).values(published_at=None))
    assert await Relay(db, bus).drain() == 4
    assert len(recorder.applied) == 4
    assert await processed_count(db, "recorder") == 4


async def test_a_failing_consumer_is_retried_until_it_succeeds(db: Database) -> None:
    [event_id] = await emit(db, 1)
    bus = MemoryBus(backoff_cap=0.05)
    recorder = Recorder(failures=2)
    subscribed(bus, "flaky", db, recorder, max_attempts=5)
    await Relay(db, bus).drain()
    assert recorder.calls == 3
    assert recorder.applied == [event_id]
    assert await count_rows(db, dead_letters) == 0


async def test_dead_lettered_after_max_attempts_then_replayed(db: Database) -> None:
    [event_id] = await emit(db, 1)
    bus = MemoryBus(backoff_cap=0.05)
    broken = Recorder(failures=3)
    healthy = Recorder()
    subscribed(bus, "broken", db, broken, max_attempts=3)
    subscribed(bus, "healthy", db, healthy)
    relay = Relay(db, bus)
    await relay.drain()

    assert broken.calls == 3
    assert broken.applied == []
    assert healthy.applied == [event_id]
    [letter] = await list_dead_letters(db)
    assert (letter.consumer, letter.event_id, letter.type) == (
        "broken",
        event_id,
        "user.registered",
    )
    assert letter.attempts == 3
    assert "failure 3 on purpose" in letter.error
    assert letter.replayed_at is None

    # The healthy consumer's record was pruned meanwhile: the replay must not re-apply it.
    async with db.engine.begin() as conn:
        await conn.execute(
            processed_events.delete().where(processed_events.c.consumer == "healthy")
        )
    replayed = await replay(db, letter.id, consumers=["broken", "healthy"])
    assert replayed.id == event_id
    [replay_row] = await outbox_ids(db, unpublished=True)
    assert replay_row != event_id  # a new message id, so that no broker drops it as a duplicate

    await relay.drain()
    assert broken.applied == [event_id]
    assert healthy.applied == [event_id]
    [letter] = await list_dead_letters(db)
    assert letter.replayed_at is not None
    with pytest.raises(Conflict):
        await replay(db, letter.id)
    with pytest.raises(NotFound):
        await replay(db, letter.id + 1000)


async def test_a_replayed_row_is_published_under_its_own_message_id(db: Database) -> None:
    [event_id] = await emit(db, 1)
    bus = MemoryBus(backoff_cap=0.05)
    subscribed(bus, "broken", db, Recorder(failures=1), max_attempts=1)
    await Relay(db, bus).drain()
    [letter] = await list_dead_letters(db)
    await replay(db, letter.id)
    seen: list[Event] = []

    class Watching(MemoryBus):
        async def publish(self, events: object) -> None:
            seen.extend(events)  # type: ignore[call-overload]

    await Relay(db, Watching()).drain()
    [event] = seen
    assert isinstance(event, Replayed)
    assert event.id == event_id
    assert message_id(event) not in ("", event_id)
    assert Event.from_json(event.to_json()).id == event_id  # the envelope keeps the event id


@pytest.mark.server_databases  # SQLite runs one relay (no row locks)
@pytest.mark.parametrize("relays", [2, 3])
async def test_concurrent_relays_never_publish_a_row_twice(
    db: Database, database_url: str, relays: int
) -> None:
    await emit(db, 600, per_transaction=50)
    recorders = [Recorder() for _ in range(relays)]
    databases = [Database(create_engine(database_url, pool_size=3)) for _ in range(relays)]
    try:
        tasks = []
        for n, (recorder, database) in enumerate(zip(recorders, databases, strict=True)):
            bus = MemoryBus()
            subscribed(bus, f"relay-{n}", database, recorder)
            tasks.append(Relay(database, bus, batch_size=20).drain())
        counts = await asyncio.gather(*tasks)
    finally:
        for database in databases:
            await database.dispose()

    delivered = [event_id for recorder in recorders for event_id in recorder.applied]
    assert sum(counts) == 600
    assert len(delivered) == 600
    assert sorted(delivered) == sorted(await outbox_ids(db))
    assert await outbox_ids(db, unpublished=True) == []


async def test_published_rows_and_processed_records_are_pruned_after_the_retention(
    db: Database,
) -> None:
    await emit(db, 3)
    bus = MemoryBus()
    subscribed(bus, "recorder", db, Recorder())
    relay = Relay(db, bus, retention=dt.timedelta(days=7))
    await relay.drain()
    await emit(db, 1)  # unpublished: never pruned
    long_ago = utcnow() - dt.timedelta(days=8)
    async with db.engine.begin() as conn:
        await conn.execute(
            update(outbox).where(outbox.c.published_at.is_not(None)).values(published_at=long_ago)
        )
        await conn.execute(update(processed_events).values(processed_at=long_ago))

    assert await relay.prune() == (3, 3)
    assert len(await outbox_ids(db)) == 1
    assert await relay.prune() == (0, 0)
    async with db.engine.connect() as conn:
        left = (await conn.execute(select(outbox.c.published_at))).scalars().all()
    assert left == [None]
