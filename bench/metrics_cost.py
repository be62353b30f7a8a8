"""What the Prometheus metrics cost: requests/s with CONDUIT_METRICS_ENABLED on and off.

``python bench/metrics_cost.py`` (or ``make bench-metrics``): seeds a small PostgreSQL
database (``conduit_bench_metrics``, the --quick sizes of run.py), then starts ``conduit
serve`` pinned to core 0 with metrics on, then off, then on ... (``--repeats`` pairs, the
order of each pair alternated so that neither setting always runs first), and measures
``GET /api/articles`` and ``GET /api/articles/{slug}`` with wrk pinned to core 1 each time,
as run.py does. It prints the median requests/s of each setting, the spread of the runs
(other work on the machine moves them) and the server's CPU time per request, and writes
bench/results/metrics-cost-<timestamp>.json. bench/README.md ("Cost of metrics") has the
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from common import (
    DEFAULT_ADMIN_URL,
    ENDPOINTS_BY_KEY,
    RESULTS_DIR,
    BenchError,
    Result,
    Run,
    out,
    say,
)
from load import measure, pinning
from phases import conduit_env, start_conduit
from quick import run_quick
from report import markdown
from seeding import database_urls, prepare_database
from servers import http, stop_process

KEYS = ("list", "article")
SETTINGS = {"on": "true", "off": "false"}
CALLS = 50_000


class _Route:
    path_format = "/api/articles/{slug}"


async def _answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    scope["route"] = _Route  # as the router leaves it
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def middleware_cpu_us(calls: int = CALLS) -> float:
    """CPU microseconds the request metrics add to one request, in this process: a bare
    ASGI answer called ``calls`` times with and without the middleware around it (CPU
    time, so other work on the machine barely moves it)."""
    from conduit.observability.metrics.http import RequestMetrics

    async def send(_message: Any) -> None:
        return None

    async def receive() -> Any:
        return {"type": "http.request"}

    async def cost(app: Any) -> float:
        started = time.process_time()
        for n in range(calls):
            scope = {"type": "http", "method": "GET", "path": f"/api/articles/a-{n % 100}"}
            await app(scope, receive, send)
        return time.process_time() - started

    async def both() -> tuple[float, float]:
        measured = RequestMetrics(_answer)
        await cost(measured)  # warm: the label children exist
        return await cost(_answer), await cost(measured)

    bare, measured = asyncio.run(both())
    return (measured - bare) * 1e6 / calls


def middleware_costs() -> dict[str, float]:
    """:func:`middleware_cpu_us` in a fresh process, with one worker's values in memory and
    with several workers' in shared files (prometheus-client picks at import)."""
    costs = {}
    for mode in ("one worker", "several workers"):
        with tempfile.TemporaryDirectory() as folder:
            env = dict(os.environ)
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            if mode == "several workers":
                env["PROMETHEUS_MULTIPROC_DIR"] = folder
            done = subprocess.run(
                [sys.executable, __file__, "--in-process"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            costs[mode] = float(done.stdout.strip())
    return costs


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="on/off pairs (3)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds (3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--timeout", type=float, default=2, help="wrk request timeout, s (2)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--database", default="conduit_bench_metrics", help="dropped, recreated")
    parser.add_argument("--reuse-db", action="store_true", help="keep a seeded database")
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
    parser.add_argument("--wrk-cpu", type=int, default=1, help="core of wrk (1)")
    parser.add_argument(
        "--in-process", action="store_true", help="print the middleware's CPU µs and exit"
    )
    return parser.parse_args(argv)


def one_server(
    run: Run, env: dict[str, str], setting: str, prefixes: tuple[list[str], list[str]], tag: str
) -> dict[str, Result]:
    """Start conduit serve with metrics ``setting``, measure every endpoint, stop it."""
    server_prefix, wrk_prefix = prefixes
    name = f"conduit-metrics-{setting}"
    process, base = start_conduit(
        run, name, {**env, "CONDUIT_METRICS_ENABLED": SETTINGS[setting]}, server_prefix
    )
    try:
        status, _ = http(base, "GET", "/metrics")
        if status != (200 if setting == "on" else 404):
            raise BenchError(f"GET /metrics answered {status} with metrics {setting}")
        return {
            key: measure(run, wrk_prefix, base, ENDPOINTS_BY_KEY[key], tag, process.pid)
            for key in KEYS
        }
    finally:
        stop_process(run, process)


def table(runs: dict[str, list[dict[str, Result]]], run: Run) -> str:
    rows = [
        [
            "endpoint",
            "on req/s (median)",
            "off req/s (median)",
            "on/off",
            "on runs",
            "off runs",
            "CPU ms/req on",
            "CPU ms/req off",
        ]
    ]
    for key in KEYS:
        on = [each[key] for each in runs["on"]]
        off = [each[key] for each in runs["off"]]
        on_rps, off_rps = (statistics.median(r.rps for r in side) for side in (on, off))
        rows.append(
            [
                ENDPOINTS_BY_KEY[key].short_label(run.fixtures),
                f"{on_rps:,.0f}",
                f"{off_rps:,.0f}",
                f"{on_rps / off_rps:.3f}",
                " ".join(f"{r.rps:,.0f}" for r in on),
                " ".join(f"{r.rps:,.0f}" for r in off),
                f"{statistics.median(r.server_cpu_ms or 0 for r in on):.3f}",
                f"{statistics.median(r.server_cpu_ms or 0 for r in off):.3f}",
            ]
        )
    return "\n".join(markdown(rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.in_process:
        print(f"{min(middleware_cpu_us() for _ in range(3)):.2f}")
        return 0
    return run_quick(args, execute, prefix="conduit-bench-metrics-")


def execute(run: Run, started_at: dt.datetime) -> int:
    args = run.args
    added = middleware_costs()
    shown = ", ".join(f"{mode}: {us:.1f} µs" for mode, us in added.items())
    say(f"in-process, CPU the request metrics add to a request: {shown}")
    prefixes = pinning(args)
    run.secret = secrets.token_urlsafe(36)
    env = conduit_env(run, database_urls(run.admin_url, args.database)[1])
    data = prepare_database(run, env)
    run.fixtures = {"slug": data["slug"], "tag": data["tag"], "author": data["author"]}
    runs: dict[str, list[dict[str, Result]]] = {"on": [], "off": []}
    for repeat in range(args.repeats):
        order = ("on", "off") if repeat % 2 == 0 else ("off", "on")
        for setting in order:
            say(f"pair {repeat + 1} of {args.repeats}: metrics {setting}")
            runs[setting].append(one_server(run, env, setting, prefixes, f"m{repeat}{setting}"))
    out()
    out(table(runs, run))
    out(f"In-process, CPU the request metrics add to a request: {shown}.")
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "middleware_cpu_us_per_request": {mode: round(us, 2) for mode, us in added.items()},
        "settings": {
            "repeats": args.repeats,
            "duration_seconds": args.duration,
            "warmup_seconds": args.warmup,
            "connections": args.connections,
            "seed": run.sizes,
        },
        "endpoints": {key: ENDPOINTS_BY_KEY[key].label(run.fixtures) for key in KEYS},
        "runs": {
            setting: [{key: result.as_json() for key, result in each.items()} for each in side]
            for setting, side in runs.items()
        },
    }
    output = RESULTS_DIR / f"metrics-cost-{started_at:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
