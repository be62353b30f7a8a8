"""The bench database: created, migrated, seeded, given its fixtures, cleaned after writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import sqlite3
import subprocess
import time
import urllib.parse
from pathlib import Path
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


class Db:
    """The few calls the bench makes, on PostgreSQL (asyncpg) or an SQLite file (sqlite3).

    Statements are written once with ``$n`` parameters and run on both; ``now`` is the
    current UTC time as each database stores it.
    """

    def __init__(self, target: str) -> None:
        self.target = target  # a postgresql:// URL or the path of an SQLite file
        self.sqlite = not target.startswith("postgresql")
        self._pg: asyncpg.Connection | None = None
        self._lite: sqlite3.Connection | None = None

    async def __aenter__(self) -> Db:
        if self.sqlite:
            self._lite = sqlite3.connect(self.target, isolation_level=None, timeout=30)
            self._lite.execute("PRAGMA foreign_keys = ON")  # deletes cascade, as Conduit's do
        else:
            self._pg = await asyncpg.connect(self.target)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._lite is not None:
            self._lite.close()
        if self._pg is not None:
            await self._pg.close()

    @property
    def now(self) -> Any:
        utc = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return utc.isoformat(sep=" ") if self.sqlite else utc

    def _lite_run(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        assert self._lite is not None
        return self._lite.execute(re.sub(r"\$(\d+)", r"?\1", sql), args)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if self._pg is not None:
            return [dict(row) for row in await self._pg.fetch(sql, *args)]
        cursor = self._lite_run(sql, args)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> dict[str, Any] | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""
        if self._pg is not None:
            status = await self._pg.execute(sql, *args)
            return int(status.split()[-1]) if status.split()[-1].isdigit() else 0
        return self._lite_run(sql, args).rowcount

    async def analyze(self, *tables: str) -> None:
        if self.sqlite:
            await self.execute("ANALYZE")
        elif tables:
            for table in tables:
                await self.execute(f"VACUUM ANALYZE {table}")
        else:
            await self.execute("VACUUM ANALYZE")


FAVORITE_SLUGS = 1200  # the favorite endpoint toggles 600 articles in the warm-up, 600 after


async def prepare_data(target: str, target_follows: int) -> dict[str, Any]:
    """Make the reader follow ``target_follows`` authors, pick the fixtures, VACUUM ANALYZE.

    ``target`` is the asyncpg URL of the PostgreSQL database or the path of the SQLite file.
    """
    async with Db(target) as db:
        reader_id = await db.fetchval("SELECT id FROM users WHERE username = $1", READER)
        if reader_id is None:
            raise BenchError(f"{READER} is missing: was the database seeded?")
        before = await db.fetchval("SELECT count(*) FROM follows WHERE follower_id = $1", reader_id)
        if before < target_follows:
            # The most prolific authors the reader does not follow yet: a full feed.
            await db.execute(
                """
                INSERT INTO follows (follower_id, followee_id, created_at)
                SELECT $1, author_id, $3
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
                db.now,
            )
        following = await db.fetchval(
            "SELECT count(*) FROM follows WHERE follower_id = $1", reader_id
        )
        feed_size = await db.fetchval(
            """
            SELECT count(*) FROM articles
            WHERE author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)
            """,
            reader_id,
        )
        # A typical article: among the newest, with tags and a few comments.
        row = await db.fetchrow(
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
            row = await db.fetchrow(
                """
                SELECT a.slug, u.username,
                       (SELECT count(*) FROM comments c WHERE c.article_id = a.id) AS comments
                FROM articles a JOIN users u ON u.id = a.author_id
                ORDER BY a.id DESC LIMIT 1
                """
            )
        if row is None:
            raise BenchError("the database has no article: was it seeded?")
        tag = await db.fetchval(
            """
            SELECT t.name FROM tags t JOIN article_tags a ON a.tag_id = t.id
            GROUP BY t.id, t.name ORDER BY count(*) DESC, t.name LIMIT 1
            """
        )
        if tag is None:
            raise BenchError("the database has no tag in use: seed with --tags > 0")
        # Oldest first: far from the first page, so the lists barely notice the toggling.
        favorite_slugs = [
            r["slug"]
            for r in await db.fetch(
                """
                SELECT slug FROM articles
                WHERE id NOT IN (SELECT article_id FROM favorites WHERE user_id = $1)
                ORDER BY id LIMIT $2
                """,
                reader_id,
                FAVORITE_SLUGS,
            )
        ]
        tables = ("users", "articles", "tags", "article_tags", "favorites", "follows", "comments")
        counts = {table: await db.fetchval(f"SELECT count(*) FROM {table}") for table in tables}
        await db.analyze()
    return {
        "reader": READER,
        "reader_id": reader_id,
        "reader_follows": following,
        "reader_follows_added": following - before,
        "feed_articles": feed_size,
        "slug": row["slug"],
        "slug_comments": row["comments"],
        "author": row["username"],
        "tag": tag,
        "favorite_slugs": favorite_slugs,
        "rows": counts,
    }


async def delete_bench_rows(
    target: str, run_id: str, reader_id: int, favorite_slugs: list[str]
) -> dict[str, int]:
    """Undo the writes of this run: the articles, comments and users it created (their
    titles, bodies and names carry the run id), the reader's favorites it added."""
    async with Db(target) as db:
        deleted = {
            "articles": await db.execute(
                "DELETE FROM articles WHERE title LIKE $1", f"Bench {run_id}%"
            ),
            "comments": await db.execute(
                "DELETE FROM comments WHERE body LIKE $1", f"Bench {run_id}%"
            ),
            "users": await db.execute(
                "DELETE FROM users WHERE username LIKE $1", f"bench-{run_id}%"
            ),
            "favorites": 0,
        }
        for slug in favorite_slugs:
            deleted["favorites"] += await db.execute(
                "DELETE FROM favorites WHERE user_id = $1 "
                "AND article_id = (SELECT id FROM articles WHERE slug = $2)",
                reader_id,
                slug,
            )
        # Deleted without events: the tags' kept counts (tags.articles) are recounted here.
        counted = "(SELECT count(*) FROM article_tags WHERE article_tags.tag_id = tags.id)"
        await db.execute(f"UPDATE tags SET articles = {counted} WHERE articles <> {counted}")
        await db.analyze("articles", "article_tags", "tags", "comments", "users", "favorites")
    return deleted


def run_commands(commands: list[list[str]], env: dict[str, str]) -> None:
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


def seed_command(run: Run) -> list[str]:
    return conduit_command("seed", *(f"--{name}={value}" for name, value in run.sizes.items()))


def describe(data: dict[str, Any]) -> None:
    say(
        f"{READER} follows {data['reader_follows']} authors "
        f"({data['reader_follows_added']} added; {data['feed_articles']} articles in the feed); "
        f"slug {data['slug']} ({data['slug_comments']} comments), tag {data['tag']!r}, "
        f"author {data['author']}"
    )


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
        commands.append(seed_command(run))
    run_commands(commands, env)
    data = asyncio.run(prepare_data(run.database_url, FOLLOWED_AUTHORS))
    describe(data)
    return data


def prepare_sqlite(run: Run, env: dict[str, str], path: Path) -> dict[str, Any]:
    """A new SQLite file, migrated and seeded with the same sizes, and its fixtures."""
    say(f"creating the SQLite database {path}")
    run_commands([conduit_command("db", "upgrade"), seed_command(run)], env)
    data = asyncio.run(prepare_data(str(path), FOLLOWED_AUTHORS))
    describe(data)
    return data
