"""Tracing in one process (the embedded bus): a comment's whole trace, from the request to
the notification its consumer writes, and the W3C headers of the HTTP layer.

The spans go to the SDK's in-memory exporter; the same wiring as ``conduit serve`` with
``OTEL_EXPORTER_OTLP_ENDPOINT`` set (bootstrap's, with another span processor).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select

from conduit.adapters.memory_bus import MemoryBus
from conduit.bootstrap import Container, Role
from conduit.core.db import Database
from conduit.core.outbox import outbox
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.observability.tracing.provider import Tracing
from conduit.settings import Settings
from tests.helpers import auth, create_article, register

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"


@dataclass
class Traced:
    http: httpx.AsyncClient
    exporter: InMemorySpanExporter
    db: Database

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    async def wait_for(
        self, found: Callable[[list[ReadableSpan]], bool], within: float = 30.0
    ) -> list[ReadableSpan]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not found(spans := self.spans()):
            if loop.time() > deadline:
                raise AssertionError(f"not traced within {within} s: {[s.name for s in spans]}")
            await asyncio.sleep(0.05)
        return spans


@pytest.fixture
async def traced(db: Database, settings: Settings, tokens: TokenCodec) -> AsyncIterator[Traced]:
    """The app with tracing on, its relay and consumers running (the embedded bus)."""
    exporter = InMemorySpanExporter()
    tracing = Tracing.on(SimpleSpanProcessor(exporter))
    db.trace_context = tracing.trace_context
    tracing.instrument_database(db)
    container = Container(
        settings=settings,
        db=db,
        tokens=tokens,
        bus=tracing.traced_bus(MemoryBus(), broker_url=None),
        tracing=tracing,
    )
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with (
        container.running(Role.SERVE),
        httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as http,
    ):
        yield Traced(http, exporter, db)


def _hex(number: int, width: int) -> str:
    return f"{number:0{width}x}"


def _one(spans: Sequence[ReadableSpan], test: Callable[[ReadableSpan], bool]) -> ReadableSpan:
    matching = [span for span in spans if test(span)]
    assert len(matching) == 1, [span.name for span in matching]
    return matching[0]


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _statement(span: ReadableSpan) -> str:
    attributes: Any = span.attributes or {}
    return str(attributes.get("db.statement") or attributes.get("db.query.text") or "")


def _inserts(table: str, span: ReadableSpan) -> bool:
    """An insert into ``table`` (``INSERT IGNORE INTO`` on MariaDB)."""
    return span.kind is SpanKind.CLIENT and bool(
        re.match(rf"INSERT (IGNORE )?INTO {table}\b", _statement(span))
    )


def _inserts_notification(span: ReadableSpan) -> bool:
    return _inserts("notifications", span)


async def test_a_comment_is_one_trace_from_the_request_to_the_notification(
    traced: Traced,
) -> None:
    alice = await register(traced.http, "alice")
    bob = await register(traced.http, "bob")
    slug = (await create_article(traced.http, alice))["slug"]

    commented = await traced.http.post(
        f"/articles/{slug}/comments",
        json={"comment": {"body": "Nice one"}},
        headers=auth(bob),
    )
    assert commented.status_code == 201, commented.text

    def complete(spans: list[ReadableSpan]) -> bool:
        return any(_inserts_notification(span) for span in spans) and any(
            span.name == "publish notification.added" for span in spans
        )

    spans = await traced.wait_for(complete)
    request = _one(
        spans,
        lambda s: s.kind is SpanKind.SERVER and s.name == "POST /api/articles/{slug}/comments",
    )
    trace_id = request.context.trace_id
    in_trace = [span for span in spans if span.context.trace_id == trace_id]
    request_id = request.context.span_id

    # The request's statements are its children (the comment, the outbox row).
    statements = [s for s in in_trace if s.kind is SpanKind.CLIENT and _parent(s) == request_id]
    assert any(_inserts("comments", s) for s in statements)
    assert any(_inserts("outbox", s) for s in statements)

    # The relay published the event in the request's trace, as a child of the request ...
    published = _one(in_trace, lambda s: s.name == "publish comment.created")
    assert published.kind is SpanKind.PRODUCER
    assert _parent(published) == request_id
    assert (published.attributes or {})["messaging.system"] == "conduit"

    # ... and the notifications consumer processed it as a child of the request too,
    process = _one(in_trace, lambda s: s.name == "process comment.created")
    assert process.kind is SpanKind.CONSUMER
    assert _parent(process) == request_id
    assert (process.attributes or {})["messaging.consumer.group.name"] == "notifications"
    assert process.start_time is not None
    assert published.start_time is not None
    assert process.start_time >= published.start_time

    # the notification's insert being the consumer's own statement,
    insert = _one(in_trace, _inserts_notification)
    assert _parent(insert) == process.context.span_id

    # and what the consumer emitted continues the same trace, under its delivery.
    added = _one(in_trace, lambda s: s.name == "publish notification.added")
    assert _parent(added) == process.context.span_id

    # The outbox row kept the trace context of the request that wrote it.
    async with traced.db.engine.connect() as conn:
        payloads = (await conn.execute(select(outbox.c.payload))).scalars().all()
    envelopes = [orjson.loads(payload) for payload in payloads]
    created = _one_envelope(envelopes, "comment.created")
    version, *ids, flags = created["traceparent"].split("-")
    assert (version, ids) == ("00", [_hex(trace_id, 32), _hex(request_id, 16)])
    assert int(flags, 16) & 1  # sampled


def _one_envelope(envelopes: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    matching = [e for e in envelopes if e["type"] == event_type]
    assert len(matching) == 1
    return matching[0]


async def test_an_incoming_traceparent_is_joined_and_answered_with_traceresponse(
    traced: Traced,
) -> None:
    response = await traced.http.get("/tags", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200

    spans = await traced.wait_for(lambda spans: any(s.kind is SpanKind.SERVER for s in spans))
    request = _one(spans, lambda s: s.kind is SpanKind.SERVER)
    assert _hex(request.context.trace_id, 32) == INCOMING_TRACE
    assert _parent(request) == int(INCOMING_PARENT, 16)
    span_id = _hex(request.context.span_id, 16)
    assert response.headers["traceresponse"] == f"00-{INCOMING_TRACE}-{span_id}-01"


async def test_a_request_without_traceparent_starts_a_trace_it_answers_with(
    traced: Traced,
) -> None:
    response = await traced.http.get("/articles/nothing-here")
    assert response.status_code == 404
    version, trace_id, span_id, flags = response.headers["traceresponse"].split("-")
    assert version == "00"
    assert int(flags, 16) & 1
    spans = await traced.wait_for(lambda spans: any(s.kind is SpanKind.SERVER for s in spans))
    request = _one(spans, lambda s: s.kind is SpanKind.SERVER)
    assert (_hex(request.context.trace_id, 32), _hex(request.context.span_id, 16)) == (
        trace_id,
        span_id,
    )
    assert request.parent is None


async def test_without_tracing_events_carry_no_trace_and_answers_no_traceresponse(
    client: httpx.AsyncClient, db: Database
) -> None:
    token = await register(client, "carol")
    response = await client.get("/user", headers={**auth(token), "traceparent": TRACEPARENT})
    assert response.status_code == 200
    assert "traceresponse" not in response.headers
    async with db.engine.connect() as conn:
        payloads = (await conn.execute(select(outbox.c.payload))).scalars().all()
    assert payloads
    assert all("traceparent" not in orjson.loads(payload) for payload in payloads)


async def test_browsers_may_send_traceparent_and_read_traceresponse(
    client: httpx.AsyncClient,
) -> None:
    preflight = await client.options(
        "/articles",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "traceparent, tracestate, content-type",
        },
    )
    assert preflight.status_code == 200, preflight.text
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "traceparent" in allowed
    assert "tracestate" in allowed
    answer = await client.get("/tags", headers={"Origin": "https://app.example.com"})
    assert "traceresponse" in answer.headers["access-control-expose-headers"].lower()


async def test_a_span_keeps_no_secret_query_parameter(traced: Traced) -> None:
    response = await traced.http.get("/tags?code=auth-code-123&state=xyz-state&limit=5")
    assert response.status_code == 200
    spans = await traced.wait_for(lambda spans: any(s.kind is SpanKind.SERVER for s in spans))
    request = _one(spans, lambda s: s.kind is SpanKind.SERVER)
    values = " ".join(str(value) for value in (request.attributes or {}).values())
    assert "auth-code-123" not in values
    assert "xyz-state" not in values
    assert "limit=5" in values  # the rest of the query stays
