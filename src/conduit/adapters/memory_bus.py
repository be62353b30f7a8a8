"""The embedded event bus: consumers run in this process; no broker, nothing to install.

Design (what makes it lose nothing on a crash): :meth:`MemoryBus.publish` does not queue
anything in memory. It hands the batch to every subscribed consumer and returns only once
each consumer has settled each event it wants (``DONE``: applied or already applied;
``DEAD``: recorded in ``dead_letters``), retrying ``RETRY`` outcomes after
:func:`~conduit.core.bus.backoff_seconds`. The relay stamps ``published_at`` only after
``publish`` returned, so an event is marked sent only once every local consumer is done
with it. A crash (or shutdown) in the middle leaves the rows unpublished; the next start
publishes them again and the consumers skip what they had already applied
(``processed_events``).

Consumers run concurrently with each other, and each one sees a batch in ``seq`` order.
A consumer that keeps failing holds the relay for its retries (at most ``max_attempts``
deliveries, then it is dead-lettered), which is the price of keeping no in-memory queue.

Only consumers that are consuming when a batch is published receive it: the worker
subscribes every consumer before it starts the relay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from conduit.core.bus import Deliver, Outcome, backoff_seconds
from conduit.core.consumers import Consumer
from conduit.core.events import Event


class MemoryBus:
    """In-process :class:`~conduit.core.bus.EventBus` (``CONDUIT_BROKER_URL`` unset)."""

    def __init__(self, *, backoff_cap: float = 30.0) -> None:
        self._subscribers: dict[str, tuple[Consumer, Deliver]] = {}
        self._backoff_cap = backoff_cap

    async def start(self) -> None:
        return None

    async def publish(self, events: Sequence[Event]) -> None:
        if not events or not self._subscribers:
            return
        await asyncio.gather(
            *(
                self._settle(consumer, deliver, events)
                for consumer, deliver in list(self._subscribers.values())
            )
        )

    async def _settle(self, consumer: Consumer, deliver: Deliver, events: Sequence[Event]) -> None:
        for event in events:
            if not consumer.wants(event):
                continue
            attempt = 1
            while await deliver(event, attempt) is Outcome.RETRY:
                await asyncio.sleep(backoff_seconds(attempt, cap=self._backoff_cap))
                attempt += 1

    def subscribe(self, consumer: Consumer, deliver: Deliver) -> None:
        """Receive every batch published from now on (what :meth:`consume` does first)."""
        if consumer.name in self._subscribers:
            raise ValueError(f"consumer {consumer.name!r} is already consuming")
        self._subscribers[consumer.name] = (consumer, deliver)

    async def consume(self, consumer: Consumer, deliver: Deliver) -> None:
        self.subscribe(consumer, deliver)
        try:
            await asyncio.Event().wait()  # deliveries happen in publish(); wait to be cancelled
        finally:
            self._subscribers.pop(consumer.name, None)

    async def close(self) -> None:
        return None
