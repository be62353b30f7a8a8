"""``conduit events relay --once``: one pass of the relay, for a schedule (cron, a serverless
function), where no ``conduit serve`` or ``conduit worker`` relays the outbox. The command
runs as a process of its own, as a schedule runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.outbox import outbox
from conduit.core.security import TokenCodec
from conduit.core.tables import Base
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.conftest import TEST_SECRET
from tests.helpers import auth, register


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """As tests/integration/test_events_cli.py's, but every table is emptied afterwards:
    this test signs users up and notifies them."""
    monkeypatch.setenv("CONDUIT_DATABASE_URL", database_url)
    monkeypatch.setenv("CONDUIT_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CONDUIT_AUTO_MIGRATE", "false")
    monkeypatch.setenv("CONDUIT_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("CONDUIT_BROKER_URL", raising=False)
    yield database_url
    asyncio.run(_empty(database_url))


async def _empty(url: str) -> None:
    db = Database(create_engine(url))
    async with db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    await db.dispose()


async def _api(url: str, tmp_path: Path, steps: object) -> object:
    """Run ``steps(client)`` against the app with no lifespan: no relay runs, so what it
    writes leaves its events in the outbox."""
    db = Database(create_engine(url))
    settings = Settings(
        environment="test",
        database_url=url,
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        log_level="WARNING",
    )
    container = Container(
        settings=settings, db=db, tokens=TokenCodec(secret=TEST_SECRET, ttl_seconds=3600)
    )
    transport = httpx.ASGITransport(app=create_app(container=container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t/api") as client:
            return await steps(client)  # type: ignore[operator]
    finally:
        await db.dispose()


async def _waiting(url: str) -> int:
    db = Database(create_engine(url))
    try:
        async with db.engine.connect() as conn:
            query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            return int((await conn.execute(query)).scalar_one())
    finally:
        await db.dispose()


def conduit(*args: str) -> subprocess.CompletedProcess[str]:
    """``conduit ARGS`` in a process of its own, with this test's environment (its logging
    set up on that process's stderr, not on this one's)."""
    return subprocess.run(
        [sys.executable, "-m", "conduit.entrypoints.cli", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def relay_once() -> dict[str, int]:
    done = conduit("events", "relay", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


def test_one_pass_delivers_what_waits_in_the_outbox(cli_env: str, tmp_path: Path) -> None:
    async def follow(client: httpx.AsyncClient) -> str:
        alice = await register(client, "alice")
        bob = await register(client, "bob")
        answer = await client.post("/profiles/alice/follow", headers=auth(bob))
        assert answer.status_code == 200, answer.text
        return alice

    alice = asyncio.run(_api(cli_env, tmp_path, follow))
    waiting = asyncio.run(_waiting(cli_env))
    assert waiting >= 3  # two sign-ups and a follow

    done = relay_once()

    # ... and what applying them added (the notification's own event) in the same pass.
    assert done["published"] > waiting
    assert asyncio.run(_waiting(cli_env)) == 0

    async def notifications(client: httpx.AsyncClient) -> list[str]:
        answer = await client.get("/notifications", headers=auth(str(alice)))
        return [note["actor"]["username"] for note in answer.json()["notifications"]]

    # With the embedded bus the consumers applied the events in the command's process.
    assert asyncio.run(_api(cli_env, tmp_path, notifications)) == ["bob"]
    assert relay_once()["published"] == 0  # nothing left: the next pass publishes nothing


def test_an_unreachable_database_is_one_line_and_exit_code_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONDUIT_DATABASE_URL", "postgresql+asyncpg://conduit@127.0.0.1:1/none")
    monkeypatch.setenv("CONDUIT_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CONDUIT_AUTO_MIGRATE", "false")
    monkeypatch.delenv("CONDUIT_BROKER_URL", raising=False)

    done = conduit("events", "relay", "--once")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "The relay failed" in done.stderr
    assert "127.0.0.1" in done.stderr
