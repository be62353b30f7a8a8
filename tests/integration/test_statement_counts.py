"""Queries are designed, not discovered: each read endpoint is a fixed, small number of SQL
statements whatever the page size and however many articles, tags, favorites and comments
there are (no N+1). Counted at the HTTP level with a ``before_cursor_execute`` listener.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select, update

from conduit.articles.models import articles, favorites
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.cli.seed import SeedPlan, seed_database
from conduit.profiles.models import follows
from conduit.tags import repository as tags_repository
from conduit.tags.handlers import EVERY_TAG
from conduit.tags.models import article_tags, tags
from conduit.users.models import users
from tests.database_log import measure
from tests.helpers import auth
from tests.integration.support import count_statements, fetch_all, make_user

LIST_BUDGET = 1  # the page with its tags, each row carrying the total
ARTICLE_BUDGET = 1  # the article with its author, tags and flags
COMMENTS_BUDGET = 1  # the article left-joined to its comments and their authors
PROFILE_BUDGET = 1
TAGS_BUDGET = 1

ARTICLES = 30
PROLIFIC_ARTICLES = 25  # more than a page of 20, so that every list needs its count


@dataclass(frozen=True)
class Seeded:
    reader_token: str
    prolific: str
    common_tag: str
    slug: str


@pytest.fixture
async def seeded(db: Database, tokens: TokenCodec) -> Seeded:
    """30 articles with tags, favorites, follows and comments; a reader who follows, favorites
    and reads; 25 articles by one author, all carrying one tag and favorited by the reader."""
    await seed_database(
        db,
        SeedPlan(users=6, articles=ARTICLES, tags=8, favorites=60, follows=15, comments=40),
    )
    reader = await make_user(db, "reader")
    prolific = await make_user(db, "prolific")
    article_ids = [
        row.id for row in await fetch_all(db, select(articles.c.id).order_by(articles.c.id))
    ]
    user_ids = [row.id for row in await fetch_all(db, select(users.c.id))]
    chosen = article_ids[:PROLIFIC_ARTICLES]
    async with db.uow() as uow:
        conn = uow.conn
        await conn.execute(
            update(articles).where(articles.c.id.in_(chosen)).values(author_id=prolific)
        )
        await conn.execute(tags.insert(), [{"name": "common"}])
        tag_id = (await conn.execute(select(tags.c.id).where(tags.c.name == "common"))).scalar()
        await conn.execute(
            article_tags.insert(), [{"article_id": a, "tag_id": tag_id} for a in chosen]
        )
        await conn.execute(
            favorites.insert(), [{"user_id": reader, "article_id": a} for a in chosen]
        )
        await conn.execute(
            follows.insert(),
            [{"follower_id": reader, "followee_id": u} for u in user_ids if u != reader],
        )
        slug = (
            await conn.execute(select(articles.c.slug).where(articles.c.id == chosen[0]))
        ).scalar()
        await tags_repository.recount(conn, EVERY_TAG)  # links written here carry no event
        await uow.commit()
    assert isinstance(slug, str)
    return Seeded(tokens.issue(reader), "prolific", "common", slug)


async def _count(
    db: Database, client: httpx.AsyncClient, url: str, token: str | None = None
) -> tuple[int, httpx.Response]:
    headers = auth(token) if token else {}
    await client.get(url, headers=headers)  # warm: connections open, nothing lazily set up
    with count_statements(db) as log:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert log.count >= 1, "the listener saw no statement: the count would prove nothing"
    return log.count, response


def _list_urls(seeded: Seeded, limit: int) -> list[str]:
    return [
        f"/articles?limit={limit}",
        f"/articles?limit={limit}&tag={seeded.common_tag}",
        f"/articles?limit={limit}&author={seeded.prolific}",
        f"/articles?limit={limit}&favorited=reader",
        f"/articles?limit={limit}&tag={seeded.common_tag}&author={seeded.prolific}&favorited=reader",
        f"/articles?limit={limit}&offset=3",
    ]


async def test_article_lists_take_one_statement(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    over_budget = {}
    for token in (None, seeded.reader_token):
        for url in _list_urls(seeded, 20):
            count, response = await _count(db, client, url, token)
            body = response.json()
            assert len(body["articles"]) == 20, url
            assert body["articlesCount"] >= PROLIFIC_ARTICLES, url
            if count > LIST_BUDGET:
                over_budget[f"{url} signed_in={token is not None}"] = count
    assert over_budget == {}


async def test_the_feed_takes_one_statement(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    count, response = await _count(db, client, "/articles/feed?limit=20", seeded.reader_token)
    body = response.json()
    assert len(body["articles"]) == 20
    assert body["articlesCount"] == ARTICLES  # the reader follows every author
    assert all(article["author"]["following"] for article in body["articles"])
    assert count <= LIST_BUDGET


async def test_a_page_past_the_last_one_still_tells_the_total_with_a_count_of_its_own(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for url in [url for url in _list_urls(seeded, 20) if "offset" not in url]:
        _, full = await _count(db, client, url)
        count, past = await _count(db, client, f"{url}&offset=1000")
        assert past.json() == {"articles": [], "articlesCount": full.json()["articlesCount"]}
        assert count == LIST_BUDGET + 1, url


async def test_list_statements_do_not_grow_with_the_page_size(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for token in (None, seeded.reader_token):
        small = [await _count(db, client, url, token) for url in _list_urls(seeded, 5)]
        large = [await _count(db, client, url, token) for url in _list_urls(seeded, 20)]
        assert [len(r.json()["articles"]) for _, r in small] == [5] * len(small)
        assert [n for n, _ in large] == [n for n, _ in small]
    feed_small, _ = await _count(db, client, "/articles/feed?limit=5", seeded.reader_token)
    feed_large, _ = await _count(db, client, "/articles/feed?limit=20", seeded.reader_token)
    assert feed_small == feed_large


async def test_a_page_carries_tags_favorites_and_flags_without_extra_statements(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    """The budget holds while every article of the page has tags and the reader's flags."""
    count, response = await _count(
        db, client, f"/articles?limit=20&author={seeded.prolific}", seeded.reader_token
    )
    page = response.json()["articles"]
    assert all(seeded.common_tag in article["tagList"] for article in page)
    assert all(article["favorited"] and article["favoritesCount"] >= 1 for article in page)
    assert all(article["author"]["following"] for article in page)
    assert count <= LIST_BUDGET


async def test_single_article_profile_and_tags_take_a_fixed_number_of_statements(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    for token in (None, seeded.reader_token):
        count, response = await _count(db, client, f"/articles/{seeded.slug}", token)
        assert response.json()["article"]["slug"] == seeded.slug
        assert count <= ARTICLE_BUDGET

        count, response = await _count(db, client, f"/profiles/{seeded.prolific}", token)
        assert response.json()["profile"]["following"] is (token is not None)
        assert count <= PROFILE_BUDGET

    count, response = await _count(db, client, "/tags")
    assert seeded.common_tag in response.json()["tags"]
    assert count <= TAGS_BUDGET


async def test_comments_take_a_fixed_number_of_statements_however_many_there_are(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    few = await make_user(db, "few-comments")
    async with db.uow() as uow:
        await uow.conn.execute(
            articles.insert().values(
                slug="quiet", title="Quiet", description="d", body="b", author_id=few
            )
        )
        await uow.commit()
    token = seeded.reader_token
    response = await client.post(
        "/articles/quiet/comments", json={"comment": {"body": "one"}}, headers=auth(token)
    )
    assert response.status_code == 201
    one, response = await _count(db, client, "/articles/quiet/comments", token)
    assert len(response.json()["comments"]) == 1

    for n in range(12):
        response = await client.post(
            f"/articles/{seeded.slug}/comments",
            json={"comment": {"body": f"comment {n}"}},
            headers=auth(token),
        )
        assert response.status_code == 201
    for viewer in (None, token):
        many, response = await _count(db, client, f"/articles/{seeded.slug}/comments", viewer)
        assert len(response.json()["comments"]) >= 12
        assert many == one
        assert many <= COMMENTS_BUDGET


async def test_the_database_s_own_log_agrees_with_the_budgets(
    db: Database, client: httpx.AsyncClient, seeded: Seeded
) -> None:
    """What the server ran, read from its own log (not from Conduit's side of the driver)."""
    token = seeded.reader_token
    budgets = {
        "/articles?limit=20": LIST_BUDGET,
        f"/articles?limit=20&tag={seeded.common_tag}": LIST_BUDGET,
        "/articles/feed?limit=20": LIST_BUDGET,
        f"/articles/{seeded.slug}": ARTICLE_BUDGET,
        f"/profiles/{seeded.prolific}": PROFILE_BUDGET,
    }
    measured = {}
    for url in budgets:

        async def read(url: str = url) -> None:
            response = await client.get(url, headers=auth(token))
            assert response.status_code == 200, response.text

        logged = await measure(db, read)
        assert logged.count >= 1, f"the database logged nothing for {url}: {logged}"
        measured[url] = logged.count
    assert {url: n for url, n in measured.items() if n > budgets[url]} == {}
