"""What the metrics read from a process's state and count through the ports: the database
pool (waiting included), the password queue, live-update sockets, and every outcome of the
relay and the consumers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence

import pytest

from conduit.adapters.memory_bus import MemoryBus
from conduit.core.bus import Outcome
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.events import Event
from conduit.core.security import PASSWORD_THREADS, PasswordQueue, password_work
from conduit.observability.metrics.measured import MeasuredBus, measured_delivery
from conduit.observability.metrics.sampler import pool_waiting
from tests.observability.conftest import Conduit, value


async def test_the_pool_gauges_follow_the_connections_in_use(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit(db_pool_size=3)
    db = app.container.db
    size = 1 if db.dialect == "sqlite" else 3  # SQLite: its single writer connection
    async with db.engine.connect():
        samples = await app.scrape()
        assert value(samples, "conduit_db_pool_size", pool="main") == size
        assert value(samples, "conduit_db_pool_checked_out", pool="main") == 1
        assert value(samples, "conduit_db_pool_overflow", pool="main") == 0
        assert value(samples, "conduit_db_pool_waiting", pool="main") == 0
    samples = await app.scrape()
    assert value(samples, "conduit_db_pool_checked_out", pool="main") == 0
    if db.dialect == "sqlite":
        assert value(samples, "conduit_db_pool_size", pool="readers") == 4


async def test_units_of_work_waiting_for_a_connection_are_counted(database_url: str) -> None:
    db = Database(create_engine(database_url, pool_size=1, max_overflow=0))
    try:
        async with db.engine.connect():
            waiters = [asyncio.create_task(_use(db)) for _ in range(2)]
            for _ in range(100):
                if pool_waiting(db.engine) == 2:
                    break
                await asyncio.sleep(0.01)
            assert pool_waiting(db.engine) == 2
        await asyncio.gather(*waiters)
        assert pool_waiting(db.engine) == 0
    finally:
        await db.dispose()


async def _use(db: Database) -> None:
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("SELECT 1")


async def test_password_work_waiting_for_a_thread_is_the_queue_depth(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit()
    release = threading.Event()
    calls = [
        asyncio.create_task(password_work(release.wait, 30)) for _ in range(PASSWORD_THREADS + 2)
    ]
    try:
        for _ in range(100):
            if PasswordQueue.pending == PASSWORD_THREADS + 2:
                break
            await asyncio.sleep(0.01)
        assert value(await app.scrape(), "conduit_password_hash_queue_depth") == 2
    finally:
        release.set()
        await asyncio.gather(*calls)
    assert value(await app.scrape(), "conduit_password_hash_queue_depth") == 0


async def test_live_connections_and_the_messages_sent_to_them(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit()
    assert app.container.metrics is not None
    hub = app.container.lifecycle.live_updates.hub
    app.container.metrics.watch(hub)
    before = await app.scrape()
    first, second = hub.connect(1), hub.connect(2)
    assert first is not None
    assert second is not None
    hub.subscribe(first, "an-article")
    hub.subscribe(second, "an-article")
    await hub.deliver(b'{"article": "an-article", "message": {"type": "article.updated"}}')
    first.send({"type": "pong"})
    samples = await app.scrape()
    assert value(samples, "conduit_websocket_connections") == 2
    sent = "conduit_websocket_messages_sent_total"
    assert value(samples, sent) - value(before, sent) == 3
    hub.disconnect(first)
    assert value(await app.scrape(), "conduit_websocket_connections") == 1


class Refusing(MemoryBus):
    async def publish(self, events: Sequence[Event]) -> None:
        raise ConnectionError("the broker is away")


async def test_the_relay_s_failures_and_every_delivery_outcome_are_counted(
    conduit: Callable[..., Conduit],
) -> None:
    app = conduit()
    before = await app.scrape()
    with pytest.raises(ConnectionError):
        await MeasuredBus(Refusing()).publish([Event(type="test.event", data={})])
    outcomes = iter([Outcome.RETRY, Outcome.RETRY, Outcome.DEAD, Outcome.DONE])

    async def deliver(_event: Event, _attempt: int) -> Outcome:
        return next(outcomes)

    measured = measured_delivery("test-consumer", deliver)
    for attempt in range(1, 5):
        await measured(Event(type="test.event", data={}), attempt)
    after = await app.scrape()

    def counted(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert counted("conduit_relay_publish_failures_total") == 1
    assert counted("conduit_relay_published_events_total") == 0
    labels = {"consumer": "test-consumer"}
    assert counted("conduit_consumer_deliveries_total", **labels) == 4
    assert counted("conduit_consumer_failures_total", **labels) == 3
    assert counted("conduit_consumer_retries_total", **labels) == 2
    assert counted("conduit_consumer_dead_letters_total", **labels) == 1


async def test_the_bus_bootstrap_hands_out_is_measured_and_still_embedded(
    conduit: Callable[..., Conduit],
) -> None:
    container = conduit().container
    assert isinstance(container.bus, MeasuredBus)
    assert container.embedded_bus  # conduit serve still runs the relay and the consumers
