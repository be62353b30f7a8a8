"""Races users cause every day (double clicks, two tabs, retries), run concurrently over HTTP.

The requests are started together with ``asyncio.gather`` on the app; the database's
constraints must decide, and the loser must get a proper answer, never a 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conduit.articles import service as articles_service
from conduit.articles.models import articles, favorites
from conduit.core.db import Database
from conduit.core.principal import Principal
from conduit.core.security import TokenCodec
from conduit.tags.models import article_tags, tags
from conduit.users import repository as users_repository
from conduit.users.models import users
from tests.helpers import auth, create_article
from tests.integration.support import count_rows, fetch_all, make_user

TAKEN = ["has already been taken"]


async def _register(client: httpx.AsyncClient, username: str, email: str) -> httpx.Response:
    return await client.post(
        "/users",
        json={"user": {"username": username, "email": email, "password": "password123"}},
    )


@pytest.mark.parametrize("racers", [2, 8])
async def test_concurrent_registrations_with_one_email_give_one_account(
    db: Database, client: httpx.AsyncClient, racers: int
) -> None:
    responses = await asyncio.gather(
        *(_register(client, f"racer{n}", "same@conduit.test") for n in range(racers))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: racers - 1}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"errors": {"email": TAKEN}}
    assert await count_rows(db, users, users.c.email == "same@conduit.test") == 1
    assert await count_rows(db, users) == 1

    # The winner is the account that exists, and can sign in.
    winner = next(r.json()["user"] for r in responses if r.status_code == 201)
    login = await client.post(
        "/users/login",
        json={"user": {"email": "same@conduit.test", "password": "password123"}},
    )
    assert login.status_code == 200
    assert login.json()["user"]["username"] == winner["username"]


@pytest.mark.parametrize("racers", [2, 8])
async def test_registrations_that_all_pass_the_check_before_any_insert_give_one_account(
    db: Database, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, racers: int
) -> None:
    """The lost race itself: every request has found the email free before any inserts, so
    the unique constraint decides, and the losers still get 409, not 500.

    SQLite has one writer connection, so its requests cannot interleave like this; there the
    gate is left open and the test is the plain concurrent one.
    """
    check = users_repository.taken_fields
    gate = asyncio.Barrier(racers)
    waiting = racers if db.dialect != "sqlite" else 0

    async def check_then_wait_for_the_others(*args: Any, **kwargs: Any) -> list[str]:
        nonlocal waiting
        taken = await check(*args, **kwargs)
        if waiting > 0:  # the first check of each request only
            waiting -= 1
            await asyncio.wait_for(gate.wait(), timeout=20)
        return taken

    monkeypatch.setattr(users_repository, "taken_fields", check_then_wait_for_the_others)
    responses = await asyncio.gather(
        *(_register(client, f"racer{n}", "same@conduit.test") for n in range(racers))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: racers - 1}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"errors": {"email": TAKEN}}
    assert await count_rows(db, users) == 1


async def test_concurrent_registrations_with_one_username_give_one_account(
    db: Database, client: httpx.AsyncClient
) -> None:
    responses = await asyncio.gather(
        *(_register(client, "samename", f"u{n}@conduit.test") for n in range(4))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 3}, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"errors": {"username": TAKEN}}
    assert await count_rows(db, users) == 1


async def test_concurrent_favorites_by_one_user_leave_one_row(
    db: Database, client: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    author = await make_user(db, "author")
    reader = await make_user(db, "reader")
    slug = (await create_article(client, tokens.issue(author), "Popular"))["slug"]
    headers = auth(tokens.issue(reader))

    responses = await asyncio.gather(
        *(client.post(f"/articles/{slug}/favorite", headers=headers) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    for response in responses:
        article = response.json()["article"]
        assert (article["favorited"], article["favoritesCount"]) == (True, 1), article
    assert await count_rows(db, favorites) == 1

    responses = await asyncio.gather(
        *(client.delete(f"/articles/{slug}/favorite", headers=headers) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    for response in responses:
        article = response.json()["article"]
        assert (article["favorited"], article["favoritesCount"]) == (False, 0), article
    assert await count_rows(db, favorites) == 0


async def test_concurrent_follows_by_one_user_leave_one_row(
    db: Database, client: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    await make_user(db, "writer")
    headers = auth(tokens.issue(await make_user(db, "reader")))
    responses = await asyncio.gather(
        *(client.post("/profiles/writer/follow", headers=headers) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert all(r.json()["profile"]["following"] for r in responses)
    profile = await client.get("/profiles/writer", headers=headers)
    assert profile.json()["profile"]["following"] is True


async def test_concurrent_articles_with_one_title_all_get_distinct_slugs(
    db: Database, client: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    token = tokens.issue(await make_user(db, "author"))
    article = {"title": "Breaking News", "description": "d", "body": "b", "tagList": ["news"]}
    responses = await asyncio.gather(
        *(
            client.post("/articles", json={"article": article}, headers=auth(token))
            for _ in range(8)
        )
    )
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses]
    slugs = [r.json()["article"]["slug"] for r in responses]
    assert len(set(slugs)) == 8
    assert "breaking-news" in slugs
    assert all(slug.startswith("breaking-news") for slug in slugs)
    assert all(r.json()["article"]["tagList"] == ["news"] for r in responses)
    assert await count_rows(db, articles) == 8
    assert await count_rows(db, tags) == 1
    assert await count_rows(db, article_tags) == 8


async def test_concurrent_articles_sharing_new_tags_all_succeed(
    db: Database, client: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    """Two writers introduce the same new tags at once, listed in different orders."""
    tokens_ = [tokens.issue(await make_user(db, f"writer{n}")) for n in range(6)]
    tag_lists = [["alpha", "beta", "gamma"], ["gamma", "beta", "alpha"]] * 3
    responses = await asyncio.gather(
        *(
            client.post(
                "/articles",
                json={
                    "article": {
                        "title": f"Article {n}",
                        "description": "d",
                        "body": "b",
                        "tagList": tag_list,
                    }
                },
                headers=auth(token),
            )
            for n, (token, tag_list) in enumerate(zip(tokens_, tag_lists, strict=True))
        )
    )
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    assert all(r.json()["article"]["tagList"] == ["alpha", "beta", "gamma"] for r in responses)
    names = sorted(row.name for row in await fetch_all(db, select(tags.c.name)))
    assert names == ["alpha", "beta", "gamma"]
    assert await count_rows(db, article_tags) == 18


async def test_concurrent_writers_of_the_same_new_tags_in_opposite_orders_never_deadlock(
    db: Database,
) -> None:
    """Lock order must not depend on the order a writer lists their tags in."""
    first = await make_user(db, "first")
    second = await make_user(db, "second")
    for round_ in range(8):
        names = [f"p{round_}", f"q{round_}", f"r{round_}"]
        results = await asyncio.gather(
            articles_service.create(
                db, actor=Principal(id=first), title="x", description="d", body="b", tag_list=names
            ),
            articles_service.create(
                db,
                actor=Principal(id=second),
                title="y",
                description="d",
                body="b",
                tag_list=names[::-1],
            ),
            return_exceptions=True,
        )
        errors = [repr(r) for r in results if isinstance(r, BaseException)]
        assert errors == [], f"round {round_}"
        assert [r.tag_list for r in results if not isinstance(r, BaseException)] == [names] * 2
    assert await count_rows(db, tags) == 24
    assert await count_rows(db, article_tags) == 48
