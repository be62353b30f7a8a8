"""Articles: create, read, list, feed, update, delete, favorites over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.support import (
    add_comment,
    assert_article_shape,
    assert_error,
    assert_profile,
    favorite,
    follow,
)
from tests.helpers import auth, create_article, register


async def put_article(
    client: httpx.AsyncClient, token: str, slug: str, **fields: Any
) -> httpx.Response:
    return await client.put(f"/articles/{slug}", json={"article": fields}, headers=auth(token))


async def list_articles(
    client: httpx.AsyncClient, query: str = "", token: str | None = None
) -> dict[str, Any]:
    headers = auth(token) if token else {}
    response = await client.get(f"/articles{query}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"articles", "articlesCount"}
    for item in body["articles"]:
        assert_article_shape(item, with_body=False)
    return body


# --- create and read ----------------------------------------------------------------------


async def test_create_article_answers_201_with_the_article(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    response = await client.post(
        "/articles",
        json={
            "article": {
                "title": "How to train your dragon",
                "description": "Ever wonder how?",
                "body": "You have to believe",
                "tagList": ["dragons", "training"],
            }
        },
        headers=auth(token),
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"article"}
    article = body["article"]
    assert_article_shape(article)
    assert article["slug"] == "how-to-train-your-dragon"
    assert article["title"] == "How to train your dragon"
    assert article["description"] == "Ever wonder how?"
    assert article["body"] == "You have to believe"
    assert article["tagList"] == ["dragons", "training"]
    assert article["favorited"] is False
    assert article["favoritesCount"] == 0
    assert article["createdAt"] == article["updatedAt"]
    assert_profile(article["author"], "author", following=False)


async def test_get_article_by_slug_anonymously_and_signed_in(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    created = await create_article(client, token, "Read me", tagList=["b", "a"])
    for headers in ({}, auth(token)):
        response = await client.get(f"/articles/{created['slug']}", headers=headers)
        assert response.status_code == 200
        article = response.json()["article"]
        assert_article_shape(article)
        assert article == created


async def test_tag_list_is_optional_trimmed_and_deduplicated(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    bare = await create_article(client, token, "No tags")
    assert bare["tagList"] == []
    tagged = await create_article(client, token, "Tags", tagList=[" zeta ", "alpha", "zeta"])
    assert sorted(tagged["tagList"]) == ["alpha", "zeta"]


async def test_equal_titles_get_distinct_slugs(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    first = await create_article(client, token, "Same title")
    second = await create_article(client, token, "Same title")
    assert first["slug"] == "same-title"
    assert second["slug"] != first["slug"]
    assert second["slug"].startswith("same-title-")
    for article in (first, second):
        response = await client.get(f"/articles/{article['slug']}")
        assert response.json()["article"]["description"] == article["description"]


async def test_unicode_and_emoji_round_trip(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    title = "Ünïcødé — 日本語のタイトル 🚀✨"
    tags = ["日本語", "émoji🚀", "🔥"]
    body = "Body with emoji 😀 and CJK 漢字 and RTL مرحبا"
    created = await create_article(
        client, token, title, description="déscription 🐍", body=body, tagList=tags
    )
    assert created["title"] == title
    assert created["body"] == body
    assert sorted(created["tagList"]) == sorted(tags)
    slug = created["slug"]
    assert slug.isascii()
    assert slug
    fetched = (await client.get(f"/articles/{slug}")).json()["article"]
    assert fetched["title"] == title
    assert fetched["description"] == "déscription 🐍"
    assert sorted(fetched["tagList"]) == sorted(tags)
    for tag in tags:
        listed = await list_articles(client, "", None)
        assert listed["articlesCount"] == 1
        by_tag = (await client.get("/articles", params={"tag": tag})).json()
        assert [a["slug"] for a in by_tag["articles"]] == [slug]
    assert set(tags) <= set((await client.get("/tags")).json()["tags"])


async def test_emoji_only_title_gets_a_usable_slug(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    first = await create_article(client, token, "🚀🚀🚀")
    second = await create_article(client, token, "🔥")
    assert first["slug"] == "article"
    assert second["slug"].startswith("article-")
    assert (await client.get(f"/articles/{second['slug']}")).json()["article"]["title"] == "🔥"


async def test_unknown_slug_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/articles/no-such-article"), 404, {"article": ["not found"]})


@pytest.mark.parametrize("field", ["title", "description", "body"])
@pytest.mark.parametrize(
    "value", ["", "   ", None, "missing"], ids=["empty", "spaces", "null", "missing"]
)
async def test_create_refuses_a_blank_field(
    client: httpx.AsyncClient, field: str, value: str | None
) -> None:
    token = await register(client, "author")
    article: dict[str, Any] = {"title": "T", "description": "D", "body": "B"}
    if value == "missing":
        del article[field]
    else:
        article[field] = value
    response = await client.post("/articles", json={"article": article}, headers=auth(token))
    assert_error(response, 422, {field: ["can't be blank"]})
    assert (await list_articles(client))["articlesCount"] == 0


async def test_create_without_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/articles", json={"article": {"title": "T", "description": "D", "body": "B"}}
    )
    assert_error(response, 401, {"token": ["is missing"]})


# --- lists --------------------------------------------------------------------------------


async def test_list_items_have_no_body_and_come_newest_first(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slugs = [(await create_article(client, token, f"Post {i}"))["slug"] for i in range(3)]
    body = await list_articles(client)
    assert body["articlesCount"] == 3
    assert [a["slug"] for a in body["articles"]] == list(reversed(slugs))
    assert all("body" not in a for a in body["articles"])


async def test_empty_list(client: httpx.AsyncClient) -> None:
    assert await list_articles(client) == {"articles": [], "articlesCount": 0}


async def test_limit_offset_and_articles_count_is_the_total(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slugs = [(await create_article(client, token, f"Post {i}"))["slug"] for i in range(5)]
    newest_first = list(reversed(slugs))

    page = await list_articles(client, "?limit=2")
    assert page["articlesCount"] == 5
    assert [a["slug"] for a in page["articles"]] == newest_first[:2]

    page = await list_articles(client, "?limit=2&offset=2")
    assert page["articlesCount"] == 5
    assert [a["slug"] for a in page["articles"]] == newest_first[2:4]

    page = await list_articles(client, "?limit=2&offset=4")
    assert page["articlesCount"] == 5
    assert [a["slug"] for a in page["articles"]] == newest_first[4:]

    beyond = await list_articles(client, "?limit=2&offset=50")
    assert beyond == {"articles": [], "articlesCount": 5}

    page = await list_articles(client, "?offset=3")
    assert page["articlesCount"] == 5
    assert len(page["articles"]) == 2

    exact = await list_articles(client, "?limit=5")
    assert exact["articlesCount"] == 5
    assert len(exact["articles"]) == 5


async def test_default_limit_is_20(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    for i in range(21):
        await create_article(client, token, f"Post {i}")
    page = await list_articles(client)
    assert len(page["articles"]) == 20
    assert page["articlesCount"] == 21


async def test_filter_by_tag_author_and_favorited(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    a1 = await create_article(client, alice, "Alice one", tagList=["python"])
    a2 = await create_article(client, alice, "Alice two", tagList=["rust"])
    b1 = await create_article(client, bob, "Bob one", tagList=["python", "rust"])
    await favorite(client, bob, a1["slug"])

    def slugs(body: dict[str, Any]) -> list[str]:
        return [a["slug"] for a in body["articles"]]

    by_tag = await list_articles(client, "?tag=python")
    assert slugs(by_tag) == [b1["slug"], a1["slug"]]
    assert by_tag["articlesCount"] == 2
    by_author = await list_articles(client, "?author=alice")
    assert slugs(by_author) == [a2["slug"], a1["slug"]]
    assert by_author["articlesCount"] == 2
    favorited = await list_articles(client, "?favorited=bob")
    assert slugs(favorited) == [a1["slug"]]
    assert favorited["articlesCount"] == 1
    both = await list_articles(client, "?tag=rust&author=bob")
    assert slugs(both) == [b1["slug"]]
    assert both["articlesCount"] == 1
    for query in ("?tag=nothing", "?author=nobody", "?favorited=nobody", "?favorited=alice"):
        assert await list_articles(client, query) == {"articles": [], "articlesCount": 0}


async def test_list_flags_follow_the_reader(client: httpx.AsyncClient) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    created = await create_article(client, alice, "Flags")
    await favorite(client, bob, created["slug"])
    await follow(client, bob, "alice")
    as_bob = (await list_articles(client, "", bob))["articles"][0]
    assert as_bob["favorited"] is True
    assert as_bob["favoritesCount"] == 1
    assert as_bob["author"]["following"] is True
    as_alice = (await list_articles(client, "", alice))["articles"][0]
    assert as_alice["favorited"] is False
    assert as_alice["author"]["following"] is False
    anonymous = (await list_articles(client))["articles"][0]
    assert anonymous["favorited"] is False
    assert anonymous["favoritesCount"] == 1
    assert anonymous["author"]["following"] is False


# --- feed ---------------------------------------------------------------------------------


async def test_feed_shows_articles_of_followed_authors_only(client: httpx.AsyncClient) -> None:
    reader = await register(client, "reader")
    celeb = await register(client, "celeb")
    stranger = await register(client, "stranger")

    empty = await client.get("/articles/feed", headers=auth(reader))
    assert empty.status_code == 200
    assert empty.json() == {"articles": [], "articlesCount": 0}

    await follow(client, reader, "celeb")
    first = await create_article(client, celeb, "Feed one")
    second = await create_article(client, celeb, "Feed two")
    await create_article(client, stranger, "Not followed")
    await create_article(client, reader, "My own")

    feed = (await client.get("/articles/feed", headers=auth(reader))).json()
    assert feed["articlesCount"] == 2
    assert [a["slug"] for a in feed["articles"]] == [second["slug"], first["slug"]]
    for item in feed["articles"]:
        assert_article_shape(item, with_body=False)
        assert_profile(item["author"], "celeb", following=True)

    page = (await client.get("/articles/feed?limit=1", headers=auth(reader))).json()
    assert page["articlesCount"] == 2
    assert [a["slug"] for a in page["articles"]] == [second["slug"]]
    page = (await client.get("/articles/feed?limit=1&offset=1", headers=auth(reader))).json()
    assert page["articlesCount"] == 2
    assert [a["slug"] for a in page["articles"]] == [first["slug"]]

    await client.delete("/profiles/celeb/follow", headers=auth(reader))
    after = (await client.get("/articles/feed", headers=auth(reader))).json()
    assert after == {"articles": [], "articlesCount": 0}


async def test_feed_without_token_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/articles/feed"), 401, {"token": ["is missing"]})


# --- update -------------------------------------------------------------------------------


async def test_update_body_keeps_everything_else(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    created = await create_article(client, token, "Original", tagList=["one", "two"])
    await asyncio.sleep(0.01)
    response = await put_article(client, token, created["slug"], body="New body")
    assert response.status_code == 200
    article = response.json()["article"]
    assert_article_shape(article)
    assert article["body"] == "New body"
    assert article["title"] == "Original"
    assert article["description"] == created["description"]
    assert article["tagList"] == ["one", "two"]
    assert article["slug"] == created["slug"]
    assert article["createdAt"] == created["createdAt"]
    assert article["updatedAt"] > created["updatedAt"]
    fetched = (await client.get(f"/articles/{created['slug']}")).json()["article"]
    assert fetched == article


async def test_update_title_keeps_the_slug(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    created = await create_article(client, token, "Old title")
    response = await put_article(client, token, created["slug"], title="New title")
    assert response.json()["article"]["title"] == "New title"
    assert response.json()["article"]["slug"] == created["slug"]
    assert (await client.get(f"/articles/{created['slug']}")).status_code == 200


async def test_update_tag_list_replaces_and_empty_list_removes(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token, "Tagged", tagList=["a", "b"]))["slug"]
    replaced = await put_article(client, token, slug, tagList=["c", "a"])
    assert sorted(replaced.json()["article"]["tagList"]) == ["a", "c"]
    removed = await put_article(client, token, slug, tagList=[])
    assert removed.status_code == 200
    assert removed.json()["article"]["tagList"] == []
    assert (await client.get(f"/articles/{slug}")).json()["article"]["tagList"] == []
    assert (await list_articles(client, "?tag=a"))["articlesCount"] == 0


@pytest.mark.parametrize("field", ["title", "description", "body", "tagList"])
async def test_update_refuses_null(client: httpx.AsyncClient, field: str) -> None:
    token = await register(client, "author")
    created = await create_article(client, token, "Keep", tagList=["x"])
    response = await put_article(client, token, created["slug"], **{field: None})
    assert_error(response, 422, {field: ["can't be blank"]})
    assert (await client.get(f"/articles/{created['slug']}")).json()["article"] == created


@pytest.mark.parametrize("field", ["title", "description", "body"])
async def test_update_refuses_blank(client: httpx.AsyncClient, field: str) -> None:
    token = await register(client, "author")
    created = await create_article(client, token, "Keep")
    response = await put_article(client, token, created["slug"], **{field: "  "})
    assert_error(response, 422, {field: ["can't be blank"]})


async def test_update_by_someone_else_is_403_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, "owner")
    intruder = await register(client, "intruder")
    created = await create_article(client, owner, "Mine")
    response = await put_article(client, intruder, created["slug"], body="hijacked")
    assert_error(response, 403, {"article": ["forbidden"]})
    assert (await client.get(f"/articles/{created['slug']}")).json()["article"]["body"] == (
        created["body"]
    )


async def test_update_unknown_slug_is_404(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    response = await put_article(client, token, "no-such-article", body="x")
    assert_error(response, 404, {"article": ["not found"]})


async def test_update_without_token_is_401_before_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/articles/no-such-article", json={"article": {"body": "x"}})
    assert_error(response, 401, {"token": ["is missing"]})


# --- delete -------------------------------------------------------------------------------


async def test_delete_answers_204_and_the_article_is_gone(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token, "Short lived"))["slug"]
    response = await client.delete(f"/articles/{slug}", headers=auth(token))
    assert response.status_code == 204
    assert response.content == b""
    assert_error(await client.get(f"/articles/{slug}"), 404, {"article": ["not found"]})
    assert (await list_articles(client))["articlesCount"] == 0


async def test_delete_article_with_comments_favorites_and_tags(client: httpx.AsyncClient) -> None:
    author = await register(client, "author")
    reader = await register(client, "reader")
    slug = (await create_article(client, author, "Popular", tagList=["hot"]))["slug"]
    keep = (await create_article(client, author, "Stays"))["slug"]
    await add_comment(client, reader, slug, "first!")
    await add_comment(client, author, slug, "thanks")
    await favorite(client, reader, slug)
    await favorite(client, author, slug)

    response = await client.delete(f"/articles/{slug}", headers=auth(author))
    assert response.status_code == 204

    assert_error(await client.get(f"/articles/{slug}"), 404, {"article": ["not found"]})
    comments = await client.get(f"/articles/{slug}/comments")
    assert_error(comments, 404, {"article": ["not found"]})
    assert await list_articles(client, "?favorited=reader") == {"articles": [], "articlesCount": 0}
    assert (await list_articles(client, "?tag=hot"))["articlesCount"] == 0
    assert "hot" not in (await client.get("/tags")).json()["tags"]
    remaining = await list_articles(client)
    assert [a["slug"] for a in remaining["articles"]] == [keep]
    # The title is free again.
    again = await create_article(client, author, "Popular")
    assert again["favoritesCount"] == 0


async def test_delete_by_someone_else_is_403(client: httpx.AsyncClient) -> None:
    owner = await register(client, "owner")
    intruder = await register(client, "intruder")
    slug = (await create_article(client, owner, "Mine"))["slug"]
    response = await client.delete(f"/articles/{slug}", headers=auth(intruder))
    assert_error(response, 403, {"article": ["forbidden"]})
    assert (await client.get(f"/articles/{slug}")).status_code == 200


async def test_delete_unknown_slug_is_404_and_without_token_401(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    response = await client.delete("/articles/no-such-article", headers=auth(token))
    assert_error(response, 404, {"article": ["not found"]})
    response = await client.delete("/articles/no-such-article")
    assert_error(response, 401, {"token": ["is missing"]})


# --- favorites ----------------------------------------------------------------------------


async def test_favorite_and_unfavorite(client: httpx.AsyncClient) -> None:
    author = await register(client, "author")
    reader = await register(client, "reader")
    slug = (await create_article(client, author, "Likeable"))["slug"]

    response = await client.post(f"/articles/{slug}/favorite", headers=auth(reader))
    assert response.status_code == 200
    article = response.json()["article"]
    assert_article_shape(article)
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1

    again = await client.post(f"/articles/{slug}/favorite", headers=auth(reader))
    assert again.json()["article"]["favoritesCount"] == 1

    by_author = await client.post(f"/articles/{slug}/favorite", headers=auth(author))
    assert by_author.json()["article"]["favoritesCount"] == 2

    seen = (await client.get(f"/articles/{slug}", headers=auth(reader))).json()["article"]
    assert seen["favorited"] is True
    assert seen["favoritesCount"] == 2

    response = await client.delete(f"/articles/{slug}/favorite", headers=auth(reader))
    assert response.status_code == 200
    article = response.json()["article"]
    assert_article_shape(article)
    assert article["favorited"] is False
    assert article["favoritesCount"] == 1

    again = await client.delete(f"/articles/{slug}/favorite", headers=auth(reader))
    assert again.status_code == 200
    assert again.json()["article"]["favoritesCount"] == 1
    seen = (await client.get(f"/articles/{slug}", headers=auth(reader))).json()["article"]
    assert seen["favorited"] is False
    assert seen["favoritesCount"] == 1


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_favorite_unknown_slug_is_404_and_without_token_401(
    client: httpx.AsyncClient, method: str
) -> None:
    token = await register(client, "reader")
    response = await client.request(method, "/articles/nope/favorite", headers=auth(token))
    assert_error(response, 404, {"article": ["not found"]})
    response = await client.request(method, "/articles/nope/favorite")
    assert_error(response, 401, {"token": ["is missing"]})
