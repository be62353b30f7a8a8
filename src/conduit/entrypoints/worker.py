"""The worker: the outbox relay plus one consume loop per consumer, until cancelled.

``conduit worker`` runs :func:`run_worker` with the consumers of bootstrap's ``CONSUMERS``
and stops gracefully on SIGTERM or SIGINT: the tasks are cancelled, so a consumer's
unfinished transaction rolls back and its message is delivered again later (consumers are
idempotent). With the embedded bus, ``conduit serve`` runs the same function inside its
lifespan (see ``entrypoints.api``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
from collections.abc import Sequence

import structlog

from conduit.bootstrap import Container, relay_for
from conduit.core.bus import delivery
from conduit.core.consumers import Consumer
from conduit.live.publisher import LivePublisher
from conduit.uploads import service as uploads

# The first prune waits this long after the start (at most), so short-lived processes and
# restarts in a loop do not prune on every start.
FIRST_PRUNE_DELAY_SECONDS = 60.0

log = structlog.get_logger("conduit.worker")


async def run_worker(
    container: Container,
    consumers: Sequence[Consumer] | None = None,
    *,
    relay: bool = True,
) -> None:
    """Consume (``consumers``, default: the container's) and relay until cancelled.

    Every consumer is subscribed before the relay publishes anything, so the embedded bus
    never publishes a batch that a consumer of this process misses.
    """
    chosen = container.consumers if consumers is None else tuple(consumers)
    bus = container.bus
    max_attempts = container.settings.consumer_max_attempts
    tasks = [
        asyncio.create_task(
            bus.consume(consumer, delivery(container.db, consumer, max_attempts=max_attempts)),
            name=f"consume:{consumer.name}",
        )
        for consumer in chosen
    ]
    await asyncio.sleep(0)  # let every consume task subscribe
    if relay:
        tasks.append(asyncio.create_task(relay_for(container).run(), name="relay"))
        tasks.append(asyncio.create_task(prune_uploads(container), name="prune-uploads"))
    log.info("worker_started", consumers=[c.name for c in chosen], relay=relay)
    try:
        # A task that ends on its own has failed: let its error surface.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
        log.info("worker_stopped")


async def prune_uploads(container: Container) -> None:
    """Delete unreferenced old uploads every ``upload_prune_interval_seconds``, until
    cancelled; a failed round is logged and tried again at the next."""
    settings = container.settings
    interval = settings.upload_prune_interval_seconds
    older_than = dt.timedelta(hours=settings.upload_retention_hours)
    await asyncio.sleep(min(interval, FIRST_PRUNE_DELAY_SECONDS))
    while True:
        try:
            pruned = await uploads.prune(container.db, container.storage, older_than=older_than)
            if pruned:
                log.info("uploads_pruned", count=pruned)
        except Exception as exc:
            log.warning("uploads_prune_failed", error_type=type(exc).__name__, error=str(exc))
        await asyncio.sleep(interval)


async def serve_worker_until_signalled(container: Container) -> None:
    """``conduit worker``: run until SIGTERM or SIGINT, then stop gracefully."""
    loop = asyncio.get_running_loop()
    # Notifications written here reach the sockets of every conduit serve (over Redis).
    live = LivePublisher(container.db, container.live)
    live.start()
    container.db.on_commit(live.committed)
    task = asyncio.create_task(run_worker(container))
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await live.close()
        await container.live.close()
        await container.storage.close()
        await container.db.dispose()
