"""Tracing across processes: ``conduit serve`` and ``conduit worker`` export to a collector
(a small OTLP/HTTP receiver run by the test), and a comment's trace goes from the request in
one process, through RabbitMQ or NATS JetStream, to the consumer's work in the other.

Also: RabbitMQ and NATS messages carry the trace context as headers too; with no endpoint,
tracing costs nothing: the SDK and the instrumentations are not even
imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import nats
import pytest

from conduit.adapters.nats import NatsBus
from conduit.adapters.rabbitmq import RabbitMqBus, queue_name
from conduit.core.consumers import Consumer
from conduit.core.db import UnitOfWork
from conduit.core.events import Event
from tests.conftest import TEST_SECRET
from tests.faults.support import ConduitServer
from tests.integration.messaging import rabbit_url  # noqa: F401  (fixture)
from tests.integration.nats_server import NatsServer
from tests.integration.test_events_end_to_end import _auth, _register, _wait_for_count
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan, otlp_receiver
from tests.processes import stop

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
# What tracing loads (FastAPI itself imports the API, opentelemetry.trace, which does nothing
# without them).
SDK = ("opentelemetry.sdk", "opentelemetry.instrumentation", "opentelemetry.exporter")
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(params=["rabbitmq", "nats"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "rabbitmq":
        yield request.getfixturevalue("rabbit_url")
        return
    nats = NatsServer(tmp_path / "nats")
    nats.start()
    try:
        yield nats.url
    finally:
        nats.stop()


def _only(spans: list[ReceivedSpan], **wanted: str) -> ReceivedSpan:
    matching = [s for s in spans if all(getattr(s, k) == v for k, v in wanted.items())]
    assert len(matching) == 1, (wanted, [(s.service, s.name) for s in matching])
    return matching[0]


def _inserts_notification(span: ReceivedSpan) -> bool:
    statement = str(span.attributes.get("db.statement") or span.attributes.get("db.query.text"))
    return span.kind == "CLIENT" and "INTO notifications" in statement


@pytest.mark.usefixtures("db")  # empties the tables afterwards
def test_the_consumer_span_in_the_worker_is_a_child_of_the_request_span(
    database_url: str, broker_url: str, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    server = ConduitServer(
        database_url,
        tmp_path,
        CONDUIT_BROKER_URL=broker_url,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    server.start(timeout=60)
    worker = server.start_worker(tmp_path)
    try:
        base = server.base_url
        alice = _register(base, "alice")
        bob = _register(base, "bob")
        created = httpx.post(
            f"{base}/api/articles",
            json={"article": {"title": "Traced", "description": "d", "body": "b"}},
            headers=_auth(alice),
            timeout=10,
        )
        assert created.status_code == 201, created.text
        commented = httpx.post(
            f"{base}/api/articles/{created.json()['article']['slug']}/comments",
            json={"comment": {"body": "Nice"}},
            headers={**_auth(bob), "traceparent": TRACEPARENT},
            timeout=10,
        )
        assert commented.status_code == 201, commented.text
        assert _wait_for_count(base, alice, 1, within=60)["notificationsCount"] == 1

        def complete(spans: list[ReceivedSpan]) -> bool:
            # The worker's delivery span ends after the insert it wraps, and may reach the
            # receiver in a later export batch: wait for both.
            ours = [s for s in spans if s.trace_id == TRACE_ID]
            return any(_inserts_notification(s) for s in ours) and any(
                s.name == "process comment.created" for s in ours
            )

        spans = [s for s in receiver.wait_for(complete) if s.trace_id == TRACE_ID]
    finally:
        stop(worker)
        server.stop()

    # The request joined the caller's trace and said so in traceresponse.
    request = _only(spans, kind="SERVER", service="conduit")
    assert request.name == "POST /api/articles/{slug}/comments"
    assert request.parent_span_id == CALLER_SPAN
    assert commented.headers["traceresponse"].startswith(f"00-{TRACE_ID}-{request.span_id}-")

    # The relay (in conduit serve) published the event in that trace ...
    system = "rabbitmq" if broker_url.startswith("amqp") else "nats"
    published = _only(spans, name="publish comment.created")
    assert (published.service, published.kind) == ("conduit", "PRODUCER")
    assert published.parent_span_id == request.span_id
    assert published.attributes["messaging.system"] == system

    # ... and the worker's delivery is a child of the request, across the broker,
    process = _only(spans, name="process comment.created")
    assert (process.service, process.kind) == ("conduit-worker", "CONSUMER")
    assert process.parent_span_id == request.span_id
    assert process.attributes["messaging.consumer.group.name"] == "notifications"

    # with the notification's insert under it.
    inserts = [s for s in spans if _inserts_notification(s)]
    assert [(s.service, s.parent_span_id) for s in inserts] == [("conduit-worker", process.span_id)]
    logs = server.logs() + (tmp_path / "worker.log").read_text(errors="replace")
    assert "unhandled_error" not in logs, logs[-3000:]


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:9"])
def test_without_an_endpoint_the_sdk_and_instrumentations_are_not_even_loaded(
    tmp_path: Path, endpoint: str | None
) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CONDUIT_", "OTEL_"))
    }
    env.update(CONDUIT_SECRET_KEY=TEST_SECRET, CONDUIT_DATA_DIR=str(tmp_path))
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    code = (
        "import json, sys\n"
        f"SDK = {SDK!r}\n"
        "from conduit.entrypoints.api import create_app\n"
        "app = create_app()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(SDK))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    if endpoint is None:
        assert loaded == []
    else:  # the same check sees the SDK when tracing is on
        assert "opentelemetry.sdk.trace" in loaded


async def test_brokers_carry_the_trace_context_as_message_headers_too(broker_url: str) -> None:
    event = Event(
        type="comment.created", data={"commentId": 1}, traceparent=TRACEPARENT, tracestate="c=1"
    )
    if broker_url.startswith("amqp"):
        headers = await _rabbitmq_headers(broker_url, event)
    else:
        headers = await _nats_headers(broker_url, event)
    assert headers["traceparent"] == TRACEPARENT
    assert headers["tracestate"] == "c=1"


async def _rabbitmq_headers(url: str, event: Event) -> dict[str, Any]:
    name = f"trace-headers-{uuid.uuid4().hex[:8]}"

    async def handle(_uow: UnitOfWork, _event: Event) -> None: ...

    consumer = Consumer(name, frozenset({event.type}), handle)
    bus = RabbitMqBus(url, consumers=[consumer])
    try:
        await bus.publish([event])
    finally:
        await bus.close()
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name(consumer), passive=True)
        message = await queue.get(timeout=10)
        assert message is not None
        await message.ack()
        await queue.delete(if_unused=False, if_empty=False)
        return dict(message.headers or {})


async def _nats_headers(url: str, event: Event) -> dict[str, Any]:
    bus = NatsBus(url)
    await bus.start()
    try:
        await bus.publish([event])
    finally:
        await bus.close()
    client = await nats.connect(url)
    try:
        stored = await client.jetstream().get_msg("CONDUIT", 1)
    finally:
        await client.close()
    return dict(stored.headers or {})
