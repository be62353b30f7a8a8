"""RabbitMQ (a vhost of its own) with the relay and the worker, on every database.

Delivery counts are taken from the raw messages, so a duplicate publish would show; the
consumers' idempotency is checked through ``processed_events``. The broker outage test
stops the RabbitMQ application (``rabbitmqctl stop_app``) and always starts it again.
"""

from __future__ import annotations

import asyncio
import uuid

import aio_pika
import pytest
from sqlalchemy import select

from conduit.adapters.rabbitmq import RabbitMqBus, queue_name
from conduit.articles import service as articles
from conduit.bootstrap import Container
from conduit.core.bus import Outcome, delivery
from conduit.core.consumers import Consumer
from conduit.core.db import Database
from conduit.core.dead_letters import list_dead_letters, replay
from conduit.core.engines import create_engine
from conduit.core.events import Event
from conduit.core.outbox import outbox
from conduit.core.principal import Principal
from conduit.core.relay import Relay
from conduit.core.security import TokenCodec
from conduit.settings import Settings
from tests.integration.messaging import (
    Recorder,
    consumer,
    eventually,
    outbox_ids,
    processed_count,
    rabbit_url,
    rabbitmqctl,
)
from tests.integration.support import make_user
from tests.integration.test_relay import emit

__all__ = ["rabbit_url"]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


class RawDeliveries:
    """A ``deliver`` that only counts the messages a queue hands out."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, event: Event, attempt: int) -> Outcome:
        self.ids.append(event.id)
        return Outcome.DONE


async def consuming(bus: RabbitMqBus, wanted: Consumer, deliver: object) -> asyncio.Task[None]:
    task = asyncio.create_task(bus.consume(wanted, deliver))  # type: ignore[arg-type]
    await _until_consumed(bus.url, queue_name(wanted), task)
    return task


async def _until_consumed(url: str, queue: str, task: asyncio.Task[None]) -> None:
    """Until the broker has ``queue`` (declared and bound by ``consume``) with a consumer."""
    deadline = asyncio.get_running_loop().time() + 15
    async with await aio_pika.connect(url, timeout=5) as connection:
        while True:
            assert not task.done(), task
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(queue, passive=True)
                if declared.declaration_result.consumer_count:
                    return
            except aio_pika.exceptions.ChannelClosed:  # not declared yet (404)
                pass
            finally:
                if not channel.is_closed:
                    await channel.close()
            assert asyncio.get_running_loop().time() < deadline, f"no consumer on {queue}"
            await asyncio.sleep(0.02)


async def stop(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_relay_publishes_to_rabbitmq_in_order_and_marks_rows(
    db: Database, rabbit_url: str
) -> None:
    recorder = Recorder()
    wanted = consumer(unique("ordered"), recorder)
    bus = RabbitMqBus(rabbit_url, consumers=[wanted])
    ids = await emit(db, 30, per_transaction=7)
    await bus.start()  # declares the consumer's queue before anything is published
    assert await Relay(db, bus, batch_size=8).drain() == 30
    assert await outbox_ids(db, unpublished=True) == []
    task = await consuming(bus, wanted, delivery(db, wanted))
    try:
        await eventually(lambda: _at_least(recorder.applied, 30))
        assert recorder.applied == ids
    finally:
        await stop(task)
        await bus.close()


async def _at_least(items: list[str], count: int) -> bool:
    return len(items) >= count


@pytest.mark.server_databases  # SQLite runs one relay (no row locks)
async def test_two_relays_on_rabbitmq_publish_each_row_once(
    db: Database, database_url: str, rabbit_url: str
) -> None:
    raw = RawDeliveries()
    wanted = consumer(unique("counted"), Recorder())
    buses = [RabbitMqBus(rabbit_url, consumers=[wanted]) for _ in range(2)]
    databases = [Database(create_engine(database_url, pool_size=2)) for _ in range(2)]
    ids = await emit(db, 400, per_transaction=40)
    task = await consuming(buses[0], wanted, raw)
    try:
        counts = await asyncio.gather(
            *(
                Relay(database, bus, batch_size=25).drain()
                for database, bus in zip(databases, buses, strict=True)
            )
        )
        assert sum(counts) == 400
        await eventually(lambda: _at_least(raw.ids, 400))
        await asyncio.sleep(0.5)  # a duplicate would arrive meanwhile
        assert sorted(raw.ids) == sorted(ids)
    finally:
        await stop(task)
        for bus in buses:
            await bus.close()
        for database in databases:
            await database.dispose()


async def test_same_message_delivered_twice_is_applied_once(db: Database, rabbit_url: str) -> None:
    recorder = Recorder()
    wanted = consumer(unique("idempotent"), recorder)
    bus = RabbitMqBus(rabbit_url, consumers=[wanted])
    ids = await emit(db, 5)
    events = [Event.from_json(e) for e in await _payloads(db)]
    await bus.publish(events)
    await bus.publish(events)  # a relay that crashed before stamping publishes again
    raw_and_apply = delivery(db, wanted)
    task = await consuming(bus, wanted, raw_and_apply)
    try:
        await eventually(lambda: _processed(db, wanted.name, 5))
        await asyncio.sleep(0.5)
        assert recorder.applied == ids
    finally:
        await stop(task)
        await bus.close()


async def _processed(db: Database, name: str, count: int) -> bool:
    return await processed_count(db, name) >= count


async def _payloads(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(select(outbox.c.payload).order_by(outbox.c.seq))).scalars())


async def test_retried_with_backoff_then_dead_lettered_and_replayed(
    db: Database, rabbit_url: str
) -> None:
    flaky = Recorder(failures=2)
    broken = Recorder(failures=3)
    flaky_consumer = consumer(unique("flaky"), flaky)
    broken_consumer = consumer(unique("broken"), broken)
    bus = RabbitMqBus(rabbit_url, consumers=[flaky_consumer, broken_consumer], backoff_cap=0.1)
    [event_id] = await emit(db, 1)
    await Relay(db, bus).drain()
    tasks = [
        await consuming(bus, flaky_consumer, delivery(db, flaky_consumer, max_attempts=5)),
        await consuming(bus, broken_consumer, delivery(db, broken_consumer, max_attempts=3)),
    ]
    try:
        await eventually(lambda: _processed(db, flaky_consumer.name, 1))
        assert flaky.calls == 3  # x-delivery-count numbered the attempts
        assert flaky.applied == [event_id]
        await eventually(lambda: _dead(db))
        [letter] = await list_dead_letters(db)
        assert (letter.consumer, letter.event_id, letter.attempts) == (
            broken_consumer.name,
            event_id,
            3,
        )
        assert broken.calls == 3

        await replay(db, letter.id, consumers=[flaky_consumer.name, broken_consumer.name])
        await Relay(db, bus).drain()
        await eventually(lambda: _applied(broken, 1))
        assert broken.applied == [event_id]
        await asyncio.sleep(0.5)
        assert flaky.applied == [event_id]  # the other consumer skipped the replay
    finally:
        await stop(*tasks)
        await bus.close()


async def _dead(db: Database) -> bool:
    return bool(await list_dead_letters(db))


async def _applied(recorder: Recorder, count: int) -> bool:
    return len(recorder.applied) >= count


@pytest.mark.faults  # stops the machine's RabbitMQ: never beside other tests that use it
async def test_broker_down_while_200_writes_go_through(
    db: Database, settings: Settings, tokens: TokenCodec, rabbit_url: str
) -> None:
    """Issue 7 section 6: every write succeeds; once RabbitMQ is back all 200 events arrive,
    none applied twice."""
    from conduit.bootstrap.lifecycle import run_worker

    recorder = Recorder()
    wanted = consumer(unique("outage"), recorder)
    bus = RabbitMqBus(rabbit_url, consumers=[wanted], backoff_cap=0.2)
    container = Container(
        settings=replace_settings(settings, broker_url=rabbit_url, relay_poll_interval_seconds=0.2),
        db=db,
        tokens=tokens,
        bus=bus,
        consumers=(wanted,),
    )
    author = await make_user(db, "writer")
    await bus.start()
    worker = asyncio.create_task(run_worker(container))
    try:
        await asyncio.sleep(0.5)
        rabbitmqctl("stop_app")
        try:
            slugs = []
            for n in range(200):
                article = await articles.create(
                    db,
                    actor=Principal(id=author),
                    title=f"Outage {n}",
                    description="d",
                    body="b",
                    tag_list=[],
                )
                slugs.append(article.slug)
            assert len(slugs) == 200
            assert len(await outbox_ids(db, unpublished=True)) == 200
        finally:
            rabbitmqctl("start_app")
            rabbitmqctl("await_startup")
        await eventually(lambda: _processed(db, wanted.name, 200), within=120)
        await asyncio.sleep(0.5)
        assert sorted(recorder.applied) == sorted(await outbox_ids(db))
        assert len(recorder.applied) == 200
        assert await outbox_ids(db, unpublished=True) == []
    finally:
        await stop(worker)


def replace_settings(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)
