"""The transactional outbox and the consumers' bookkeeping, as tables.

- ``outbox``: every event, written in the transaction of the change it describes; the relay
  publishes unpublished rows in ``seq`` order and stamps ``published_at``; published rows
  are pruned after a retention period.
- ``processed_events``: one row per (consumer, event id) a consumer has applied, written
  in the consumer's own transaction, so a redelivered event is a no-op.
- ``dead_letters``: events a consumer gave up on after its retries, for
  ``conduit events dead-letters`` and ``conduit events replay``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import BigInteger, Index, Integer, String, Table, Text, func, insert, select
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, mapped_column

from conduit.core.events import Event
from conduit.core.tables import TABLE_ARGS, Base, Timestamp, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY.
SequenceNumber = BigInteger().with_variant(Integer(), "sqlite")
Payload = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_published_at_seq", "published_at", "seq"), TABLE_ARGS)

    seq: Mapped[int] = mapped_column(SequenceNumber, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Payload)
    occurred_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    published_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)


class ProcessedEventRow(Base):
    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_processed_at", "processed_at"), TABLE_ARGS)

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class DeadLetterRow(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_event_id", "event_id"), TABLE_ARGS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    consumer: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(36))
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Payload)
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    failed_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    replayed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)


outbox = cast(Table, OutboxRow.__table__)
processed_events = cast(Table, ProcessedEventRow.__table__)
dead_letters = cast(Table, DeadLetterRow.__table__)


async def write(conn: AsyncConnection, events: Sequence[Event]) -> None:
    """Add events to the outbox (one statement), inside the caller's transaction."""
    if not events:
        return
    await conn.execute(
        insert(outbox),
        [
            {
                "event_id": event.id,
                "type": event.type,
                "payload": event.to_json().decode(),
                "occurred_at": event.occurred_at,
                "published_at": None,
            }
            for event in events
        ],
    )


@dataclass(frozen=True, slots=True)
class Backlog:
    """The events waiting in the outbox for the relay: how many, and since when."""

    waiting: int
    oldest_at: dt.datetime | None  # when the oldest waiting event happened (None: none waits)

    def oldest_age_seconds(self, now: dt.datetime) -> float:
        """How long the oldest waiting event has waited (0 when none waits)."""
        if self.oldest_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_at).total_seconds())


async def backlog(conn: AsyncConnection) -> Backlog:
    """The unpublished events (two statements on ``ix_outbox_published_at_seq``)."""
    waiting = outbox.c.published_at.is_(None)
    count = (await conn.execute(select(func.count()).where(waiting))).scalar_one()
    oldest = (
        await conn.execute(
            select(outbox.c.occurred_at).where(waiting).order_by(outbox.c.seq).limit(1)
        )
    ).scalar()
    return Backlog(waiting=int(count), oldest_at=oldest)
