"""Processes the bench starts (servers, redis) and the HTTP helper that talks to them."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from common import ROOT, VENV_BIN, BenchError, Endpoint, Run, say, shown


def conduit_command(*args: str) -> list[str]:
    script = VENV_BIN / "conduit"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "conduit.entrypoints.cli", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_process(
    run: Run, name: str, command: list[str], env: dict[str, str]
) -> subprocess.Popen[bytes]:
    log_path = run.workdir / f"{name}.log"
    say(f"starting {name}: {shown(command)}  (log: {log_path})")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches run.py only; it stops the server itself
        )
    run.processes.append(process)
    return process


def stop_process(run: Run, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down gracefully on SIGINT
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process in run.processes:
        run.processes.remove(process)


def log_tail(run: Run, name: str, lines: int = 30) -> str:
    path = run.workdir / f"{name}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def http(
    base: str, method: str, path: str, *, token: str = "", body: Any = None
) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    data = None
    if token:
        headers["Authorization"] = f"Token {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text.decode(errors="replace")


def wait_ready(run: Run, name: str, process: subprocess.Popen[bytes], base: str) -> float:
    started = time.monotonic()
    deadline = started + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(
                f"{name} exited with status {process.returncode}:\n{log_tail(run, name)}"
            )
        with contextlib.suppress(OSError):
            status, _ = http(base, "GET", "/health/ready")
            if status == 200:
                return time.monotonic() - started
        time.sleep(0.2)
    raise BenchError(f"{name} was not ready after 60 s:\n{log_tail(run, name)}")


def check_body(run: Run, endpoint: Endpoint, run_id: str) -> Any:
    """The body of the one checking request of a write endpoint (None for reads)."""
    if endpoint.key == "create":
        return {
            "article": {
                "title": f"Bench {run_id} check",
                "description": "Written by bench/run.py",
                "body": "Checked once before wrk.",
                "tagList": [run.fixtures["tag"]],
            }
        }
    if endpoint.key == "comment":
        return {"comment": {"body": f"Bench {run_id} check"}}
    if endpoint.key == "register":
        name = f"bench-{run_id}-check"
        return {
            "user": {
                "username": name,
                "email": f"{name}@bench.example",
                "password": "bench password 123",
            }
        }
    return None


def check_endpoints(run: Run, base: str, endpoints: list[Endpoint], run_id: str) -> None:
    """One request per endpoint before wrk: a broken endpoint fails here, clearly."""
    for endpoint in endpoints:
        token = run.token if endpoint.signed_in else ""
        path = endpoint.url_path(run.fixtures)
        calls = [(endpoint.method, check_body(run, endpoint, run_id))]
        if endpoint.key == "favorite":
            calls.append(("DELETE", None))  # and back: the data stays as it was
        for method, body in calls:
            status, answer = http(base, method, path, token=token, body=body)
            if not 200 <= status < 300:
                raise BenchError(f"{method} {path} answered {status}: {answer}")
