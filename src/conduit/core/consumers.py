"""Consumers: what reacts to events, applied at most once per (consumer, event id).

A feature declares a consumer in its ``handlers.py``::

    consumer = Consumer(
        name="notifications",
        types=frozenset({"user.followed", "article.created"}),
        handle=on_event,            # async (uow, event) -> None, in the consumer's transaction
    )

Delivery is at least once, from whichever bus carries the events (in-process, RabbitMQ or
NATS JetStream). :func:`apply` makes a redelivery a no-op: the ``processed_events`` row is
written in the same transaction as the handler's changes, so either both are stored or
neither is. A handler that raises is retried by the bus with backoff and dead-lettered
(:func:`record_dead_letter`) after the configured number of attempts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.db import Database, UnitOfWork
from conduit.core.db_errors import insert_ignore
from conduit.core.events import Event
from conduit.core.outbox import dead_letters, processed_events
from conduit.core.tables import utcnow

Handle = Callable[[UnitOfWork, Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Consumer:
    """A named reaction to some event types; the name keys its idempotency records."""

    name: str
    types: frozenset[str]
    handle: Handle

    def wants(self, event: Event) -> bool:
        return event.type in self.types


async def apply(db: Database, consumer: Consumer, event: Event) -> bool:
    """Run the consumer on the event once; False when it had already been applied.

    Events the consumer does not subscribe to are recorded as processed and skipped.
    """
    async with db.uow() as uow:
        first_time = await insert_ignore(
            uow.conn,
            processed_events,
            {"consumer": consumer.name, "event_id": event.id, "processed_at": utcnow()},
        )
        if not first_time:
            return False
        if consumer.wants(event):
            await consumer.handle(uow, event)
        await uow.commit()
    return True


async def record_dead_letter(
    db: Database, consumer: Consumer, event: Event, *, error: str, attempts: int
) -> None:
    """Keep an event a consumer gave up on, for ``conduit events dead-letters`` / ``replay``."""
    async with db.uow() as uow:
        await uow.conn.execute(
            insert(dead_letters).values(
                consumer=consumer.name,
                event_id=event.id,
                type=event.type,
                payload=event.to_json().decode(),
                error=error[:2000],
                attempts=attempts,
                failed_at=utcnow(),
            )
        )
        await uow.commit()


@dataclass(frozen=True, slots=True)
class ConsumerActivity:
    """What the database tells of one consumer's work: the events it applied (those whose
    records the retention has not pruned yet), when it last applied one, and the events it
    gave up on that wait for a replay."""

    name: str
    processed: int
    last_processed_at: dt.datetime | None
    dead_letters: int


async def activity(conn: AsyncConnection, names: Sequence[str]) -> list[ConsumerActivity]:
    """The activity of each consumer named, in that order (two grouped statements)."""
    applied = await conn.execute(
        select(
            processed_events.c.consumer,
            func.count(),
            func.max(processed_events.c.processed_at),
        )
        .where(processed_events.c.consumer.in_(names))
        .group_by(processed_events.c.consumer)
    )
    processed: dict[str, tuple[int, dt.datetime | None]] = {
        consumer: (int(count), last) for consumer, count, last in applied
    }
    given_up = await conn.execute(
        select(dead_letters.c.consumer, func.count())
        .where(dead_letters.c.consumer.in_(names), dead_letters.c.replayed_at.is_(None))
        .group_by(dead_letters.c.consumer)
    )
    waiting: dict[str, int] = {consumer: int(count) for consumer, count in given_up}
    return [
        ConsumerActivity(
            name=name,
            processed=processed.get(name, (0, None))[0],
            last_processed_at=processed.get(name, (0, None))[1],
            dead_letters=waiting.get(name, 0),
        )
        for name in names
    ]
