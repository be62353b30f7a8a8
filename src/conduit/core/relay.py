"""The relay: moves events from the outbox to the event bus, in ``seq`` order, losing none.

It lives in core because it needs only the outbox tables and the :class:`EventBus` port;
the worker and the embedded ``conduit serve`` run it, with whichever bus bootstrap built.

One step (:meth:`Relay.publish_batch`):

1. take up to ``batch_size`` unpublished rows, lowest ``seq`` first;
2. ``bus.publish(events)``: returns once the broker confirmed every one (the embedded bus:
   once every local consumer settled them);
3. stamp ``published_at`` on those rows, so only a confirmed row counts as sent.

A crash or a broker error between 2 and 3 publishes the rows again later: delivery is at
least once, and consumers de-duplicate by event id (``processed_events``).

Several relays at once (several workers, or ``conduit serve`` processes): on PostgreSQL and
MariaDB the rows are read ``FOR UPDATE SKIP LOCKED`` in the transaction that stamps them, so
two relays never take the same row. SQLite has no row locks: run one relay per database
file (the embedded mode does); a second one only causes duplicates, which are no-ops.
On SQLite the rows are read and stamped in two short transactions rather than one held
across the publish, because its single pooled connection is also what the embedded
consumers write with.

The relay wakes at once when this process commits events (:meth:`Relay.listen`), and when
another process does as soon as the wake-up channel tells (``core/wakeups.py``: PostgreSQL's
``NOTIFY``, Redis pub/sub); it then looks again only every ``safety_interval`` seconds, for
a notification that was lost. Without a channel (or while it is down) it polls every
``poll_interval`` seconds for events committed by other processes. While the broker
is down it backs off (0.5 s doubling to ``max_backoff``) and keeps trying; writes are
unaffected since they only touch the outbox. Published rows older than ``retention``, and
``processed_events`` records as old, are pruned every ``prune_interval``.

:meth:`Relay.stop` (a graceful shutdown) lets it finish the batch it is publishing, rows
stamped, and then return: no batch is left half-published. Cancelled instead, it may leave
a published batch unstamped, to be published again (and skipped by the consumers).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import delete, select, update

from conduit.core.bus import EventBus, Replayed, backoff_seconds
from conduit.core.db import Database
from conduit.core.events import Event, log_fields
from conduit.core.outbox import outbox, processed_events
from conduit.core.tables import utcnow
from conduit.core.wakeups import OUTBOX, LocalWakeups, Wakeups

_log = structlog.get_logger("conduit.relay")


def event_of_row(event_id: str, payload: str) -> Event:
    """The event an outbox row carries; a replayed one keeps its envelope, not its row id."""
    event = Event.from_json(payload)
    if event_id == event.id:
        return event
    return Replayed.under(event, message_id=event_id)


def _published(events: Sequence[Event]) -> None:
    """One ``event_published`` line per event the broker confirmed (and the row stamped)."""
    for event in events:
        _log.info("event_published", **log_fields(event))


class Relay:
    """Publishes the outbox through ``bus``; see the module docstring for the guarantees."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        retention: dt.timedelta = dt.timedelta(days=7),
        prune_interval: float = 600.0,
        max_backoff: float = 10.0,
        wakeups: Wakeups | None = None,
        safety_interval: float = 30.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.prune_interval = prune_interval
        self.max_backoff = max_backoff
        # Woken by this process's commits (listen), other processes' (the channel) and stop().
        self._wake = (wakeups or LocalWakeups()).subscribe(
            OUTBOX, poll=poll_interval, safety=safety_interval
        )
        self._stopping = asyncio.Event()
        self._listening = False

    def listen(self) -> None:
        """Wake up as soon as this process commits events (a ``db.on_commit`` listener)."""
        if not self._listening:
            self.db.on_commit(self._committed)
            self._listening = True

    async def _committed(self, _events: Sequence[Event]) -> None:
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the batch in hand (published and stamped), then return from :meth:`run`."""
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def publish_batch(self) -> int:
        """Publish one batch of unpublished rows; how many were published (0: none left)."""
        if self.db.dialect == "sqlite":
            return await self._publish_batch_single_relay()
        async with self.db.uow() as uow:
            query = self._next_rows().with_for_update(skip_locked=True)
            rows = (await uow.conn.execute(query)).all()
            if not rows:
                return 0
            events = [event_of_row(row.event_id, row.payload) for row in rows]
            await self.bus.publish(events)
            await uow.conn.execute(self._stamp([row.seq for row in rows]))
            await uow.commit()
        _published(events)
        return len(rows)

    async def _publish_batch_single_relay(self) -> int:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(self._next_rows())).all()
        if not rows:
            return 0
        events = [event_of_row(row.event_id, row.payload) for row in rows]
        await self.bus.publish(events)
        async with self.db.engine.begin() as conn:
            await conn.execute(self._stamp([row.seq for row in rows]))
        _published(events)
        return len(rows)

    def _next_rows(self) -> Any:
        return (
            select(outbox.c.seq, outbox.c.event_id, outbox.c.payload)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(self.batch_size)
        )

    @staticmethod
    def _stamp(seqs: list[int]) -> Any:
        return update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=utcnow())

    async def drain(self) -> int:
        """Publish until no unpublished row is left; how many were published."""
        total = 0
        while not self.stopping and (published := await self.publish_batch()):
            total += published
        return total

    async def prune(self, now: dt.datetime | None = None) -> tuple[int, int]:
        """Delete published outbox rows and processed-event records older than the retention."""
        cutoff = (now or utcnow()) - self.retention
        async with self.db.engine.begin() as conn:
            sent = await conn.execute(
                delete(outbox).where(
                    outbox.c.published_at.is_not(None), outbox.c.published_at < cutoff
                )
            )
            seen = await conn.execute(
                delete(processed_events).where(processed_events.c.processed_at < cutoff)
            )
        return int(sent.rowcount or 0), int(seen.rowcount or 0)

    async def run(self) -> None:
        """Relay until stopped (:meth:`stop`) or cancelled: drain, then sleep until woken or
        the interval passes (the safety interval while a wake-up channel is up, else the
        poll interval)."""
        self.listen()
        failures = 0
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while not self.stopping:
            self._wake.clear()
            try:
                await self.bus.start()
                published = await self.drain()
                if not self.stopping and loop.time() >= next_prune:
                    next_prune = loop.time() + self.prune_interval
                    sent, seen = await self.prune()
                    if sent or seen:
                        _log.info("relay_pruned", outbox=sent, processed_events=seen)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = backoff_seconds(failures, cap=self.max_backoff)
                _log.warning("relay_retry", error=repr(exc), failures=failures, retry_in=delay)
                with contextlib.suppress(TimeoutError):  # a stop cuts the pause short
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
                continue
            if failures:
                _log.info("relay_recovered", failures=failures)
            failures = 0
            if published:
                _log.debug("relay_published", events=published)
            await self._wake.sleep()
