"""Use cases of the operations views, for admins: how events are delivered (the outbox
backlog, each consumer's work, the dead letters), replaying a dead letter, and the requests
the rate limits refused.

An ``actor`` of None is the command line (``conduit events replay``), trusted as whoever
can reach the database. A replay is audited like any other admin act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conduit.admin.audit import DEAD_LETTER_REPLAYED
from conduit.core import audit, consumers, dead_letters, outbox, policy
from conduit.core.audit import UNKNOWN_CLIENT, Client
from conduit.core.consumers import ConsumerActivity
from conduit.core.db import Database
from conduit.core.dead_letters import DeadLetter, DeadLetterDetail
from conduit.core.events import Event
from conduit.core.outbox import Backlog
from conduit.core.principal import Principal
from conduit.core.rate_limits import RecentRefusals, Refusal


@dataclass(frozen=True, slots=True)
class EventDelivery:
    """The state of event delivery as the database tells it."""

    backlog: Backlog
    consumers: list[ConsumerActivity]
    dead_letters: int  # waiting for a replay


@dataclass(frozen=True, slots=True)
class RefusalsSeen:
    """The rate-limit refusals of this process: the latest, and per rule since it started."""

    latest: list[Refusal]
    per_rule: dict[str, int]


async def event_delivery(
    db: Database, *, actor: Principal, consumer_names: Sequence[str]
) -> EventDelivery:
    """The outbox backlog, each consumer's activity and the dead letters waiting."""
    policy.require_admin(actor)
    async with db.reader() as uow:
        waiting = await outbox.backlog(uow.conn)
        activity = await consumers.activity(uow.conn, consumer_names)
    return EventDelivery(
        backlog=waiting, consumers=activity, dead_letters=await dead_letters.waiting_count(db)
    )


async def list_dead_letters(db: Database, *, actor: Principal, limit: int) -> list[DeadLetter]:
    """The most recent dead letters first."""
    policy.require_admin(actor)
    return await dead_letters.list_dead_letters(db, limit=limit)


async def dead_letter(db: Database, *, actor: Principal, dead_letter_id: int) -> DeadLetterDetail:
    """One dead letter, with its event (NotFound for an unknown id)."""
    policy.require_admin(actor)
    return await dead_letters.dead_letter(db, dead_letter_id)


async def replay_dead_letter(
    db: Database,
    *,
    actor: Principal | None,
    dead_letter_id: int,
    consumer_names: Sequence[str],
    client: Client = UNKNOWN_CLIENT,
) -> Event:
    """Queue a dead-lettered event again for the consumer that gave up on it (see
    :func:`conduit.core.dead_letters.replay`), audited; the event."""
    if actor is not None:
        policy.require_admin(actor)
    async with db.uow() as uow:
        event = await dead_letters.replay_in(uow, dead_letter_id, consumers=consumer_names)
        await audit.record(
            uow.conn,
            DEAD_LETTER_REPLAYED,
            actor_id=None if actor is None else actor.id,
            client=client,
            details={"deadLetterId": dead_letter_id, "eventId": event.id, "eventType": event.type},
        )
        await uow.commit()
    return event


def rate_limit_refusals(*, actor: Principal, refusals: RecentRefusals) -> RefusalsSeen:
    """What this process's rate limits refused (each instance keeps its own)."""
    policy.require_admin(actor)
    return RefusalsSeen(latest=refusals.latest(), per_rule=refusals.counts())
