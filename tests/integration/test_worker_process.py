"""Issue 7 section 6: a worker killed with SIGKILL in the middle of a batch and started
again loses nothing, and what it applies twice is a no-op (embedded bus and RabbitMQ)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import text

from conduit.core.db import Database
from tests.conftest import TEST_SECRET
from tests.integration.messaging import eventually, outbox_ids, processed_count, rabbit_url
from tests.integration.test_relay import emit

__all__ = ["rabbit_url"]
ROOT = Path(__file__).resolve().parents[2]
EVENTS = 300


def start_worker(
    database_url: str, broker_url: str | None, consumer: str, log_level: str = "WARNING"
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "CONDUIT_DATABASE_URL": database_url,
        "CONDUIT_SECRET_KEY": TEST_SECRET,
        "CONDUIT_AUTO_MIGRATE": "false",
        "CONDUIT_ENVIRONMENT": "test",
        "CONDUIT_RELAY_BATCH_SIZE": "50",
        "CONDUIT_RELAY_POLL_INTERVAL_SECONDS": "0.2",
        "CONDUIT_LOG_LEVEL": log_level,
        "CONDUIT_LOG_JSON": "true",
        "TEST_CONSUMER": consumer,
    }
    env.pop("CONDUIT_BROKER_URL", None)
    if broker_url:
        env["CONDUIT_BROKER_URL"] = broker_url
    # Its lines go to a file, not a pipe: at INFO a worker writes a line per event, and a
    # pipe nobody reads until the end fills up and stops the worker mid-flow.
    log = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed by output_of)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker_process"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _logs[process.pid] = log
    return process


_logs: dict[int, IO[str]] = {}


def output_of(worker: subprocess.Popen[str]) -> str:
    """Everything a stopped worker wrote (stdout and stderr)."""
    log = _logs.pop(worker.pid)
    log.seek(0)
    output = log.read()
    log.close()
    return output


async def effects(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM test_effects"))
        ).one()
    return int(row[0]), int(row[1])


@pytest.fixture
async def effects_table(db: Database) -> Database:
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS test_effects"))
        await conn.execute(text("CREATE TABLE test_effects (event_id VARCHAR(36) NOT NULL)"))
    yield db  # type: ignore[misc]
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS test_effects"))


@pytest.mark.parametrize("broker", ["embedded", "rabbitmq"])
async def test_a_worker_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    effects_table: Database, database_url: str, broker: str, request: pytest.FixtureRequest
) -> None:
    db = effects_table
    broker_url = request.getfixturevalue("rabbit_url") if broker == "rabbitmq" else None
    name = f"sigkill-{uuid.uuid4().hex[:8]}"
    ids = await emit(db, EVENTS, per_transaction=50)

    first = start_worker(database_url, broker_url, name)
    try:
        await eventually(lambda: _processed_at_least(db, name, 60), within=120)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        output_of(first)
    killed_at = await processed_count(db, name)
    assert killed_at < EVENTS, "the worker finished before it could be killed mid-way"

    second = start_worker(database_url, broker_url, name)
    try:
        await eventually(lambda: _processed_at_least(db, name, EVENTS), within=120)
        await asyncio.sleep(0.5)
        second.send_signal(signal.SIGTERM)  # graceful stop
        second.wait(timeout=20)
        output = output_of(second)
        assert second.returncode == 0, output
    finally:
        if second.poll() is None:
            second.kill()
    assert await effects(db) == (EVENTS, EVENTS)
    assert await processed_count(db, name) == EVENTS
    assert await outbox_ids(db, unpublished=True) == []
    assert sorted(ids) == sorted(await outbox_ids(db))


async def _processed_at_least(db: Database, name: str, count: int) -> bool:
    return await processed_count(db, name) >= count
