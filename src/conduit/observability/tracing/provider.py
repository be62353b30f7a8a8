"""OpenTelemetry tracing of one Conduit process: the SDK, the instrumentations, the wiring.

Built by :func:`conduit.observability.tracing.environment.start_tracing` when the standard
``OTEL_*`` variables ask for it (``conduit serve``'s app and ``conduit worker``), and handed
to bootstrap, which wires it where Conduit's parts meet:

- the database: SQLAlchemy's instrumentation on the write and read engines (a span per
  statement), and the unit of work's ``trace_context`` (every event records the trace it
  was emitted in: :mod:`conduit.observability.tracing.context`);
- the event bus: :class:`~conduit.observability.tracing.bus.TracedBus` (a span per event
  published and per delivery, children of the request that emitted the event);
- the web app: the FastAPI/ASGI instrumentation (a server span per request, joining the
  trace of an incoming ``traceparent``; the answer's ``traceresponse`` header);
- Redis and httpx (the cache, rate limits and live updates; OpenID Connect providers);
- the logs: every line names the active trace and span.

Spans go to an OTLP/HTTP exporter through a batch processor (a background thread; a
request never waits for the collector). The sampler is ``OTEL_TRACES_SAMPLER``'s
(default: parent-based, always on), except that a client span without a parent (a
statement, a cache call made outside any request or delivery: the relay's and the
access rules' polling) starts no trace of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.propagators import set_global_response_propagator
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    Sampler,
    SamplingResult,
    _get_from_env_or_default,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from conduit import __version__
from conduit.core.bus import EventBus
from conduit.core.db import Database
from conduit.observability.tracing.bus import TracedBus, messaging_system
from conduit.observability.tracing.context import (
    TraceResponse,
    add_trace_ids,
    current_trace_context,
    without_secrets,
)

_log = structlog.get_logger("conduit.tracing")


class WithoutStrayClientSpans(Sampler):
    """``sampler``'s decisions, except that a client span without a parent is dropped: a
    statement or cache call outside any request or delivery (polling) starts no trace."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self.sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WithoutStrayClientSpans{{{self.sampler.get_description()}}}"


def resource(service_name: str) -> Resource:
    """The process's resource: ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES`` first,
    then ``service_name`` ("conduit", "conduit-worker") and Conduit's version."""
    detected = Resource.create()
    attributes = dict(detected.attributes)
    if str(attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        attributes[SERVICE_NAME] = service_name
    attributes.setdefault(SERVICE_VERSION, __version__)
    return Resource(attributes, detected.schema_url)


class Tracing:
    """One process's tracer provider and what was instrumented with it.

    :meth:`exporting` is the production one (OTLP/HTTP); tests build one on their own
    span processor (an in-memory exporter).
    """

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("conduit", __version__)
        self._instrumented: list[BaseInstrumentor] = []

    @classmethod
    def exporting(cls, service_name: str) -> Tracing:
        """Spans to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP/HTTP, batched), Redis and httpx
        traced: what ``conduit serve`` and ``conduit worker`` run with tracing on."""
        tracing = cls.on(BatchSpanProcessor(OTLPSpanExporter()), service_name=service_name)
        tracing.instrument_clients()
        return tracing

    @classmethod
    def on(cls, processor: SpanProcessor, *, service_name: str = "conduit") -> Tracing:
        """A provider sending its spans to ``processor``, with Conduit's sampler."""
        sampler = WithoutStrayClientSpans(_get_from_env_or_default())
        provider = TracerProvider(resource=resource(service_name), sampler=sampler)
        provider.add_span_processor(processor)
        return cls(provider)

    # -- what bootstrap and the entrypoints wire ---------------------------------------------

    @staticmethod
    def trace_context() -> Mapping[str, str]:
        """For ``Database(trace_context=...)``: the active span, as an envelope carries it."""
        return current_trace_context()

    log_processors = (add_trace_ids,)

    def instrument_database(self, db: Database) -> None:
        """A span per statement on the database's engines (its write and read pools)."""
        engines = [db.engine.sync_engine]
        if db.read_engine is not db.engine:
            engines.append(db.read_engine.sync_engine)
        # Its declared range stops below SQLAlchemy 2.1, which Conduit pins; the engine
        # events it listens to are the same in 2.1 (tests/api/test_tracing.py checks it).
        self._instrument(
            SQLAlchemyInstrumentor(), engines=engines, enable_commenter=False, skip_dep_check=True
        )

    def instrument_clients(self) -> None:
        """Redis (cache, rate limits, live updates) and httpx (OpenID Connect providers):
        their instrumentations patch the client classes, once per process."""
        self._instrument(RedisInstrumentor())
        self._instrument(HTTPXClientInstrumentor())

    def instrument_app(self, app: Any) -> None:
        """A server span per request and WebSocket (none per ASGI message), joining an
        incoming ``traceparent``; ``traceresponse`` on every answer; no secret query
        parameter's value in a span."""
        set_global_response_propagator(TraceResponse())  # type: ignore[no-untyped-call]
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            exclude_spans=["receive", "send"],
            server_request_hook=without_secrets,
        )

    def traced_bus(self, bus: EventBus, *, broker_url: str | None) -> EventBus:
        """``bus`` with a span per event published and per delivery."""
        return TracedBus(bus, self.tracer, system=messaging_system(broker_url))

    def _instrument(self, instrumentor: BaseInstrumentor, **options: Any) -> None:
        if instrumentor.is_instrumented_by_opentelemetry:
            return  # another Tracing of this process did: it stays with that one
        instrumentor.instrument(tracer_provider=self.provider, **options)
        self._instrumented.append(instrumentor)

    def started(self) -> None:
        """Say so in the log (when the process starts its parts, its logging configured)."""
        _log.info(
            "tracing_started",
            service=self.provider.resource.attributes.get(SERVICE_NAME),
            sampler=self.provider.sampler.get_description(),
        )

    async def shutdown(self) -> None:
        """Undo the instrumentations, then export what is left (in a thread: the
        exporter blocks until the collector answered or its timeout passed)."""
        while self._instrumented:
            self._instrumented.pop().uninstrument()
        await asyncio.to_thread(self.provider.shutdown)
