"""Where a read goes (:class:`conduit.core.replicas.ReplicaSet`), without a database: fake
engines whose connections report a replay position, a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from conduit.adapters.memory_write_positions import MemoryWritePositions
from conduit.core import read_routing
from conduit.core.events import Event
from conduit.core.read_routing import ANONYMOUS, Reader
from conduit.core.replicas import UNKNOWN_POSITION, Replica, ReplicaSet, parse_lsn


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeResult:
    def __init__(self, value: object) -> None:
        self.value = value

    def scalar_one(self) -> object:
        return self.value


class FakeConnection:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.closed = False
        self.autocommit = False

    async def execution_options(self, **options: Any) -> FakeConnection:
        self.autocommit = options.get("isolation_level") == "AUTOCOMMIT"
        return self

    async def exec_driver_sql(self, sql: str) -> FakeResult:
        self.engine.statements.append(sql)
        if self.engine.fails_queries:
            raise ConnectionResetError("connection lost")
        if "replay" in sql:
            return FakeResult(self.engine.replay())
        return FakeResult(self.engine.insert_lsn)

    async def close(self) -> None:
        self.closed = True


class FakeEngine:
    """Hands out connections; ``replay`` says how far it has replayed at each question."""

    def __init__(self, name: str, replay: Callable[[], str | None] = lambda: "0/0") -> None:
        self.name = name
        self.replay = replay
        self.refuses = False
        self.fails_queries = False
        self.insert_lsn = "0/0"
        self.statements: list[str] = []
        self.opened: list[FakeConnection] = []

    async def connect(self) -> FakeConnection:
        if self.refuses:
            raise ConnectionRefusedError(f"{self.name} refuses")
        conn = FakeConnection(self)
        self.opened.append(conn)
        return conn

    async def dispose(self) -> None:
        pass


class FailingPositions:
    def __init__(self) -> None:
        self.asked = 0

    async def last(self, user_id: int) -> int | None:
        self.asked += 1
        raise TimeoutError("redis timed out")

    async def record(self, user_ids: Any, position: int) -> None:
        raise TimeoutError("redis timed out")

    async def close(self) -> None:
        pass


def replica_set(
    *replicas: FakeEngine, positions: Any = None, clock: Clock | None = None
) -> tuple[ReplicaSet, FakeEngine]:
    primary = FakeEngine("primary")
    clock = clock or Clock()
    routing = ReplicaSet(
        primary=primary,  # type: ignore[arg-type]
        replicas=[Replica(name=r.name, engine=r) for r in replicas],  # type: ignore[arg-type]
        positions=positions or MemoryWritePositions(ttl_seconds=60, clock=clock),
        wait_seconds=0.05,
        retry_seconds=5.0,
        memory_seconds=60.0,
        clock=clock,
    )
    return routing, primary


def engine_of(conn: Any) -> str:
    assert conn.autocommit
    name: str = conn.engine.name
    return name


def test_an_lsn_is_read_as_the_byte_position_it_names() -> None:
    assert parse_lsn("0/0") == 0
    assert parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


async def test_background_reads_go_to_the_primary() -> None:
    routing, _ = replica_set(FakeEngine("r1"))
    assert engine_of(await routing.connect(None)) == "primary"
    assert routing.counts.background == 1


async def test_anonymous_reads_take_the_replicas_in_turn_without_a_question() -> None:
    r1, r2 = FakeEngine("r1"), FakeEngine("r2")
    routing, _ = replica_set(r1, r2)
    served = [engine_of(await routing.connect(ANONYMOUS)) for _ in range(4)]
    assert sorted(served) == ["r1", "r1", "r2", "r2"]
    assert served[0] != served[1]
    assert r1.statements == r2.statements == []


async def test_a_user_without_a_recent_write_reads_from_a_replica_at_once() -> None:
    r1 = FakeEngine("r1")
    routing, _ = replica_set(r1)
    assert engine_of(await routing.connect(Reader(user_id=7))) == "r1"
    assert r1.statements == []


async def test_after_a_write_its_author_reads_from_a_replica_that_has_replayed_it() -> None:
    r1 = FakeEngine("r1", replay=lambda: "0/2000")
    routing, primary = replica_set(r1)
    primary.insert_lsn = "0/1000"
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    assert engine_of(await routing.connect(Reader(user_id=7))) == "r1"
    assert len(r1.statements) == 1
    # The replica is known to be past the write: the next read asks nothing.
    assert engine_of(await routing.connect(Reader(user_id=7))) == "r1"
    assert len(r1.statements) == 1


async def test_the_author_waits_for_a_lagging_replica_up_to_the_bound() -> None:
    answers = iter(["0/500", "0/800", "0/1000"])
    r1 = FakeEngine("r1", replay=lambda: next(answers))
    routing, primary = replica_set(r1)
    primary.insert_lsn = "0/1000"
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    assert engine_of(await routing.connect(Reader(user_id=7))) == "r1"
    assert routing.counts.waited == 1
    assert len(r1.statements) == 3


async def test_a_replica_still_behind_after_the_wait_leaves_the_read_to_the_primary() -> None:
    r1 = FakeEngine("r1", replay=lambda: "0/500")
    routing, primary = replica_set(r1)
    primary.insert_lsn = "0/1000"
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    assert engine_of(await routing.connect(Reader(user_id=7))) == "primary"
    assert routing.counts.lagging == 1
    assert all(conn.closed for conn in r1.opened)
    # Someone else (and anyone anonymous) still reads from the replica.
    assert engine_of(await routing.connect(Reader(user_id=8))) == "r1"
    assert engine_of(await routing.connect(ANONYMOUS)) == "r1"


async def test_a_server_that_is_not_in_recovery_is_never_trusted_with_a_users_write() -> None:
    r1 = FakeEngine("r1", replay=lambda: None)  # promoted: pg_last_wal_replay_lsn() is NULL
    routing, primary = replica_set(r1)
    primary.insert_lsn = "0/10"
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    assert engine_of(await routing.connect(Reader(user_id=7))) == "primary"


async def test_the_author_prefers_the_replica_known_to_have_the_write() -> None:
    r1 = FakeEngine("r1", replay=lambda: "0/100")
    r2 = FakeEngine("r2", replay=lambda: "0/5000")
    routing, primary = replica_set(r1, r2)
    primary.insert_lsn = "0/1000"
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    routing.replicas[1].replayed = parse_lsn("0/5000")
    for _ in range(4):
        assert engine_of(await routing.connect(Reader(user_id=7))) == "r2"
    assert r1.statements == []


async def test_a_replica_that_refuses_is_left_out_for_a_while_then_tried_again() -> None:
    clock = Clock()
    r1, r2 = FakeEngine("r1"), FakeEngine("r2")
    routing, _ = replica_set(r1, r2, clock=clock)
    r1.refuses = True
    served = [engine_of(await routing.connect(ANONYMOUS)) for _ in range(6)]
    assert set(served) == {"r2"}
    r2.refuses = True
    assert engine_of(await routing.connect(ANONYMOUS)) == "primary"
    assert routing.counts.unavailable == 1
    r1.refuses = r2.refuses = False
    clock.now += 1
    assert engine_of(await routing.connect(ANONYMOUS)) == "primary"  # both still left out
    clock.now += 5
    assert engine_of(await routing.connect(ANONYMOUS)) in ("r1", "r2")


async def test_a_replica_lost_while_answering_the_question_leaves_the_read_to_the_primary() -> None:
    r1 = FakeEngine("r1")
    routing, primary = replica_set(r1)
    primary.insert_lsn = "0/1000"
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    r1.fails_queries = True
    assert engine_of(await routing.connect(Reader(user_id=7))) == "primary"
    assert routing.replicas[0].left_out_until > 0


async def test_when_positions_cannot_be_looked_up_signed_in_reads_go_to_the_primary() -> None:
    clock = Clock()
    r1 = FakeEngine("r1")
    failing = FailingPositions()
    routing, _ = replica_set(r1, positions=failing, clock=clock)
    assert engine_of(await routing.connect(Reader(user_id=7))) == "primary"
    assert failing.asked == 1
    assert engine_of(await routing.connect(ANONYMOUS)) == "r1"
    # The store is not asked again for a while: no timeout per read while it is away.
    assert engine_of(await routing.connect(Reader(user_id=8))) == "primary"
    assert failing.asked == 1
    assert routing.counts.unknown_position == 2
    assert r1.statements == []
    clock.now += 5
    routing.positions = MemoryWritePositions(ttl_seconds=60, clock=clock)
    assert engine_of(await routing.connect(Reader(user_id=8))) == "r1"


async def test_a_position_this_process_failed_to_store_keeps_its_users_on_the_primary() -> None:
    clock = Clock()
    r1 = FakeEngine("r1", replay=lambda: "0/0")
    positions = MemoryWritePositions(ttl_seconds=60, clock=clock)
    routing, primary = replica_set(r1, positions=positions, clock=clock)
    failing = FailingPositions()
    routing.positions = failing
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    routing.positions = positions
    assert engine_of(await routing.connect(Reader(user_id=8))) == "primary"
    clock.now += 61
    assert engine_of(await routing.connect(Reader(user_id=8))) == "r1"


async def test_a_write_whose_position_cannot_be_read_sends_its_author_to_the_primary() -> None:
    r1 = FakeEngine("r1", replay=lambda: "FFFFFFFF/0")
    routing, primary = replica_set(r1)
    primary.fails_queries = True
    await routing.written(await primary.connect(), {7})  # type: ignore[arg-type]
    assert await routing.positions.last(7) == UNKNOWN_POSITION
    assert engine_of(await routing.connect(Reader(user_id=7))) == "primary"
    assert r1.opened == []  # no replica is asked to wait for an unknown position


async def test_a_write_without_an_author_asks_nothing() -> None:
    routing, primary = replica_set(FakeEngine("r1"))
    await routing.written(await primary.connect(), set())  # type: ignore[arg-type]
    assert primary.statements == []


async def test_positions_keep_the_later_write_and_are_forgotten_after_their_time() -> None:
    clock = Clock()
    positions = MemoryWritePositions(ttl_seconds=10, clock=clock)
    await positions.record({1, 2}, 500)
    await positions.record({1}, 300)  # an earlier write recorded late
    assert await positions.last(1) == 500
    assert await positions.last(2) == 500
    assert await positions.last(3) is None
    clock.now += 9
    await positions.record({1}, 700)
    clock.now += 2
    assert await positions.last(1) == 700
    assert await positions.last(2) is None


def test_the_reader_is_declared_per_context() -> None:
    assert read_routing.current() is None
    token = read_routing.read_as(5)
    try:
        assert read_routing.current() == Reader(user_id=5)
        inner = read_routing.read_as(None)
        assert read_routing.current() is ANONYMOUS
        read_routing.forget(inner)
        assert read_routing.current() == Reader(user_id=5)
    finally:
        read_routing.forget(token)
    assert read_routing.current() is None


@pytest.mark.parametrize("reader", [None, ANONYMOUS, Reader(user_id=1)])
async def test_without_replicas_every_reader_is_served(reader: Reader | None) -> None:
    routing, _ = replica_set()
    assert engine_of(await routing.connect(reader)) == "primary"


async def test_the_replay_position_of_the_replicas_is_the_lowest_of_those_in_service() -> None:
    r1 = FakeEngine("r1", replay=lambda: "0/100")
    r2 = FakeEngine("r2", replay=lambda: "0/50")
    r3 = FakeEngine("r3")
    r3.refuses = True
    promoted = FakeEngine("r4", replay=lambda: None)
    routing, _ = replica_set(r1, r2, r3, promoted)
    assert await routing.replayed_everywhere() == 0x50
    assert routing.replicas[2].left_out_until > 0
    assert routing.replicas[0].replayed == 0x100
    assert all(conn.closed for conn in r1.opened + r2.opened)


async def test_a_commit_with_events_is_watched_only_when_someone_listens() -> None:
    r1 = FakeEngine("r1", replay=lambda: "0/2000")
    routing, primary = replica_set(r1)
    primary.insert_lsn = "0/1000"
    events = [Event(type="ArticleUpdated", data={}, actor_id=None)]
    await routing.written(await primary.connect(), set(), events)  # type: ignore[arg-type]
    assert primary.statements == []
    heard: list[Sequence[Event]] = []

    async def listener(events: Sequence[Event]) -> None:
        heard.append(events)

    routing.on_replayed(listener)
    await routing.written(await primary.connect(), set(), events)  # type: ignore[arg-type]
    assert len(primary.statements) == 1
    for _ in range(200):
        if heard:
            break
        await asyncio.sleep(0.01)
    assert heard == [events]
    await routing.dispose()
