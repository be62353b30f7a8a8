"""SIGTERM to ``conduit worker`` while events flow: it stops gracefully and loses nothing.

The worker (``tests/integration/worker_process.py``: a consumer that takes 10 ms per event
and leaves one row in ``test_effects`` per application) is stopped mid-flow with SIGTERM:

- it exits with 0, the relay having finished the batch in hand and no delivery cut short;
- with the embedded bus, no batch is left half-published: the events the consumer applied
  are exactly the outbox rows stamped as published (cancelled mid-batch, the applied half
  would stay unstamped);
- a second worker publishes what was left, and every event is applied exactly once (no
  duplicate side effect, so no duplicate notification), embedded or over RabbitMQ.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from conduit.core.db import Database
from conduit.core.outbox import outbox, processed_events
from tests.integration.messaging import eventually, outbox_ids, processed_count, rabbit_url
from tests.integration.test_relay import emit
from tests.integration.test_worker_process import (
    _processed_at_least,
    effects,
    effects_table,
    output_of,
    start_worker,
)

__all__ = ["effects_table", "rabbit_url"]
EVENTS = 300


def worker_stopped(output: str) -> dict[str, Any]:
    """The ``worker_stopped`` record of a process's JSON log lines."""
    for line in output.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == "worker_stopped":
                return record
    raise AssertionError(f"no worker_stopped line in:\n{output[-3000:]}")


def stop(worker: subprocess.Popen[str]) -> str:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = output_of(worker)
    assert worker.returncode == 0, output
    return output


async def applied_and_stamped(db: Database, consumer: str) -> tuple[set[str], set[str]]:
    async with db.engine.connect() as conn:
        applied = await conn.execute(
            select(processed_events.c.event_id).where(processed_events.c.consumer == consumer)
        )
        stamped = await conn.execute(
            select(outbox.c.event_id).where(outbox.c.published_at.is_not(None))
        )
        return set(applied.scalars()), set(stamped.scalars())


@pytest.mark.parametrize("broker", ["embedded", "rabbitmq"])
async def test_sigterm_mid_flow_finishes_the_batch_and_loses_no_event(
    effects_table: Database, database_url: str, broker: str, request: pytest.FixtureRequest
) -> None:
    db = effects_table
    broker_url = request.getfixturevalue("rabbit_url") if broker == "rabbitmq" else None
    name = f"sigterm-{uuid.uuid4().hex[:8]}"
    ids = await emit(db, EVENTS, per_transaction=50)

    first = start_worker(database_url, broker_url, name, log_level="INFO")
    try:
        await eventually(lambda: _processed_at_least(db, name, 60), within=120)
    finally:
        output = stop(first)
    stopped = worker_stopped(output)
    assert stopped["relay_batch_finished"] is True
    assert stopped["deliveries_cut"] == 0
    stopped_at = await processed_count(db, name)
    assert stopped_at < EVENTS, "the worker finished before it could be stopped mid-way"
    if broker == "embedded":
        applied, stamped = await applied_and_stamped(db, name)
        assert applied == stamped

    second = start_worker(database_url, broker_url, name)
    try:
        await eventually(lambda: _processed_at_least(db, name, EVENTS), within=120)
    finally:
        stop(second)
    assert await effects(db) == (EVENTS, EVENTS)  # each applied once
    assert await outbox_ids(db, unpublished=True) == []
    assert sorted(ids) == sorted(await outbox_ids(db))
