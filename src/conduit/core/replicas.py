"""PostgreSQL read replicas, without a user ever reading a state older than their own write.

A :class:`ReplicaSet` hands out the connections of read-only units of work
(``db.reader()``); writes never come here. Where a read goes depends on who it is for
(:mod:`conduit.core.read_routing`):

- **Nobody declared** (background tasks, the CLI, the worker): the primary.
- **Anonymous**: the next replica in turn, at once.
- **A signed-in user**: the user's last write position (an LSN, kept in
  :class:`WritePositions` for ``CONDUIT_DATABASE_REPLICA_WRITE_MEMORY_SECONDS``) is looked up.
  None: a replica at once. Otherwise a replica that has replayed it: one this process has
  already seen at or past it costs nothing more; another is asked
  ``pg_last_wal_replay_lsn()`` until it has, for at most ``wait_seconds``; then the primary.

**The position of a write** is ``pg_current_wal_insert_lsn()`` read on the writer's
connection *after* its COMMIT returned. WAL is replayed in order, so a replica whose replay
position is at or past it has replayed the commit record, and the write is visible there.
Reading it inside the transaction, before COMMIT, would name a point before the commit
record (a replica could stand exactly there without showing the write), and
``pg_current_wal_lsn()`` (the written-out position) can be behind the commit record with
``synchronous_commit = off``. The insert position never is. One round trip per write that
has an author, only when replicas are configured.

**A replica that fails** to give a connection (down, refusing, too many clients) is left
out for ``retry_seconds``; its reads go to the other replicas, or to the primary. Its pooled
connections closed by the server are thrown away at checkout (``create_replica_engine``),
so a stopped replica costs no failed read; a read already running on a replica when it dies
fails as a read on the primary would (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from conduit.core.events import Event
from conduit.core.read_routing import Reader
from conduit.core.replayed import ReplayListener, ReplayWatcher

_log = structlog.get_logger("conduit.db")

# A write whose position could not be read: its author reads from the primary for as long as
# positions are remembered (larger than any real WAL position).
UNKNOWN_POSITION = (1 << 64) - 1
POLL_SECONDS = 0.005


def parse_lsn(text: str) -> int:
    """A PostgreSQL LSN (``16/B374D848``) as the byte position it names."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


class WritePositions(Protocol):
    """Each user's last write position, for as long as a replica may lag behind it.

    ``record`` keeps the larger of the stored and the given position (two writes of one
    user finishing on two instances in either order leave the later one).
    """

    async def last(self, user_id: int) -> int | None: ...

    async def record(self, user_ids: Collection[int], position: int) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class Replica:
    """One replica's engine and what this process knows of it."""

    name: str
    engine: AsyncEngine
    # The highest replay position this process has seen it report (it only grows).
    replayed: int = -1
    # Left out until this time (the clock's) after it failed to give a connection.
    left_out_until: float = 0.0


@dataclass(slots=True)
class ReadCounts:
    """Where this process's reads went, and why the primary served those it served."""

    replica: int = 0
    primary: int = 0
    background: int = 0  # no declared reader: primary by design
    waited: int = 0  # replica reads that first waited for the user's write to be replayed
    lagging: int = 0  # to the primary: the replica had not replayed the write in time
    unavailable: int = 0  # to the primary: no replica gave a connection
    unknown_position: int = 0  # to the primary: the user's last write could not be looked up

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class ReplicaSet:
    """The primary and its replicas; chooses the connection of each read-only use case."""

    primary: AsyncEngine
    replicas: Sequence[Replica]
    positions: WritePositions
    wait_seconds: float = 0.05
    retry_seconds: float = 5.0
    memory_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    counts: ReadCounts = field(default_factory=ReadCounts)
    _turn: int = 0
    # Until then this process's signed-in reads go to the primary: a position it could not
    # store may be missing (set when ``record`` fails).
    _unsure_until: float = 0.0
    # Tells the response cache when the replicas have replayed a commit (replayed.py).
    watcher: ReplayWatcher = field(init=False)

    def __post_init__(self) -> None:
        self.watcher = ReplayWatcher(self.replayed_everywhere, give_up_seconds=self.memory_seconds)
        for replica in self.replicas:
            _forget_replay_on_disconnect(replica)

    def on_replayed(self, listener: ReplayListener) -> None:
        """Call ``listener(events)`` once every replica in service has replayed them."""
        self.watcher.listen(listener)

    async def connect(self, reader: Reader | None) -> AsyncConnection:
        """A connection, in autocommit, for a read made for ``reader``."""
        counts = self.counts
        if reader is None:
            counts.background += 1
            return await self._primary()
        position: int | None = None
        if reader.user_id is not None:
            try:
                position = await self._last_write(reader.user_id)
            except Exception as exc:  # any failure: the primary is safe
                # Not asked again for a while (no timeout per read while Redis is away).
                self._unsure_until = self.clock() + self.retry_seconds
                _log.warning("write_position_unavailable", error=repr(exc))
                position = UNKNOWN_POSITION
            if position == UNKNOWN_POSITION:
                counts.unknown_position += 1
                return await self._primary()
        for replica in self._candidates(position):
            conn = await self._open(replica)
            if conn is None:
                continue
            if position is None or replica.replayed >= position:
                counts.replica += 1
                return conn
            try:
                ready = await self._wait_for(replica, conn, position)
            except BaseException:  # cancelled while waiting
                await _close_quietly(conn)
                raise
            if ready:
                counts.waited += 1
                counts.replica += 1
                return conn
            counts.lagging += 1
            return await self._primary()
        counts.unavailable += 1
        return await self._primary()

    async def written(
        self, conn: AsyncConnection, user_ids: Collection[int], events: Sequence[Event] = ()
    ) -> None:
        """After a COMMIT on ``conn`` (the primary): remember its position for its authors,
        and tell the replay listeners of its events once the replicas have it."""
        watched = bool(events) and self.watcher.listening
        if not user_ids and not watched:
            return
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await conn.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text")
            position = parse_lsn(str(result.scalar_one()))
        except Exception as exc:  # committed already: never fail the use case
            _log.warning("write_position_unread", error=repr(exc))
            position = UNKNOWN_POSITION
        if watched:
            self.watcher.committed(position, events)
        if not user_ids:
            return
        try:
            await self.positions.record(user_ids, position)
        except Exception as exc:
            self._unsure_until = self.clock() + self.memory_seconds
            _log.warning("write_position_unrecorded", error=repr(exc))

    async def replayed_everywhere(self) -> int:
        """The lowest replay position among the replicas in service, asking each (those
        that fail to answer are left out; with none in service, no position is missing)."""
        lowest = UNKNOWN_POSITION
        now = self.clock()
        for replica in self.replicas:
            if replica.left_out_until > now:
                continue
            conn = await self._open(replica)
            if conn is None:
                continue
            try:
                result = await conn.exec_driver_sql("SELECT pg_last_wal_replay_lsn()::text")
                text = result.scalar_one()
            except Exception as exc:
                self._leave_out(replica, exc)
                continue
            finally:
                await _close_quietly(conn)
            if text is None:
                continue
            replica.replayed = max(replica.replayed, parse_lsn(str(text)))
            lowest = min(lowest, replica.replayed)
        return lowest

    async def dispose(self) -> None:
        """Close the replicas' pools and the positions' store; log where reads went."""
        counts = self.counts
        if counts.replica or counts.primary > counts.background:  # it served callers' reads
            _log.info("replica_reads", **counts.as_dict())
        await self.watcher.close()
        for replica in self.replicas:
            await replica.engine.dispose()
        await self.positions.close()

    # --- choosing -----------------------------------------------------------------------

    async def _last_write(self, user_id: int) -> int | None:
        """The user's last write position; ``UNKNOWN_POSITION`` while this process cannot
        be sure it has it (a position it failed to store, a store that failed to answer)."""
        if self.clock() < self._unsure_until:
            return UNKNOWN_POSITION
        return await self.positions.last(user_id)

    def _candidates(self, position: int | None) -> list[Replica]:
        """The replicas to try in order: round robin, those known to have replayed
        ``position`` first; none that is left out."""
        now = self.clock()
        available = [replica for replica in self.replicas if replica.left_out_until <= now]
        if not available:
            return []
        self._turn = (self._turn + 1) % len(available)
        ordered = available[self._turn :] + available[: self._turn]
        if position is not None:
            ordered.sort(key=lambda replica: replica.replayed < position)
        return ordered

    async def _open(self, replica: Replica) -> AsyncConnection | None:
        try:
            conn = await replica.engine.connect()
        except Exception as exc:  # any refusal: leave it out for a while
            self._leave_out(replica, exc)
            return None
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await _close_quietly(conn)
            raise
        return conn

    async def _wait_for(self, replica: Replica, conn: AsyncConnection, position: int) -> bool:
        """Until ``replica`` has replayed ``position`` (True), for at most ``wait_seconds``.
        ``conn`` is closed when False is returned."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        while True:
            try:
                result = await conn.exec_driver_sql("SELECT pg_last_wal_replay_lsn()::text")
                text = result.scalar_one()
            except Exception as exc:
                self._leave_out(replica, exc)
                await _close_quietly(conn)
                return False
            if text is None:  # not (or no longer) a replica: nothing to compare with
                await _close_quietly(conn)
                return False
            replica.replayed = max(replica.replayed, parse_lsn(str(text)))
            if replica.replayed >= position:
                return True
            left = deadline - loop.time()
            if left <= 0:
                await _close_quietly(conn)
                return False
            await asyncio.sleep(min(POLL_SECONDS, left))

    def _leave_out(self, replica: Replica, exc: BaseException) -> None:
        replica.left_out_until = self.clock() + self.retry_seconds
        replica.replayed = -1  # it may come back from an older point
        _log.warning(
            "replica_unavailable",
            replica=replica.name,
            error=str(exc).splitlines()[0:1],
            retry_in_seconds=self.retry_seconds,
        )

    async def _primary(self) -> AsyncConnection:
        conn = await self.primary.connect()
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await conn.close()
            raise
        self.counts.primary += 1
        return conn


def _forget_replay_on_disconnect(replica: Replica) -> None:
    """A lost connection may mean a restarted replica, and a restarted replica replays
    again from its last restart point: what it shows may be older than the position this
    process saw before. So the known position is forgotten, and asked again."""
    sync_engine = getattr(replica.engine, "sync_engine", None)
    if sync_engine is None:  # not an SQLAlchemy engine (tests)
        return

    def forget(*_args: object) -> None:
        replica.replayed = -1

    event.listen(sync_engine, "invalidate", forget)


async def _close_quietly(conn: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await conn.close()
