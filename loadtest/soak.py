"""``make soak``: the mix for 10 minutes against a ``conduit serve`` on PostgreSQL it starts,
sampling the server's memory, to see whether memory or latency drift.

    python -m loadtest.soak                       # 600 s, 30-s windows
    python -m loadtest.soak --duration 1800 --name nightly

Creates a database of its own on the local PostgreSQL (``LOADTEST_PG_ADMIN``, default
``postgresql+psycopg2://postgres@127.0.0.1:5432/postgres``), migrates it, starts one
production-like ``conduit serve`` (one worker), runs locust headless, and at the end of
every window reads the server process's RSS and CPU time (psutil, else /proc). Writes
``loadtest/results/soak-<name>.json``, ``.md`` and ``.svg`` (soak_report.py), then checks
loadtest/thresholds.toml; drops the database. Exits non-zero when locust saw a failure or
a threshold is broken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest import check, soak_report
from loadtest.server import (
    ROOT,
    PostgresDatabase,
    Server,
    free_port,
    locust_command,
    locust_environment,
    migrate,
    process_usage,
    production_environment,
)

RESULTS = ROOT / "loadtest" / "results"
# The first full windows still hold the ramp-up (sign-ups, log-ins: password hashing):
# shown in the report, left out of the drift.
WARMUP_SECONDS = 60


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds of load")
    parser.add_argument("--window", type=int, default=30, help="seconds per window")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=5.0)
    parser.add_argument("--name", help="the report's name (default: the start time)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def sample_until_done(
    locust: subprocess.Popen[bytes], pid: int, window: int
) -> dict[int, tuple[float, float]]:
    """At the end of every window (wall clock, as loadtest/stats.py cuts them) until locust
    exits: window start → (RSS MB, CPU seconds so far)."""
    samples: dict[int, tuple[float, float]] = {}
    while locust.poll() is None:
        now = time.time()
        end = (int(now // window) + 1) * window
        try:
            locust.wait(timeout=end - now)
        except subprocess.TimeoutExpired:
            samples[end - window] = process_usage(pid)
    return samples


def windows_of(
    rows: list[dict[str, float]],
    usage: dict[int, tuple[float, float]],
    window: int,
    baseline_cpu: float,
) -> list[soak_report.Window]:
    """The full windows (not the first, ramping up, nor one without a sample), in order."""
    starts = sorted(int(row["start"]) for row in rows if int(row["start"]) in usage)[1:]
    by_start = {int(row["start"]): row for row in rows}
    found = []
    for start in starts:
        row, (rss, cpu) = by_start[start], usage[start]
        previous = usage.get(start - window, (rss, baseline_cpu))[1]
        found.append(
            soak_report.Window(
                start=start,
                minute=round((start - starts[0]) / 60, 2),
                requests=int(row["requests"]),
                failures=int(row["failures"]),
                rps=row["rps"],
                p50=row["p50"],
                p95=row["p95"],
                p99=row["p99"],
                rss_mb=round(rss, 1),
                cpu_s=round(cpu - previous, 1),
                warmup=start - starts[0] < WARMUP_SECONDS,
            )
        )
    return found


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    name = args.name or started.strftime("%Y%m%dT%H%M%SZ")
    prefix = args.results / f"soak-{name}"
    database = PostgresDatabase(f"conduit_soak_{started.strftime('%Y%m%d%H%M%S')}")
    with tempfile.TemporaryDirectory(prefix="conduit-soak-") as folder:
        env = production_environment(database.create(), CONDUIT_DATA_DIR=folder)
        try:
            migrate(env)
            server = Server(env, port=free_port(), log=Path(folder) / "serve.log", cwd=ROOT)
            try:
                server.wait_ready()
                rss_before, cpu_before = process_usage(server.pid)
                command = locust_command(
                    server.url,
                    prefix,
                    users=args.users,
                    spawn_rate=args.spawn_rate,
                    duration=f"{args.duration}s",
                )
                print(f"soak: {args.duration} s against {server.url}", flush=True)
                extra = {"LOADTEST_WINDOW_SECONDS": str(args.window)}
                locust = subprocess.Popen(command, env=locust_environment(**extra), cwd=ROOT)
                usage = sample_until_done(locust, server.pid, args.window)
            finally:
                server.stop()
        finally:
            database.drop()
    rows = soak_report.read_windows(Path(f"{prefix}_windows.csv"))
    windows = windows_of(rows, usage, args.window, cpu_before)
    if len(windows) < 2:
        print("soak: fewer than two full windows; no report", file=sys.stderr)
        return 1
    report = {
        "name": name,
        "run": {
            "started": started.isoformat(timespec="seconds"),
            "duration_seconds": args.duration,
            "window_seconds": args.window,
            "users": args.users,
            "spawn_rate": args.spawn_rate,
            "locust_exit_code": locust.returncode,
            "rss_before_mb": round(rss_before, 1),
            "commit": commit(),
            "cpus": os.cpu_count(),
        },
        "drift": soak_report.summary(windows),
    }
    cpu_ms = soak_report.cpu_ms_per_request(windows)
    report["run"]["cpu_ms_per_http_request"] = round(cpu_ms, 2)  # type: ignore[index]
    page = soak_report.write(args.results, name, report, windows)
    print(page.read_text(), flush=True)
    verdict = check.main([str(prefix), "--cpu-ms-per-request", f"{cpu_ms:.3f}"])
    return locust.returncode or verdict


if __name__ == "__main__":
    sys.exit(main())
