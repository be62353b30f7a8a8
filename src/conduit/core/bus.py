"""The event bus port: how events leave the outbox and reach the consumers.

Adapters (``conduit.adapters``): in-process (the zero-config default, no broker), RabbitMQ
(``amqp://``) and NATS JetStream (``nats://``); ``bootstrap`` picks one from
``CONDUIT_BROKER_URL``. The relay calls :meth:`EventBus.publish` with a batch of outbox
events and marks them sent only once it returns (the broker confirmed every one). Each
consumer gets its own durable subscription; the bus calls ``deliver(event, attempt)`` for
every message and settles it by the :class:`Outcome` returned.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from typing import Protocol

import structlog

from conduit.core.consumers import Consumer, apply, record_dead_letter
from conduit.core.db import Database
from conduit.core.events import Event, log_fields

_log = structlog.get_logger("conduit.bus")


class Outcome(enum.Enum):
    DONE = "done"  # applied (or already applied before): acknowledge
    RETRY = "retry"  # failed, attempts left: redeliver later, with backoff
    DEAD = "dead"  # failed for the last time, recorded as a dead letter: acknowledge


Deliver = Callable[[Event, int], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Replayed(Event):
    """An event put back by ``conduit events replay``: same envelope, a new message id.

    Brokers that de-duplicate by message id (NATS ``Nats-Msg-Id``) would drop a second
    message with the event's own id; a replay is published under ``message_id`` instead,
    while the envelope (and so every consumer's idempotency key) keeps the event id.
    """

    message_id: str = ""

    @classmethod
    def under(cls, event: Event, *, message_id: str) -> Replayed:
        """``event`` (its whole envelope, trace fields included) under another message id."""
        return cls(
            **{name.name: getattr(event, name.name) for name in fields(Event)},
            message_id=message_id,
        )


def message_id(event: Event) -> str:
    """The id a broker message carries (and de-duplicates on): the event id, or a replay's."""
    if isinstance(event, Replayed) and event.message_id:
        return event.message_id
    return event.id


class EventBus(Protocol):
    """What the relay and the worker need from a broker (adapters in ``conduit.adapters``).

    Adapters name each message :func:`message_id` (never ``event.id`` directly) so that a
    replayed event is not taken for a duplicate.
    """

    async def start(self) -> None:
        """Connect and declare what the bus needs (exchanges, streams); idempotent.

        May raise while the broker is down; the relay calls it again before each attempt.
        """

    async def publish(self, events: Sequence[Event]) -> None:
        """Return once the broker has accepted every event; raise if it did not."""

    async def consume(self, consumer: Consumer, deliver: Deliver) -> None:
        """Deliver the consumer's events until cancelled (``attempt`` counts from 1)."""

    async def close(self) -> None: ...


def adapter_of(bus: EventBus) -> EventBus:
    """The adapter under the wrappers that observe a bus (tracing, metrics): each keeps the
    bus it wraps as ``inner``."""
    while (inner := getattr(bus, "inner", None)) is not None:
        bus = inner
    return bus


def backoff_seconds(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """How long to wait before redelivering after ``attempt`` failed: 0.5 s, 1 s, 2 s ..."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


MAX_ATTEMPTS = 5


def delivery(db: Database, consumer: Consumer, *, max_attempts: int = MAX_ATTEMPTS) -> Deliver:
    """The ``deliver`` every bus adapter calls: apply once, retry, dead-letter at the end.

    Every line logged meanwhile (the handler's too) carries ``consumer``, ``event_id``,
    ``event_type`` and the event's ``trace_id``; each delivery ends with one line:
    ``event_consumed`` (``applied``: false for a redelivery already applied),
    ``consumer_retry`` or ``consumer_dead_letter``.
    """

    async def deliver(event: Event, attempt: int) -> Outcome:
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(consumer=consumer.name, **log_fields(event)):
            try:
                applied = await apply(db, consumer, event)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt < max_attempts:
                    _log.warning("consumer_retry", attempt=attempt, error=repr(exc))
                    return Outcome.RETRY
                _log.error("consumer_dead_letter", attempts=attempt, error=repr(exc))
                await record_dead_letter(
                    db, consumer, event, error=f"{type(exc).__name__}: {exc}", attempts=attempt
                )
                return Outcome.DEAD
            _log.info(
                "event_consumed",
                applied=applied,
                attempt=attempt,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return Outcome.DONE

    return deliver
