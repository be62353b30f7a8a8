"""What a process's metrics read from its state rather than count as it goes.

The database pools (size, checked out, overflow, waiting), the live-update connections and
the messages queued to them, the password-hashing queue and the cache's failures are read
from the objects that hold them; the outbox backlog and the age of its oldest event are
read from the database. :meth:`ProcessMetrics.run` samples them every
:data:`SAMPLE_SECONDS` (the outbox every :data:`OUTBOX_SECONDS`) for as long as the process
runs, so that with several workers each one's gauges are current whichever worker answers
a scrape; the one that answers samples itself again first (:meth:`ProcessMetrics.refresh`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import time
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from conduit.core.cache import ResponseCache
from conduit.core.db import Database
from conduit.core.outbox import backlog as outbox_backlog
from conduit.core.security import PasswordQueue
from conduit.live.hub import Hub
from conduit.observability.metrics import registry as metrics
from conduit.settings import Settings

SAMPLE_SECONDS = 1.0
OUTBOX_SECONDS = 5.0
OUTBOX_TIMEOUT_SECONDS = 2.0
WARNING_INTERVAL = 60.0

log = structlog.get_logger("conduit.metrics")


def pool_waiting(engine: AsyncEngine) -> int:
    """Units of work waiting for one of ``engine``'s pooled connections.

    Read from the asyncio queue inside SQLAlchemy's async pool (``pyproject.toml`` pins
    SQLAlchemy's minor version; tests/observability checks this against a full pool): 0 when
    the pool has another shape or has not been used yet.
    """
    inner = getattr(engine.sync_engine.pool, "_pool", None)
    queue = getattr(inner, "__dict__", {}).get("_queue")  # made on the pool's first use
    getters: Any = getattr(queue, "_getters", None) or ()
    return sum(1 for waiter in getters if not waiter.done())


def pools(db: Database) -> dict[str, AsyncEngine]:
    """The database's pools by label: ``main``, and ``readers`` on an SQLite file."""
    found = {"main": db.engine}
    if db.read_engine is not db.engine:
        found["readers"] = db.read_engine
    return found


class ProcessMetrics:
    """One process's sampled metrics (built by bootstrap when metrics are on)."""

    def __init__(self, settings: Settings, db: Database, cache: ResponseCache) -> None:
        self.settings = settings
        self.db = db
        self.cache = cache  # the adapter itself: its failures are counted there
        self.hub: Hub | None = None
        self._seen_messages = 0
        self._seen_failures: collections.Counter[str] = collections.Counter()
        self._last_warning: float | None = None
        metrics.BUILD_INFO.git_sha = metrics.git_sha(settings.git_sha)

    def watch(self, hub: Hub) -> None:
        """Read the connections of ``hub`` too (the process serves live updates)."""
        self.hub = hub
        self._seen_messages = hub.sent.messages

    def sample(self) -> None:
        """Read the process's state into the gauges (and the counters kept elsewhere)."""
        for label, engine in pools(self.db).items():
            pool: Any = engine.sync_engine.pool
            size = getattr(pool, "size", None)
            if callable(size):
                metrics.POOL_SIZE.labels(label).set(size())
                metrics.POOL_CHECKED_OUT.labels(label).set(pool.checkedout())
                metrics.POOL_OVERFLOW.labels(label).set(max(0, pool.overflow()))
                metrics.POOL_WAITING.labels(label).set(pool_waiting(engine))
        metrics.PASSWORD_QUEUE.set(PasswordQueue.waiting())
        if self.hub is not None:
            metrics.WEBSOCKET_CONNECTIONS.set(self.hub.connections)
            sent = self.hub.sent.messages
            metrics.WEBSOCKET_MESSAGES.inc(max(0, sent - self._seen_messages))
            self._seen_messages = sent
        failures: collections.Counter[str] | None = getattr(self.cache, "failures", None)
        if failures is not None:
            for operation, count in failures.items():
                new = count - self._seen_failures[operation]
                if new > 0:
                    metrics.CACHE_ERRORS.labels(operation).inc(new)
                self._seen_failures[operation] = count

    async def sample_outbox(self) -> None:
        """The outbox's backlog and the age of its oldest unpublished event."""
        async with self.db.reader() as uow:
            waiting = await outbox_backlog(uow.conn)
        metrics.OUTBOX_BACKLOG.set(waiting.waiting)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        metrics.OUTBOX_OLDEST_AGE.set(waiting.oldest_age_seconds(now))

    async def refresh(self) -> None:
        """Sample everything now (a scrape is about to be answered); the outbox within
        :data:`OUTBOX_TIMEOUT_SECONDS`, else its last values stay."""
        self.sample()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._try_outbox(), OUTBOX_TIMEOUT_SECONDS)

    async def run(self) -> None:
        """Sample until cancelled (a part of the process, started by its lifecycle)."""
        next_outbox = 0.0
        while True:
            self.sample()
            now = time.monotonic()
            if now >= next_outbox:
                next_outbox = now + OUTBOX_SECONDS
                await self._try_outbox()
            await asyncio.sleep(SAMPLE_SECONDS)

    async def _try_outbox(self) -> None:
        try:
            await self.sample_outbox()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database is away: the readiness check says so
            now = time.monotonic()
            if self._last_warning is None or now - self._last_warning >= WARNING_INTERVAL:
                self._last_warning = now
                log.warning("metrics_outbox_unavailable", error=f"{type(exc).__name__}: {exc}")
