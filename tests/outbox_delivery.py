"""Deliver what the outbox holds to a consumer, as the relay would (minus the transport).

Tests run real use cases (or HTTP requests), then call :func:`deliver_outbox`: every event
in the outbox, read back with ``Event.from_json``, is applied in order through
``conduit.core.consumers.apply``, which skips those the consumer has already applied.
"""

from __future__ import annotations

from sqlalchemy import select

from conduit.core.consumers import Consumer, apply
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.outbox import outbox


async def outbox_events(db: Database, *types: str) -> list[Event]:
    """The events in the outbox, oldest first (only ``types`` if given)."""
    query = select(outbox.c.payload).order_by(outbox.c.seq)
    if types:
        query = query.where(outbox.c.type.in_(types))
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Event.from_json(row.payload) for row in rows]


async def deliver_outbox(db: Database, consumer: Consumer) -> int:
    """Apply every outbox event to ``consumer``; how many it had not applied before."""
    applied = 0
    for event in await outbox_events(db):
        applied += await apply(db, consumer, event)
    return applied
