"""Publishes the live messages of every transaction this process commits.

Registered with ``db.on_commit``: as soon as a write has committed, its events are queued
here, turned into bus messages (at most one query) by a background task and published on
the live bus, so a write never waits for Redis, and Redis being down never fails a write.
This is the whole path to the other instances: write on A -> commit listener on A ->
Redis -> every instance's hub -> its sockets, typically within a few milliseconds.

At most once, on purpose: a process that dies between commit and publish, or a full
backlog, loses those pushes (logged). What a client misses while it is disconnected it gets
back when it resubscribes with the last ``cursor`` it received (:mod:`conduit.live.resume`
replays it from the outbox); the outbox and the event bus remain the at-least-once path for
consumers that must not miss anything (notifications, search ...).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence

import structlog

from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.live import LiveBus
from conduit.core.tasks import cancel_and_wait
from conduit.live.messages import LIVE_EVENT_TYPES, NEEDS_DATABASE, bus_messages

_log = structlog.get_logger("conduit.live")


# Events published per round: everything queued since the last round, up to this many, so
# that under a write load one read of the database serves many commits.
BATCH = 500
# A full backlog is logged at most this often (seconds), with the number of events dropped.
WARNING_INTERVAL = 10.0


class LivePublisher:
    def __init__(self, db: Database, bus: LiveBus, *, backlog: int = 1000) -> None:
        self._db = db
        self._bus = bus
        self._queue: asyncio.Queue[list[Event]] = asyncio.Queue(maxsize=backlog)
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self._warned_at = -math.inf

    async def committed(self, events: Sequence[Event]) -> None:
        """The commit listener: queue the events live clients care about; never blocks."""
        wanted = [event for event in events if event.type in LIVE_EVENT_TYPES]
        if not wanted:
            return
        try:
            self._queue.put_nowait(wanted)
        except asyncio.QueueFull:
            self._dropped += len(wanted)
            now = time.monotonic()
            if now - self._warned_at >= WARNING_INTERVAL:
                self._warned_at = now
                _log.warning("live_backlog_full", dropped=self._dropped)
                self._dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="live-publisher")

    async def _run(self) -> None:
        while True:
            events = await self._queue.get()
            while len(events) < BATCH and not self._queue.empty():
                events += self._queue.get_nowait()
            try:
                await self._publish(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                _log.warning("live_publish_failed", error=repr(exc), events=len(events))

    async def _publish(self, events: list[Event]) -> None:
        if any(event.type in NEEDS_DATABASE for event in events):
            async with self._db.reader() as uow:
                messages = await bus_messages(uow.conn, events)
        else:
            messages = await bus_messages(None, events)
        for message in messages:
            await self._bus.publish(message)

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._dropped:  # dropped since the last warning: said once more on the way out
            _log.warning("live_backlog_full", dropped=self._dropped)
            self._dropped = 0
