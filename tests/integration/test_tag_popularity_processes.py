"""``GET /api/tags`` follows the writes in real processes, in every events mode.

- Zero config (no broker): ``conduit serve`` counts a write's tags before it answers, so a
  client reads its tag right after publishing (as the RealWorld suite does), on every
  database.
- RabbitMQ and NATS: ``conduit serve`` writes and relays, ``conduit worker`` recounts;
  the tag list follows within a second once the worker is consuming.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.support import ConduitServer
from tests.integration.messaging import rabbit_url  # noqa: F401  (fixture)
from tests.integration.nats_server import NatsServer
from tests.processes import stop

pytestmark = pytest.mark.usefixtures("db")  # empties the tables after each test

# How soon the tag list follows a write once the worker consumes (the documented bound).
WITHIN_SECONDS = 1.0


def _register(base: str, name: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/users",
        json={"user": {"username": name, "email": f"{name}@tags.test", "password": "pw-123456"}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Token {response.json()['user']['token']}"}


def _publish(base: str, auth: dict[str, str], title: str, tags: list[str]) -> str:
    article = {"title": title, "description": "d", "body": "b", "tagList": tags}
    response = httpx.post(f"{base}/api/articles", json={"article": article}, headers=auth)
    assert response.status_code == 201, response.text
    slug: str = response.json()["article"]["slug"]
    return slug


def _tags(base: str) -> list[str]:
    response = httpx.get(f"{base}/api/tags", timeout=10)
    assert response.status_code == 200, response.text
    tags: list[str] = response.json()["tags"]
    return tags


def _seconds_until(base: str, expected: list[str], *, within: float) -> float:
    """How long until ``/api/tags`` answers ``expected`` (fails past ``within``)."""
    started = time.monotonic()
    while (seen := _tags(base)) != expected:
        assert time.monotonic() - started < within, seen
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ConduitServer]:
    process = ConduitServer(database_url, tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_zero_config_serve_counts_the_tags_before_it_answers(server: ConduitServer) -> None:
    base = server.base_url
    auth = _register(base, "author")
    first = _publish(base, auth, "One", ["dragons", "rust"])
    assert _tags(base) == ["dragons", "rust"]  # read at once, no waiting
    _publish(base, auth, "Two", ["rust"])
    assert _tags(base) == ["rust", "dragons"]
    changed = httpx.put(
        f"{base}/api/articles/{first}", json={"article": {"tagList": ["zig"]}}, headers=auth
    )
    assert changed.status_code == 200
    assert _tags(base) == ["rust", "zig"]
    assert httpx.delete(f"{base}/api/articles/{first}", headers=auth).status_code == 204
    assert _tags(base) == ["rust"]
    assert "unhandled_error" not in server.logs()


def _follows_within_a_second(server: ConduitServer, folder: Path) -> None:
    worker = server.start_worker(folder)
    try:
        base = server.base_url
        auth = _register(base, "author")
        # The first one waits for the worker to start (imports, connections, subscriptions).
        _publish(base, auth, "Warm-up", ["warm"])
        _seconds_until(base, ["warm"], within=60)
        slug = _publish(base, auth, "One", ["dragons", "warm"])
        assert _seconds_until(base, ["warm", "dragons"], within=WITHIN_SECONDS) < WITHIN_SECONDS
        httpx.put(f"{base}/api/articles/{slug}", json={"article": {"tagList": []}}, headers=auth)
        assert _seconds_until(base, ["warm"], within=WITHIN_SECONDS) < WITHIN_SECONDS
    finally:
        stop(worker)
        server.stop()
    logs = server.logs() + (folder / "worker.log").read_text(errors="replace")
    assert "unhandled_error" not in logs, logs[-3000:]


def test_with_rabbitmq_the_worker_keeps_the_counts(
    database_url: str,
    rabbit_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = ConduitServer(database_url, tmp_path, CONDUIT_BROKER_URL=rabbit_url)
    server.start()
    _follows_within_a_second(server, tmp_path)


def test_with_nats_the_worker_keeps_the_counts(database_url: str, tmp_path: Path) -> None:
    nats = NatsServer(tmp_path / "jetstream")
    nats.start()
    try:
        server = ConduitServer(database_url, tmp_path, CONDUIT_BROKER_URL=nats.url)
        server.start()
        _follows_within_a_second(server, tmp_path)
    finally:
        nats.stop()
