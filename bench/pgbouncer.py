"""Conduit through pgbouncer beside Conduit straight on PostgreSQL, in one run.

``make bench-pgbouncer`` runs this file. It seeds its own database ``conduit_bench_pgbouncer``
(``--sizes quick``: 2,000 articles, as ``make bench`` seeds, with the same fixtures), starts
a private pgbouncer (tests/pgbouncer_server.py: transaction pooling, ``--pgbouncer-pool``
server connections, 8) in front of the machine's PostgreSQL, then measures three variants
of the same ``conduit serve`` (one worker pinned to core 0, the same settings: a pool of
``--pool`` connections, 16, rate limits off), taking turns round after round so that the
machine's other work falls on each alike:

- ``direct``: CONDUIT_DATABASE_URL on PostgreSQL, asyncpg's statement cache on (the default);
- ``direct, no cache``: the same URL with ``CONDUIT_DATABASE_POOLER=pgbouncer``: what the
  statements cost once no prepared statement is kept, without pgbouncer's hop;
- ``pgbouncer``: CONDUIT_DATABASE_URL on the pgbouncer with ``CONDUIT_DATABASE_POOLER=pgbouncer``.

Each endpoint gets a warm-up and a measured wrk run (pinned to core 1, 64 connections, a
10 s timeout, bench/load.py); requests/s, p50 and p99 are the median over the rounds. The
comments the write endpoint added are deleted afterwards. See bench/README.md, "Through pgbouncer".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
from pathlib import Path

from common import (
    DEFAULT_ADMIN_URL,
    ENDPOINTS_BY_KEY,
    FULL_SIZES,
    QUICK_SIZES,
    ROOT,
    BenchError,
    Result,
    Run,
    out,
    say,
)
from load import ensure_wrk, measure, pinning
from report import markdown
from seeding import check_database_name, database_urls, delete_bench_rows, prepare_database
from servers import conduit_command, free_port, http, start_process, stop_process, wait_ready

sys.path.insert(0, str(ROOT))  # the tests' pgbouncer, as scripts/conformance.py starts it
from tests.pgbouncer_server import Pgbouncer, pgbouncer_binary

DATABASE = "conduit_bench_pgbouncer"
KEYS = ("list", "article", "tags", "comment")
VARIANTS = ("direct", "direct, no cache", "pgbouncer")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="turns of each variant (2)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per endpoint (5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds (2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--timeout", type=float, default=10, help="wrk request timeout, s (10)")
    parser.add_argument("--sizes", choices=["quick", "full"], default="quick")
    # Small pools: the PostgreSQL server is shared (max_connections), and a busy server on
    # two cores runs no faster with more connections than cores times a few.
    parser.add_argument("--pool", type=int, default=16, help="CONDUIT_DB_POOL_SIZE (16)")
    parser.add_argument("--pgbouncer-pool", type=int, default=8, help="server connections (8)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
    parser.add_argument("--wrk-cpu", type=int, default=1, help="core of wrk (1)")
    args = parser.parse_args()
    args.database, args.reuse_db, args.only = DATABASE, False, list(KEYS)
    return args


def start_pgbouncer(run: Run, pool: int) -> Pgbouncer:
    binary = pgbouncer_binary()
    if binary is None:
        raise BenchError("pgbouncer is not installed: apt-get install -y pgbouncer")
    host, _, port = run.admin_url.split("@")[-1].split("/")[0].partition(":")
    bouncer = Pgbouncer(
        run.workdir / "pgbouncer",
        port=free_port(),
        binary=binary,
        server_host=host,
        server_port=int(port or 5432),
        pool_size=pool,
    )
    say(f"starting pgbouncer on port {bouncer.port} ({pool} server connections, transaction)")
    return bouncer.start()


def variant_env(
    base: dict[str, str], name: str, bouncer: Pgbouncer, direct_url: str
) -> dict[str, str]:
    if name == "direct":
        return {**base, "CONDUIT_DATABASE_URL": direct_url}
    if name == "direct, no cache":
        return {**base, "CONDUIT_DATABASE_URL": direct_url, "CONDUIT_DATABASE_POOLER": "pgbouncer"}
    return {
        **base,
        "CONDUIT_DATABASE_URL": bouncer.url(DATABASE),
        "CONDUIT_DATABASE_POOLER": "pgbouncer",
    }


def one_turn(
    run: Run,
    name: str,
    env: dict[str, str],
    prefixes: tuple[list[str], list[str]],
    run_id: str,
) -> dict[str, Result]:
    """One ``conduit serve`` of a variant: every endpoint measured, then stopped."""
    server_prefix, wrk_prefix = prefixes
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = conduit_command("serve", "--host", "127.0.0.1", f"--port={port}")
    label = name.replace(", ", "-").replace(" ", "-")
    process = start_process(run, label, [*server_prefix, *serve], env)
    results: dict[str, Result] = {}
    try:
        wait_ready(run, label, process, base)
        status, answer = http(
            base,
            "POST",
            "/api/users/login",
            body={"user": {"email": "user1@conduit.example", "password": "password123"}},
        )
        if status != 200:
            raise BenchError(f"{name}: login answered {status}: {answer}")
        run.token = str(answer["user"]["token"])
        for key in KEYS:
            endpoint = ENDPOINTS_BY_KEY[key]
            results[key] = measure(run, wrk_prefix, base, endpoint, run_id, process.pid)
            if process.poll() is not None:
                raise BenchError(f"{name} died during {key}")
    finally:
        stop_process(run, process)
    return results


def summary(run: Run, turns: dict[str, list[dict[str, Result]]]) -> str:
    header = ["endpoint"]
    for name in VARIANTS:
        header += [f"{name} req/s", f"{name} p50/p99 ms"]
    header += ["pgbouncer/direct", "errors"]
    rows = [header]
    for key in KEYS:
        endpoint = ENDPOINTS_BY_KEY[key]
        row = [endpoint.short_label(run.fixtures)]
        rps: dict[str, float] = {}
        errors = 0
        for name in VARIANTS:
            results = [turn[key] for turn in turns[name]]
            rps[name] = statistics.median(r.rps for r in results)
            p50 = statistics.median(r.latency_us["p50"] for r in results) / 1000
            p99 = statistics.median(r.latency_us["p99"] for r in results) / 1000
            errors += sum(r.non_2xx + r.socket_errors for r in results)
            row += [f"{rps[name]:,.0f}", f"{p50:.1f} / {p99:.1f}"]
        ratio = rps["pgbouncer"] / rps["direct"] if rps["direct"] else 0.0
        rows.append([*row, f"{ratio:.2f}", str(errors)])
    return "\n".join(markdown(rows))


def main() -> int:
    args = parse_args()
    ensure_wrk()
    check_database_name(DATABASE)
    plain, direct_url = database_urls(args.admin_url, DATABASE)
    workdir = Path(tempfile.mkdtemp(prefix="conduit-bench-pgbouncer-"))
    sizes = QUICK_SIZES if args.sizes == "quick" else FULL_SIZES
    run = Run(args=args, workdir=workdir, sizes=sizes, admin_url=args.admin_url, database_url=plain)
    run.secret = secrets.token_urlsafe(36)
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUIT_")}
    base_env.update(
        CONDUIT_DATABASE_URL=direct_url,
        CONDUIT_SECRET_KEY=run.secret,
        CONDUIT_LOG_LEVEL="WARNING",
        CONDUIT_RATE_LIMITS_ENABLED="false",
        CONDUIT_DB_POOL_SIZE=str(args.pool),
    )
    prefixes = pinning(args)
    run_id = secrets.token_hex(3)
    bouncer: Pgbouncer | None = None
    turns: dict[str, list[dict[str, Result]]] = {name: [] for name in VARIANTS}
    try:
        data = prepare_database(run, base_env)
        run.fixtures = {"slug": data["slug"], "tag": data["tag"], "author": data["author"]}
        bouncer = start_pgbouncer(run, args.pgbouncer_pool)
        for number in range(1, args.rounds + 1):
            for name in VARIANTS:
                say(f"round {number} of {args.rounds}: {name}")
                env = variant_env(base_env, name, bouncer, direct_url)
                turns[name].append(one_turn(run, name, env, prefixes, f"{run_id}{number}"))
        deleted = asyncio.run(delete_bench_rows(plain, run_id, data["reader_id"], []))
        say(f"deleted what the writes added: {deleted['comments']} comments")
    except BenchError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        for process in list(run.processes):
            stop_process(run, process)
        if bouncer is not None:
            bouncer.stop()
    out()
    out(summary(run, turns))
    out(
        f"\nMedian of {args.rounds} turns per variant; {args.duration:g} s per endpoint after "
        f"{args.warmup:g} s of warm-up, {args.connections} connections; pgbouncer lends "
        f"{args.pgbouncer_pool} server connections to Conduit's pool of {args.pool}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
