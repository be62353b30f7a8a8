"""ETag, If-None-Match and Cache-Control on every GET (no Redis: nothing is cached)."""

from __future__ import annotations

import httpx

from tests.helpers import auth, create_article, register


async def test_every_get_has_a_strong_etag_and_304_when_unchanged(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "author")
    article = await create_article(client, token, "Tagged", tagList=["t"])
    for url in ("/articles", f"/articles/{article['slug']}", "/tags", "/profiles/author"):
        first = await client.get(url)
        etag = first.headers["etag"]
        assert etag.startswith('"'), etag
        assert etag.endswith('"'), etag
        assert first.headers["cache-control"] == "no-cache"
        assert "Authorization" in first.headers["vary"]
        again = await client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304, url
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert "content-length" not in again.headers or again.headers["content-length"] == "0"


async def test_a_change_changes_the_etag(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    article = await create_article(client, token, "Before")
    url = f"/articles/{article['slug']}"
    etag = (await client.get(url)).headers["etag"]
    await client.put(url, json={"article": {"body": "after"}}, headers=auth(token))
    changed = await client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["article"]["body"] == "after"
    assert changed.headers["etag"] != etag


async def test_signed_in_answers_are_private(client: httpx.AsyncClient) -> None:
    token = await register(client, "reader")
    for url in ("/articles", "/user", "/articles/feed", "/tags"):
        response = await client.get(url, headers=auth(token))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-cache"
        assert "etag" in response.headers


async def test_errors_carry_no_etag(client: httpx.AsyncClient) -> None:
    response = await client.get("/profiles/nobody")
    assert response.status_code == 404
    assert "etag" not in response.headers


async def test_cors_exposes_the_etag(client: httpx.AsyncClient) -> None:
    response = await client.get("/tags", headers={"Origin": "http://localhost:4100"})
    assert "etag" in response.headers["access-control-expose-headers"].lower()
