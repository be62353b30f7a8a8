"""Dead letters: list them, and put one back (``conduit events dead-letters`` / ``replay``).

A replay writes the event to the outbox again, so the relay publishes it like any other:
to every consumer of its type. Only the consumer that gave up on it applies it again; the
others skip it, because :func:`replay` makes sure each of them has a processed-event record
for it (the record may have been pruned since). The outbox row gets a fresh id, which the
relay publishes as the message id (:class:`~conduit.core.bus.Replayed`), so brokers that
de-duplicate by message id do not drop it; the envelope keeps the event's own id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from uuid6 import uuid7

from conduit.core.db import Database, UnitOfWork
from conduit.core.db_errors import insert_ignore
from conduit.core.errors import Conflict, NotFound
from conduit.core.events import Event
from conduit.core.outbox import dead_letters, outbox, processed_events
from conduit.core.tables import utcnow


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    consumer: str
    event_id: str
    type: str
    attempts: int
    error: str
    failed_at: dt.datetime
    replayed_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class DeadLetterDetail:
    """A dead letter with the event as it was stored (its JSON envelope)."""

    letter: DeadLetter
    payload: str


_LISTED = (
    dead_letters.c.id,
    dead_letters.c.consumer,
    dead_letters.c.event_id,
    dead_letters.c.type,
    dead_letters.c.attempts,
    dead_letters.c.error,
    dead_letters.c.failed_at,
    dead_letters.c.replayed_at,
)


async def list_dead_letters(db: Database, *, limit: int = 100) -> list[DeadLetter]:
    """The most recent dead letters first."""
    query = select(*_LISTED).order_by(dead_letters.c.id.desc()).limit(limit)
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [DeadLetter(**row._mapping) for row in rows]


async def dead_letter(db: Database, dead_letter_id: int) -> DeadLetterDetail:
    """One dead letter with its event's payload; NotFound for an unknown id."""
    async with db.reader() as uow:
        row = (
            await uow.conn.execute(
                select(*_LISTED, dead_letters.c.payload).where(dead_letters.c.id == dead_letter_id)
            )
        ).one_or_none()
    if row is None:
        raise NotFound(f"dead letter {dead_letter_id}")
    fields = dict(row._mapping)
    payload = fields.pop("payload")
    return DeadLetterDetail(DeadLetter(**fields), payload)


async def waiting_count(db: Database) -> int:
    """How many dead letters wait for a replay."""
    async with db.reader() as uow:
        count = await uow.conn.execute(
            select(func.count()).where(dead_letters.c.replayed_at.is_(None))
        )
        return int(count.scalar_one())


async def replay(db: Database, dead_letter_id: int, *, consumers: Iterable[str] = ()) -> Event:
    """Queue a dead-lettered event again for its consumer; returns the event.

    ``consumers``: the names of every consumer running, so that the others keep skipping
    it. Raises NotFound for an unknown id and Conflict for one replayed already.
    """
    async with db.uow() as uow:
        event = await replay_in(uow, dead_letter_id, consumers=consumers)
        await uow.commit()
    return event


async def replay_in(
    uow: UnitOfWork, dead_letter_id: int, *, consumers: Iterable[str] = ()
) -> Event:
    """:func:`replay` inside the caller's unit of work (which commits it)."""
    row = (
        await uow.conn.execute(
            select(dead_letters).where(dead_letters.c.id == dead_letter_id).with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"dead letter {dead_letter_id}")
    if row.replayed_at is not None:
        raise Conflict("dead letter", f"{dead_letter_id} was replayed at {row.replayed_at}")
    event = Event.from_json(row.payload)
    await uow.conn.execute(
        delete(processed_events).where(
            processed_events.c.consumer == row.consumer,
            processed_events.c.event_id == event.id,
        )
    )
    now = utcnow()
    for other in sorted(set(consumers) - {row.consumer}):
        await insert_ignore(
            uow.conn,
            processed_events,
            {"consumer": other, "event_id": event.id, "processed_at": now},
        )
    await uow.conn.execute(
        insert(outbox).values(
            event_id=str(uuid7()),
            type=event.type,
            payload=row.payload,
            occurred_at=event.occurred_at,
            published_at=None,
        )
    )
    await uow.conn.execute(
        update(dead_letters).where(dead_letters.c.id == dead_letter_id).values(replayed_at=now)
    )
    return event
