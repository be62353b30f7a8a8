"""What the fault tests share: a real ``conduit serve`` process, a database server that can be
restarted, and a crowd of HTTP clients that records every answer (or the lack of one)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import TEST_SECRET
from tests.ports import free_port

__all__ = ["free_port"]


class ConduitServer:
    """``conduit serve`` in a subprocess on a free port; its stderr (the logs) kept in a file."""

    def __init__(self, database_url: str, folder: Path, **settings: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "server.log"
        self.env = {
            **os.environ,
            "CONDUIT_DATABASE_URL": database_url,
            "CONDUIT_SECRET_KEY": TEST_SECRET,
            "CONDUIT_DATA_DIR": str(folder),
            "CONDUIT_ENVIRONMENT": "test",
            "CONDUIT_LOG_JSON": "true",
            "CONDUIT_LOG_LEVEL": "INFO",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        command = [sys.executable, "-m", "conduit.entrypoints.cli", "serve"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"conduit serve exited early:\n{self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"conduit serve did not come up:\n{self.logs()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def start_worker(self, folder: Path) -> subprocess.Popen[bytes]:
        """``conduit worker`` with this server's settings, its output in ``folder``/worker.log
        (stop it with tests.processes.stop)."""
        log = (folder / "worker.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "conduit.entrypoints.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


class DatabaseServer:
    """The machine's PostgreSQL or MariaDB server, which a test may restart.

    Other tests (and other people) share it: an outage is kept to a few seconds, and
    :meth:`ensure_running` (called from a ``finally``) leaves it accepting connections.
    """

    def __init__(self, name: str, admin_url: str) -> None:
        self.name = name
        self.admin_url = admin_url

    def missing_tools(self) -> list[str]:
        tools = (
            ["pg_ctlcluster"]
            if self.name == "postgresql"
            else ["mariadb-admin", "start-stop-daemon", "/usr/sbin/mariadbd"]
        )
        return [tool for tool in tools if shutil.which(tool) is None]

    def accepts_connections(self) -> bool:
        """True when a new session can be opened and answers a query."""
        url = make_url(self.admin_url)
        args = {"connect_timeout": 1}
        if self.name == "mariadb":
            args.update(read_timeout=1)
        engine = create_sync_engine(url, poolclass=NullPool, connect_args=args)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            engine.dispose()

    def wait_until_accepting(self, timeout: float = 60.0) -> float:
        """Polls every 50 ms; returns the monotonic time of the first successful session."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepts_connections():
                return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} does not accept connections after {timeout} s")

    def stop(self) -> None:
        if self.name == "postgresql":
            _run(["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", "stop"])
        else:
            _run(["mariadb-admin", "--user=root", "shutdown"])

    def start(self) -> None:
        if self.name == "postgresql":
            _run(["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", "start"])
        else:
            _run(
                [
                    "start-stop-daemon",
                    "--start",
                    "--oknodo",
                    "--background",
                    "--exec",
                    "/usr/sbin/mariadbd",
                ]
            )

    def restart(self) -> None:
        if self.name == "postgresql":
            command = "restart"
            _run(["pg_ctlcluster", "--skip-systemctl-redirect", _pg_version(), "main", command])
        else:
            self.stop()
            self.start()

    def ensure_running(self) -> None:
        if not self.accepts_connections():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.start()  # fails when it is already starting: then wait for it
        self.wait_until_accepting()


def _pg_version() -> str:
    return sorted(os.listdir("/etc/postgresql"))[-1]


def _run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@dataclass
class Answer:
    started: float
    finished: float
    status: int | None  # None: no answer (connection refused, reset, timed out)
    retry_after: str | None = None
    body: Any = None
    error: str | None = None


@dataclass
class Crowd:
    """``clients`` HTTP clients, each on its own connection, reading ``path`` in a loop."""

    base_url: str
    path: str
    clients: int = 16
    timeout: float = 30.0
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _reader(self) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits
        ) as http:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = await http.get(self.path)
                except httpx.TransportError as exc:
                    self.answers.append(Answer(started, time.monotonic(), None, error=repr(exc)))
                    await asyncio.sleep(0.05)
                    continue
                try:
                    body = response.json()
                except ValueError:
                    body = response.text
                self.answers.append(
                    Answer(
                        started,
                        time.monotonic(),
                        response.status_code,
                        response.headers.get("retry-after"),
                        body,
                    )
                )
                if response.status_code != 200:
                    await asyncio.sleep(0.02)

    async def served(self, count: int) -> bool:
        """Waits (up to a minute: a busy machine is slow) for ``count`` answers 200."""
        deadline = time.monotonic() + 60.0
        while self.statuses()[200] < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return self.statuses()[200] >= count

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._reader()) for _ in range(self.clients)]

    async def stop(self, tasks: list[asyncio.Task[None]]) -> None:
        self._stop.set()
        await asyncio.gather(*tasks)

    def statuses(self) -> Counter[int | None]:
        return Counter(answer.status for answer in self.answers)
