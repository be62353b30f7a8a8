"""Benchmark Conduit on PostgreSQL with wrk, the way PERFORMANCE.md measured its peers.

``make bench`` runs this file. In order it:

1. installs wrk with apt-get when it is missing;
2. drops and recreates the database ``conduit_bench``, migrates it (``conduit db upgrade``),
   seeds it (``conduit seed``), makes user1 follow about 40 authors, then VACUUM ANALYZE;
3. starts ``conduit serve`` (one worker) pinned to core 0 and signs in as user1;
4. runs wrk pinned to core 1 (64 connections, a warm-up, then --duration seconds) on each
   endpoint, POST /api/articles last, and deletes the articles that POST created;
5. stops Conduit, starts bench/reference_server.py (the hand-written ceiling) the same way
   and measures its three endpoints (skip with --no-reference);
6. prints a table and writes bench/results/<timestamp>.json.

Every process it starts is stopped on the way out, on errors and Ctrl-C too. The exit status
is non-zero when a server does not start or when any endpoint has socket errors or non-2xx
answers. See bench/README.md.

The work is split by job: common.py (settings, endpoints, results, the log), seeding.py (the
database), servers.py (processes and HTTP), load.py (wrk and CPU accounting), report.py (the
tables and the JSON facts), cached.py (the run with Redis); this file parses the arguments
and runs the phases. ``python bench/run.py`` puts bench/ on sys.path, so they import as
top-level modules.
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
from common import (
    BENCH_DIR,
    DEFAULT_ADMIN_URL,
    DEFAULT_DATABASE,
    ENDPOINT_KEYS,
    ENDPOINTS,
    FULL_SIZES,
    PASSWORD,
    QUICK_SIZES,
    READER,
    READER_EMAIL,
    RESULTS_DIR,
    VENV_BIN,
    BenchError,
    Result,
    Run,
    say,
)
from load import ensure_wrk, measure, pinning
from report import git_state, machine, table
from seeding import (
    check_database_name,
    database_urls,
    delete_bench_articles,
    prepare_database,
)
from servers import (
    check_endpoints,
    conduit_command,
    free_port,
    http,
    log_tail,
    start_process,
    stop_process,
    wait_ready,
)

# --------------------------------------------------------------------------- phases


def conduit_env(run: Run, secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CONDUIT_DATABASE_URL=database_urls(run.admin_url, run.args.database)[1],
        CONDUIT_SECRET_KEY=secret,
        CONDUIT_LOG_LEVEL="WARNING",
        # The bench measures the API: thousands of requests a second from one address.
        CONDUIT_RATE_LIMITS_ENABLED="false",
    )
    return env


def bench_conduit(
    run: Run, env: dict[str, str], server_prefix: list[str], wrk_prefix: list[str], run_id: str
) -> tuple[dict[str, Result], dict[str, Any]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [*server_prefix, *conduit_command("serve", "--host", "127.0.0.1", f"--port={port}")]
    process = start_process(run, "conduit", command, env)
    results: dict[str, Result] = {}
    samples: dict[str, Any] = {}
    try:
        say(f"conduit ready in {wait_ready(run, 'conduit', process, base):.1f} s")
        status, answer = http(
            base,
            "POST",
            "/api/users/login",
            body={"user": {"email": READER_EMAIL, "password": PASSWORD}},
        )
        if status != 200:
            raise BenchError(f"login as {READER} answered {status}: {answer}")
        run.token = answer["user"]["token"]
        # Anonymous answers the reference server must reproduce (compared later), taken
        # before anything is written.
        for endpoint in ENDPOINTS:
            if endpoint.reference:
                samples[endpoint.key] = http(base, "GET", endpoint.url_path(run.fixtures))[1]
        endpoints = [e for e in ENDPOINTS if e.key in run.args.only]
        check_endpoints(run, base, endpoints, run_id)
        say(
            f"benchmarking conduit: {len(endpoints)} endpoints, {run.args.warmup:g} s warm-up "
            f"+ {run.args.duration:g} s each, {run.args.connections} connections"
        )
        for endpoint in endpoints:
            results[endpoint.key] = measure(run, wrk_prefix, base, endpoint, run_id, process.pid)
            if process.poll() is not None:
                raise BenchError(f"conduit died during {endpoint.key}:\n{log_tail(run, 'conduit')}")
    finally:
        stop_process(run, process)
        say("conduit stopped")
    logged = [
        line for line in log_tail(run, "conduit", 200).splitlines() if "Conduit on http" not in line
    ]
    if logged:
        say(f"conduit logged {len(logged)} lines (warnings and errors); the last ones:")
        print("\n".join(logged[-10:]), flush=True)
    return results, samples


def first_difference(expected: Any, actual: Any, where: str = "") -> str:
    """Where two JSON documents first differ ("" when they are equal)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            if key not in expected or key not in actual:
                return f"{where}.{key} only in {'reference' if key in actual else 'conduit'}"
            found = first_difference(expected[key], actual[key], f"{where}.{key}")
            if found:
                return found
        return ""
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{where}: {len(expected)} items in conduit, {len(actual)} in reference"
        for n, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = first_difference(left, right, f"{where}[{n}]")
            if found:
                return found
        return ""
    if expected != actual:
        return f"{where or 'body'}: conduit {expected!r:.60}, reference {actual!r:.60}"
    return ""


def bench_reference(
    run: Run, server_prefix: list[str], wrk_prefix: list[str], samples: dict[str, Any]
) -> tuple[dict[str, Result], list[str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["BENCH_DATABASE_URL"] = run.database_url
    command = [
        *server_prefix,
        str(VENV_BIN / "uvicorn") if (VENV_BIN / "uvicorn").exists() else "uvicorn",
        "--app-dir",
        str(BENCH_DIR),
        "reference_server:app",
        "--host",
        "127.0.0.1",
        f"--port={port}",
        "--loop=uvloop",
        "--http=httptools",
        "--no-access-log",
        "--log-level=warning",
    ]
    process = start_process(run, "reference", command, env)
    results: dict[str, Result] = {}
    mismatches: list[str] = []
    try:
        say(f"reference ready in {wait_ready(run, 'reference', process, base):.1f} s")
        endpoints = [e for e in ENDPOINTS if e.reference and e.key in run.args.only]
        for endpoint in endpoints:
            status, answer = http(base, "GET", endpoint.url_path(run.fixtures))
            if status != 200:
                raise BenchError(f"reference {endpoint.key} answered {status}: {answer}")
            difference = first_difference(samples.get(endpoint.key), answer)
            if difference:
                mismatches.append(f"{endpoint.key}: {difference}")
                say(f"warning: reference {endpoint.key} differs from conduit: {difference}")
        say(f"benchmarking the reference server: {len(endpoints)} endpoints")
        for endpoint in endpoints:
            results[endpoint.key] = measure(run, wrk_prefix, base, endpoint, "ref", process.pid)
    finally:
        stop_process(run, process)
        say("reference stopped")
    return results, mismatches


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Conduit on PostgreSQL with wrk (see bench/README.md)."
    )
    parser.add_argument("--quick", action="store_true", help="3 s smoke run on smaller data")
    parser.add_argument("--duration", type=float, help="seconds per endpoint (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per endpoint (default 3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--timeout", type=float, default=2, help="wrk request timeout, s (2)")
    for name, value in FULL_SIZES.items():
        parser.add_argument(
            f"--{name}", type=int, help=f"seed size (default {value}, --quick {QUICK_SIZES[name]})"
        )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="PostgreSQL URL of a database to run CREATE/DROP DATABASE from "
        "(env BENCH_ADMIN_URL; default %(default)s)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE", DEFAULT_DATABASE),
        help="name of the database dropped and recreated (env BENCH_DATABASE; default "
        "%(default)s; must contain 'bench')",
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help="keep the database if it exists (no drop, no seed): faster reruns",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip the reference server")
    parser.add_argument(
        "--no-cached", action="store_true", help="skip the cached run (Conduit with Redis)"
    )
    parser.add_argument(
        "--only",
        default=",".join(ENDPOINT_KEYS),
        help=f"comma-separated endpoints to measure (default all: {','.join(ENDPOINT_KEYS)})",
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
    parser.add_argument("--wrk-cpu", type=int, default=1, help="core of wrk (1)")
    parser.add_argument("--output", type=Path, help="result file (default bench/results/<ts>.json)")
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = 3.0 if args.quick else 10.0
    if args.warmup is None:
        args.warmup = 1.0 if args.quick else 3.0
    args.only = [key.strip() for key in args.only.split(",") if key.strip()]
    unknown = sorted(set(args.only) - set(ENDPOINT_KEYS))
    if unknown:
        parser.error(f"unknown endpoints in --only: {', '.join(unknown)}")
    if args.duration < 1 or args.connections < 1:
        parser.error("--duration must be at least 1 and --connections at least 1")
    return args


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
            for process in list(run.processes):
                with contextlib.suppress(Exception):
                    stop_process(run, process)


def execute(run: Run, run_id: str, started: float, started_at: dt.datetime) -> int:
    args = run.args
    server_prefix, wrk_prefix = pinning(args)
    env = conduit_env(run, secrets.token_urlsafe(36))  # 48 characters
    say(
        f"run {run_id}: database {args.database}, sizes {run.sizes}, "
        f"{'quick' if args.quick else 'full'} mode"
    )
    load = os.getloadavg()[0]
    if load > 0.5:
        say(f"warning: load average {load:.2f} before the run: other work skews the figures")
    data = prepare_database(run, env)
    run.fixtures = {"slug": data["slug"], "tag": data["tag"], "author": data["author"]}

    conduit, samples = bench_conduit(run, env, server_prefix, wrk_prefix, run_id)
    deleted = asyncio.run(delete_bench_articles(run.database_url, run_id))
    say(f"deleted the {deleted} articles POST /api/articles created")

    cached_results: dict[str, Result] = {}
    if not args.no_cached:
        cached_results = cached.bench_cached(run, env, server_prefix, wrk_prefix, run_id, samples)

    reference: dict[str, Result] = {}
    mismatches: list[str] = []
    if not args.no_reference and any(e.reference and e.key in args.only for e in ENDPOINTS):
        reference, mismatches = bench_reference(run, server_prefix, wrk_prefix, samples)

    runtime = time.monotonic() - started
    print()
    print(table(run, conduit, reference))
    print()
    if cached_results:
        print(cached.table(run, conduit, cached_results, reference))
        print()
    failures = [
        f"{server} {key}: {result.non_2xx} non-2xx, {result.socket_errors} socket errors"
        for server, results in (
            ("conduit", conduit),
            ("conduit with Redis", cached_results),
            ("reference", reference),
        )
        for key, result in results.items()
        if result.non_2xx or result.socket_errors
    ]
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
            "server_cpu": args.server_cpu if server_prefix else None,
            "wrk_cpu": args.wrk_cpu if wrk_prefix else None,
            "database": args.database,
            "seed": run.sizes,
        },
        "data": data,
        "endpoints": {e.key: e.label(run.fixtures) for e in ENDPOINTS},
        "conduit": {key: result.as_json() for key, result in conduit.items()},
        "cached": {key: result.as_json() for key, result in cached_results.items()},
        "reference": {key: result.as_json() for key, result in reference.items()},
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
    output = args.output or RESULTS_DIR / f"{started_at:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {output}")
    say(f"total runtime {runtime:.0f} s")
    if failures:
        say("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
