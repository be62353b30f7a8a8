"""Where a read's CPU goes, layer by layer: Conduit's app called in-process, no HTTP server.

``make bench`` measures whole requests through uvicorn and wrk; on a shared machine its
figures move with the neighbours' load. This script measures CPU time (``process_time``,
this process only) for the same work with the layers peeled off one by one, so the
difference between two rows is what one layer costs:

1. ``asyncpg``: the profile's SQL on a raw asyncpg pool (the driver alone);
2. ``SQLAlchemy checkout``: a connection from Conduit's engine and ``SELECT 1``;
3. ``use case``: ``profiles.service.get`` and ``tags.service.popular`` as a route calls them;
4. ``app``: the whole ASGI app (middleware, routing, dependencies, validation, JSON) on
   ``/health/live`` (no database) and on the hot reads.

Eight coroutines run each case concurrently (so pool waits and task switches count, as
under load), after a warm-up. Needs a seeded PostgreSQL database, by default the one
``make bench`` leaves behind::

    uv run --frozen python bench/layers.py --database-url postgresql://postgres@127.0.0.1:5432/conduit_bench

Prints a table; numbers are milliseconds of CPU per call, lower is better.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import uvloop

CONCURRENCY = 8

Call = Callable[[], Awaitable[Any]]


async def cpu_per_call(call: Call, count: int, warmup: int) -> float:
    """Milliseconds of this process's CPU per ``call``, ``CONCURRENCY`` callers at a time."""
    for _ in range(warmup):
        await call()

    async def caller(n: int) -> None:
        for _ in range(n):
            await call()

    each = max(1, count // CONCURRENCY)
    started = time.process_time()
    await asyncio.gather(*(caller(each) for _ in range(CONCURRENCY)))
    return (time.process_time() - started) * 1000 / (each * CONCURRENCY)


def asgi_get(app: Any, state: dict[str, Any], path: str, token: str | None = None) -> Call:
    """One GET of ``path`` through the ASGI app, as uvicorn would call it; checks the 200.
    With ``token``, signed in (``Authorization: Token ...``)."""
    bare, _, query = path.partition("?")
    headers = [(b"host", b"127.0.0.1"), (b"accept", b"application/json")]
    if token is not None:
        headers.append((b"authorization", f"Token {token}".encode()))

    async def call() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": bare,
            "raw_path": bare.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": list(headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": dict(state),
        }
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        if statuses != [200]:
            raise SystemExit(f"GET {path} answered {statuses}")

    return call


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[dict[str, Any]]:
    """The app between its lifespan's startup and shutdown, as uvicorn runs it; its state."""
    state: dict[str, Any] = {}
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}
    lifespan = asyncio.create_task(app(scope, startup.get, replies.put))
    started = await replies.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"the app did not start: {started}")
    try:
        yield state
    finally:
        await startup.put({"type": "lifespan.shutdown"})
        await lifespan


async def measure(
    database_url: str, count: int, warmup: int, *, rate_limits: bool = False, only: str = ""
) -> list[tuple[str, float]]:
    os.environ["CONDUIT_DATABASE_URL"] = database_url.replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )
    os.environ.setdefault("CONDUIT_SECRET_KEY", secrets.token_urlsafe(36))
    os.environ.setdefault("CONDUIT_LOG_LEVEL", "WARNING")
    os.environ["CONDUIT_RATE_LIMITS_ENABLED"] = "true" if rate_limits else "false"
    if rate_limits:  # one address, thousands of reads: a budget that never runs out
        os.environ.setdefault("CONDUIT_RATE_LIMIT_READS_PER_IP", "100000000/minute")
    from conduit.entrypoints.api import create_app
    from conduit.profiles import service as profiles
    from conduit.tags import service as tags

    rows: list[tuple[str, float]] = []
    pool = await asyncpg.create_pool(database_url, min_size=10, max_size=10)
    try:
        author = await pool.fetchval("SELECT username FROM users ORDER BY id LIMIT 1")
        reader_id = await pool.fetchval("SELECT id FROM users ORDER BY id LIMIT 1")
        slug = await pool.fetchval("SELECT slug FROM articles ORDER BY id DESC LIMIT 1")
        if author is None or slug is None:
            raise SystemExit("the database has no user or article: seed it first")

        async def raw_profile() -> None:
            async with pool.acquire() as conn:
                await conn.fetchrow(
                    "SELECT id, username, bio, image FROM users WHERE username = $1", author
                )

        rows.append(("asyncpg: profile SQL", await cpu_per_call(raw_profile, count, warmup)))
    finally:
        await pool.close()

    app = create_app()
    async with running(app) as state:
        db = app.state.db
        token = app.state.tokens.issue(reader_id)

        async def checkout() -> None:
            async with db.reader() as uow:
                await uow.conn.exec_driver_sql("SELECT 1")

        cases: list[tuple[str, Call]] = [
            ("SQLAlchemy: read connection + SELECT 1", checkout),
            (
                "use case: profiles.get",
                lambda: profiles.get(db, username=author, viewer_id=None),
            ),
            ("use case: tags.popular", lambda: tags.popular(db)),
            ("app: GET /health/live (no database)", asgi_get(app, state, "/health/live")),
            ("app: GET /api/profiles/:username", asgi_get(app, state, f"/api/profiles/{author}")),
            ("app: GET /api/tags", asgi_get(app, state, "/api/tags")),
            ("app: GET /api/articles/:slug", asgi_get(app, state, f"/api/articles/{slug}")),
            (
                "app: GET /api/articles/:slug/comments",
                asgi_get(app, state, f"/api/articles/{slug}/comments"),
            ),
            ("app: GET /api/articles", asgi_get(app, state, "/api/articles")),
            (
                "app: GET /api/profiles/:username signed in",
                asgi_get(app, state, f"/api/profiles/{author}", token),
            ),
            (
                "app: GET /api/articles/:slug signed in",
                asgi_get(app, state, f"/api/articles/{slug}", token),
            ),
            (
                "app: GET /api/articles/:slug/comments signed in",
                asgi_get(app, state, f"/api/articles/{slug}/comments", token),
            ),
        ]
        for name, call in cases:
            if only not in name:
                continue
            rows.append((name, await cpu_per_call(call, count, warmup)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_LAYERS_URL", "postgresql://postgres@127.0.0.1:5432/conduit_bench"
        ),
        help="a seeded PostgreSQL database (asyncpg URL; default %(default)s)",
    )
    parser.add_argument("--count", type=int, default=3000, help="calls per case (3000)")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up calls per case (300)")
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="count every request against the rate limits, in memory (production's default; "
        "the read budget raised so that it never runs out)",
    )
    parser.add_argument("--only", default="", help="only the rows whose name contains this")
    args = parser.parse_args()
    rows = uvloop.run(
        measure(
            args.database_url,
            args.count,
            args.warmup,
            rate_limits=args.rate_limits,
            only=args.only,
        )
    )
    width = max(len(name) for name, _ in rows)
    print(f"| {'layer / call'.ljust(width)} | CPU ms per call |")
    print(f"|{'-' * (width + 2)}|----------------:|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value:15.3f} |")


if __name__ == "__main__":
    main()
