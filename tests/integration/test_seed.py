"""``conduit seed``: the demo data it promises is in the tables, and the demo users can sign in."""

from __future__ import annotations

from dataclasses import replace

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
from tests.integration.support import count_rows, fetch_all, log_in, make_user

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


async def test_seeding_twice_adds_nothing_the_second_time(db: Database) -> None:
    first = await seed_database(db, PLAN)
    second = await seed_database(db, PLAN)
    assert second == dict.fromkeys(first, 0)
    assert await _table_counts(db) == first
    names = {row.username for row in await fetch_all(db, select(users.c.username))}
    assert names == {f"user{n}" for n in range(1, PLAN.users + 1)}


async def test_the_demo_users_are_user1_to_usern_whatever_users_exist(
    db: Database, client: httpx.AsyncClient
) -> None:
    """Two people signed up by hand first: the seed still makes user1..userN, nothing else."""
    await make_user(db, "alice")
    await make_user(db, "bob")
    reported = await seed_database(db, PLAN)

    assert reported["users"] == PLAN.users
    rows = await fetch_all(db, select(users.c.username, users.c.email))
    seeded = {row.username: row.email for row in rows if row.username not in ("alice", "bob")}
    assert seeded == {f"user{n}": f"user{n}@conduit.example" for n in range(1, PLAN.users + 1)}
    last = f"user{PLAN.users}@conduit.example"
    response = await client.post(
        "/users/login", json={"user": {"email": last, "password": PLAN.password}}
    )
    assert response.status_code == 200, response.text
    # The hand-made users wrote nothing: every article is by a demo user.
    authors = await fetch_all(
        db, select(users.c.username).join(articles, articles.c.author_id == users.c.id)
    )
    assert {row.username for row in authors} <= set(seeded)


async def test_a_demo_user_that_exists_already_is_kept_as_it_is(db: Database) -> None:
    kept = await make_user(db, "user2", email="someone@conduit.test")
    await make_user(db, "somebody", email="user3@conduit.example")  # user3's email, taken
    reported = await seed_database(db, PLAN)

    assert reported["users"] == PLAN.users - 2
    rows = {row.username: row for row in await fetch_all(db, select(users))}
    assert rows["user2"].id == kept
    assert rows["user2"].email == "someone@conduit.test"
    assert "user3" not in rows
    account = await log_in(db, email="user4@conduit.example", password=PLAN.password)
    assert account.username == "user4"


async def test_another_random_seed_adds_content_by_the_same_users(db: Database) -> None:
    first = await seed_database(db, PLAN)
    other = await seed_database(db, replace(PLAN, random_seed=7))
    assert other["users"] == 0
    assert other["articles"] == PLAN.articles
    assert other["comments"] == PLAN.comments
    counts = await _table_counts(db)
    assert counts["articles"] == first["articles"] + other["articles"]
    assert counts["users"] == PLAN.users
    # Follows between the same users: new pairs only, never the same one twice.
    pairs = await fetch_all(db, select(follows.c.follower_id, follows.c.followee_id))
    assert len(pairs) == len(set(pairs)) == first["follows"] + other["follows"]


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
