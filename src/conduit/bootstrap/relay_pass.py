"""One pass of the relay, for a schedule (cron, a serverless function) where no process
runs the relay: ``conduit events relay --once`` and the relay function of
``entrypoints/serverless.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conduit.bootstrap.lifecycle import log, relay_for
from conduit.core.bus import delivery
from conduit.core.consumers import Consumer

if TYPE_CHECKING:
    from conduit.bootstrap import Container


def consume_tasks(container: Container, consumers: Sequence[Consumer]) -> list[asyncio.Task[None]]:
    """A task per consumer, consuming from the container's bus until cancelled."""
    max_attempts = container.settings.consumer_max_attempts
    return [
        asyncio.create_task(
            container.bus.consume(
                consumer, delivery(container.db, consumer, max_attempts=max_attempts)
            ),
            name=f"consume:{consumer.name}",
        )
        for consumer in consumers
    ]


@dataclass(frozen=True, slots=True)
class RelayPass:
    """What one pass of the relay did."""

    published: int
    pruned_outbox: int
    pruned_processed_events: int


async def relay_once(container: Container) -> RelayPass:
    """One pass of the relay, for a schedule (cron, a serverless function): publish every
    event waiting in the outbox, then delete published rows and processed-event records
    past the retention.

    With the embedded bus every consumer is subscribed first and applies the events in this
    process (the embedded bus hands a batch to the consumers consuming at that moment, and
    the relay stamps it sent once they are done); with a broker the consumers are
    ``conduit worker``'s. A failure (the database, the broker) is raised: the rows stay
    unpublished for the next pass.
    """
    relay = relay_for(container)
    bus = container.bus
    tasks = consume_tasks(container, container.consumers if container.embedded_bus else ())
    try:
        await asyncio.sleep(0)  # let every consume task subscribe
        await bus.start()
        published = await relay.drain()
        sent, seen = await relay.prune()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.close()
    log.info("relay_pass", published=published, pruned_outbox=sent, pruned_processed=seen)
    return RelayPass(published, sent, seen)
