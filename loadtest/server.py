"""What the drivers share (run.py, soak.py, tests/loadtest): a ``conduit serve`` to load,
a PostgreSQL database of its own, and locust itself, each run as a process.

Nothing here imports locust (which patches the standard library with gevent on import):
locust runs in a process of its own.
"""

from __future__ import annotations

import csv
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
ORIGIN = "https://app.example.com"
MB = 1024 * 1024
PG_ADMIN = os.environ.get(
    "LOADTEST_PG_ADMIN", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def process_usage(pid: int) -> tuple[float, float]:
    """The process's resident memory (MB) and CPU time so far (s)."""
    try:
        import psutil
    except ImportError:
        return _proc_usage(pid)
    process = psutil.Process(pid)
    times = process.cpu_times()
    return process.memory_info().rss / MB, times.user + times.system


def _proc_usage(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / ticks


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def production_environment(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production-like ``conduit serve``: production mode (its rate
    limits, no GraphiQL), the frontend's origin for CORS, a fresh signing key, the load
    generator trusted as the proxy (each virtual user's ``X-Forwarded-For`` is believed), a
    pool of 10 connections."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="production",
        CONDUIT_DATABASE_URL=database_url,
        CONDUIT_SECRET_KEY=secrets.token_urlsafe(48),
        CONDUIT_CORS_ORIGINS=f'["{ORIGIN}"]',
        CONDUIT_TRUSTED_PROXIES='["127.0.0.1"]',
        CONDUIT_LOG_LEVEL="WARNING",
        CONDUIT_LOG_JSON="true",
        # The mix keeps a few requests in flight, not 64: a small pool, kind to a PostgreSQL
        # that the rest of a test machine shares (its max_connections).
        CONDUIT_DB_POOL_SIZE="10",
    )
    env.update(extra)
    return env


def conduit(*args: str) -> list[str]:
    return [sys.executable, "-m", "conduit.entrypoints.cli", *args]


def migrate(env: Mapping[str, str]) -> None:
    subprocess.run(conduit("db", "upgrade"), env=dict(env), check=True, capture_output=True)


class Server:
    """``conduit serve`` on a port of its own, its output in ``log``."""

    def __init__(self, env: Mapping[str, str], *, port: int, log: Path, cwd: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                conduit("serve", "--port", str(port)),
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def cpu_seconds(self) -> float:
        """The CPU time the server process has used so far."""
        return process_usage(self.pid)[1]

    @property
    def pid(self) -> int:
        """The server's process: ``conduit serve`` runs uvicorn in it (one worker)."""
        return self.process.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"conduit serve exited: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"conduit serve was not ready within {timeout:g} s: {self.tail()}")

    def tail(self, size: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-size:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


class PostgresDatabase:
    """A database of its own on the local PostgreSQL, dropped by :meth:`drop`."""

    def __init__(self, name: str, admin_url: str = PG_ADMIN) -> None:
        self.name = name
        self.admin_url = admin_url
        admin = sqlalchemy.engine.make_url(admin_url)
        self.url = admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )

    def _execute(self, statement: str) -> None:
        engine = sqlalchemy.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text(statement))
        finally:
            engine.dispose()

    def create(self) -> str:
        self._execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def locust_command(
    host: str, prefix: Path, *, users: int, spawn_rate: float, duration: str
) -> list[str]:
    """Locust, headless, on the mix; its CSV files at ``prefix``; exit code 1 on any
    failed request or error."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--host",
        host,
        "--headless",
        "-u",
        str(users),
        "-r",
        f"{spawn_rate:g}",
        "-t",
        duration,
        "--csv",
        str(prefix),
        "--exit-code-on-error",
        "1",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]


def locust_environment(**extra: str) -> dict[str, str]:
    """Locust imports ``loadtest.*`` from the repository's root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


# How long after the last user started the steady part begins: its log-in or sign-up
# (password hashing) is done by then.
SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class LocustRun:
    """A finished locust process, and the server's CPU time per request while every user
    ran (the data set's making and the users' sign-ups and log-ins left out); None when
    the run never had every user running."""

    returncode: int
    output: str
    cpu_ms_per_request: float | None


def _requests_so_far(prefix: Path) -> tuple[int, int] | None:
    """(users running, requests so far) from the last line of ``<prefix>_stats_history.csv``,
    which locust writes every second."""
    try:
        with Path(f"{prefix}_stats_history.csv").open(newline="") as source:
            rows = list(csv.DictReader(source))
    except FileNotFoundError:
        return None
    if not rows:
        return None
    last = rows[-1]
    return int(last["User Count"]), int(last["Total Request Count"])


def _total_requests(prefix: Path) -> int:
    """Every request of the finished run (the ``Aggregated`` row of its statistics)."""
    with Path(f"{prefix}_stats.csv").open(newline="") as source:
        for row in csv.DictReader(source):
            if row["Name"] == "Aggregated":
                return int(row["Request Count"])
    return 0


def run_locust(
    command: list[str], *, prefix: Path, users: int, server: Server | None, timeout: float
) -> LocustRun:
    """Run locust to its end; with ``server``, measure the server's CPU time per request
    from :data:`SETTLE_SECONDS` after every user runs to the end."""
    log = Path(f"{prefix}_locust.log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=locust_environment(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        full_since: float | None = None
        start: tuple[float, int] | None = None
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                break
            time.sleep(0.5)
            progress = _requests_so_far(prefix) if server and start is None else None
            if progress is None or progress[0] < users:
                continue
            full_since = full_since or time.monotonic()
            if time.monotonic() - full_since >= SETTLE_SECONDS:
                start = (server.cpu_seconds(), progress[1]) if server else None
        end_cpu = server.cpu_seconds() if server and start else None
    cpu_ms = None
    if start is not None and end_cpu is not None:
        requests = _total_requests(prefix) - start[1]
        cpu_ms = 1000 * (end_cpu - start[0]) / requests if requests > 0 else None
    return LocustRun(process.wait(), log.read_text(errors="replace"), cpu_ms)
