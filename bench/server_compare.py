"""The HTTP server: Conduit under uvicorn (``conduit serve``) and under Granian, in turns.

``make bench`` calls :func:`bench_servers` and prints :func:`table` beside its own table;
``python bench/server_compare.py`` runs it alone on a database of its own
(``conduit_bench_granian``, the --quick sizes of run.py, dropped and recreated unless
``--reuse-db``) and writes bench/results/server-compare-<timestamp>.json.

The same app (``conduit.entrypoints.api:create_app``), one worker pinned to core 0, wrk
pinned to core 1, the same data and settings, under each server in turn:

- ``uvicorn``: ``conduit serve`` as shipped (httptools, asyncio's loop with one worker,
  Conduit's graceful shutdown and WebSocket protocol, no proxy headers);
- ``granian <mode> <loop>``: ``granian --interface asgi --factory`` in each runtime mode
  (``st``, ``mt``) on each event loop installed (asyncio, uvloop, rloop), access log off.
  Granian reads no X-Forwarded-For unless wrapped in its proxy-headers middleware, which
  Conduit does not do: the client address stays Conduit's to settle
  (CONDUIT_TRUSTED_PROXIES).

Each round starts every server once, the order rotated from round to round so that none
always runs first; each endpoint gets a warm-up and a measured wrk run (bench/load.py). The
table gives the median over the rounds (and their range), the ratio to uvicorn and to the
reference server, p50, p99 and p99/p50. bench/README.md ("The server: uvicorn and Granian")
has the figures and the decision.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import secrets
import signal
import statistics
import sys
from typing import Any

from common import (
    DEFAULT_ADMIN_URL,
    ENDPOINTS_BY_KEY,
    RESULTS_DIR,
    VENV_BIN,
    BenchError,
    Result,
    Run,
    out,
    progress,
    say,
)
from load import measure, pinning, resident_mib
from report import markdown
from seeding import database_urls, prepare_database
from servers import conduit_command, free_port, start_process, stop_process, wait_ready

KEYS = ("list", "article", "comments", "profile", "tags")
APP = "conduit.entrypoints.api:create_app"
BASELINE = "uvicorn"

# One server's measurements: endpoint key -> one Result per round.
Turns = dict[str, dict[str, list[Result]]]


def loops() -> list[str]:
    """The event loops Granian can run here: asyncio always, uvloop and rloop if installed."""
    return ["asyncio", *(n for n in ("uvloop", "rloop") if importlib.util.find_spec(n))]


def server_names() -> list[str]:
    """uvicorn, then every Granian runtime mode on every loop."""
    return [BASELINE, *(f"granian {mode} {loop}" for mode in ("st", "mt") for loop in loops())]


def planned(only: list[str], rounds: int = 1) -> int:
    """How many measurements :func:`bench_servers` makes (for run.py's progress bar)."""
    return rounds * len(server_names()) * len([key for key in KEYS if key in only])


def server_command(name: str, port: int, *, workers: int = 1) -> list[str]:
    """The command line of server ``name`` serving Conduit on 127.0.0.1:``port``."""
    if name == BASELINE:
        serve = ["serve", "--host", "127.0.0.1", f"--port={port}"]
        return conduit_command(*serve, *([f"--workers={workers}"] if workers > 1 else []))
    _, mode, loop = name.split()
    granian = VENV_BIN / "granian"
    return [
        str(granian) if granian.exists() else "granian",
        "--interface=asgi",
        "--factory",
        "--host=127.0.0.1",
        f"--port={port}",
        f"--workers={workers}",
        f"--runtime-mode={mode}",
        f"--loop={loop}",
        "--no-access-log",
        "--log-level=warning",
        APP,
    ]


def one_turn(
    run: Run,
    name: str,
    env: dict[str, str],
    prefixes: tuple[list[str], list[str]],
    run_id: str,
) -> dict[str, Result]:
    """Start server ``name``, measure every endpoint, stop it."""
    server_prefix, wrk_prefix = prefixes
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    label = name.replace(" ", "-")
    process = start_process(run, label, [*server_prefix, *server_command(name, port)], env)
    endpoints = [ENDPOINTS_BY_KEY[key] for key in KEYS if key in run.args.only]
    results: dict[str, Result] = {}
    try:
        ready = wait_ready(run, label, process, base)
        run.servers.setdefault(label, {})["startup_seconds"] = round(ready, 2)
        progress.phase(name, len(endpoints))
        for endpoint in endpoints:
            results[endpoint.key] = measure(run, wrk_prefix, base, endpoint, run_id, process.pid)
            if process.poll() is not None:
                raise BenchError(f"{name} died during {endpoint.key}")
        run.servers[label]["rss_mib"] = resident_mib(process.pid)
    finally:
        stop_process(run, process)
    return results


def bench_servers(
    run: Run,
    env: dict[str, str],
    server_prefix: list[str],
    wrk_prefix: list[str],
    run_id: str,
    *,
    rounds: int = 1,
    names: list[str] | None = None,
) -> Turns:
    """Every server ``rounds`` times, taking turns: ``{server: {endpoint: [Result, ...]}}``.

    ``env`` is Conduit's environment (CONDUIT_DATABASE_URL on a migrated, seeded database);
    ``run.fixtures`` must name the slug, tag and author.
    """
    if not any(key in run.args.only for key in KEYS):
        return {}
    names = names or server_names()
    turns: Turns = {name: {} for name in names}
    for number in range(rounds):
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            say(f"server comparison, round {number + 1} of {rounds}: {name}")
            tag = f"{run_id}s{number}"
            results = one_turn(run, name, env, (server_prefix, wrk_prefix), tag)
            for key, result in results.items():
                turns[name].setdefault(key, []).append(result)
    return turns


def _median(results: list[Result], pick: str) -> float:
    if pick == "rps":
        return statistics.median(r.rps for r in results)
    return statistics.median(r.latency_us[pick] for r in results) / 1000


def _rps(results: list[Result]) -> str:
    median = f"{_median(results, 'rps'):,.0f}"
    if len(results) < 2:
        return median
    low, high = min(r.rps for r in results), max(r.rps for r in results)
    return f"{median} ({low:,.0f}-{high:,.0f})"


def table(run: Run, turns: Turns, reference: dict[str, Result]) -> str:
    """Per endpoint and server: req/s, ratios to uvicorn and to the reference, latency."""
    rows = [
        [
            "endpoint",
            "server",
            "req/s",
            "/uvicorn",
            "/ref",
            "p50 ms",
            "p99 ms",
            "p99/p50",
            "CPU ms/req",
            "errors",
        ]
    ]
    for key in KEYS:
        base = turns.get(BASELINE, {}).get(key)
        ref = reference.get(key)
        for name, measured in turns.items():
            results = measured.get(key)
            if not results:
                continue
            rps, p50, p99 = (_median(results, pick) for pick in ("rps", "p50", "p99"))
            cpu = [r.server_cpu_ms for r in results if r.server_cpu_ms is not None]
            rows.append(
                [
                    ENDPOINTS_BY_KEY[key].short_label(run.fixtures),
                    name,
                    _rps(results),
                    f"{rps / _median(base, 'rps'):.2f}" if base else "",
                    f"{rps / ref.rps:.2f}" if ref and ref.rps else "",
                    f"{p50:.1f}",
                    f"{p99:.1f}",
                    f"{p99 / p50:.1f}" if p50 else "",
                    f"{statistics.median(cpu):.2f}" if cpu else "",
                    str(sum(r.non_2xx + r.socket_errors for r in results)),
                ]
            )
    count = max((len(v) for m in turns.values() for v in m.values()), default=0)
    return "\n".join(
        [
            *markdown(rows),
            f"One worker on core {run.args.server_cpu}, wrk on core {run.args.wrk_cpu}, "
            f"{run.args.connections} connections; median of {count} turn(s) per server "
            "(range of req/s in brackets). uvicorn is `conduit serve`; granian <mode> <loop> "
            f"is `granian --interface asgi --factory {APP} --runtime-mode <mode> --loop <loop>`.",
        ]
    )


def as_json(turns: Turns) -> dict[str, Any]:
    """The comparison for the result file: every turn of every server."""
    return {
        name: {key: [r.as_json() for r in results] for key, results in measured.items()}
        for name, measured in turns.items()
    }


def failures(turns: Turns) -> list[str]:
    return [
        f"{name} {key}: {r.non_2xx} non-2xx, {r.socket_errors} socket errors"
        for name, measured in turns.items()
        for key, results in measured.items()
        for r in results
        if r.non_2xx or r.socket_errors
    ]


# --------------------------------------------------------------------------- standalone


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="turns of every server (2)")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run (8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--timeout", type=float, default=2, help="wrk request timeout, s (2)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--database", default="conduit_bench_granian", help="dropped, recreated")
    parser.add_argument("--reuse-db", action="store_true", help="keep a seeded database")
    # A small pool: the PostgreSQL server is shared (max_connections), and one process on one
    # core runs no faster with more connections than that.
    parser.add_argument("--pool", type=int, default=16, help="CONDUIT_DB_POOL_SIZE (16)")
    parser.add_argument("--servers", help=f"comma-separated, of {', '.join(server_names())}")
    parser.add_argument("--only", default=",".join(KEYS), help="endpoints (list,...,tags)")
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
    parser.add_argument("--wrk-cpu", type=int, default=1, help="core of wrk (1)")
    args = parser.parse_args(argv)
    args.only = [key for key in KEYS if key in args.only.split(",")]
    args.servers = [n.strip() for n in args.servers.split(",")] if args.servers else None
    if args.database == "conduit_bench":
        parser.error("conduit_bench is make bench's database: choose another")
    return args


def execute(run: Run, started_at: dt.datetime) -> int:
    args = run.args
    server_prefix, wrk_prefix = pinning(args)
    run.secret = secrets.token_urlsafe(36)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUIT_")}
    env.update(
        CONDUIT_DATABASE_URL=database_urls(run.admin_url, args.database)[1],
        CONDUIT_SECRET_KEY=run.secret,
        CONDUIT_LOG_LEVEL="WARNING",
        CONDUIT_RATE_LIMITS_ENABLED="false",
        CONDUIT_DB_POOL_SIZE=str(args.pool),
    )
    load = os.getloadavg()[0]
    data = prepare_database(run, env)
    run.fixtures = {"slug": data["slug"], "tag": data["tag"], "author": data["author"]}
    turns = bench_servers(
        run, env, server_prefix, wrk_prefix, "g", rounds=args.rounds, names=args.servers
    )
    out()
    out(table(run, turns, {}))
    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": {"load_average_start": round(load, 2), "cpus": os.cpu_count()},
        "settings": {
            "rounds": args.rounds,
            "duration_seconds": args.duration,
            "warmup_seconds": args.warmup,
            "connections": args.connections,
            "pool": args.pool,
            "seed": run.sizes,
        },
        "servers": run.servers,
        "endpoints": {key: ENDPOINTS_BY_KEY[key].label(run.fixtures) for key in args.only},
        "turns": as_json(turns),
    }
    output = RESULTS_DIR / f"server-compare-{started_at:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {output}")
    problems = failures(turns)
    if problems:
        say("FAILED: " + "; ".join(problems))
    return 1 if problems else 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from quick import run_quick

    signal.signal(signal.SIGTERM, _interrupt)  # through the finally blocks: servers stopped
    return run_quick(parse_args(argv), execute, prefix="conduit-bench-servers-")


if __name__ == "__main__":
    sys.exit(main())
