"""Load: wrk commands and their results, CPU accounting of the server and its database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import asyncpg
from common import BENCH_DIR, BenchError, Endpoint, Result, Run, progress, say, shown


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
    run: Run,
    wrk_prefix: list[str],
    base: str,
    endpoint: Endpoint,
    seconds: float,
    run_id: str,
    *,
    warmup: bool = False,
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
        f"--timeout={endpoint.timeout or args.timeout:g}s",
        "--latency",
        "-s",
        str(BENCH_DIR / endpoint.script),
    ]
    if endpoint.key == "create":
        return [*command, url, "--", token, run_id, run.fixtures["tag"]]
    if endpoint.key == "comment":
        return [*command, url, "--", token, run_id]
    if endpoint.key == "favorite":
        slugs = favorite_file(run, warmup=warmup)
        return [*command, base + "/api/articles", "--", token, str(slugs)]
    if endpoint.key == "register":
        return [*command, url, "--", run_id]
    return [*command, url, "--", token]


def favorite_file(run: Run, *, warmup: bool) -> Path:
    """The slugs the favorite endpoint toggles: one half for the warm-up, one for the run."""
    path = run.workdir / ("favorite-warmup.txt" if warmup else "favorite.txt")
    if not path.exists():
        half = len(run.favorite_slugs) // 2
        slugs = run.favorite_slugs[:half] if warmup else run.favorite_slugs[half:]
        path.write_text("\n".join(slugs) + "\n", encoding="utf-8")
    return path


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


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers, for instance)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                todo.extend(int(child) for child in children.read_text().split())
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants (children that exited are missed)."""
    return sum(cpu_seconds(each) for each in process_tree(pid))


def resident_mib(pid: int) -> float:
    """Resident memory (VmRSS) of a process and its descendants, in MiB."""
    total_kib = 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return round(total_kib / 1024, 1)


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


def settle(pid: int, limit: float = 60.0) -> None:
    """Wait until the server has finished what the warm-up left in flight (slow sign-ups
    would otherwise still queue ahead of the measured requests): until it uses less than
    10 % of a core over 0.3 s, at most ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = tree_cpu_seconds(pid)
        time.sleep(0.3)
        if tree_cpu_seconds(pid) - before < 0.03:
            return


def measure(
    run: Run,
    wrk_prefix: list[str],
    base: str,
    endpoint: Endpoint,
    run_id: str,
    server_pid: int,
    *,
    postgres: bool = True,
) -> Result:
    """Warm-up, then the measured wrk run, with the CPU the server (and PostgreSQL) used."""
    args = run.args
    label = endpoint.label(run.fixtures)
    progress.step(endpoint.short_label(run.fixtures))
    if args.warmup > 0:
        warmup = wrk_command(
            run, wrk_prefix, base, endpoint, args.warmup, run_id + "w", warmup=True
        )
        run_wrk(warmup, args.warmup)
        settle(server_pid)
    command = wrk_command(run, wrk_prefix, base, endpoint, args.duration, run_id)
    say(f"  {label}: $ {shown(command)}")
    db_before, sessions_before = database_state(run) if postgres else ({}, 0)
    server_before = tree_cpu_seconds(server_pid)
    result = run_wrk(command, args.duration + (endpoint.timeout or 0))
    server_used = tree_cpu_seconds(server_pid) - server_before
    if result.requests:
        result.server_cpu_ms = round(server_used * 1000 / result.requests, 3)
    db_note = ""
    if postgres:
        db_after, sessions_after = database_state(run)
        # Backends opened during the run count whole; those closed during it are missed.
        db_used = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in db_after.items())
        result.db_connections_opened = max(0, sessions_after - sessions_before - 1)
        if result.requests:
            result.db_cpu_ms = round(max(db_used, 0.0) * 1000 / result.requests, 3)
        db_note = (
            f", PostgreSQL {result.db_cpu_ms or 0:.2f} ms; "
            f"PostgreSQL connections opened {result.db_connections_opened}"
        )
    say(
        f"  {label}: {result.rps:,.0f} req/s, p50 {result.latency_us['p50'] / 1000:.1f} ms, "
        f"p99 {result.latency_us['p99'] / 1000:.1f} ms, non-2xx {result.non_2xx}, "
        f"socket errors {result.socket_errors}, CPU per request: server "
        f"{result.server_cpu_ms or 0:.2f} ms{db_note}"
    )
    progress.advance()
    return result
