"""GET /api/notifications and POST /api/notifications/read over HTTP, on every backend.

After the writes, the test delivers the outbox to the notifications consumer itself
(tests/outbox_delivery.py): the routes read what the consumer wrote, whoever runs it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conduit.core.db import Database
from conduit.notifications.handlers import consumer
from tests.api.support import (
    ISO_MS,
    PROFILE_KEYS,
    add_comment,
    assert_error,
    favorite,
    follow,
)
from tests.helpers import auth, create_article, register
from tests.outbox_delivery import deliver_outbox

NOTIFICATION_KEYS = {"id", "type", "createdAt", "read", "actor", "article", "comment"}


async def _list(client: httpx.AsyncClient, token: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/notifications{query}", headers=auth(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"notifications", "notificationsCount", "unreadCount"}
    return body


async def _mark(client: httpx.AsyncClient, token: str, body: Any) -> httpx.Response:
    return await client.post("/notifications/read", json=body, headers=auth(token))


async def _fans(client: httpx.AsyncClient, db: Database, count: int) -> tuple[str, list[str]]:
    """alice, followed by ``count`` fans in order; (alice's token, the fans' tokens)."""
    alice = await register(client, "alice")
    fans = [await register(client, f"fan{n}") for n in range(count)]
    for fan in fans:
        await follow(client, fan, "alice")
    await deliver_outbox(db, consumer)
    return alice, fans


async def test_every_kind_of_notification_over_http(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    await follow(client, bob, "alice")
    article = await create_article(client, alice, "Hello world")
    await favorite(client, bob, article["slug"])
    comment = await add_comment(client, bob, article["slug"], "Nice one")
    await follow(client, alice, "bob")
    news = await create_article(client, bob, "Bob writes")
    await deliver_outbox(db, consumer)

    body = await _list(client, alice)
    items = body["notifications"]
    assert (body["notificationsCount"], body["unreadCount"]) == (4, 4)
    assert [item["type"] for item in items] == ["article", "comment", "favorite", "follow"]
    for item in items:
        assert set(item) == NOTIFICATION_KEYS
        assert isinstance(item["id"], int)
        assert ISO_MS.match(item["createdAt"]), item["createdAt"]
        assert item["read"] is False
        assert set(item["actor"]) == PROFILE_KEYS
        assert item["actor"]["username"] == "bob"
        assert item["actor"]["following"] is True  # alice follows bob back
    published, commented, favorited, followed = items
    assert published["article"] == {"slug": news["slug"], "title": "Bob writes"}
    assert published["comment"] is None
    assert commented["article"] == {"slug": article["slug"], "title": "Hello world"}
    assert commented["comment"] == {"id": comment["id"], "body": "Nice one"}
    assert favorited["article"] == {"slug": article["slug"], "title": "Hello world"}
    assert favorited["comment"] is None
    assert (followed["article"], followed["comment"]) == (None, None)

    # bob sees alice (whom he follows) following him, and her article.
    bob_items = (await _list(client, bob))["notifications"]
    assert [(i["type"], i["actor"]["username"]) for i in bob_items] == [
        ("follow", "alice"),
        ("article", "alice"),
    ]
    assert all(item["actor"]["following"] for item in bob_items)


async def test_deleting_the_article_removes_its_notifications(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    article = await create_article(client, alice, "Short lived")
    await favorite(client, bob, article["slug"])
    await add_comment(client, bob, article["slug"])
    await follow(client, bob, "alice")
    await deliver_outbox(db, consumer)
    assert (await _list(client, alice))["notificationsCount"] == 3
    response = await client.delete(f"/articles/{article['slug']}", headers=auth(alice))
    assert response.status_code == 204
    await deliver_outbox(db, consumer)
    body = await _list(client, alice)
    assert [item["type"] for item in body["notifications"]] == ["follow"]
    assert (body["notificationsCount"], body["unreadCount"]) == (1, 1)


async def test_pagination_newest_first_and_the_unread_filter(
    client: httpx.AsyncClient, db: Database
) -> None:
    alice, _ = await _fans(client, db, 5)
    first = await _list(client, alice, "?limit=2")
    second = await _list(client, alice, "?limit=2&offset=2")
    last = await _list(client, alice, "?limit=2&offset=4")
    beyond = await _list(client, alice, "?limit=2&offset=50")
    pages = [first, second, last]
    names = [item["actor"]["username"] for page in pages for item in page["notifications"]]
    assert names == ["fan4", "fan3", "fan2", "fan1", "fan0"]
    assert {page["notificationsCount"] for page in [*pages, beyond]} == {5}
    assert beyond["notifications"] == []
    assert len((await _list(client, alice))["notifications"]) == 5  # default limit 20

    ids = [item["id"] for item in first["notifications"]]
    response = await _mark(client, alice, {"ids": ids})
    assert response.status_code == 200, response.text
    assert response.json() == {"unreadCount": 3}

    unread = await _list(client, alice, "?unread=true")
    assert [i["actor"]["username"] for i in unread["notifications"]] == ["fan2", "fan1", "fan0"]
    assert (unread["notificationsCount"], unread["unreadCount"]) == (3, 3)
    assert all(item["read"] is False for item in unread["notifications"])
    paged = await _list(client, alice, "?unread=true&limit=1&offset=1")
    assert [i["actor"]["username"] for i in paged["notifications"]] == ["fan1"]
    assert paged["notificationsCount"] == 3
    everything = await _list(client, alice, "?unread=false")
    assert [item["read"] for item in everything["notifications"]] == [True, True] + [False] * 3
    assert (everything["notificationsCount"], everything["unreadCount"]) == (5, 3)


async def test_marking_all_read(client: httpx.AsyncClient, db: Database) -> None:
    alice, fans = await _fans(client, db, 3)
    await follow(client, alice, "fan0")
    await deliver_outbox(db, consumer)
    response = await _mark(client, alice, {"all": True})
    assert response.status_code == 200, response.text
    assert response.json() == {"unreadCount": 0}
    assert (await _list(client, alice, "?unread=true"))["notifications"] == []
    # fan0's own notification is untouched.
    assert (await _list(client, fans[0]))["unreadCount"] == 1


async def test_someone_elses_ids_are_ignored(client: httpx.AsyncClient, db: Database) -> None:
    alice, fans = await _fans(client, db, 2)
    await follow(client, alice, "fan0")
    await deliver_outbox(db, consumer)
    (theirs,) = (await _list(client, fans[0]))["notifications"]
    mine = (await _list(client, alice))["notifications"]

    response = await _mark(client, alice, {"ids": [theirs["id"]]})
    assert response.json() == {"unreadCount": 2}
    response = await _mark(client, fans[1], {"ids": [theirs["id"], mine[0]["id"]]})
    assert response.json() == {"unreadCount": 0}  # fan1 has none of their own
    assert (await _list(client, fans[0]))["notifications"][0]["read"] is False
    assert (await _list(client, alice))["unreadCount"] == 2

    # Ids that name nothing, however large, are ignored too; an empty list marks nothing.
    huge = [0, -1, 2**31, 2**63, 10**40]
    response = await _mark(client, alice, {"ids": [*huge, mine[1]["id"]]})
    assert (response.status_code, response.json()) == (200, {"unreadCount": 1})
    response = await _mark(client, alice, {"ids": []})
    assert (response.status_code, response.json()) == (200, {"unreadCount": 1})


async def test_without_a_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/notifications"), 401, {"token": ["is missing"]})
    assert_error(
        await client.post("/notifications/read", json={"all": True}), 401, {"token": ["is missing"]}
    )
    bad = {"Authorization": "Token not-a-jwt"}
    assert (await client.get("/notifications", headers=bad)).status_code == 401
    # 401 comes before validating the body.
    response = await client.post("/notifications/read", json={}, headers=bad)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=abc", "limit"),
        ("?offset=-1", "offset"),
        ("?offset=1000000001", "offset"),
        ("?unread=maybe", "unread"),
    ],
)
async def test_bad_paging_is_422_like_the_article_lists(
    client: httpx.AsyncClient, query: str, field: str
) -> None:
    token = await register(client, "reader")
    response = await client.get(f"/notifications{query}", headers=auth(token))
    errors = assert_error(response, 422)
    assert set(errors) == {field}
    if field != "unread":
        articles = await client.get(f"/articles{query}", headers=auth(token))
        assert errors == assert_error(articles, 422)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"body": ["must have either ids or all"]}),
        ({"ids": [1], "all": True}, {"body": ["must have either ids or all"]}),
        ({"ids": None, "all": None}, {"body": ["must have either ids or all"]}),
        ({"all": False}, {"all": ["must be true"]}),
        ({"all": "yes"}, {"all": ["must be true or false"]}),
        ({"all": 1}, {"all": ["must be true or false"]}),
        ({"ids": "1,2"}, {"ids": ["must be an array"]}),
        ({"ids": 3}, {"ids": ["must be an array"]}),
        ({"ids": ["1"]}, {"ids": ["must be an integer"]}),
        ({"ids": [1.5]}, {"ids": ["must be an integer"]}),
        ({"ids": [True]}, {"ids": ["must be an integer"]}),
        ({"ids": [None]}, {"ids": ["can't be blank"]}),
        ({"ids": list(range(1001))}, {"ids": ["has too many items (maximum is 1000)"]}),
        ([1, 2], {"body": ["must be an object"]}),
        ("all", {"body": ["must be an object"]}),
    ],
)
async def test_bad_read_requests_are_422(
    client: httpx.AsyncClient, body: Any, expected: dict[str, list[str]]
) -> None:
    token = await register(client, "reader")
    assert_error(await _mark(client, token, body), 422, expected)


async def test_a_body_that_is_not_json_is_422(client: httpx.AsyncClient) -> None:
    token = await register(client, "reader")
    response = await client.post(
        "/notifications/read",
        content=b"{ids: [1]",
        headers={**auth(token), "Content-Type": "application/json"},
    )
    assert_error(response, 422)
    response = await client.post("/notifications/read", headers=auth(token))
    assert_error(response, 422)
