"""``conduit events dead-letters`` and ``conduit events replay`` (Typer's runner), and the
embedded mode of ``conduit serve``: relay and consumers in the app's lifespan."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
import structlog
from sqlalchemy import delete, select
from typer.testing import CliRunner, Result

from conduit.adapters.memory_bus import MemoryBus
from conduit.bootstrap import Container
from conduit.core.bus import delivery
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.outbox import dead_letters, outbox, processed_events
from conduit.core.relay import Relay
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.entrypoints.cli.main import app
from conduit.settings import Settings
from tests.conftest import TEST_SECRET
from tests.integration.messaging import Recorder, consumer, eventually, processed_count
from tests.integration.test_relay import emit


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CONDUIT_DATABASE_URL", database_url)
    monkeypatch.setenv("CONDUIT_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CONDUIT_AUTO_MIGRATE", "false")
    monkeypatch.setenv("CONDUIT_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("CONDUIT_BROKER_URL", raising=False)
    yield database_url
    asyncio.run(_empty(database_url))


def invoke(*args: str) -> Result:
    """Run ``conduit ARGS``; the logging it configures (on the runner's stderr) is undone."""
    saved = structlog.get_config()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        structlog.configure(**saved)


async def _empty(url: str) -> None:
    db = Database(create_engine(url))
    async with db.engine.begin() as conn:
        for table in (dead_letters, processed_events, outbox):
            await conn.execute(delete(table))
    await db.dispose()


async def _dead_letter_then(url: str, *, after_replay: bool) -> tuple[list[str], list[str]]:
    """Publish one event to a consumer that fails (first run) or works (after the replay)."""
    db = Database(create_engine(url))
    try:
        if not after_replay:
            await emit(db, 1)
        recorder = Recorder(failures=0 if after_replay else 99)
        bus = MemoryBus(backoff_cap=0.01)
        wanted = consumer("mailer", recorder)
        bus.subscribe(wanted, delivery(db, wanted, max_attempts=2))
        await Relay(db, bus).drain()
        async with db.engine.connect() as conn:
            ids = list((await conn.execute(select(outbox.c.payload))).scalars())
        return recorder.applied, ids
    finally:
        await db.dispose()


def test_dead_letters_are_listed_and_replayed(cli_env: str) -> None:
    empty = invoke("events", "dead-letters")
    assert empty.exit_code == 0, empty.output
    assert "No dead letters." in empty.output

    applied, _ = asyncio.run(_dead_letter_then(cli_env, after_replay=False))
    assert applied == []
    listed = invoke("events", "dead-letters")
    assert listed.exit_code == 0, listed.output
    header, row = listed.output.strip().splitlines()
    assert header.split("\t")[:5] == ["id", "consumer", "event_id", "type", "attempts"]
    fields = row.split("\t")
    letter_id = fields[0]
    assert fields[1:2] == ["mailer"]
    assert fields[3:5] == ["user.registered", "2"]
    assert fields[6] == "-"  # not replayed yet
    assert "RuntimeError: failure 2 on purpose" in fields[7]
    dt.datetime.fromisoformat(fields[5].rstrip("Z"))

    replayed = invoke("events", "replay", letter_id)
    assert replayed.exit_code == 0, replayed.output
    assert f"Replaying dead letter {letter_id}: user.registered {fields[2]}" in replayed.output
    applied, _ = asyncio.run(_dead_letter_then(cli_env, after_replay=True))
    assert applied == [fields[2]]  # the consumer applied it this time

    again = invoke("events", "replay", letter_id)
    assert again.exit_code == 1
    assert "was replayed at" in again.output
    missing = invoke("events", "replay", "999999")
    assert missing.exit_code == 1
    assert "not found" in missing.output
    assert invoke("events", "replay", "x").exit_code == 2
    listed = invoke("events", "dead-letters")
    assert listed.output.strip().splitlines()[1].split("\t")[6] != "-"


def test_worker_refuses_an_unknown_broker_scheme(
    cli_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDUIT_BROKER_URL", "kafka://localhost:9092")
    result = invoke("worker")
    assert result.exit_code == 2
    assert "CONDUIT_BROKER_URL must start with amqp://" in result.output


async def test_serve_runs_the_relay_and_consumers_in_process_without_a_broker(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    recorder = Recorder()
    wanted = consumer("in-process", recorder)
    slow_poll = settings.model_copy(update={"relay_poll_interval_seconds": 30.0})
    container = Container(
        settings=slow_poll, db=db, tokens=tokens, bus=MemoryBus(), consumers=(wanted,)
    )
    web = create_app(container=container)
    async with web.router.lifespan_context(web):
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as http:
            response = await http.post(
                "/users",
                json={"user": {"username": "eve", "email": "e@x.io", "password": "pw-123456"}},
            )
            assert response.status_code == 201
        # Woken by the commit (the poll interval is 30 s), applied by the in-process consumer.
        await eventually(lambda: processed_count_is(db, "in-process", 1), within=10)
    assert len(recorder.applied) == 1


async def processed_count_is(db: Database, name: str, count: int) -> bool:
    return await processed_count(db, name) == count
