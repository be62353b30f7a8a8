"""The migrations build exactly the schema the models describe, on every backend, both ways;
and the schema has an index for every filter and ordering the API offers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from conduit import migrations
from conduit.articles import service as articles
from conduit.articles.search_index import UNMODELLED_TABLES, is_unmodelled
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.pagination import Page
from conduit.core.principal import Principal
from conduit.core.tables import Base, Timestamp, utcnow
from conduit.tags import service as tags_service
from conduit.tags.models import tags
from conduit.users import service as users
from tests.conftest import MARIADB_ADMIN, PG_ADMIN
from tests.integration.support import log_in

APP_TABLES = {
    "users",
    "follows",
    "tags",
    "articles",
    "article_tags",
    "favorites",
    "comments",
    "outbox",
    "processed_events",
    "dead_letters",
    "notifications",
    "user_roles",
    "sessions",
    "refresh_tokens",
    "user_identities",
    "login_states",
    "audit_log",
    "uploads",
}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": lambda _o, name, kind, _r, _c: not is_unmodelled(name, kind),
        },
    )
    return list(compare_metadata(context, Base.metadata))


async def _schema_differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_differences)
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


@pytest.fixture
def fresh_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own on the same backend as ``database_url``."""
    backend = make_url(database_url).get_backend_name()
    name = f"conduit_mig_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{(tmp_path / f'{name}.db').as_posix()}"
        return
    admin_url, create, drop, url = {
        "postgresql": (
            PG_ADMIN,
            f'CREATE DATABASE "{name}"',
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}",
        ),
        "mysql": (
            MARIADB_ADMIN,
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            f"DROP DATABASE IF EXISTS `{name}`",
            f"mysql+asyncmy://root@127.0.0.1:3306/{name}",
        ),
    }[backend]
    admin = create_sync_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(create))
        yield url
        with admin.connect() as conn:
            conn.execute(text(drop))
    finally:
        admin.dispose()


async def test_models_and_migrations_agree(database_url: str) -> None:
    """The session database comes from ``alembic upgrade head``; nothing is left to generate."""
    assert await _schema_differences(database_url) == []


async def test_downgrade_to_base_then_upgrade_to_head(fresh_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh_url, "head")
    assert await _tables(fresh_url) >= APP_TABLES
    if fresh_url.startswith("sqlite"):  # the FTS5 table of article search and its shadows
        assert await _tables(fresh_url) >= UNMODELLED_TABLES
    assert "(head)" in await asyncio.to_thread(migrations.current, fresh_url)

    await asyncio.to_thread(migrations.downgrade, fresh_url, "base")
    assert (await _tables(fresh_url)) & (APP_TABLES | UNMODELLED_TABLES) == set()
    assert await asyncio.to_thread(migrations.current, fresh_url) == ""

    await asyncio.to_thread(migrations.upgrade, fresh_url, "head")
    assert "(head)" in await asyncio.to_thread(migrations.current, fresh_url)
    assert await _schema_differences(fresh_url) == []

    # The rebuilt schema works: an account can be created and used.
    db = Database(create_engine(fresh_url))
    try:
        await users.register(db, username="again", email="again@conduit.test", password="pw-123456")
        account = await log_in(db, email="again@conduit.test", password="pw-123456")
        assert account.username == "again"
    finally:
        await db.dispose()


async def test_upgrade_to_head_twice_is_a_no_op(fresh_url: str) -> None:
    await asyncio.to_thread(migrations.upgrade, fresh_url, "head")
    db = Database(create_engine(fresh_url))
    try:
        await users.register(db, username="kept", email="kept@conduit.test", password="pw-123456")
        await asyncio.to_thread(migrations.upgrade, fresh_url, "head")
        assert (await log_in(db, email="kept@conduit.test", password="pw-123456")).id
    finally:
        await db.dispose()


async def test_upgrading_to_0010_counts_the_articles_of_every_tag(fresh_url: str) -> None:
    """The kept counts start from ``article_tags``: the tag list reads the same after the
    upgrade as it counted before it."""
    await asyncio.to_thread(migrations.upgrade, fresh_url, "head")
    db = Database(create_engine(fresh_url))
    try:
        author = await users.register(
            db, username="author", email="author@conduit.test", password="pw-123456"
        )
        actor = Principal(id=author.id)
        for title, tag_list in [("One", ["a", "b"]), ("Two", ["b"]), ("Three", ["b", "c"])]:
            await articles.create(
                db, actor=actor, title=title, description="d", body="b", tag_list=tag_list
            )
        async with db.uow() as uow:  # counts that are not the truth, to be recomputed
            await uow.conn.execute(sa.update(tags).values(articles=0))
            await uow.conn.execute(tags.insert().values(name="unused"))
            await uow.commit()
        await asyncio.to_thread(migrations.downgrade, fresh_url, "0009")
        await asyncio.to_thread(migrations.upgrade, fresh_url, "0010")
        async with db.engine.connect() as conn:
            rows = await conn.execute(sa.select(tags.c.name, tags.c.articles))
            assert {row.name: row.articles for row in rows} == {"a": 1, "b": 3, "c": 1, "unused": 0}
        assert await tags_service.popular(db) == ["b", "a", "c"]
    finally:
        await db.dispose()


# ------------------------------------------------------------------------- indexes


def _index_columns(connection: Connection) -> dict[str, dict[str, list[tuple[str, ...]]]]:
    """Per table: the column lists of its indexes, unique indexes/constraints, primary key."""
    inspector = inspect(connection)
    found: dict[str, dict[str, list[tuple[str, ...]]]] = {}
    for table in APP_TABLES:
        indexes = inspector.get_indexes(table)
        # (expression indexes have None for a column name; none of ours are)
        plain = [tuple(str(c) for c in i["column_names"]) for i in indexes]
        uniques = [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)]
        uniques += [cols for cols, i in zip(plain, indexes, strict=True) if i.get("unique")]
        primary = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
        found[table] = {
            "any": [*plain, *uniques, primary],
            "unique": [*uniques, primary],
        }
    return found


# (table, leading columns, what needs it)
INDEXED = [
    ("articles", ("author_id", "id"), "?author= newest first; the feed"),
    ("articles", ("id",), "newest first (primary key)"),
    ("article_tags", ("tag_id", "article_id"), "?tag="),
    ("article_tags", ("article_id",), "the tags of a page of articles"),
    ("favorites", ("article_id",), "favoritesCount; favorited flag"),
    ("favorites", ("user_id",), "?favorited="),
    ("follows", ("followee_id",), "following flag; cascades"),
    ("follows", ("follower_id",), "the feed"),
    ("comments", ("article_id", "id"), "comments of an article, oldest first"),
    ("comments", ("author_id",), "deleting a user"),
    ("notifications", ("recipient_id", "created_at", "id"), "notifications, newest first"),
    ("notifications", ("recipient_id", "read_at"), "?unread=true; the unread count"),
    ("notifications", ("article_id",), "deleting an article"),
    ("notifications", ("comment_id",), "deleting a comment"),
    ("notifications", ("actor_id",), "deleting a user"),
    ("uploads", ("owner_id",), "deleting a user"),
    ("uploads", ("created_at",), "pruning old uploads"),
    ("tags", ("articles", "name"), "GET /api/tags: most used first, ties by name"),
]
UNIQUE = [
    ("articles", ("slug",)),
    ("users", ("username",)),
    ("users", ("email",)),
    ("tags", ("name",)),
    ("notifications", ("event_id", "recipient_id")),
    ("uploads", ("key",)),
]


async def test_every_filter_and_ordering_has_an_index(db: Database) -> None:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(_index_columns)
    missing = [
        f"{table}{columns} for {purpose}"
        for table, columns, purpose in INDEXED
        if not any(cols[: len(columns)] == columns for cols in found[table]["any"])
    ]
    assert missing == []
    not_unique = [
        f"{table}{columns}" for table, columns in UNIQUE if columns not in found[table]["unique"]
    ]
    assert not_unique == []


def _timestamp_precisions(connection: Connection) -> dict[str, int | None]:
    inspector = inspect(connection)
    return {
        f"{table}.{column['name']}": getattr(column["type"], "fsp", None)
        if connection.dialect.name in ("mysql", "mariadb")
        else getattr(column["type"], "precision", None)
        for table in APP_TABLES
        for column in inspector.get_columns(table)
        if column["name"].endswith(("_at", "_before"))
    }


async def test_every_timestamp_column_keeps_microseconds(db: Database) -> None:
    """compare_metadata does not compare DATETIME precision on MariaDB: check it here."""
    async with db.engine.connect() as conn:
        precisions = await conn.run_sync(_timestamp_precisions)
    # users: 4; articles, comments: 2 each; follows, favorites: 1; outbox: 2;
    # processed_events: 1; dead_letters: 2; notifications: 2; user_roles: 1; sessions: 3;
    # refresh_tokens: 2; user_identities: 1; login_states: 1; audit_log: 1; uploads: 1.
    assert len(precisions) == 27
    # MariaDB needs DATETIME(6); PostgreSQL's default precision (None) is microseconds.
    allowed = {6} if db.dialect in ("mysql", "mariadb") else {None, 6}
    assert {name: p for name, p in precisions.items() if p not in allowed} == {}


# ------------------------------------------------------------------------- search


async def _insert_before_search(url: str) -> None:
    """An article with tags, written the way the schema before article search held it."""

    def stamped(name: str, *names: str) -> Any:
        stamps = (sa.column("created_at", Timestamp), sa.column("updated_at", Timestamp))
        return sa.table(name, *(sa.column(n) for n in names), *stamps)

    old_users = stamped("users", "id", "username", "email", "password_hash")
    old_articles = stamped("articles", "id", "slug", "title", "description", "body", "author_id")
    now = {"created_at": utcnow(), "updated_at": utcnow()}
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                old_users.insert(),
                {"id": 1, "username": "old", "email": "old@conduit.test", "password_hash": "x"}
                | now,
            )
            await conn.execute(
                old_articles.insert(),
                {
                    "id": 1,
                    "slug": "kept",
                    "title": "Lighthouse keeper",
                    "description": "Before search",
                    "body": "Written before the index existed.",
                    "author_id": 1,
                }
                | now,
            )
            await conn.execute(text("INSERT INTO tags (id, name) VALUES (1, 'maritime')"))
            await conn.execute(text("INSERT INTO tags (id, name) VALUES (2, 'history')"))
            await conn.execute(
                text("INSERT INTO article_tags (article_id, tag_id) VALUES (1, 1), (1, 2)")
            )
    finally:
        await engine.dispose()


async def test_upgrading_indexes_existing_articles_and_their_tags(fresh_url: str) -> None:
    """Migration 0007 backfills the tag names and builds the index over the articles there."""
    await asyncio.to_thread(migrations.upgrade, fresh_url, "0005")
    await _insert_before_search(fresh_url)
    await asyncio.to_thread(migrations.upgrade, fresh_url, "head")

    db = Database(create_engine(fresh_url))
    try:
        for words in ("lighthouse", "maritime", "history", "index existed"):
            found, total = await articles.search(db, query=words, page=Page(), viewer_id=None)
            assert ([a.slug for a in found], total) == (["kept"], 1), words
            assert found[0].tag_list == ["history", "maritime"]
    finally:
        await db.dispose()
