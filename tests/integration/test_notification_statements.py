"""A page of notifications is a fixed number of SQL statements whatever its size (no N+1):
the page joined with each actor's profile (and the reader's ``following`` flag), article
and comment, then both counts in one. Counted at the HTTP level, as for the article lists.
"""

from __future__ import annotations

import httpx
import pytest

from conduit.articles import service as articles
from conduit.comments import service as comments
from conduit.core.db import Database
from conduit.core.principal import Principal
from conduit.core.security import TokenCodec
from conduit.notifications.handlers import consumer
from conduit.profiles import service as profiles
from tests.helpers import auth
from tests.integration.support import count_statements, make_user
from tests.outbox_delivery import deliver_outbox

LIST_BUDGET = 3  # at most; today: the page, the counts
MARK_BUDGET = 3  # at most; today: the update, the unread count
FANS = 8
ARTICLES = 3
TOTAL = FANS + FANS * ARTICLES + FANS + FANS // 2  # follows, favorites, comments, articles


@pytest.fixture
async def reader_token(db: Database, tokens: TokenCodec) -> str:
    """alice, with every kind of notification from 8 fans, some of whom she follows."""
    alice = await make_user(db, "alice")
    slugs = []
    for n in range(ARTICLES):
        article = await articles.create(
            db,
            actor=Principal(id=alice),
            title=f"Alice {n}",
            description="d",
            body="b",
            tag_list=[],
        )
        slugs.append(article.slug)
    for n in range(FANS):
        fan = await make_user(db, f"fan{n}")
        await profiles.follow(db, username="alice", actor=Principal(id=fan))
        for slug in slugs:
            await articles.favorite(db, slug=slug, actor=Principal(id=fan))
        await comments.add(db, slug=slugs[0], actor=Principal(id=fan), body=f"comment {n}")
        if n % 2 == 0:
            await profiles.follow(db, username=f"fan{n}", actor=Principal(id=alice))
            await articles.create(
                db,
                actor=Principal(id=fan),
                title=f"Fan {n}",
                description="d",
                body="b",
                tag_list=[],
            )
    await deliver_outbox(db, consumer)
    return tokens.issue(alice)


async def _count(
    db: Database, client: httpx.AsyncClient, url: str, token: str
) -> tuple[int, httpx.Response]:
    await client.get(url, headers=auth(token))  # warm: connections open
    with count_statements(db) as log:
        response = await client.get(url, headers=auth(token))
    assert response.status_code == 200, response.text
    assert log.count >= 1, "the listener saw no statement: the count would prove nothing"
    return log.count, response


async def test_a_page_of_notifications_takes_a_fixed_number_of_statements(
    db: Database, client: httpx.AsyncClient, reader_token: str
) -> None:
    counts = {}
    for url in (
        "/notifications?limit=1",
        "/notifications?limit=5",
        "/notifications?limit=20",
        "/notifications?limit=100",
        "/notifications?limit=20&offset=7",
        "/notifications?limit=20&unread=true",
    ):
        counts[url], response = await _count(db, client, url, reader_token)
        body = response.json()
        assert body["notificationsCount"] == TOTAL
        assert body["unreadCount"] == TOTAL
        page = body["notifications"]
        assert {item["type"] for item in page} <= {"follow", "favorite", "comment", "article"}
    assert all(count <= LIST_BUDGET for count in counts.values()), counts
    assert len(set(counts.values())) == 1, counts  # the page size changes nothing

    _, response = await _count(db, client, "/notifications?limit=100", reader_token)
    page = response.json()["notifications"]
    assert len(page) == TOTAL
    assert {item["type"] for item in page} == {"follow", "favorite", "comment", "article"}
    assert sum(item["comment"] is not None for item in page) == FANS
    assert sum(item["article"] is not None for item in page) == TOTAL - FANS
    assert sum(item["actor"]["following"] for item in page) > 0  # flags come with the page


async def test_marking_read_takes_a_fixed_number_of_statements(
    db: Database, client: httpx.AsyncClient, reader_token: str
) -> None:
    _, response = await _count(db, client, "/notifications?limit=100", reader_token)
    ids = [item["id"] for item in response.json()["notifications"]]
    counts = []
    for body in ({"ids": ids[:1]}, {"ids": ids[1:30]}, {"all": True}):
        with count_statements(db) as log:
            response = await client.post(
                "/notifications/read", json=body, headers=auth(reader_token)
            )
        assert response.status_code == 200, response.text
        counts.append(log.count)
    assert response.json() == {"unreadCount": 0}
    assert all(count <= MARK_BUDGET for count in counts), counts
