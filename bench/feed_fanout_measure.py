"""The unit costs of bench/feed_fanout.py, measured on PostgreSQL, and the model checked.

``python bench/feed_fanout.py --measure [ADMIN_URL]`` creates a scratch database (its name
contains "bench"), measures what one index descent, one index entry, one heap row and one
fanned-out row cost, each over tens of thousands of units so that a statement's own cost
disappears; then migrates and seeds it as ``make bench`` does (``conduit seed``: 1,000
users, 10,000 articles, 20,000 follows), adds the timeline fan-out on write would keep, and
runs each strategy's feed read for every user: PostgreSQL's own execution time beside the
model's figure. The database is dropped at the end, also on errors.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from feed_fanout_model import PAGE, STRATEGIES, Shape, UnitCosts, feed_read_us

SCHEMA = """
CREATE TABLE follows (follower_id int, followee_id int, PRIMARY KEY (follower_id, followee_id));
CREATE INDEX ix_follows_followee_id ON follows (followee_id);
CREATE TABLE articles (id serial PRIMARY KEY, author_id int NOT NULL, slug text, title text,
  description text, body text);
CREATE INDEX ix_articles_author_id_id ON articles (author_id, id);
CREATE TABLE timeline (reader_id int, article_id int, PRIMARY KEY (reader_id, article_id));
"""  # the unit costs' own tables, dropped before Conduit's schema is migrated

# The part of each feed read that differs between the strategies: the page's rows (a title
# read from the heap, as the real page reads its columns) and the total, articlesCount.
_FOLLOWED = "SELECT followee_id FROM follows WHERE follower_id = $1"
_COUNT_ON_READ = f"(SELECT count(*) FROM articles WHERE author_id IN ({_FOLLOWED}))"
READS = {
    "read, today": f"""
        SELECT a.id, a.title, {_COUNT_ON_READ} FROM articles a
        WHERE a.author_id IN ({_FOLLOWED}) ORDER BY a.id DESC LIMIT {PAGE}""",
    "read, bounded": f"""
        SELECT a.id, a.title, {_COUNT_ON_READ} FROM (
          SELECT newest.id FROM follows f CROSS JOIN LATERAL (
            SELECT id FROM articles WHERE author_id = f.followee_id ORDER BY id DESC
            LIMIT {PAGE}) newest
          WHERE f.follower_id = $1 ORDER BY newest.id DESC LIMIT {PAGE}) page
        JOIN articles a ON a.id = page.id ORDER BY a.id DESC""",
    "write": f"""
        SELECT a.id, a.title, (SELECT count(*) FROM timeline WHERE reader_id = $1)
        FROM timeline t JOIN articles a ON a.id = t.article_id
        WHERE t.reader_id = $1 ORDER BY t.article_id DESC LIMIT {PAGE}""",
}


async def _per_unit(
    conn: Any, sql: str, args: Sequence[object], units: int, *, write: bool = False
) -> float:
    """Microseconds per unit: the median of 7 runs after one that warms the buffers."""
    runs = []
    for n in range(8):
        started = time.perf_counter()
        if write:
            async with conn.transaction():
                await conn.execute(sql, n + 1)
        else:
            await conn.fetch(sql, *args)
        runs.append((time.perf_counter() - started) * 1e6 / units)
    return statistics.median(runs[1:])


async def unit_costs(conn: Any) -> UnitCosts:
    rows, authors, followers = 40_000, 40, 200_000
    await conn.execute(
        f"INSERT INTO follows SELECT g, 1 FROM generate_series(2, {followers + 1}) g;"
        "INSERT INTO articles (author_id, slug, title, description, body)"
        f" SELECT 1 + g % {authors}, 'slug-' || md5(g::text), repeat('t', 50),"
        f" repeat('d', 100), repeat('b', 700) FROM generate_series(1, {rows}) g;"
        "INSERT INTO articles (author_id, slug, title, description, body)"
        f" SELECT 1000 + g, 's' || g, 't', 'd', 'b' FROM generate_series(1, {rows}) g;"
    )
    await conn.execute("VACUUM ANALYZE")
    # The plans of the feed: an index range per author, never a scan of the whole table.
    await conn.execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
    half = list(range(1, authors // 2 + 1))
    count = "SELECT count(*) FROM articles WHERE author_id = ANY($1::int[])"
    titles = "SELECT max(length(title)) FROM articles WHERE author_id = ANY($1::int[])"
    fanout = "INSERT INTO timeline SELECT follower_id, $1 FROM follows WHERE followee_id = 1"
    costs = UnitCosts(
        descent_us=await _per_unit(conn, count, (list(range(1001, 1001 + rows)),), rows),
        entry_us=await _per_unit(conn, count, (half,), rows // 2),
        heap_row_us=await _per_unit(conn, titles, (half,), rows // 2),
        fanout_row_us=await _per_unit(conn, fanout, (), followers, write=True),
    )
    await conn.execute("RESET enable_seqscan; RESET enable_bitmapscan")
    return costs


def seed(url: str, shape: Shape) -> None:
    """Migrate and seed the scratch database as ``make bench`` does (``conduit seed``)."""
    env = {
        **os.environ,
        "CONDUIT_DATABASE_URL": url.replace("postgresql://", "postgresql+asyncpg://", 1),
        "CONDUIT_SECRET_KEY": secrets.token_urlsafe(48),
        "CONDUIT_LOG_LEVEL": "WARNING",
    }
    conduit = str(Path(sys.executable).parent / "conduit")
    sizes = [
        f"--users={shape.users}",
        f"--articles={shape.articles}",
        f"--follows={shape.follows}",
        "--tags=50",
        "--favorites=50000",
        "--comments=30000",
    ]
    for command in ([conduit, "db", "upgrade"], [conduit, "seed", *sizes]):
        subprocess.run(command, env=env, check=True, capture_output=True)


async def seeded_reads(conn: Any, shape: Shape) -> dict[str, float]:
    """Mean execution time of each strategy's feed read over every seeded user."""
    await conn.execute(
        "CREATE TABLE timeline (reader_id int, article_id int,"
        " PRIMARY KEY (reader_id, article_id));"
        "INSERT INTO timeline SELECT f.follower_id, a.id FROM follows f"
        " JOIN articles a ON a.author_id = f.followee_id;"
    )
    await conn.execute("VACUUM ANALYZE")
    means = {}
    for name, sql in READS.items():
        times = []
        for reader in range(1, shape.users + 1):
            plan = await conn.fetchval(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", reader)
            times.append(_execution_ms(plan) * 1000)
        means[name] = statistics.fmean(times[shape.users // 10 :])  # the first tenth warms up
    return means


def _execution_ms(document: Any) -> float:
    import json

    parsed = json.loads(document) if isinstance(document, str) else document
    return float(parsed[0]["Execution Time"])


async def measure(admin_url: str, shape: Shape, model: UnitCosts) -> list[str]:
    database = "conduit_fanout_bench"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await admin.execute(f'CREATE DATABASE "{database}"')
        url = admin_url.rsplit("/", 1)[0] + "/" + database
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(SCHEMA)
            costs = await unit_costs(conn)
            await conn.execute("DROP TABLE follows, articles, timeline")
            seed(url, shape)
            reads = await seeded_reads(conn, shape)
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}"')
        await admin.close()
    k, a = shape.follows_per_user, shape.articles_per_user
    lines = [f"measured: {costs!r}", "feed read on the seeded shape, measured / model:"]
    for name in STRATEGIES:
        lines.append(
            f"  {name}: {reads[name]:,.0f} µs / {feed_read_us(name, k, a, costs):,.0f} µs "
            f"(with these costs), {feed_read_us(name, k, a, model):,.0f} µs (committed costs)"
        )
    return lines
