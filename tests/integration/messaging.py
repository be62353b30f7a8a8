"""What the relay, bus and worker tests share: a RabbitMQ vhost per session, test consumers.

Import the fixtures into a test module (``from tests.integration.messaging import
rabbit_url``). The vhost is created with ``rabbitmqctl`` and deleted afterwards, so a
session never sees another's queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from conduit.core.consumers import Consumer
from conduit.core.db import Database, UnitOfWork
from conduit.core.events import Event
from conduit.core.outbox import outbox, processed_events
from tests.conftest import _unreachable
from tests.integration.worker_process import ALL_TYPES

RABBIT_HOST = os.environ.get("CONDUIT_TEST_RABBIT_HOST", "127.0.0.1:5672")


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl is not installed")
    done = subprocess.run(
        ["rabbitmqctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def own_vhost(prefix: str = "conduit_test") -> Iterator[str]:
    """An AMQP URL on a new vhost, deleted afterwards (unless deleted already)."""
    vhost = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except Exception as exc:
        _unreachable("rabbitmq", exc)
    try:
        yield f"amqp://guest:guest@{RABBIT_HOST}/{vhost}"
    finally:
        with contextlib.suppress(RuntimeError):  # a test took it away itself
            rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def rabbit_url() -> Iterator[str]:
    """An AMQP URL on a vhost of its own, deleted at the end of the session."""
    with own_vhost() as url:
        yield url


class Recorder:
    """A test consumer's handler: records each event it applies (and can fail on purpose)."""

    def __init__(self, *, failures: int = 0, delay: float = 0.0) -> None:
        self.applied: list[str] = []
        self.calls = 0
        self.failures = failures
        self.delay = delay

    async def __call__(self, _uow: UnitOfWork, event: Event) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.calls <= self.failures:
            raise RuntimeError(f"failure {self.calls} on purpose")
        self.applied.append(event.id)


def consumer(name: str, handle: Callable[[UnitOfWork, Event], Awaitable[None]]) -> Consumer:
    return Consumer(name=name, types=ALL_TYPES, handle=handle)


async def outbox_ids(db: Database, *, unpublished: bool = False) -> list[str]:
    query = select(outbox.c.event_id).order_by(outbox.c.seq)
    if unpublished:
        query = query.where(outbox.c.published_at.is_(None))
    async with db.engine.connect() as conn:
        return list((await conn.execute(query)).scalars())


async def processed_count(db: Database, consumer_name: str) -> int:
    query = (
        select(func.count())
        .select_from(processed_events)
        .where(processed_events.c.consumer == consumer_name)
    )
    async with db.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 30.0) -> None:
    """Wait until ``check()`` is true (polling), or fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"not true within {within} s")
        await asyncio.sleep(0.05)


def envelope_ids(payloads: list[Any]) -> list[str]:
    return [Event.from_json(payload).id for payload in payloads]
