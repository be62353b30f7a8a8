"""``conduit seed``: the demo data it promises is in the tables, and the demo users can sign in."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Table, func, select

from conduit.articles.models import articles, favorites
from conduit.comments.models import comments
from conduit.core.db import Database
from conduit.entrypoints.cli import seed as seed_module
from conduit.entrypoints.cli.seed import SeedPlan, seed_database
from conduit.profiles.models import follows
from conduit.tags.models import article_tags, tags
from conduit.users.models import users
from tests.integration.support import count_rows, fetch_all, log_in

PLAN = SeedPlan(
    users=8, articles=25, tags=6, favorites=40, follows=20, comments=30, password="demo-pass-42"
)
TABLES: dict[str, Table] = {
    "users": users,
    "articles": articles,
    "tags": tags,
    "article_tags": article_tags,
    "favorites": favorites,
    "follows": follows,
    "comments": comments,
}


async def _table_counts(db: Database) -> dict[str, int]:
    return {name: await count_rows(db, table) for name, table in TABLES.items()}


async def test_seed_writes_the_planned_rows(db: Database) -> None:
    reported = await seed_database(db, PLAN)

    assert await _table_counts(db) == reported
    requested = {
        "users": PLAN.users,
        "articles": PLAN.articles,
        "tags": PLAN.tags,
        "favorites": PLAN.favorites,
        "follows": PLAN.follows,
        "comments": PLAN.comments,
    }
    assert {name: reported[name] for name in requested} == requested
    assert reported["article_tags"] > 0

    # Nobody follows themselves, and every article has an author among the seeded users.
    assert await count_rows(db, follows, follows.c.follower_id == follows.c.followee_id) == 0
    slugs = await fetch_all(db, select(func.count(func.distinct(articles.c.slug))))
    assert slugs[0][0] == PLAN.articles


class RecordedProgress:
    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.written: dict[str, list[int]] = {}

    def table(self, name: str, total: int) -> None:
        self.totals[name] = total
        self.written[name] = []

    def advance(self, name: str, rows: int) -> None:
        assert name in self.totals, f"{name} advanced before its total was told"
        self.written[name].append(rows)


async def test_progress_hears_each_table_total_then_every_batch(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(seed_module, "BATCH", 7)  # several batches per table
    progress = RecordedProgress()
    reported = await seed_database(db, PLAN, progress)

    assert progress.totals == {name: reported[name] for name in TABLES}
    assert {name: sum(batches) for name, batches in progress.written.items()} == progress.totals
    assert max(max(batches, default=0) for batches in progress.written.values()) == 7
    assert len(progress.written["comments"]) == -(-PLAN.comments // 7)


async def test_a_seeded_user_can_log_in_with_the_seed_password(
    db: Database, client: httpx.AsyncClient
) -> None:
    await seed_database(db, PLAN)
    account = await log_in(db, email="user1@conduit.example", password=PLAN.password)
    assert account.username == "user1"

    response = await client.post(
        "/users/login",
        json={"user": {"email": "user8@conduit.example", "password": PLAN.password}},
    )
    assert response.status_code == 200, response.text
    token = response.json()["user"]["token"]
    feed = await client.get("/articles/feed", headers={"Authorization": f"Token {token}"})
    assert feed.status_code == 200
    listed = await client.get("/articles?limit=100")
    assert listed.json()["articlesCount"] == PLAN.articles

    wrong = await client.post(
        "/users/login",
        json={"user": {"email": "user8@conduit.example", "password": "password123"}},
    )
    assert wrong.status_code == 401


async def test_seeding_twice_adds_to_what_is_there(db: Database) -> None:
    first = await seed_database(db, PLAN)
    second = await seed_database(db, PLAN)
    counts = await _table_counts(db)
    for name in ("users", "articles", "favorites", "follows", "comments", "article_tags"):
        assert counts[name] == first[name] + second[name], name
    assert counts["tags"] == PLAN.tags  # the same topics are reused, not duplicated
    names = {row.username for row in await fetch_all(db, select(users.c.username))}
    assert {f"user{n}" for n in range(1, 2 * PLAN.users + 1)} == names


async def test_seeded_articles_are_found_by_their_tags(
    db: Database, client: httpx.AsyncClient
) -> None:
    await seed_database(db, PLAN)
    listed = (await client.get("/articles?limit=100")).json()["articles"]
    tagged = [item for item in listed if item["tagList"]]
    assert tagged
    for item in tagged:
        tag = item["tagList"][0]
        found = await client.get("/articles/search", params={"q": tag, "limit": 100})
        assert item["slug"] in {hit["slug"] for hit in found.json()["articles"]}, tag
    rows = await fetch_all(db, select(articles.c.search_tags))
    assert sorted(len(row.search_tags.split()) for row in rows) == sorted(
        len(item["tagList"]) for item in listed
    )
