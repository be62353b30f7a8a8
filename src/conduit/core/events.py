"""Domain events: what changed, in one versioned envelope.

A feature declares the events it emits in its ``events.py`` as subclasses of
:class:`EventData` (the ``data`` of the envelope); declaring one registers it in
:data:`CATALOGUE`, from which the AsyncAPI document is generated. A use case records an
event with ``uow.emit(SomethingHappened(...), actor_id=...)``; the unit of work writes it
to the outbox in the same transaction as the change (see :mod:`conduit.core.outbox`).

The envelope, as every broker and consumer sees it::

    {"id": "<UUIDv7>", "type": "article.created", "version": 1,
     "occurredAt": "2026-11-28T12:00:00.000Z", "actorId": 7, "data": {...},
     "traceparent": "00-<trace id>-<span id>-01", "tracestate": "..."}

``traceparent`` and ``tracestate`` (W3C Trace Context) name the trace of the request (or the
delivery) that emitted the event, when there was one: a consumer's work continues that
trace, in whichever process it runs. Both are optional and left out when there is no trace.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from uuid6 import uuid7

from conduit.core.formatting import iso, parse_iso
from conduit.core.trace_ids import TRACEPARENT, TRACESTATE, trace_fields, trace_id_of

CATALOGUE: dict[str, type[EventData]] = {}


class EventData(BaseModel):
    """The ``data`` of one event type. Subclasses set ``type`` (and ``version`` on change).

    Fields are snake_case in Python and camelCase on the wire, like the REST API.
    """

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    type: ClassVar[str]
    version: ClassVar[int] = 1
    summary: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("type")
        if isinstance(event_type, str):
            if event_type in CATALOGUE and CATALOGUE[event_type] is not cls:
                raise TypeError(f"event type {event_type!r} is declared twice")
            CATALOGUE[event_type] = cls

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded event: the envelope every broker carries."""

    type: str
    data: dict[str, Any]
    actor_id: int | None = None
    version: int = 1
    id: str = field(default_factory=lambda: str(uuid7()))
    occurred_at: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None)
    )
    # W3C Trace Context of what emitted the event (None outside a trace).
    traceparent: str | None = None
    tracestate: str | None = None

    @classmethod
    def of(
        cls, data: EventData, *, actor_id: int | None, trace: Mapping[str, str] | None = None
    ) -> Event:
        fields = trace_fields(trace) if trace else {}
        return cls(
            type=data.type,
            version=data.version,
            data=data.wire(),
            actor_id=actor_id,
            traceparent=fields.get(TRACEPARENT),
            tracestate=fields.get(TRACESTATE),
        )

    def envelope(self) -> dict[str, Any]:
        envelope: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "occurredAt": iso(self.occurred_at),
            "actorId": self.actor_id,
            "data": self.data,
        }
        envelope.update(self.trace())
        return envelope

    def trace(self) -> dict[str, str]:
        """``traceparent`` and ``tracestate`` as they travel (envelope fields, message
        headers); empty when the event was emitted outside a trace."""
        if self.traceparent is None:
            return {}
        if self.tracestate is None:
            return {TRACEPARENT: self.traceparent}
        return {TRACEPARENT: self.traceparent, TRACESTATE: self.tracestate}

    def to_json(self) -> bytes:
        return orjson.dumps(self.envelope())

    @classmethod
    def from_envelope(cls, envelope: dict[str, Any]) -> Event:
        """The event an envelope carries; ValueError when it is not a Conduit envelope."""
        try:
            actor = envelope.get("actorId")
            trace = trace_fields(envelope)  # an invalid traceparent is dropped, not an error
            return cls(
                id=str(envelope["id"]),
                type=str(envelope["type"]),
                version=int(envelope["version"]),
                occurred_at=parse_iso(str(envelope["occurredAt"])),
                actor_id=None if actor is None else int(actor),
                data=dict(envelope["data"]),
                traceparent=trace.get(TRACEPARENT),
                tracestate=trace.get(TRACESTATE),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an event envelope: {exc}") from exc

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        try:
            envelope = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(envelope, dict):
            raise ValueError("not an event envelope: not an object")
        return cls.from_envelope(envelope)


def log_fields(event: Event) -> dict[str, str]:
    """What a log line about one event carries: its id, its type and its trace id (when it
    was emitted in a trace; with tracing on, the log's own processor names the span too)."""
    fields = {"event_id": event.id, "event_type": event.type}
    trace_id = trace_id_of(event.traceparent)
    if trace_id is not None:
        fields["trace_id"] = trace_id
    return fields
