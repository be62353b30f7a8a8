"""Load: wrk commands and their results, CPU accounting of the server and its database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import asyncpg
from common import CREATE_LUA, GET_LUA, BenchError, Endpoint, Result, Run, say, shown


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("wrk is not installed: running apt-get install -y wrk")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    for command in ([*prefix, "apt-get", "update"], [*prefix, "apt-get", "install", "-y", "wrk"]):
        say("$ " + " ".join(command))
        if subprocess.run(command, check=False).returncode != 0 and "install" in command:
            raise BenchError("apt-get install -y wrk failed: install wrk and run again")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk is still missing after apt-get install")
    return found


def pinning(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """taskset prefixes for the server and for wrk (none on a single-core machine)."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        say("warning: taskset missing or a single core: server and wrk are not pinned")
        return [], []
    return (["taskset", "-c", str(args.server_cpu)], ["taskset", "-c", str(args.wrk_cpu)])


def wrk_command(
    run: Run, wrk_prefix: list[str], base: str, endpoint: Endpoint, seconds: float, run_id: str
) -> list[str]:
    args = run.args
    url = base + endpoint.url_path(run.fixtures)
    token = run.token if endpoint.signed_in else "-"
    command = [
        *wrk_prefix,
        "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={args.timeout}s",
        "--latency",
    ]
    if endpoint.method == "POST":
        return [*command, "-s", str(CREATE_LUA), url, "--", token, run_id, run.fixtures["tag"]]
    return [*command, "-s", str(GET_LUA), url, "--", token]


def run_wrk(command: list[str], seconds: float) -> Result:
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return Result(**json.loads(line.removeprefix("BENCH_RESULT ")))
    raise BenchError(
        f"wrk gave no result (status {completed.returncode}):\n"
        f"{completed.stdout}\n{completed.stderr}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 when it is gone)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return 0.0


async def _database_state(url: str) -> tuple[dict[int, float], int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND backend_type = 'client backend'
            """
        )
        sessions = await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return {row["pid"]: cpu_seconds(row["pid"]) for row in rows}, int(sessions or 0)


def database_state(run: Run) -> tuple[dict[int, float], int]:
    """CPU seconds of each PostgreSQL backend of the bench database, and sessions opened."""
    try:
        return asyncio.run(_database_state(run.database_url))
    except (OSError, asyncpg.PostgresError):
        return {}, 0


def measure(
    run: Run, wrk_prefix: list[str], base: str, endpoint: Endpoint, run_id: str, server_pid: int
) -> Result:
    args = run.args
    label = endpoint.label(run.fixtures)
    if args.warmup > 0:
        warmup = wrk_command(run, wrk_prefix, base, endpoint, args.warmup, run_id + "w")
        run_wrk(warmup, args.warmup)
    command = wrk_command(run, wrk_prefix, base, endpoint, args.duration, run_id)
    say(f"  {label}: $ {shown(command)}")
    db_before, sessions_before = database_state(run)
    server_before = cpu_seconds(server_pid)
    result = run_wrk(command, args.duration)
    server_used = cpu_seconds(server_pid) - server_before
    db_after, sessions_after = database_state(run)
    # Backends opened during the run count whole; those closed during it are missed.
    db_used = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
    result.db_connections_opened = max(0, sessions_after - sessions_before - 1)
    if result.requests:
        result.server_cpu_ms = round(server_used * 1000 / result.requests, 3)
        result.db_cpu_ms = round(max(db_used, 0.0) * 1000 / result.requests, 3)
    say(
        f"  {label}: {result.rps:,.0f} req/s, p50 {result.latency_us['p50'] / 1000:.1f} ms, "
        f"p99 {result.latency_us['p99'] / 1000:.1f} ms, non-2xx {result.non_2xx}, "
        f"socket errors {result.socket_errors}, CPU per request: server "
        f"{result.server_cpu_ms or 0:.2f} ms, PostgreSQL {result.db_cpu_ms or 0:.2f} ms; "
        f"PostgreSQL connections opened {result.db_connections_opened}"
    )
    return result
