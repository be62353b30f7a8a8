"""What the Prometheus metrics cost a whole request, in-process: CPU per call of the full app.

``make bench-metrics`` measures requests/s with wrk, where a few percent drown in run-to-run
noise, and times the request middleware alone on a bare ASGI app. This script calls the
whole app (every middleware, the measured ports, the sampler running) as uvicorn would, with
``CONDUIT_METRICS_ENABLED`` on and off, alternated three times, and prints milliseconds of
this process's CPU per request (``bench/layers.py``'s method: 8 concurrent callers after a
warm-up). Needs a seeded PostgreSQL database, by default the one ``make bench-metrics``
leaves::

    uv run --frozen python bench/metrics_inprocess.py [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets

from layers import asgi_get, cpu_per_call, running

PATHS = ("/api/articles", "/health/live")


async def cpu_per_request(enabled: bool, path: str, count: int) -> float:
    from conduit.entrypoints.api import create_app
    from conduit.settings import Settings

    app = create_app(Settings(metrics_enabled=enabled))
    async with running(app) as state:
        return await cpu_per_call(asgi_get(app, state, path), count, count // 10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/conduit_bench_metrics",
    )
    parser.add_argument("--count", type=int, default=3000, help="requests per measurement")
    args = parser.parse_args()
    os.environ["CONDUIT_DATABASE_URL"] = args.database_url
    os.environ.setdefault("CONDUIT_SECRET_KEY", secrets.token_urlsafe(36))
    os.environ["CONDUIT_LOG_LEVEL"] = "WARNING"
    os.environ["CONDUIT_RATE_LIMITS_ENABLED"] = "false"
    print("| path | on, ms CPU per request | off | on / off |")
    print("|---|---|---|--:|")
    for path in PATHS:
        runs: dict[bool, list[float]] = {True: [], False: []}
        for round_ in range(3):
            for enabled in (True, False) if round_ % 2 == 0 else (False, True):
                runs[enabled].append(await cpu_per_request(enabled, path, args.count))
        on, off = sorted(runs[True])[1], sorted(runs[False])[1]
        shown = {key: " ".join(f"{value:.3f}" for value in values) for key, values in runs.items()}
        print(f"| `{path}` | {shown[True]} | {shown[False]} | {on / off:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())
