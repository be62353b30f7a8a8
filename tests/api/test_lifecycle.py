"""The app's lifespan and ``conduit worker`` start and stop their parts through the container.

Both go through ``Container.start(role)`` / ``Container.stop()``: the parts each role runs,
their stop in the reverse order (pools last), and no task of Conduit left behind, even when
a part fails to stop, hangs or fails to start. The parts are the embedded adapters over the
test's SQLite file; a failing one is a real adapter whose close (or start) is made to fail.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from conduit.adapters.local_storage import LocalStorage
from conduit.adapters.memory_bus import MemoryBus
from conduit.adapters.memory_live import MemoryLiveBus
from conduit.bootstrap import Container, Role
from conduit.core import lifecycle
from conduit.core.cache import NoCache
from conduit.core.consumers import Consumer
from conduit.core.db import Database
from conduit.core.live import LiveHandler
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.entrypoints.worker import serve_worker_until_signalled
from conduit.settings import Settings

POOLS = ("database", "storage", "cache")
SERVE_PARTS = (*POOLS, "live-bus", "live-publisher", "access-rules", "events")
WORKER_PARTS = (*POOLS, "live-bus", "live-publisher", "events")
# What runs in the background while the events run: the events task and its own tasks.
EVENT_TASKS = {"events", "relay", "prune-uploads", "consume:notifications"}


def parts_of(role: Role, db: Database) -> tuple[str, ...]:
    """The parts ``role`` starts; on PostgreSQL also the listener of other processes'
    commits (``wakeups``), which the embedded channel of SQLite and MariaDB does without."""
    parts = SERVE_PARTS if role is Role.SERVE else WORKER_PARTS
    if db.dialect != "postgresql":
        return parts
    at = parts.index("live-publisher") + 1
    return (*parts[:at], "wakeups", *parts[at:])


def conduit_tasks(before: set[asyncio.Task[object]]) -> set[str]:
    """The names of the tasks running now that were not running ``before``."""
    return {task.get_name() for task in asyncio.all_tasks() - before if not task.done()}


def pool_of(db: Database) -> object:
    """The write engine's connection pool: disposing the database replaces it."""
    return db.engine.sync_engine.pool


async def test_the_lifespan_starts_the_serve_parts_and_leaves_no_task_behind(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    container = Container(settings=settings, db=db, tokens=tokens)
    app = create_app(container=container)
    before = asyncio.all_tasks()
    pool = pool_of(db)
    async with app.router.lifespan_context(app):
        assert container.lifecycle.started == parts_of(Role.SERVE, db)
        await until(
            lambda: {"access-rules", "live-publisher"} | EVENT_TASKS <= conduit_tasks(before)
        )
    assert container.lifecycle.started == ()
    assert conduit_tasks(before) == set()
    assert pool_of(db) is not pool  # the database is disposed, as the app always did


async def test_the_worker_starts_its_parts_through_the_same_container_until_sigterm(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    container = Container(settings=settings, db=db, tokens=tokens)
    before = asyncio.all_tasks()
    default = signal.getsignal(signal.SIGTERM)
    worker = asyncio.create_task(serve_worker_until_signalled(container))
    await until(lambda: signal.getsignal(signal.SIGTERM) is not default)
    assert container.lifecycle.started == parts_of(Role.WORKER, db)  # no keeper, no sockets
    await until(lambda: {"live-publisher"} | EVENT_TASKS <= conduit_tasks(before))
    assert "access-rules" not in conduit_tasks(before)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(worker, 10)
    assert container.lifecycle.started == ()
    assert conduit_tasks(before) == set()


class Recorded:
    """Which parts were closed, in order."""

    def __init__(self) -> None:
        self.closed: list[str] = []


@pytest.fixture
def record() -> Recorded:
    return Recorded()


@pytest.fixture
def short_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "STOP_TIMEOUT_SECONDS", 0.2)


def storage_failing_to_close(folder: Path, record: Recorded) -> LocalStorage:
    class FailingStorage(LocalStorage):
        async def close(self) -> None:
            record.closed.append("storage")
            raise OSError("the storage would not close")

    return FailingStorage(folder)


def cache_hanging_on_close(record: Recorded) -> NoCache:
    class HangingCache(NoCache):
        async def close(self) -> None:
            record.closed.append("cache")
            await asyncio.Event().wait()

    return HangingCache()


def recorded_live_bus(record: Recorded, *, start_fails: bool = False) -> MemoryLiveBus:
    class RecordedLiveBus(MemoryLiveBus):
        async def start(self, handler: LiveHandler) -> None:
            if start_fails:
                raise ConnectionError("the live bus is unreachable")
            await super().start(handler)

        async def close(self) -> None:
            record.closed.append("live-bus")
            await super().close()

    return RecordedLiveBus()


@pytest.mark.usefixtures("short_stops")
@pytest.mark.parametrize("role", [Role.SERVE, Role.WORKER])
async def test_a_stop_that_fails_or_hangs_does_not_keep_the_others_from_stopping(
    db: Database, settings: Settings, tokens: TokenCodec, record: Recorded, role: Role
) -> None:
    container = Container(
        settings=settings,
        db=db,
        tokens=tokens,
        storage=storage_failing_to_close(settings.data_dir / "media", record),
        cache=cache_hanging_on_close(record),
        live=recorded_live_bus(record),
    )
    before = asyncio.all_tasks()
    pool = pool_of(db)
    await container.start(role)
    assert container.lifecycle.started == parts_of(role, db)

    failed = await asyncio.wait_for(container.stop(), 5)

    assert failed == ["cache", "storage"]  # the cache overran its bound, the storage raised
    assert record.closed == ["live-bus", "cache", "storage"]  # in the reverse order of start
    assert pool_of(db) is not pool  # stopped after both, all the same
    assert container.lifecycle.started == ()
    assert conduit_tasks(before) == set()
    assert await container.stop() == []  # nothing left to stop


async def test_a_part_that_fails_to_start_stops_what_started_before_it(
    db: Database, settings: Settings, tokens: TokenCodec, record: Recorded
) -> None:
    container = Container(
        settings=settings, db=db, tokens=tokens, live=recorded_live_bus(record, start_fails=True)
    )
    before = asyncio.all_tasks()
    pool = pool_of(db)
    with pytest.raises(ConnectionError, match="unreachable"):
        await container.start(Role.SERVE)
    assert record.closed == ["live-bus"]
    assert pool_of(db) is not pool
    assert container.lifecycle.started == ()
    assert conduit_tasks(before) == set()  # the live publisher, started first, was stopped


class BrokenBus(MemoryBus):
    async def consume(self, consumer: Consumer, deliver: object) -> None:
        raise RuntimeError(f"cannot consume for {consumer.name}")


async def test_a_worker_whose_consumer_fails_stops_everything_and_raises(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    container = Container(settings=settings, db=db, tokens=tokens, bus=BrokenBus())
    before = asyncio.all_tasks()
    pool = pool_of(db)
    with pytest.raises(RuntimeError, match=r"cannot consume for (notifications|tags)"):
        await asyncio.wait_for(serve_worker_until_signalled(container), 10)
    assert container.lifecycle.started == ()
    assert conduit_tasks(before) == set()
    assert pool_of(db) is not pool


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "not in time"
        await asyncio.sleep(0.01)
