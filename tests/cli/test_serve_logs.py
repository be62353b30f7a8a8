"""``conduit serve`` with JSON logs (production, or any stderr that is not a terminal): every
line it writes is one JSON object, uvicorn's own lines included. With tracing off, a
request's line still names the trace of an incoming ``traceparent``.

(With tracing on, and ``conduit worker`` beside it: test_process_logs.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import TEST_SECRET
from tests.live_support import _wait_for_port, free_port

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def _serve(folder: Path, *args: str, **settings: str) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="production",
        CONDUIT_CORS_ORIGINS='["https://app.example.com"]',
        CONDUIT_SECRET_KEY=TEST_SECRET,
        CONDUIT_DATA_DIR=str(folder),  # SQLite, migrated at start
        **settings,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "conduit.entrypoints.cli", "serve", "--port", str(port), *args],
        env=env,
        cwd=folder,
        stdout=subprocess.PIPE,  # not a terminal: JSON logs without CONDUIT_LOG_JSON
        stderr=subprocess.STDOUT,
    )
    return port, process


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output.decode()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_line_of_conduit_serve_is_one_json_object(tmp_path: Path, workers: str) -> None:
    port, process = _serve(tmp_path, "--workers", workers)
    try:
        _wait_for_port(port, process, wait=60)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/health/live", timeout=10).status_code == 200
        assert httpx.get(f"{base}/api/tags", timeout=10).status_code == 200
        traced = httpx.get(f"{base}/api/tags", headers={"traceparent": TRACEPARENT}, timeout=10)
        assert traced.status_code == 200
        assert "traceresponse" not in traced.headers  # tracing is off
        with connect(f"ws://127.0.0.1:{port}/api/ws", open_timeout=10) as ws:
            ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
            with contextlib.suppress(ConnectionClosed):  # closed with 4401
                ws.recv(timeout=10)
    finally:
        output = _stop(process)

    lines = [line for line in output.splitlines() if line.strip()]
    records: list[dict[str, Any]] = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\n\n{output}")
        assert isinstance(record, dict), line
        records.append(record)
    events = [str(record.get("event")) for record in records]
    uvicorn = [record for record in records if record.get("logger", "").startswith("uvicorn")]
    assert any("Started server process" in event for event in events), output
    assert any('"WebSocket /api/ws" [accepted]' in event for event in events), output
    assert all(record["level"] and record["timestamp"] for record in uvicorn)
    assert "conduit_serving" in events
    tags = [record for record in records if record.get("path") == "/api/tags"]
    assert [record.get("trace_id") for record in tags] == [None, TRACE_ID], output
    assert all(record["route"] == "/api/tags" for record in tags)
    assert not any("span_id" in record for record in records)  # no span without tracing
