"""What tracing costs: ``GET /api/articles`` on PostgreSQL with wrk, tracing on and off.

``uv run --frozen python bench/tracing.py [--baseline-src ../main/src]`` measures, in
alternating rounds (the machine's other work spreads over every variant alike):

- ``off``: this checkout, no ``OTEL_*`` variable (what every install runs by default);
- ``baseline`` (with ``--baseline-src``): another checkout's ``src`` (one without tracing,
  such as the commit before it), on the same virtual environment and database: "not
  installed";
- ``on``: this checkout exporting every trace to a local OTLP/HTTP receiver that this
  script runs (it decodes each export and counts the spans: the collector's work is not
  the server's);
- ``on-10%``: the same, keeping one trace in ten (``OTEL_TRACES_SAMPLER=
  parentbased_traceidratio``, ``OTEL_TRACES_SAMPLER_ARG=0.1``).

Like ``make bench``: one ``conduit serve`` worker pinned to core 0, wrk pinned to core 1
(64 connections, a 3 s warm-up, then ``--duration`` seconds), rate limits off. It seeds its
own database ``conduit_bench_tracing`` (``--sizes quick``: 2,000 articles) and prints, per
variant, requests/s, p50 and p99 latency and the server's CPU time per request of every
round, then each variant's median and spread. The figures are in docs/operating/tracing.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from common import BENCH_DIR, DEFAULT_ADMIN_URL, FULL_SIZES, QUICK_SIZES, Result, Run, say
from load import ensure_wrk, run_wrk, settle, tree_cpu_seconds
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from seeding import check_database_name, database_urls, recreate_database, run_commands
from servers import conduit_command, free_port, start_process, stop_process, wait_ready

DATABASE = "conduit_bench_tracing"


class Receiver:
    """A local OTLP/HTTP receiver: decodes each export and counts its spans."""

    def __init__(self) -> None:
        self.spans = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = ExportTraceServiceRequest()
                request.ParseFromString(self.rfile.read(int(self.headers["content-length"])))
                count = sum(
                    len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
                )
                with lock:
                    receiver.spans += count
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def wrk(base: str, seconds: float, connections: int) -> list[str]:
    return [
        *(["taskset", "-c", "1"] if (os.cpu_count() or 1) > 1 else []),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout=2s",
        "--latency",
        "-s",
        str(BENCH_DIR / "get.lua"),
        f"{base}/api/articles",
        "--",
        "-",
    ]


def one_round(
    run: Run, name: str, env: dict[str, str], args: argparse.Namespace
) -> tuple[Result, float]:
    """Start the server, warm it up, measure; the result and its CPU ms per request."""
    port = free_port()
    pin = ["taskset", "-c", "0"] if (os.cpu_count() or 1) > 1 else []
    process = start_process(run, name, [*pin, *conduit_command("serve", "--port", str(port))], env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(run, name, process, base)
        run_wrk(wrk(base, 3, args.connections), 3)
        settle(process.pid)
        before = tree_cpu_seconds(process.pid)
        result = run_wrk(wrk(base, args.duration, args.connections), args.duration)
        cpu_ms = (tree_cpu_seconds(process.pid) - before) * 1000 / max(result.requests, 1)
    finally:
        stop_process(run, process)
    return result, cpu_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--sizes", choices=["quick", "full"], default="quick")
    parser.add_argument("--baseline-src", type=Path, help="a checkout's src without tracing")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    ensure_wrk()
    check_database_name(DATABASE)
    plain, database_url = database_urls(args.admin_url, DATABASE)
    workdir = Path(tempfile.mkdtemp(prefix="conduit-bench-tracing-"))
    sizes = QUICK_SIZES if args.sizes == "quick" else FULL_SIZES
    run = Run(args=args, workdir=workdir, sizes=sizes, admin_url=args.admin_url, database_url=plain)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDUIT_", "OTEL_"))}
    base_env.update(
        CONDUIT_DATABASE_URL=database_url,
        CONDUIT_SECRET_KEY=secrets.token_urlsafe(48),
        CONDUIT_LOG_LEVEL="WARNING",
        CONDUIT_RATE_LIMITS_ENABLED="false",
    )
    say(f"seeding {DATABASE} ({args.sizes})")
    asyncio.run(recreate_database(args.admin_url, DATABASE))
    seed = conduit_command("seed", *(f"--{k}={v}" for k, v in sizes.items()))
    run_commands([conduit_command("db", "upgrade"), seed], base_env)

    receiver = Receiver()
    variants: dict[str, dict[str, str]] = {"off": base_env}
    if args.baseline_src:
        baseline = args.baseline_src.resolve()
        variants["baseline"] = {**base_env, "PYTHONPATH": str(baseline)}
    variants["on"] = {
        **base_env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_SERVICE_NAME": "conduit-bench",
    }
    variants["on-10%"] = {
        **variants["on"],
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    rows: dict[str, list[tuple[Result, float]]] = {name: [] for name in variants}
    try:
        for number in range(1, args.rounds + 1):
            for name, env in variants.items():
                spans_before = receiver.spans
                result, cpu_ms = one_round(run, name, env, args)
                rows[name].append((result, cpu_ms))
                spans = receiver.spans - spans_before
                say(
                    f"round {number} {name}: {result.rps:,.0f} req/s, p50 "
                    f"{result.latency_us['p50'] / 1000:.1f} ms, p99 "
                    f"{result.latency_us['p99'] / 1000:.1f} ms, server CPU {cpu_ms:.3f} ms/request"
                    f", non-2xx {result.non_2xx}, socket errors {result.socket_errors}"
                    + (f", {spans / max(result.requests, 1):.1f} spans/request" if spans else "")
                )
    finally:
        for process in list(run.processes):
            stop_process(run, process)
        receiver.server.shutdown()
    print("\nvariant   req/s median (min-max)   p99 ms median   server CPU ms/request median")
    for name, measured in rows.items():
        rps = [result.rps for result, _ in measured]
        p99 = [result.latency_us["p99"] / 1000 for result, _ in measured]
        cpu = [cpu_ms for _, cpu_ms in measured]
        print(
            f"{name:9} {statistics.median(rps):8,.0f} ({min(rps):,.0f}-{max(rps):,.0f})"
            f"   {statistics.median(p99):10.1f}   {statistics.median(cpu):10.3f}"
            f" ({min(cpu):.3f}-{max(cpu):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
