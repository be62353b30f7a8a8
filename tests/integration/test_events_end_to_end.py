"""The whole event path with real processes: a write on ``conduit serve`` becomes a notification.

- Zero config (no broker): the relay and the consumers run inside ``conduit serve``, on every
  database.
- With RabbitMQ: ``conduit serve`` only writes and relays; a separate ``conduit worker``
  consumes. Writes made while no worker runs are notified once one starts, exactly once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults.support import ConduitServer
from tests.integration.messaging import rabbit_url  # noqa: F401  (fixture)
from tests.processes import stop

pytestmark = pytest.mark.usefixtures("db")  # empties the tables after each test


def _register(base: str, name: str) -> str:
    response = httpx.post(
        f"{base}/api/users",
        json={"user": {"username": name, "email": f"{name}@e2e.test", "password": "pw-123456"}},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["user"]["token"]
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def _notifications(base: str, token: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/notifications", headers=_auth(token), timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_for_count(base: str, token: str, count: int, *, within: float) -> dict[str, Any]:
    """The notifications once there are ``count``, or as they are at the deadline. The
    deadline is generous: a worker started under a full parallel test run can take tens of
    seconds to import, connect and consume, and a quick delivery returns at once."""
    deadline = time.monotonic() + within
    body = _notifications(base, token)
    # Both the count and the page: they are two statements, and a delivery can commit
    # between them (notifications/repository.py: list_page).
    while (
        body["notificationsCount"] < count or len(body["notifications"]) < count
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
        body = _notifications(base, token)
    return body


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ConduitServer]:
    process = ConduitServer(database_url, tmp_path)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_zero_config_serve_notifies_without_a_worker(server: ConduitServer) -> None:
    base = server.base_url
    alice = _register(base, "alice")
    bob = _register(base, "bob")

    followed = httpx.post(f"{base}/api/profiles/alice/follow", headers=_auth(bob), timeout=10)
    assert followed.status_code == 200
    created = httpx.post(
        f"{base}/api/articles",
        json={"article": {"title": "Hello", "description": "d", "body": "b"}},
        headers=_auth(alice),
        timeout=10,
    )
    assert created.status_code == 201
    slug = created.json()["article"]["slug"]
    commented = httpx.post(
        f"{base}/api/articles/{slug}/comments",
        json={"comment": {"body": "Nice"}},
        headers=_auth(bob),
        timeout=10,
    )
    assert commented.status_code in (200, 201)

    for_alice = _wait_for_count(base, alice, 2, within=60)
    assert [item["type"] for item in for_alice["notifications"]] == ["comment", "follow"]
    assert for_alice["unreadCount"] == 2
    for_bob = _wait_for_count(base, bob, 1, within=60)
    assert [item["type"] for item in for_bob["notifications"]] == ["article"]
    assert for_bob["notifications"][0]["article"]["slug"] == slug
    assert "unhandled_error" not in server.logs()


def test_with_rabbitmq_a_worker_delivers_what_was_written_while_it_was_away(
    database_url: str,
    rabbit_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = ConduitServer(database_url, tmp_path, CONDUIT_BROKER_URL=rabbit_url)
    server.start()
    worker = server.start_worker(tmp_path)
    try:
        base = server.base_url
        alice = _register(base, "alice")
        bob = _register(base, "bob")
        assert httpx.post(f"{base}/api/profiles/alice/follow", headers=_auth(bob)).is_success
        assert _wait_for_count(base, alice, 1, within=60)["notificationsCount"] == 1

        stop(worker)  # writes go on without a consumer: the broker keeps them
        carol = _register(base, "carol")
        assert httpx.post(f"{base}/api/profiles/alice/follow", headers=_auth(carol)).is_success
        time.sleep(1.0)
        assert _notifications(base, alice)["notificationsCount"] == 1

        worker = server.start_worker(tmp_path)
        body = _wait_for_count(base, alice, 2, within=60)
        assert [item["actor"]["username"] for item in body["notifications"]] == ["carol", "bob"]
        time.sleep(1.0)  # nothing arrives twice
        assert _notifications(base, alice)["notificationsCount"] == 2
    finally:
        stop(worker)
        server.stop()
    logs = server.logs() + (tmp_path / "worker.log").read_text(errors="replace")
    assert "unhandled_error" not in logs, logs[-3000:]
    assert os.environ.get("CONDUIT_BROKER_URL") is None  # the test set it only for its children
