"""A page of articles with authors, flags, tags and the latest comments is a fixed number of
SQL statements whatever the page size, counted from the database's own log.

The list use case: the page with its tags and the total (two statements, as REST); the
comments loader: the latest comments of every article with their authors (one).
Selecting ``body`` adds one batched statement for the bodies.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.cli.seed import SeedPlan, seed_database
from conduit.profiles.models import follows
from conduit.users.models import users
from tests.database_log import measure
from tests.graphql_api.conftest import run_graphql
from tests.integration.support import fetch_all, make_user

BUDGET = 2  # the page with its tags and total, the latest comments of its articles
BUDGET_WITH_BODIES = 3
ARTICLES = 30  # more than a page of 20, so every page needs its total counted

PAGE = """query($n: Int!) { articles(limit: $n) { articlesCount articles {
  author { username following } tagList favorited favoritesCount
  comments(limit: 3) { body author { username } } %s } } }"""


@pytest.fixture
async def reader_token(db: Database, tokens: TokenCodec) -> str:
    await seed_database(
        db, SeedPlan(users=6, articles=ARTICLES, tags=8, favorites=60, follows=15, comments=150)
    )
    reader = await make_user(db, "reader")
    user_ids = [row.id for row in await fetch_all(db, select(users.c.id))]
    async with db.uow() as uow:
        await uow.conn.execute(
            follows.insert(),
            [{"follower_id": reader, "followee_id": u} for u in user_ids if u != reader],
        )
        await uow.commit()
    return tokens.issue(reader)


async def _measured(
    db: Database, client: httpx.AsyncClient, query: str, n: int, token: str
) -> tuple[int, dict[str, Any]]:
    answers: list[dict[str, Any]] = []

    async def read() -> None:
        answers.append(await run_graphql(client, query, {"n": n}, token=token))

    logged = await measure(db, read)
    assert logged.count >= 1, f"the database logged nothing: {logged}"
    body = answers[-1]
    assert "errors" not in body, body
    return logged.count, body


async def test_a_page_with_comments_is_two_statements_for_5_or_20_articles(
    db: Database, client: httpx.AsyncClient, reader_token: str
) -> None:
    counts = {}
    for n in (5, 20):
        counts[n], body = await _measured(db, client, PAGE % "", n, reader_token)
        listed = body["data"]["articles"]["articles"]
        assert len(listed) == n
        assert all(article["author"]["following"] for article in listed)
        assert any(len(article["comments"]) == 3 for article in listed)
        assert any(article["tagList"] for article in listed)
    print(f"\n{db.engine.dialect.name}: statements for 5 / 20 articles: {counts}")
    assert counts[5] == counts[20]
    assert counts[20] <= BUDGET


async def test_bodies_add_one_batched_statement(
    db: Database, client: httpx.AsyncClient, reader_token: str
) -> None:
    counts = {}
    for n in (5, 20):
        counts[n], body = await _measured(db, client, PAGE % "slug body", n, reader_token)
        assert all(article["body"] for article in body["data"]["articles"]["articles"])
    print(f"\n{db.engine.dialect.name}: with bodies, 5 / 20 articles: {counts}")
    assert counts[5] == counts[20]
    assert counts[20] <= BUDGET_WITH_BODIES


async def test_the_latest_comments_are_the_newest_of_each_article(
    client: httpx.AsyncClient, reader_token: str
) -> None:
    body = await run_graphql(
        client,
        "{ articles(limit: 10) { articles { slug comments(limit: 3) { id body author "
        "{ username bio image following } createdAt updatedAt } } } }",
        token=reader_token,
    )
    listed = body["data"]["articles"]["articles"]
    assert any(article["comments"] for article in listed)
    for article in listed:
        rest = await client.get(
            f"/articles/{article['slug']}/comments",
            headers={"Authorization": f"Token {reader_token}"},
        )
        assert article["comments"] == rest.json()["comments"][-3:]
