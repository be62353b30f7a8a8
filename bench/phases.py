"""The phases of ``make bench`` that start a server and measure it: Conduit (one worker,
then ``--workers 2``), the reference server (its answers checked against Conduit's first)
and Conduit on SQLite. bench/run.py runs them in order; bench/cache_backends.py and
bench/metrics_cost.py start Conduit the same way (``conduit_env``, ``start_conduit``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

import overload  # bench/overload.py: admitted and shed apart, at 64 and 512 connections
from common import (
    BENCH_DIR,
    ENDPOINTS,
    PASSWORD,
    READER,
    READER_EMAIL,
    VENV_BIN,
    BenchError,
    Endpoint,
    Result,
    Run,
    out,
    progress,
    say,
)
from load import measure, resident_mib
from overload import OverloadResult
from seeding import delete_bench_rows, prepare_sqlite
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

SQLITE_KEYS = ("list", "article", "profile", "feed", "create")
WORKERS_KEYS = ("list", "article")
WORKERS = 2


def conduit_env(run: Run, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CONDUIT_DATABASE_URL=database_url,
        CONDUIT_SECRET_KEY=run.secret,
        CONDUIT_LOG_LEVEL="WARNING",
        # The bench measures the API: thousands of requests a second from one address.
        CONDUIT_RATE_LIMITS_ENABLED="false",
    )
    return env


def start_conduit(
    run: Run, name: str, env: dict[str, str], prefix: list[str], *, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """``conduit serve`` on a free port, ready; its start-up time goes in the report."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = ["serve", "--host", "127.0.0.1", f"--port={port}"]
    if workers > 1:
        serve.append(f"--workers={workers}")
    progress.phase(name, 0)
    process = start_process(run, name, [*prefix, *conduit_command(*serve)], env)
    ready = wait_ready(run, name, process, base)
    run.servers.setdefault(name, {})["startup_seconds"] = round(ready, 2)
    say(f"{name} ready in {ready:.1f} s")
    return process, base


def sign_in(base: str) -> str:
    status, answer = http(
        base,
        "POST",
        "/api/users/login",
        body={"user": {"email": READER_EMAIL, "password": PASSWORD}},
    )
    if status != 200:
        raise BenchError(f"login as {READER} answered {status}: {answer}")
    return str(answer["user"]["token"])


def take_samples(run: Run, base: str) -> dict[str, Any]:
    """Conduit's answers the reference must reproduce, taken before anything is written:
    ``key`` as the bench calls it, ``key signed in`` for the anonymous reads signed in."""
    samples: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        if endpoint.reference:
            path = endpoint.url_path(run.fixtures)
            token = run.token if endpoint.signed_in else ""
            samples[endpoint.key] = http(base, "GET", path, token=token)[1]
            if not endpoint.signed_in:
                samples[f"{endpoint.key} signed in"] = http(base, "GET", path, token=run.token)[1]
    return samples


def measure_all(
    run: Run,
    name: str,
    process: subprocess.Popen[bytes],
    base: str,
    endpoints: list[Endpoint],
    wrk_prefix: list[str],
    run_id: str,
    *,
    postgres: bool = True,
) -> dict[str, Result]:
    """Every endpoint in turn; then the server's resident memory, for the report."""
    progress.phase(name, len(endpoints))
    say(
        f"benchmarking {name}: {len(endpoints)} endpoints, {run.args.warmup:g} s warm-up "
        f"+ {run.args.duration:g} s each, {run.args.connections} connections"
    )
    results: dict[str, Result] = {}
    for endpoint in endpoints:
        results[endpoint.key] = measure(
            run, wrk_prefix, base, endpoint, run_id, process.pid, postgres=postgres
        )
        if process.poll() is not None:
            raise BenchError(f"{name} died during {endpoint.key}:\n{log_tail(run, name)}")
    rss = resident_mib(process.pid)
    run.servers.setdefault(name, {})["rss_mib"] = rss
    say(f"{name}: resident memory {rss:,.0f} MiB at the end of its load (VmRSS, with children)")
    return results


def show_server_log(run: Run, name: str) -> None:
    logged = [
        line
        for line in log_tail(run, name, 200).splitlines()
        if "Conduit on http" not in line and "conduit_serving" not in line
    ]
    if logged:
        say(f"{name} logged {len(logged)} lines (warnings and errors); the last ones:")
        out("\n".join(logged[-10:]))


def bench_conduit(
    run: Run, env: dict[str, str], server_prefix: list[str], wrk_prefix: list[str], run_id: str
) -> tuple[dict[str, Result], dict[str, Any], dict[str, dict[int, OverloadResult]]]:
    """Conduit on every endpoint at --connections, then (unless --no-overload) the same
    process under overload: the list and an article at 64 and 512 connections."""
    process, base = start_conduit(run, "conduit", env, server_prefix)
    overloaded: dict[str, dict[int, OverloadResult]] = {}
    try:
        run.token = sign_in(base)
        samples = take_samples(run, base)
        endpoints = [e for e in ENDPOINTS if e.key in run.args.only]
        check_endpoints(run, base, endpoints, run_id)
        results = measure_all(run, "conduit", process, base, endpoints, wrk_prefix, run_id)
        keys = overload_keys(run.args)
        if keys:
            client_cpu = run.args.wrk_cpu if wrk_prefix else None
            overloaded = overload.bench_overload(
                run, base, keys, client_cpu, server_pid=process.pid
            )
            # The same 512 connections as clients that honour Retry-After (each waits its
            # 1 s after a 503), beside the ones that resend at once.
            polite = overload.bench_overload(
                run,
                base,
                keys,
                client_cpu,
                server_pid=process.pid,
                connections=(overload.CONNECTIONS[-1],),
                shed_pause=1.0,
            )
            for key, by_connections in polite.items():
                low = overloaded[key][overload.CONNECTIONS[0]]  # its ratio's denominator
                overloaded[f"{key}+{POLITE}"] = {overload.CONNECTIONS[0]: low, **by_connections}
    finally:
        stop_process(run, process)
        say("conduit stopped")
    show_server_log(run, "conduit")
    return results, samples, overloaded


# The overload rows of clients that honour Retry-After, keyed "<endpoint key>+<this>".
POLITE = "clients honour Retry-After"


def overload_keys(args: Any) -> tuple[str, ...]:
    """The endpoints the overload run measures (none with --no-overload)."""
    if args.no_overload:
        return ()
    return tuple(key for key in overload.KEYS if key in args.only)


def bench_workers(
    run: Run, env: dict[str, str], wrk_prefix: list[str], run_id: str
) -> dict[str, Result]:
    """``conduit serve --workers 2`` given both cores (wrk shares one of them)."""
    endpoints = [e for e in ENDPOINTS if e.key in WORKERS_KEYS and e.key in run.args.only]
    if not endpoints:
        return {}
    prefix = []
    if wrk_prefix:
        prefix = ["taskset", "-c", f"{run.args.server_cpu},{run.args.wrk_cpu}"]
    name = f"conduit-{WORKERS}-workers"
    process, base = start_conduit(run, name, env, prefix, workers=WORKERS)
    try:
        for endpoint in endpoints:  # every worker answers before wrk starts
            for _ in range(4):
                http(base, "GET", endpoint.url_path(run.fixtures))
        results = measure_all(run, name, process, base, endpoints, wrk_prefix, run_id + "k")
    finally:
        stop_process(run, process)
        say(f"{name} stopped")
    show_server_log(run, name)
    return results


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


def compare_with_reference(
    run: Run, base: str, endpoints: list[Endpoint], samples: dict[str, Any]
) -> tuple[list[str], int]:
    """Every reference answer against Conduit's, anonymous and signed in; (differences,
    documents compared)."""
    mismatches: list[str] = []
    compared = 0
    for endpoint in endpoints:
        path = endpoint.url_path(run.fixtures)
        variants = [(endpoint.key, run.token if endpoint.signed_in else "")]
        if not endpoint.signed_in:
            variants.append((f"{endpoint.key} signed in", run.token))
        for key, token in variants:
            status, answer = http(base, "GET", path, token=token)
            if status != 200:
                raise BenchError(f"reference {key} answered {status}: {answer}")
            compared += 1
            difference = first_difference(samples.get(key), answer)
            if difference:
                mismatches.append(f"{key}: {difference}")
                say(f"warning: reference {key} differs from conduit: {difference}")
    return mismatches, compared


def bench_reference(
    run: Run, server_prefix: list[str], wrk_prefix: list[str], samples: dict[str, Any]
) -> tuple[dict[str, Result], list[str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["BENCH_DATABASE_URL"] = run.database_url
    env["CONDUIT_SECRET_KEY"] = run.secret  # to check the reader's token as Conduit does
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
    progress.phase("reference", 0)
    process = start_process(run, "reference", command, env)
    results: dict[str, Result] = {}
    try:
        ready = wait_ready(run, "reference", process, base)
        run.servers.setdefault("reference", {})["startup_seconds"] = round(ready, 2)
        say(f"reference ready in {ready:.1f} s")
        endpoints = [e for e in ENDPOINTS if e.reference and e.key in run.args.only]
        mismatches, compared = compare_with_reference(run, base, endpoints, samples)
        if not mismatches:
            say(f"the reference's {compared} answers (anonymous and signed in) equal Conduit's")
        results = measure_all(run, "reference", process, base, endpoints, wrk_prefix, "ref")
    finally:
        stop_process(run, process)
        say("reference stopped")
    return results, mismatches


def bench_sqlite(
    run: Run, server_prefix: list[str], wrk_prefix: list[str], run_id: str
) -> tuple[dict[str, Result], dict[str, Any]]:
    """Conduit zero-config style on an SQLite file seeded with the same sizes."""
    endpoints = [e for e in ENDPOINTS if e.key in SQLITE_KEYS and e.key in run.args.only]
    if not endpoints:
        return {}, {}
    path = run.workdir / "bench.db"
    progress.phase("SQLite database", 0)
    env = conduit_env(run, f"sqlite+aiosqlite:///{path}")
    data = prepare_sqlite(run, env, path)
    postgres_fixtures, postgres_token = run.fixtures, run.token
    run.fixtures = {"slug": data["slug"], "tag": data["tag"], "author": data["author"]}
    process, base = start_conduit(run, "conduit-sqlite", env, server_prefix)
    try:
        run.token = sign_in(base)
        check_endpoints(run, base, endpoints, run_id + "s")
        results = measure_all(
            run,
            "conduit-sqlite",
            process,
            base,
            endpoints,
            wrk_prefix,
            run_id + "s",
            postgres=False,
        )
    finally:
        stop_process(run, process)
        say("conduit-sqlite stopped")
        run.fixtures, run.token = postgres_fixtures, postgres_token
    show_server_log(run, "conduit-sqlite")
    deleted = asyncio.run(delete_bench_rows(str(path), run_id, data["reader_id"], []))
    say(f"SQLite: deleted the {deleted['articles']} articles POST /api/articles created")
    data.pop("favorite_slugs", None)
    data["readers"] = os.environ.get("CONDUIT_SQLITE_READERS", "4 (default)")
    return results, data
