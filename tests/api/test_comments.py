"""Comments on articles over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import COMMENT_KEYS, ISO_MS, add_comment, assert_error, assert_profile
from tests.helpers import auth, create_article, register


async def test_add_comment_answers_201_with_the_comment(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    response = await client.post(
        f"/articles/{slug}/comments",
        json={"comment": {"body": "Test comment body"}},
        headers=auth(token),
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"comment"}
    comment = body["comment"]
    assert set(comment) == COMMENT_KEYS
    assert isinstance(comment["id"], int)
    assert comment["body"] == "Test comment body"
    assert ISO_MS.match(comment["createdAt"])
    assert ISO_MS.match(comment["updatedAt"])
    assert_profile(comment["author"], "author", following=False)


async def test_list_comments_oldest_first_for_anyone(client: httpx.AsyncClient) -> None:
    author = await register(client, "author")
    reader = await register(client, "reader")
    slug = (await create_article(client, author))["slug"]
    first = await add_comment(client, reader, slug, "First")
    second = await add_comment(client, author, slug, "Second")
    await client.post("/profiles/author/follow", headers=auth(reader))

    anonymous = await client.get(f"/articles/{slug}/comments")
    assert anonymous.status_code == 200
    body = anonymous.json()
    assert set(body) == {"comments"}
    assert [c["id"] for c in body["comments"]] == [first["id"], second["id"]]
    assert [c["body"] for c in body["comments"]] == ["First", "Second"]
    for comment in body["comments"]:
        assert set(comment) == COMMENT_KEYS
        assert comment["author"]["following"] is False

    as_reader = (await client.get(f"/articles/{slug}/comments", headers=auth(reader))).json()
    assert_profile(as_reader["comments"][0]["author"], "reader", following=False)
    assert_profile(as_reader["comments"][1]["author"], "author", following=True)


async def test_article_without_comments_lists_none(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    response = await client.get(f"/articles/{slug}/comments")
    assert response.status_code == 200
    assert response.json() == {"comments": []}


async def test_delete_comment_answers_204_and_only_that_one_goes(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    first = await add_comment(client, token, slug, "First comment")
    await add_comment(client, token, slug, "Second comment")
    response = await client.delete(f"/articles/{slug}/comments/{first['id']}", headers=auth(token))
    assert response.status_code == 204
    assert response.content == b""
    remaining = (await client.get(f"/articles/{slug}/comments")).json()["comments"]
    assert [c["body"] for c in remaining] == ["Second comment"]
    again = await client.delete(f"/articles/{slug}/comments/{first['id']}", headers=auth(token))
    assert_error(again, 404, {"comment": ["not found"]})


async def test_delete_someone_elses_comment_is_403_and_it_survives(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client, "owner")
    intruder = await register(client, "intruder")
    slug = (await create_article(client, owner))["slug"]
    comment = await add_comment(client, owner, slug, "A's comment")
    response = await client.delete(
        f"/articles/{slug}/comments/{comment['id']}", headers=auth(intruder)
    )
    assert_error(response, 403, {"comment": ["forbidden"]})
    remaining = (await client.get(f"/articles/{slug}/comments")).json()["comments"]
    assert [c["body"] for c in remaining] == ["A's comment"]


async def test_article_author_cannot_delete_a_readers_comment(client: httpx.AsyncClient) -> None:
    author = await register(client, "author")
    reader = await register(client, "reader")
    slug = (await create_article(client, author))["slug"]
    comment = await add_comment(client, reader, slug)
    response = await client.delete(
        f"/articles/{slug}/comments/{comment['id']}", headers=auth(author)
    )
    assert_error(response, 403, {"comment": ["forbidden"]})


async def test_comment_id_of_another_article_is_404(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    one = (await create_article(client, token, "One"))["slug"]
    two = (await create_article(client, token, "Two"))["slug"]
    comment = await add_comment(client, token, one)
    response = await client.delete(f"/articles/{two}/comments/{comment['id']}", headers=auth(token))
    assert_error(response, 404, {"comment": ["not found"]})
    assert len((await client.get(f"/articles/{one}/comments")).json()["comments"]) == 1


async def test_unknown_article_or_comment_is_404(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    not_found = {"article": ["not found"]}
    assert_error(await client.get("/articles/nope/comments"), 404, not_found)
    response = await client.post(
        "/articles/nope/comments", json={"comment": {"body": "orphan"}}, headers=auth(token)
    )
    assert_error(response, 404, not_found)
    response = await client.delete("/articles/nope/comments/99999", headers=auth(token))
    assert_error(response, 404, not_found)
    response = await client.delete(f"/articles/{slug}/comments/99999", headers=auth(token))
    assert_error(response, 404, {"comment": ["not found"]})


@pytest.mark.parametrize("comment_id", ["0", "-1", "99999999999999999999"])
async def test_out_of_range_comment_ids_are_404(client: httpx.AsyncClient, comment_id: str) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    response = await client.delete(f"/articles/{slug}/comments/{comment_id}", headers=auth(token))
    assert_error(response, 404, {"comment": ["not found"]})


async def test_comments_without_token_are_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/articles/some-slug/comments", json={"comment": {"body": "x"}})
    assert_error(response, 401, {"token": ["is missing"]})
    response = await client.delete("/articles/some-slug/comments/1")
    assert_error(response, 401, {"token": ["is missing"]})


@pytest.mark.parametrize("body", ["", "   ", None], ids=["empty", "spaces", "null"])
async def test_blank_comment_is_422(client: httpx.AsyncClient, body: str | None) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    response = await client.post(
        f"/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(token)
    )
    assert_error(response, 422, {"body": ["can't be blank"]})
    assert (await client.get(f"/articles/{slug}/comments")).json() == {"comments": []}


async def test_unicode_comment_round_trips(client: httpx.AsyncClient) -> None:
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    text = 'Très bien 👍🏽 — 素晴らしい!\nNew line and "quotes" and <b>html</b>'
    created = await add_comment(client, token, slug, text)
    assert created["body"] == text
    listed = (await client.get(f"/articles/{slug}/comments")).json()["comments"]
    assert listed[0]["body"] == text


async def test_longest_allowed_comment_of_emoji_is_stored_whole(
    client: httpx.AsyncClient,
) -> None:
    """20,000 characters is the limit, whatever their size in bytes (4 each here)."""
    token = await register(client, "author")
    slug = (await create_article(client, token))["slug"]
    text = "🚀" * 20_000
    created = await add_comment(client, token, slug, text)
    assert created["body"] == text
    listed = (await client.get(f"/articles/{slug}/comments")).json()["comments"]
    assert listed[0]["body"] == text
    too_long = await client.post(
        f"/articles/{slug}/comments", json={"comment": {"body": text + "!"}}, headers=auth(token)
    )
    assert_error(too_long, 422, {"body": ["is too long (maximum is 20000 characters)"]})
