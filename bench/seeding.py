"""The bench database: created, migrated, seeded, given its fixtures, cleaned after writes."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.parse
from typing import Any

import asyncpg
from common import FOLLOWED_AUTHORS, READER, ROOT, BenchError, Run, say, shown
from servers import conduit_command


def database_urls(admin_url: str, name: str) -> tuple[str, str]:
    """(asyncpg URL, SQLAlchemy URL) of database ``name`` on the admin URL's server."""
    parts = urllib.parse.urlsplit(admin_url)
    plain = urllib.parse.urlunsplit(("postgresql", parts.netloc, f"/{name}", parts.query, ""))
    return plain, plain.replace("postgresql://", "postgresql+asyncpg://", 1)


def check_database_name(name: str) -> None:
    # The run drops this database: refuse anything that does not look like a bench database.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name) or "bench" not in name:
        raise BenchError(f"refusing database name {name!r}: use [a-z0-9_] with 'bench' in it")


async def recreate_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def database_exists(admin_url: str, name: str) -> bool:
    conn = await asyncpg.connect(admin_url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def prepare_data(url: str, target_follows: int) -> dict[str, Any]:
    """Make the reader follow ``target_follows`` authors, pick the fixtures, VACUUM ANALYZE."""
    conn = await asyncpg.connect(url)
    try:
        reader_id = await conn.fetchval("SELECT id FROM users WHERE username = $1", READER)
        if reader_id is None:
            raise BenchError(f"{READER} is missing: was the database seeded?")
        before = await conn.fetchval(
            "SELECT count(*) FROM follows WHERE follower_id = $1", reader_id
        )
        if before < target_follows:
            # The most prolific authors the reader does not follow yet: a full feed.
            await conn.execute(
                """
                INSERT INTO follows (follower_id, followee_id, created_at)
                SELECT $1, author_id, now() AT TIME ZONE 'utc'
                FROM articles
                WHERE author_id <> $1
                  AND author_id NOT IN (SELECT followee_id FROM follows WHERE follower_id = $1)
                GROUP BY author_id
                ORDER BY count(*) DESC, author_id
                LIMIT $2
                ON CONFLICT DO NOTHING
                """,
                reader_id,
                target_follows - before,
            )
        following = await conn.fetchval(
            "SELECT count(*) FROM follows WHERE follower_id = $1", reader_id
        )
        feed_size = await conn.fetchval(
            """
            SELECT count(*) FROM articles
            WHERE author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)
            """,
            reader_id,
        )
        # A typical article: among the newest, with tags and a few comments.
        row = await conn.fetchrow(
            """
            SELECT a.slug, u.username,
                   (SELECT count(*) FROM comments c WHERE c.article_id = a.id) AS comments
            FROM articles a JOIN users u ON u.id = a.author_id
            WHERE EXISTS (SELECT 1 FROM article_tags t WHERE t.article_id = a.id)
              AND (SELECT count(*) FROM comments c WHERE c.article_id = a.id) >= 3
            ORDER BY a.id DESC
            LIMIT 1
            """
        )
        if row is None:
            row = await conn.fetchrow(
                """
                SELECT a.slug, u.username,
                       (SELECT count(*) FROM comments c WHERE c.article_id = a.id) AS comments
                FROM articles a JOIN users u ON u.id = a.author_id
                ORDER BY a.id DESC LIMIT 1
                """
            )
        if row is None:
            raise BenchError("the database has no article: was it seeded?")
        tag = await conn.fetchval(
            """
            SELECT t.name FROM tags t JOIN article_tags a ON a.tag_id = t.id
            GROUP BY t.id, t.name ORDER BY count(*) DESC, t.name LIMIT 1
            """
        )
        if tag is None:
            raise BenchError("the database has no tag in use: seed with --tags > 0")
        tables = ("users", "articles", "tags", "article_tags", "favorites", "follows", "comments")
        counts = {table: await conn.fetchval(f"SELECT count(*) FROM {table}") for table in tables}
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return {
        "reader": READER,
        "reader_follows": following,
        "reader_follows_added": following - before,
        "feed_articles": feed_size,
        "slug": row["slug"],
        "slug_comments": row["comments"],
        "author": row["username"],
        "tag": tag,
        "rows": counts,
    }


async def delete_bench_articles(url: str, run_id: str) -> int:
    """Delete the articles POST /api/articles created in this run (titles 'Bench <run id> …')."""
    conn = await asyncpg.connect(url)
    try:
        status = await conn.execute("DELETE FROM articles WHERE title LIKE $1", f"Bench {run_id}%")
        await conn.execute("VACUUM ANALYZE articles")
        await conn.execute("VACUUM ANALYZE article_tags")
        await conn.execute("VACUUM ANALYZE tags")
    finally:
        await conn.close()
    return int(status.split()[-1])


def prepare_database(run: Run, env: dict[str, str]) -> dict[str, Any]:
    args = run.args
    reuse = args.reuse_db and asyncio.run(database_exists(run.admin_url, args.database))
    if reuse:
        say(f"reusing database {args.database} (--reuse-db): no drop, no seed")
    else:
        say(f"dropping and creating database {args.database}")
        asyncio.run(recreate_database(run.admin_url, args.database))
    commands = [conduit_command("db", "upgrade")]
    if not reuse:
        commands.append(
            conduit_command("seed", *(f"--{name}={value}" for name, value in run.sizes.items()))
        )
    for command in commands:
        say("$ " + shown(command))
        started = time.monotonic()
        completed = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            raise BenchError(f"{shown(command)} failed:\n{completed.stderr}")
        output = completed.stdout.strip().splitlines()
        say(f"  done in {time.monotonic() - started:.1f} s: {output[-1] if output else ''}")
    data = asyncio.run(prepare_data(run.database_url, FOLLOWED_AUTHORS))
    say(
        f"{READER} follows {data['reader_follows']} authors "
        f"({data['reader_follows_added']} added; {data['feed_articles']} articles in the feed); "
        f"slug {data['slug']} ({data['slug_comments']} comments), tag {data['tag']!r}, "
        f"author {data['author']}"
    )
    return data
