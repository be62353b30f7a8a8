"""Benchmark Conduit on PostgreSQL with wrk, the way PERFORMANCE.md measured its peers.

``make bench`` runs this file. In order it:

1. installs wrk with apt-get when it is missing;
2. drops and recreates the database ``conduit_bench``, migrates it (``conduit db upgrade``),
   seeds it (``conduit seed``), makes user1 follow about 40 authors, then VACUUM ANALYZE;
3. starts ``conduit serve`` (one worker) pinned to core 0 and signs in as user1;
4. runs wrk pinned to core 1 (64 connections, a warm-up, then --duration seconds) on each
   endpoint, the writes last (create, comment, favorite, register), and deletes what the
   writes created;
   then, the same process still running, the overload run (overload.py; --no-overload skips
   it): the list and an article at 64 and 512 connections, admitted and shed answers apart;
5. measures Conduit with Redis (cached.py; --no-cached skips it) and ``conduit serve
   --workers 2`` on both cores (--no-workers);
6. starts bench/reference_server.py (the hand-written ceiling) the same way, checks that its
   answers equal Conduit's, anonymous and signed in, and measures every read endpoint
   (--no-reference skips it);
   then the server comparison (server_compare.py; --no-servers skips it): Conduit under
   uvicorn (``conduit serve``) and under Granian in each runtime mode and loop, taking turns;
7. seeds an SQLite file the same way and measures Conduit on it (--no-sqlite);
8. prints the tables and writes bench/results/<timestamp>.json and .svg (and latest.svg).

Every process it starts is stopped on the way out, on errors and Ctrl-C too. The exit status
is non-zero when a server does not start or when any endpoint has socket errors or non-2xx
answers. See bench/README.md.

The work is split by job: common.py (settings, endpoints, results, the log), seeding.py (the
database), servers.py (processes and HTTP), load.py (wrk and CPU accounting), report.py (the
tables and the JSON facts), phases.py (each server started and measured), cached.py (the
run with Redis); this file parses the arguments and runs the phases in order.
``python bench/run.py`` puts bench/ on sys.path, so they import as top-level modules.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cached  # bench/cached.py: the run with Redis
import overload  # bench/overload.py: the overload run
import server_compare  # bench/server_compare.py: uvicorn and Granian taking turns
from common import (
    ENDPOINTS,
    FULL_SIZES,
    QUICK_SIZES,
    RESULTS_DIR,
    BenchError,
    Result,
    Run,
    out,
    progress,
    say,
)
from load import ensure_wrk, pinning
from options import parse_args
from phases import (
    SQLITE_KEYS,
    WORKERS,
    WORKERS_KEYS,
    bench_conduit,
    bench_reference,
    bench_sqlite,
    bench_workers,
    conduit_env,
    overload_keys,
)
from report import (
    chart_svg,
    git_state,
    machine,
    servers_line,
    sqlite_table,
    table,
    workers_table,
)
from seeding import (
    check_database_name,
    database_urls,
    delete_bench_rows,
    prepare_database,
)
from servers import (
    stop_process,
)

# --------------------------------------------------------------------------- main


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)
    sizes = {
        name: getattr(args, name)
        if getattr(args, name) is not None
        else (QUICK_SIZES if args.quick else FULL_SIZES)[name]
        for name in FULL_SIZES
    }
    # SIGTERM takes the same way out as Ctrl-C: through every finally block.
    signal.signal(signal.SIGTERM, _interrupt)
    run_id = secrets.token_hex(4)
    try:
        check_database_name(args.database)
        ensure_wrk()
    except BenchError as exc:
        say(f"error: {exc}")
        return 2
    with tempfile.TemporaryDirectory(prefix="conduit-bench-") as workdir:
        run = Run(
            args=args,
            workdir=Path(workdir),
            sizes=sizes,
            admin_url=args.admin_url,
            database_url=database_urls(args.admin_url, args.database)[0],
        )
        try:
            return execute(run, run_id, started, started_at)
        except BenchError as exc:
            say(f"error: {exc}")
            return 2
        except KeyboardInterrupt:
            say("interrupted")
            return 130
        finally:
            progress.stop()
            for process in list(run.processes):
                with contextlib.suppress(Exception):
                    stop_process(run, process)


def planned(args: argparse.Namespace) -> int:
    """How many measurements the run will make (the progress bar's total)."""
    keys = set(args.only)
    total = len(keys)
    total += len(overload_keys(args)) * len(overload.CONNECTIONS)
    if not args.no_servers:
        total += server_compare.planned(args.only)
    if not args.no_cached:
        total += len(keys & set(cached.CACHED_KEYS))
    if not args.no_workers:
        total += len(keys & set(WORKERS_KEYS))
    if not args.no_reference:
        total += len(keys & {e.key for e in ENDPOINTS if e.reference})
    if not args.no_sqlite:
        total += len(keys & set(SQLITE_KEYS))
    return total


def execute(run: Run, run_id: str, started: float, started_at: dt.datetime) -> int:
    args = run.args
    server_prefix, wrk_prefix = pinning(args)
    run.secret = secrets.token_urlsafe(36)  # 48 characters
    env = conduit_env(run, database_urls(run.admin_url, args.database)[1])
    say(
        f"run {run_id}: database {args.database}, sizes {run.sizes}, "
        f"{'quick' if args.quick else 'full'} mode"
    )
    load = os.getloadavg()[0]
    if load > 0.5:
        say(f"warning: load average {load:.2f} before the run: other work skews the figures")
    progress.start(planned(args))
    progress.phase("database", 0)
    data = prepare_database(run, env)
    run.fixtures = {
        "slug": data["slug"],
        "tag": data["tag"],
        "author": data["author"],
        "favorite": data["favorite_slugs"][0] if data["favorite_slugs"] else data["slug"],
    }
    run.favorite_slugs = data.pop("favorite_slugs")
    if "favorite" in args.only and len(run.favorite_slugs) // 2 <= 2 * args.connections:
        say(
            f"warning: only {len(run.favorite_slugs)} articles the reader has not favorited: "
            "not enough to toggle favorites safely, skipping the favorite endpoint"
        )
        args.only.remove("favorite")
    run.reader_id = data["reader_id"]

    conduit, samples, overloaded = bench_conduit(run, env, server_prefix, wrk_prefix, run_id)
    deleted = asyncio.run(
        delete_bench_rows(run.database_url, run_id, run.reader_id, run.favorite_slugs)
    )
    say(
        f"deleted what the writes created: {deleted['articles']} articles, "
        f"{deleted['comments']} comments, {deleted['users']} users, "
        f"{deleted['favorites']} favorites"
    )

    cached_results: dict[str, Result] = {}
    if not args.no_cached:
        cached_results = cached.bench_cached(run, env, server_prefix, wrk_prefix, run_id, samples)

    workers: dict[str, Result] = {}
    if not args.no_workers:
        workers = bench_workers(run, env, wrk_prefix, run_id)

    reference: dict[str, Result] = {}
    mismatches: list[str] = []
    if not args.no_reference and any(e.reference and e.key in args.only for e in ENDPOINTS):
        reference, mismatches = bench_reference(run, server_prefix, wrk_prefix, samples)

    servers: server_compare.Turns = {}
    if not args.no_servers:
        servers = server_compare.bench_servers(run, env, server_prefix, wrk_prefix, run_id + "v")

    sqlite: dict[str, Result] = {}
    sqlite_data: dict[str, Any] = {}
    if not args.no_sqlite:
        sqlite, sqlite_data = bench_sqlite(run, server_prefix, wrk_prefix, run_id)
    progress.stop()

    runtime = time.monotonic() - started
    out()
    out(table(run, conduit, reference))
    out()
    if overloaded:
        out(overload.table(overloaded, run.fixtures))
        for missed in overload.failures(overloaded):
            say(f"target missed: {missed}")
        out()
    if servers:
        out(server_compare.table(run, servers, reference))
        out()
    if cached_results:
        out(cached.table(run, conduit, cached_results, reference))
        out()
    if workers:
        out(workers_table(run, conduit, workers))
        out()
    if sqlite:
        out(sqlite_table(run, conduit, sqlite))
        out()
    out(servers_line(run))
    out()
    failures = [
        f"{server} {key}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors"
        for server, results in (
            ("conduit", conduit),
            ("conduit with Redis", cached_results),
            (f"conduit --workers {WORKERS}", workers),
            ("reference", reference),
            ("conduit on SQLite", sqlite),
        )
        for key, result in results.items()
        if result.non_2xx or result.socket_errors
    ]
    failures += server_compare.failures(servers)
    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "runtime_seconds": round(runtime, 1),
        "run_id": run_id,
        "git": git_state(),
        "machine": {**machine(), "load_average_start": round(load, 2)},
        "settings": {
            "quick": args.quick,
            "duration_seconds": args.duration,
            "warmup_seconds": args.warmup,
            "connections": args.connections,
            "wrk_threads": 1,
            "timeout_seconds": args.timeout,
            "timeouts_per_endpoint": {e.key: e.timeout for e in ENDPOINTS if e.timeout},
            "server_cpu": args.server_cpu if server_prefix else None,
            "wrk_cpu": args.wrk_cpu if wrk_prefix else None,
            "workers_cpus": (
                f"{args.server_cpu},{args.wrk_cpu}" if wrk_prefix and workers else None
            ),
            "database": args.database,
            "seed": run.sizes,
        },
        "data": data,
        "sqlite_data": sqlite_data,
        "endpoints": {e.key: e.label(run.fixtures) for e in ENDPOINTS},
        "servers": run.servers,
        "conduit": {key: result.as_json() for key, result in conduit.items()},
        "overload": overload.as_json(overloaded),
        "servers_compared": server_compare.as_json(servers),
        "cached": {key: result.as_json() for key, result in cached_results.items()},
        "workers": {key: result.as_json() for key, result in workers.items()},
        "reference": {key: result.as_json() for key, result in reference.items()},
        "sqlite": {key: result.as_json() for key, result in sqlite.items()},
        "ratios": {
            key: round(conduit[key].rps / ref.rps, 3)
            for key, ref in reference.items()
            if key in conduit and ref.rps
        },
        "cached_ratios": {
            key: round(result.rps / reference[key].rps, 3)
            for key, result in cached_results.items()
            if key in reference and reference[key].rps
        },
        "reference_mismatches": mismatches,
        "failures": failures,
    }
    stamp = f"{started_at:%Y%m%dT%H%M%SZ}"
    output = args.output or RESULTS_DIR / f"{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {output}")
    if conduit:
        kind = "quick run" if args.quick else "full run"
        title = f"Conduit and the ceiling, {kind} of {started_at:%Y-%m-%d %H:%M} UTC"
        picture = chart_svg(run, conduit, reference, title=title)
        chart = output.with_suffix(".svg")
        chart.write_text(picture, encoding="utf-8")
        latest = RESULTS_DIR / "latest.svg"
        latest.parent.mkdir(parents=True, exist_ok=True)
        latest.write_text(picture, encoding="utf-8")
        say(f"chart written to {chart} and {latest}")
    say(f"total runtime {runtime:.0f} s")
    if failures:
        say("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
