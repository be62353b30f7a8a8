"""The event bus, traced: a span for each event the relay publishes and each delivery.

:class:`TracedBus` wraps whichever :class:`~conduit.core.bus.EventBus` bootstrap built
(in-process, RabbitMQ, NATS JetStream) and changes nothing of what it does:

- ``publish <type>`` (kind PRODUCER): one per event of a batch, from the call to the
  broker until it confirmed the batch; its parent is the event's own trace context (the
  request, or the delivery, that emitted it), so the publication shows in that trace even
  when the relay runs in another process, seconds later.
- ``process <type>`` (kind CONSUMER): one per delivery to a consumer, around the
  consumer's transaction (its statements are its children, and an event it emits carries
  this span's context on); its parent is the event's trace context as well: the consumer's
  work is a child of the request that wrote the event, in whichever process it runs.
  A delivery that failed (retry, dead letter) has the status ERROR.

Attributes follow OpenTelemetry's messaging conventions (``messaging.system``,
``messaging.operation.type``, ``messaging.destination.name`` = the event type,
``messaging.message.id`` = the event id, ``messaging.consumer.group.name`` = the consumer).
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from conduit.core.bus import Deliver, EventBus, Outcome, message_id
from conduit.core.consumers import Consumer
from conduit.core.events import Event
from conduit.observability.tracing.context import context_of


def messaging_system(broker_url: str | None) -> str:
    """What carries the events, as traces name it: ``rabbitmq``, ``nats`` or ``conduit``
    (the in-process bus)."""
    url = broker_url or ""
    if url.startswith(("amqp://", "amqps://")):
        return "rabbitmq"
    return "nats" if url.startswith(("nats://", "tls://")) else "conduit"


def _attributes(system: str, operation: str, event: Event) -> dict[str, str | int]:
    return {
        "messaging.system": system,
        "messaging.operation.type": operation,
        "messaging.operation.name": operation,
        "messaging.destination.name": event.type,
        "messaging.message.id": message_id(event),
        "conduit.event.id": event.id,
        "conduit.event.version": event.version,
    }


class TracedBus:
    """An :class:`~conduit.core.bus.EventBus` that traces ``inner`` (module docstring).

    ``system``: ``rabbitmq``, ``nats`` or ``conduit`` (the in-process bus). ``inner`` is
    what :func:`~conduit.core.bus.adapter_of` looks through.
    """

    def __init__(self, inner: EventBus, tracer: Tracer, *, system: str) -> None:
        self.inner = inner
        self.tracer = tracer
        self.system = system

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def publish(self, events: Sequence[Event]) -> None:
        spans = [
            self.tracer.start_span(
                f"publish {event.type}",
                context=context_of(event),
                kind=SpanKind.PRODUCER,
                attributes=_attributes(self.system, "publish", event),
            )
            for event in events
        ]
        try:
            await self.inner.publish(events)
        except BaseException as exc:
            for span in spans:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            for span in spans:
                span.end()

    async def consume(self, consumer: Consumer, deliver: Deliver) -> None:
        await self.inner.consume(consumer, self.traced(consumer, deliver))

    def traced(self, consumer: Consumer, deliver: Deliver) -> Deliver:
        """``deliver`` inside a ``process <type>`` span, child of the event's context."""
        tracer, system = self.tracer, self.system

        async def traced_deliver(event: Event, attempt: int) -> Outcome:
            attributes = _attributes(system, "process", event)
            attributes["messaging.consumer.group.name"] = consumer.name
            attributes["messaging.message.delivery_count"] = attempt
            with tracer.start_as_current_span(
                f"process {event.type}",
                context=context_of(event),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
            ) as span:
                outcome = await deliver(event, attempt)
                span.set_attribute("conduit.delivery.outcome", outcome.value)
                if outcome is not Outcome.DONE:
                    span.set_status(Status(StatusCode.ERROR, f"delivery outcome: {outcome.value}"))
                return outcome

        return traced_deliver
