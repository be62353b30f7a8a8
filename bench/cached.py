"""The cached run of `make bench`: anonymous reads with CONDUIT_REDIS_URL set.

Called by run.py between the uncached run and the reference server, on the same data: a
private ``redis-server`` (free port, no persistence) is started, Conduit is started again
with ``CONDUIT_REDIS_URL`` pointing at it, and the anonymous list, article and tags are
measured the same way (the warm-up fills the cache, so the measured run is served from
Redis). Its answers are first checked against the uncached ones, byte for byte.

"""

from __future__ import annotations

import json
import shutil
from typing import Any

from common import ENDPOINTS, BenchError, Result, Run, progress, say
from load import measure, resident_mib
from report import markdown
from servers import conduit_command, free_port, http, start_process, stop_process, wait_ready

CACHED_KEYS = ("list", "article", "tags")


def redis_command(port: int) -> list[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing: apt-get install -y redis-server")
    return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


def bench_cached(
    run: Run,
    env: dict[str, str],
    server_prefix: list[str],
    wrk_prefix: list[str],
    run_id: str,
    samples: dict[str, Any],
) -> dict[str, Result]:
    """Conduit with Redis on the cached endpoints; ``{key: Result}``."""
    endpoints = [e for e in ENDPOINTS if e.key in CACHED_KEYS and e.key in run.args.only]
    if not endpoints:
        return {}
    redis_port = free_port()
    try:
        command = redis_command(redis_port)
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None
    progress.phase("conduit with Redis", 0)
    redis = start_process(run, "redis", command, env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cached_env = {**env, "CONDUIT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    serve = conduit_command("serve", "--host", "127.0.0.1", f"--port={port}")
    process = start_process(run, "conduit-cached", [*server_prefix, *serve], cached_env)
    results: dict[str, Result] = {}
    try:
        ready = wait_ready(run, "conduit-cached", process, base)
        run.servers.setdefault("conduit-cached", {})["startup_seconds"] = round(ready, 2)
        say(f"conduit with Redis (port {redis_port}) ready in {ready:.1f} s")
        for endpoint in endpoints:
            path = endpoint.url_path(run.fixtures)
            answers = [http(base, "GET", path) for _ in range(2)]  # a miss, then a hit
            for status, answer in answers:
                if status != 200:
                    raise BenchError(f"cached {endpoint.key} answered {status}: {answer}")
                expected = samples.get(endpoint.key)
                if expected is not None and json.dumps(answer) != json.dumps(expected):
                    say(f"warning: cached {endpoint.key} differs from the uncached answer")
        say(f"benchmarking conduit with Redis: {len(endpoints)} endpoints")
        progress.phase("conduit with Redis", len(endpoints))
        for endpoint in endpoints:
            results[endpoint.key] = measure(
                run, wrk_prefix, base, endpoint, run_id + "c", process.pid
            )
            if process.poll() is not None:
                raise BenchError(f"conduit (cached) died during {endpoint.key}")
        rss = resident_mib(process.pid)
        run.servers["conduit-cached"]["rss_mib"] = rss
        say(f"conduit with Redis: resident memory {rss:,.0f} MiB at the end of its load")
    finally:
        stop_process(run, process)
        stop_process(run, redis)
        say("conduit with Redis stopped")
    return results


def table(
    run: Run,
    uncached: dict[str, Result],
    cached: dict[str, Result],
    reference: dict[str, Result],
) -> str:
    """Uncached, cached and reference side by side, for the cached endpoints."""
    header = [
        "anonymous read",
        "uncached req/s",
        "cached req/s",
        "reference req/s",
        "cached/uncached",
        "cached/ref",
        "cached p50 ms",
        "cached p99 ms",
        "cached CPU ms/req",
        "cached errors",
    ]
    rows = [header]
    for endpoint in ENDPOINTS:
        result = cached.get(endpoint.key)
        if result is None:
            continue
        plain, ref = uncached.get(endpoint.key), reference.get(endpoint.key)
        rows.append(
            [
                endpoint.short_label(run.fixtures),
                f"{plain.rps:,.0f}" if plain else "",
                f"{result.rps:,.0f}",
                f"{ref.rps:,.0f}" if ref else "",
                f"{result.rps / plain.rps:.2f}" if plain and plain.rps else "",
                f"{result.rps / ref.rps:.2f}" if ref and ref.rps else "",
                f"{result.latency_us['p50'] / 1000:.1f}",
                f"{result.latency_us['p99'] / 1000:.1f}",
                "" if result.server_cpu_ms is None else f"{result.server_cpu_ms:.2f}",
                str(result.non_2xx + result.socket_errors),
            ]
        )
    lines = markdown(rows)
    lines.append(
        "Cached: the same server with CONDUIT_REDIS_URL (a private redis-server); the warm-up "
        "fills the cache, so the measured requests are Redis hits."
    )
    return "\n".join(lines)
