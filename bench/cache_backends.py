"""The response cache on each server: cached anonymous reads with no cache, Redis, Memcached.

``python bench/cache_backends.py`` (or ``make bench-cache``): seeds a PostgreSQL database
(``conduit_bench_cache``, the --quick sizes of run.py), then, ``--rounds`` times, starts
``conduit serve`` pinned to core 0 once per setting, the servers taking turns (the order
rotated each round, so that none always runs first or last):

- ``none``: no cache (neither CONDUIT_REDIS_URL nor CONDUIT_CACHE_URL);
- ``redis``: a private redis-server (free port, no persistence), CONDUIT_REDIS_URL;
- ``memcached``: a private memcached (free port, 64 MiB, one worker thread as Redis has),
  CONDUIT_CACHE_URL=memcached://.

Each time it measures ``GET /api/articles``, ``GET /api/articles/{slug}`` and ``GET
/api/tags`` anonymously with wrk pinned to core 1, as run.py does: the warm-up fills the
cache, so the measured requests of a cached server are hits. Before that, every answer (a
miss, then a hit) is checked equal, byte for byte once parsed, to the uncached server's.
It prints the median requests/s of each setting, the runs, latency, the server's CPU per
request and the share of cache lookups that hit (from the server's /metrics: a breaker
that opened sends requests to the database, and the table must say so), and writes
bench/results/cache-backends-<timestamp>.json. bench/README.md ("Response cache: Redis and
Memcached") has the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
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
from phases import conduit_env, show_server_log, start_conduit
from quick import run_quick
from report import markdown
from seeding import database_urls, prepare_database
from servers import free_port, http, start_process, stop_process

KEYS = ("list", "article", "tags")
SETTINGS = ("none", "redis", "memcached")
LOOKUPS = ("hits", "misses", "bypasses")  # conduit_cache_<lookup>_total in /metrics


def cache_lookups(base: str) -> dict[str, float]:
    """The server's cache lookups so far, by outcome, from its /metrics."""
    status, text = http(base, "GET", "/metrics")
    if status != 200 or not isinstance(text, str):
        raise BenchError(f"GET /metrics answered {status}")
    found = dict.fromkeys(LOOKUPS, 0.0)
    for line in text.splitlines():
        for lookup in LOOKUPS:
            if line.startswith(f"conduit_cache_{lookup}_total "):
                found[lookup] = float(line.split()[1])
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 3 s runs")
    parser.add_argument("--rounds", type=int, help="turns of the three settings (3; quick 2)")
    parser.add_argument("--duration", type=float, help="seconds per run (10; quick 3)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds (3; quick 1)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--timeout", type=float, default=2, help="wrk request timeout, s (2)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--database", default="conduit_bench_cache", help="dropped, recreated")
    parser.add_argument("--reuse-db", action="store_true", help="keep a seeded database")
    parser.add_argument(
        "--settings", default=",".join(SETTINGS), help="which of none,redis,memcached (all)"
    )
    parser.add_argument("--server-cpu", type=int, default=0, help="core of the server (0)")
    parser.add_argument("--wrk-cpu", type=int, default=1, help="core of wrk (1)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (2 if quick else 3)
    args.duration = args.duration or (3.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 3.0)
    args.settings = [name for name in SETTINGS if name in args.settings.split(",")]
    if not args.settings:
        parser.error(f"--settings names none of {', '.join(SETTINGS)}")
    return args


def cache_server_command(setting: str, port: int) -> list[str]:
    """The command of a private cache server for ``setting`` on ``port``."""
    name = {"redis": "redis-server", "memcached": "memcached"}[setting]
    binary = shutil.which(name)
    if binary is None:
        raise BenchError(f"{name} is missing: apt-get install -y {name}")
    if setting == "redis":
        return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    # One worker thread, as Redis serves commands on one: the same share of a busy machine.
    command = [binary, "--listen=127.0.0.1", f"--port={port}", "--udp-port=0", "--threads=1"]
    command.append("--memory-limit=64")
    if os.geteuid() == 0:
        command.append("--user=nobody")  # memcached does not run as root
    return command


def cache_env(setting: str, port: int) -> dict[str, str]:
    if setting == "redis":
        return {"CONDUIT_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    if setting == "memcached":
        return {"CONDUIT_CACHE_URL": f"memcached://127.0.0.1:{port}"}
    return {}


def one_server(
    run: Run,
    env: dict[str, str],
    setting: str,
    prefixes: tuple[list[str], list[str]],
    expected: dict[str, Any],
    tag: str,
) -> tuple[dict[str, Result], dict[str, float]]:
    """Start the cache server (if any) and conduit serve, check, measure, stop both; the
    results and, per endpoint, the share of its lookups (warm-up included) that hit."""
    server_prefix, wrk_prefix = prefixes
    cache: subprocess.Popen[bytes] | None = None
    extra: dict[str, str] = {}
    process = None
    try:
        if setting != "none":
            port = free_port()
            cache = start_process(run, setting, cache_server_command(setting, port), env)
            extra = cache_env(setting, port)
        without = ("CONDUIT_REDIS_URL", "CONDUIT_CACHE_URL")
        served = {**{k: v for k, v in env.items() if k not in without}, **extra}
        process, base = start_conduit(run, f"conduit-cache-{setting}", served, server_prefix)
        for key in KEYS:
            path = ENDPOINTS_BY_KEY[key].url_path(run.fixtures)
            for _ in range(2):  # a miss, then a hit
                status, answer = http(base, "GET", path)
                if status != 200:
                    raise BenchError(f"{setting}: GET {path} answered {status}: {answer}")
                if expected.setdefault(key, answer) != answer:
                    raise BenchError(f"{setting}: GET {path} differs from the first answer")
        results, hits = {}, {}
        for key in KEYS:
            before = cache_lookups(base)
            endpoint = ENDPOINTS_BY_KEY[key]
            results[key] = measure(run, wrk_prefix, base, endpoint, tag, process.pid)
            after = cache_lookups(base)
            counted = {lookup: after[lookup] - before[lookup] for lookup in LOOKUPS}
            total = sum(counted.values())
            hits[key] = counted["hits"] / total if total else 0.0
            if setting != "none":
                say(f"  {key}: {hits[key]:.1%} of {total:,.0f} lookups were hits ({counted})")
        return results, hits
    finally:
        if process is not None:
            stop_process(run, process)
            show_server_log(run, f"conduit-cache-{setting}")  # cache_unavailable, if any
        if cache is not None:
            stop_process(run, cache)


def _median(results: list[Result], field: str) -> float:
    if field == "rps":
        return statistics.median(r.rps for r in results)
    if field == "cpu":
        return statistics.median(r.server_cpu_ms or 0.0 for r in results)
    return statistics.median(r.latency_us[field] / 1000 for r in results)


def table(
    runs: dict[str, list[dict[str, Result]]], hits: dict[str, list[dict[str, float]]], run: Run
) -> str:
    rows = [
        [
            "anonymous read",
            "cache",
            "req/s (median)",
            "vs no cache",
            "runs req/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/req",
            "hits",
            "errors",
        ]
    ]
    for key in KEYS:
        plain = _median([each[key] for each in runs["none"]], "rps") if "none" in runs else 0
        for setting in runs:
            results = [each[key] for each in runs[setting]]
            rps = _median(results, "rps")
            rows.append(
                [
                    ENDPOINTS_BY_KEY[key].short_label(run.fixtures),
                    setting,
                    f"{rps:,.0f}",
                    f"{rps / plain:.2f}" if plain else "",
                    " ".join(f"{r.rps:,.0f}" for r in results),
                    f"{_median(results, 'p50'):.1f}",
                    f"{_median(results, 'p99'):.1f}",
                    f"{_median(results, 'cpu'):.3f}",
                    "" if setting == "none" else f"{min(h[key] for h in hits[setting]):.1%}",
                    str(sum(r.non_2xx + r.socket_errors for r in results)),
                ]
            )
    return "\n".join(markdown(rows))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_quick(args, execute, prefix="conduit-bench-cache-")


def execute(run: Run, started_at: dt.datetime) -> int:
    args = run.args
    prefixes = pinning(args)
    run.secret = secrets.token_urlsafe(36)
    env = conduit_env(run, database_urls(run.admin_url, args.database)[1])
    load = os.getloadavg()[0]
    if load > 0.5:
        say(f"warning: load average {load:.2f} before the run: other work skews the figures")
    data = prepare_database(run, env)
    run.fixtures = {"slug": data["slug"], "tag": data["tag"], "author": data["author"]}
    settings = tuple(args.settings)
    runs: dict[str, list[dict[str, Result]]] = {setting: [] for setting in settings}
    hits: dict[str, list[dict[str, float]]] = {setting: [] for setting in settings}
    expected: dict[str, Any] = {}
    for round_ in range(args.rounds):
        turn = round_ % len(settings)
        order = settings[turn:] + settings[:turn]
        for setting in order:
            say(f"round {round_ + 1} of {args.rounds}: {setting}")
            tag = f"c{round_}{setting[0]}"
            results, shares = one_server(run, env, setting, prefixes, expected, tag)
            runs[setting].append(results)
            hits[setting].append(shares)
    out()
    out(table(runs, hits, run))
    out("hits: the lowest share of a run's cache lookups (warm-up included) that were hits.")
    failures = [
        f"{setting} {key}: {r.non_2xx} non-2xx, {r.socket_errors} socket errors"
        for setting, side in runs.items()
        for each in side
        for key, r in each.items()
        if r.non_2xx or r.socket_errors
    ]
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "machine": {"load_average_start": round(load, 2), "cpus": os.cpu_count()},
        "settings": {
            "rounds": args.rounds,
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
        "hit_shares": hits,
        "failures": failures,
    }
    output = RESULTS_DIR / f"cache-backends-{started_at:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    say(f"results written to {output}")
    if failures:
        say("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
