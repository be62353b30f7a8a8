"""Consumers: what reacts to events, applied at most once per (consumer, event id).

A feature declares a consumer in its ``handlers.py``::

    consumer = Consumer(
        name="notifications",
        types=frozenset({"user.followed", "article.created"}),
        handle=on_event,            # async (uow, event) -> None, in the consumer's transaction
        at_commit=False,            # True: with the embedded bus, applied before the write returns
    )

Delivery is at least once, from whichever bus carries the events (in-process, RabbitMQ or
NATS JetStream). :func:`apply` makes a redelivery a no-op: the ``processed_events`` row is
written in the same transaction as the handler's changes, so either both are stored or
neither is. A handler that raises is retried by the bus with backoff and dead-lettered
(:func:`record_dead_letter`) after the configured number of attempts.

``at_commit``: with the embedded bus (no broker) the consumer is also applied right after
the writing transaction commits (:func:`applied_at_commit`, a ``db.on_commit`` listener,
run once the writer's connection is back in the pool), so that the write's response is sent
only once its effect is there, in its own transaction, never the writer's. The relay's
delivery of the same event then finds it applied and skips it; a failure at commit is
logged and left to that delivery (retries, dead letters). For a consumer whose result a
client reads right after its own write (the tag list). With a broker the consumers run in
``conduit worker`` and the effect is eventual.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from conduit.core.db import Database, UnitOfWork
from conduit.core.db_errors import insert_ignore
from conduit.core.events import Event
from conduit.core.outbox import dead_letters, processed_events
from conduit.core.tables import utcnow

Handle = Callable[[UnitOfWork, Event], Awaitable[None]]
_log = structlog.get_logger("conduit.consumers")


@dataclass(frozen=True, slots=True)
class Consumer:
    """A named reaction to some event types; the name keys its idempotency records."""

    name: str
    types: frozenset[str]
    handle: Handle
    # With the embedded bus, also applied as soon as the write commits (module docstring).
    at_commit: bool = False

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


def applied_at_commit(
    db: Database, consumers: Sequence[Consumer]
) -> Callable[[Sequence[Event]], Awaitable[None]]:
    """The commit listener that applies the ``at_commit`` consumers to what a write committed.

    Each event in its own transaction through :func:`apply`, as a delivery would; an error
    is logged and the event left to the relay's delivery, which retries it.
    """
    chosen = tuple(consumer for consumer in consumers if consumer.at_commit)

    async def committed(events: Sequence[Event]) -> None:
        for consumer in chosen:
            for event in events:
                if not consumer.wants(event):
                    continue
                try:
                    await apply(db, consumer, event)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    _log.warning(
                        "consumer_at_commit_failed",
                        consumer=consumer.name,
                        event_id=event.id,
                        event_type=event.type,
                        error=repr(exc),
                    )

    return committed


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
