"""The W3C trace context as Conduit carries it without OpenTelemetry (envelope fields, the
request's header), the switch that decides whether a process traces, and the traced bus."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from conduit.adapters.memory_bus import MemoryBus
from conduit.bootstrap import ConfigurationError, Container, check_settings
from conduit.comments.events import CommentCreated
from conduit.core.bus import Deliver, Outcome, Replayed, adapter_of
from conduit.core.consumers import Consumer
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.events import Event, log_fields
from conduit.core.relay import event_of_row
from conduit.core.security import TokenCodec
from conduit.core.trace_ids import trace_fields, trace_id_of
from conduit.observability.tracing.environment import (
    TracingConfigurationError,
    check_tracing_environment,
    start_tracing,
    tracing_requested,
)
from conduit.observability.tracing.provider import Tracing
from conduit.settings import Settings
from tests.conftest import TEST_SECRET

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize(
    ("value", "trace_id"),
    [
        (TRACEPARENT, TRACE),
        (f"  {TRACEPARENT} ", TRACE),
        (f"01-{TRACE}-{SPAN}-01-what-a-later-version-adds", TRACE),
        (f"00-{TRACE}-{SPAN}-01-more", None),  # version 00 has exactly four fields
        (f"ff-{TRACE}-{SPAN}-01", None),
        (f"00-{'0' * 32}-{SPAN}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE.upper()}-{SPAN}-01", None),
        (f"00-{TRACE[:-1]}-{SPAN}-01", None),
        ("", None),
        (None, None),
        ("x" * 10_000, None),
    ],
)
def test_trace_id_of_a_traceparent(value: str | None, trace_id: str | None) -> None:
    assert trace_id_of(value) == trace_id


def test_an_event_carries_its_trace_context_in_the_envelope() -> None:
    event = Event(type="article.created", data={}, traceparent=TRACEPARENT, tracestate="a=1")
    envelope = event.envelope()
    assert (envelope["traceparent"], envelope["tracestate"]) == (TRACEPARENT, "a=1")
    again = Event.from_json(event.to_json())
    assert (again.traceparent, again.tracestate) == (TRACEPARENT, "a=1")
    assert again.envelope() == envelope
    assert log_fields(again) == {
        "event_id": event.id,
        "event_type": "article.created",
        "trace_id": TRACE,
    }


def test_an_event_outside_a_trace_has_no_trace_fields() -> None:
    event = Event(type="article.created", data={})
    assert "traceparent" not in event.envelope()
    assert "tracestate" not in event.envelope()
    assert event.trace() == {}
    assert "trace_id" not in log_fields(event)


def test_an_invalid_traceparent_in_an_envelope_is_dropped_not_an_error() -> None:
    envelope = Event(type="article.created", data={}).envelope()
    envelope.update(traceparent="00-nonsense", tracestate="a=1")
    event = Event.from_envelope(envelope)
    assert (event.traceparent, event.tracestate) == (None, None)
    assert trace_fields({"traceparent": TRACEPARENT, "tracestate": "\n"}) == {
        "traceparent": TRACEPARENT
    }


def test_a_replayed_event_keeps_its_trace_context() -> None:
    event = Event(type="comment.created", data={"commentId": 1}, traceparent=TRACEPARENT)
    replayed = event_of_row("another-row-id", event.to_json().decode())
    assert isinstance(replayed, Replayed)
    assert replayed.traceparent == TRACEPARENT
    assert replayed.envelope() == event.envelope()


def test_the_unit_of_work_records_the_trace_it_emits_in() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    context = {"traceparent": TRACEPARENT, "tracestate": "vendor=x"}
    traced = Database(engine, trace_context=lambda: context)
    untraced = Database(engine)

    data = CommentCreated(
        comment_id=1, article_id=2, slug="s", article_author_id=4, author_id=3, body="Hi"
    )
    emitted = traced.uow().emit(data, actor_id=3)
    assert (emitted.traceparent, emitted.tracestate) == (TRACEPARENT, "vendor=x")
    assert untraced.uow().emit(data, actor_id=3).traceparent is None


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_with_an_endpoint_only(environ: dict[str, str], on: bool) -> None:
    assert tracing_requested(environ) is on
    if not on:
        assert start_tracing("conduit", environ) is None


@pytest.mark.parametrize(
    "extra",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
        {"OTEL_TRACES_EXPORTER": "zipkin"},
    ],
)
def test_what_cannot_be_exported_is_refused_with_a_message(
    extra: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", **extra}
    with pytest.raises(TracingConfigurationError, match=next(iter(extra))):
        check_tracing_environment(environ)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = Settings(environment="test", secret_key=TEST_SECRET)
    with pytest.raises(ConfigurationError, match=next(iter(extra))):
        check_settings(settings)


class FakeBus:
    def __init__(self, *, fails: bool = False) -> None:
        self.fails = fails
        self.published: list[Event] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, events: Sequence[Event]) -> None:
        if self.fails:
            raise ConnectionError("the broker is away")
        self.published.extend(events)

    async def consume(self, consumer: Consumer, deliver: Deliver) -> None:
        for event in self.published:
            await deliver(event, 1)


async def test_the_traced_bus_publishes_and_delivers_in_the_events_trace() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing.on(SimpleSpanProcessor(exporter))
    inner = FakeBus()
    bus = tracing.traced_bus(inner, broker_url="nats://broker:4222")
    traced = Event(type="comment.created", data={}, traceparent=TRACEPARENT)
    untraced = Event(type="comment.created", data={})
    await bus.publish([traced, untraced])
    assert inner.published == [traced, untraced]

    async def failing(_event: Event, _attempt: int) -> Outcome:
        return Outcome.RETRY

    await bus.consume(Consumer("mailer", frozenset({"comment.created"}), handle=None), failing)  # type: ignore[arg-type]
    spans = exporter.get_finished_spans()
    assert [(s.name, s.kind) for s in spans] == [
        ("publish comment.created", SpanKind.PRODUCER),
        ("publish comment.created", SpanKind.PRODUCER),
        ("process comment.created", SpanKind.CONSUMER),
        ("process comment.created", SpanKind.CONSUMER),
    ]
    for span in spans[::2]:  # the traced event's: children of its context
        assert f"{span.context.trace_id:032x}" == TRACE
        assert span.parent is not None
        assert f"{span.parent.span_id:016x}" == SPAN
    for span in spans[1::2]:  # the other's: roots
        assert span.parent is None
    assert all((s.attributes or {})["messaging.system"] == "nats" for s in spans)
    process = spans[2]
    assert (process.attributes or {})["messaging.consumer.group.name"] == "mailer"
    assert process.status.status_code is StatusCode.ERROR


def test_a_traced_embedded_bus_is_still_the_embedded_bus(tokens: TokenCodec) -> None:
    tracing = Tracing.on(SimpleSpanProcessor(InMemorySpanExporter()))
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    container = Container(
        settings=Settings(environment="test", secret_key=TEST_SECRET),
        db=Database(engine),
        tokens=tokens,
        bus=tracing.traced_bus(MemoryBus(), broker_url=None),
    )
    assert container.embedded_bus  # conduit serve runs the relay and consumers itself
    assert isinstance(adapter_of(container.bus), MemoryBus)


async def test_a_publish_the_broker_refused_is_an_error_span() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing.on(SimpleSpanProcessor(exporter))
    bus = tracing.traced_bus(FakeBus(fails=True), broker_url="amqp://broker")
    with pytest.raises(ConnectionError):
        await bus.publish([Event(type="comment.created", data={}, traceparent=TRACEPARENT)])
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["messaging.system"] == "rabbitmq"
