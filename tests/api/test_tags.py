"""The tags in use over HTTP."""

from __future__ import annotations

import httpx

from tests.helpers import auth, create_article, register


async def test_no_tags_yet(client: httpx.AsyncClient) -> None:
    response = await client.get("/tags")
    assert response.status_code == 200
    assert response.json() == {"tags": []}


async def test_tags_in_use_most_used_first(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    await create_article(client, token, "One", tagList=["rare", "common"])
    await create_article(client, token, "Two", tagList=["common", "medium"])
    await create_article(client, token, "Three", tagList=["common", "medium"])
    response = await client.get("/tags")
    assert response.status_code == 200
    assert response.json() == {"tags": ["common", "medium", "rare"]}


async def test_tags_no_longer_in_use_disappear(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    gone = await create_article(client, token, "Gone", tagList=["only-here", "shared"])
    await create_article(client, token, "Stays", tagList=["shared"])
    await client.delete(f"/articles/{gone['slug']}", headers=auth(token))
    assert (await client.get("/tags")).json() == {"tags": ["shared"]}
    stays = (await client.get("/articles")).json()["articles"][0]
    await client.put(
        f"/articles/{stays['slug']}", json={"article": {"tagList": []}}, headers=auth(token)
    )
    assert (await client.get("/tags")).json() == {"tags": []}


async def test_tags_are_case_sensitive_and_unicode(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    await create_article(client, token, "Cases", tagList=["Python", "python", "日本語", "🐍"])
    assert sorted((await client.get("/tags")).json()["tags"]) == sorted(
        ["Python", "python", "日本語", "🐍"]
    )
