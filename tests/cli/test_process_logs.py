"""The log lines of production: ``conduit serve`` and ``conduit worker`` (over RabbitMQ, with
tracing on) write one JSON object per line, with the fields docs/operating/logs.md lists,
and never a token, a password, a refresh cookie or an email.

Traffic: sign-up, login, a refresh, signed-in and anonymous reads, a follow (an event the
worker consumes), errors (404 with and without a route, 422, 401) and a WebSocket.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.conftest import TEST_SECRET
from tests.integration.messaging import rabbit_url  # noqa: F401  (fixture)
from tests.live_support import _wait_for_port, free_port
from tests.otlp_receiver import otlp_receiver
from tests.processes import stop

ORIGIN = "https://app.example.com"
PASSWORD = "correct-horse-battery-staple-42"
EMAIL = "alice.secret@example.org"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
# On every line: what structlog and the standard library's formatter both write.
COMMON = {"event", "level", "timestamp"}
REQUEST = {*COMMON, "request_id", "method", "path", "status", "duration_ms"}
TRACED = {"trace_id", "span_id"}
EVENT = {*COMMON, "event_id", "event_type", "trace_id"}


def _start(command: str, folder: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "conduit.entrypoints.cli", command, *args],
        env=env,
        cwd=folder,
        stdout=(folder / f"{command}.out").open("wb"),
        stderr=(folder / f"{command}.err").open("wb"),  # not a terminal: JSON logs
    )


def _stop(process: subprocess.Popen[bytes], folder: Path, command: str) -> str:
    """Stop gracefully; the process's whole stderr."""
    stop(process, sig=signal.SIGINT, timeout=30)
    return (folder / f"{command}.err").read_text(encoding="utf-8", errors="replace")


def _records(output: str, name: str) -> list[dict[str, Any]]:
    records = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{name}: not a JSON line: {line!r}\n\n{output}") from None
        assert isinstance(record, dict), line
        assert set(record) >= COMMON, line
        records.append(record)
    return records


def _traffic(base: str, ws_url: str) -> dict[str, str]:
    """Every kind of request; the secrets it used."""
    http = httpx.Client(base_url=base, timeout=10, headers={"Origin": ORIGIN})
    user = {"username": "alice", "email": EMAIL, "password": PASSWORD}
    signed_up = http.post("/api/users", json={"user": user})
    assert signed_up.status_code == 201, signed_up.text
    login = http.post("/api/users/login", json={"user": {"email": EMAIL, "password": PASSWORD}})
    assert login.status_code == 200, login.text
    token = login.json()["user"]["token"]
    refresh = login.cookies["conduit_refresh"]
    refreshed = http.post("/api/users/refresh", headers={"Cookie": f"conduit_refresh={refresh}"})
    assert refreshed.status_code == 200, refreshed.text
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/user", headers=bearer).status_code == 200
    bob = http.post(
        "/api/users",
        json={"user": {"username": "bob", "email": "bob@example.org", "password": PASSWORD}},
    ).json()["user"]["token"]
    followed = http.post("/api/profiles/alice/follow", headers={"Authorization": f"Token {bob}"})
    assert followed.status_code == 200, followed.text
    assert http.get("/api/articles/no-such-article").status_code == 404
    assert http.get("/api/no-such-thing").status_code == 404
    assert http.post("/api/users", json={"user": {"email": EMAIL}}).status_code == 422
    assert http.get("/api/user").status_code == 401
    assert http.get("/api/user", headers={"Authorization": "Token not.a.token"}).status_code == 401
    traced = http.get("/api/tags", headers={"traceparent": f"00-{TRACE_ID}-{'1' * 16}-01"})
    assert traced.status_code == 200
    with connect(f"{ws_url}/api/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": token}))
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
    http.close()
    return {
        "token": token,
        "bob's token": bob,
        "refresh cookie": refresh,
        "refreshed refresh cookie": refreshed.cookies["conduit_refresh"],
        "password": PASSWORD,
        "email": EMAIL,
    }


def _wait_for_line(folder: Path, command: str, text: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    path = folder / f"{command}.err"
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{command} never logged {text}"
        time.sleep(0.1)


def test_serve_and_worker_log_json_lines_with_the_documented_fields_and_no_secrets(
    tmp_path: Path,
    rabbit_url: str,  # noqa: F811
) -> None:
    port = free_port()
    env = {name: v for name, v in os.environ.items() if not name.startswith(("CONDUIT_", "OTEL_"))}
    with otlp_receiver() as receiver:
        env.update(
            CONDUIT_ENVIRONMENT="production",
            CONDUIT_CORS_ORIGINS=json.dumps([ORIGIN]),
            CONDUIT_SECRET_KEY=TEST_SECRET,
            CONDUIT_DATA_DIR=str(tmp_path),  # SQLite, migrated at start
            CONDUIT_BROKER_URL=rabbit_url,
            CONDUIT_RATE_LIMITS_ENABLED="false",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        )
        serve = _start("serve", tmp_path, env, "--port", str(port))
        worker = None
        try:
            _wait_for_port(port, serve, wait=60)
            worker = _start("worker", tmp_path, env)
            secrets = _traffic(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}")
            _wait_for_line(tmp_path, "worker", '"event_type":"user.followed"')
        finally:
            worker_log = _stop(worker, tmp_path, "worker") if worker else ""
            serve_log = _stop(serve, tmp_path, "serve")

    for name, output in (("serve", serve_log), ("worker", worker_log)):
        for what, secret in secrets.items():
            assert secret not in output, f"{name}'s stderr shows the {what}"

    served = _records(serve_log, "serve")
    requests = [r for r in served if r["event"] == "request"]
    assert all(set(r) >= REQUEST | TRACED for r in requests), requests
    by_path = {(r["method"], r["path"], r["status"]): r for r in requests}
    assert by_path[("GET", "/api/articles/no-such-article", 404)]["route"] == (
        "/api/articles/{slug}"
    )
    assert "route" not in by_path[("GET", "/api/no-such-thing", 404)]
    assert by_path[("POST", "/api/users", 422)]["route"] == "/api/users"
    signed_in = [r for r in requests if "user_id" in r]
    assert {(r["method"], r["route"]) for r in signed_in} == {
        ("GET", "/api/user"),
        ("POST", "/api/profiles/{username}/follow"),
    }
    assert all(isinstance(r["user_id"], int) for r in signed_in)
    assert by_path[("GET", "/api/tags", 200)]["trace_id"] == TRACE_ID
    assert any('"WebSocket /api/ws" [accepted]' in r["event"] for r in served)
    published = [r for r in served if r["event"] == "event_published"]
    assert {r["event_type"] for r in published} >= {"user.registered", "user.followed"}
    assert all(set(r) >= EVENT for r in published), published

    worked = _records(worker_log, "worker")
    consumed = [r for r in worked if r["event"] == "event_consumed"]
    followed = [r for r in consumed if r["event_type"] == "user.followed"]
    assert followed, consumed
    assert all(EVENT | TRACED | {"consumer", "attempt", "duration_ms"} <= set(r) for r in consumed)
    follow_request = by_path[("POST", "/api/profiles/alice/follow", 200)]
    assert followed[0]["trace_id"] == follow_request["trace_id"]
    assert followed[0]["consumer"] == "notifications"
    assert {"conduit_worker", "worker_started", "worker_stopped"} <= {r["event"] for r in worked}
