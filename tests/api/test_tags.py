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


async def test_limit_returns_the_most_used_first(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    await create_article(client, token, "One", tagList=["rare", "common"])
    await create_article(client, token, "Two", tagList=["common", "medium"])
    await create_article(client, token, "Three", tagList=["common", "medium"])
    response = await client.get("/tags", params={"limit": 2})
    assert response.status_code == 200
    assert response.json() == {"tags": ["common", "medium"]}


async def test_a_site_with_many_tags_sends_a_hundred_by_default(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "author")
    names = [f"tag{n:03d}" for n in range(120)]
    for start in range(0, 120, 20):  # at most 20 tags per article
        await create_article(client, token, f"Batch {start}", tagList=names[start : start + 20])
    await create_article(client, token, "Popular", tagList=["tag119"])
    default = (await client.get("/tags")).json()["tags"]
    assert len(default) == 100
    assert default[0] == "tag119"  # used twice
    assert default[1:] == names[:99]  # then by name
    assert len((await client.get("/tags", params={"limit": 1000})).json()["tags"]) == 120


async def test_a_limit_out_of_range_is_a_422(client: httpx.AsyncClient) -> None:
    for limit, message in [
        ("0", "must be greater than or equal to 1"),
        ("1001", "must be less than or equal to 1000"),
    ]:
        response = await client.get("/tags", params={"limit": limit})
        assert response.status_code == 422
        assert response.json() == {"errors": {"limit": [message]}}
