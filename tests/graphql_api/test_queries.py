"""Queries answer what the REST routes answer for the same data, with REST's authentication."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.graphql_api.conftest import Gql, error_of
from tests.helpers import auth, create_article, register

PROFILE = "username bio image following"
COMMENT = f"id createdAt updatedAt body author {{ {PROFILE} }}"
LISTED = (
    "slug title description tagList createdAt updatedAt favorited favoritesCount "
    f"author {{ {PROFILE} }}"
)
ARTICLE = f"{LISTED} body"


async def _world(client: httpx.AsyncClient) -> dict[str, Any]:
    """Two authors, a reader who follows one and favorites an article, comments."""
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    reader = await register(client, "reader")
    first = await create_article(client, alice, "First", tagList=["dragons", "zoo"])
    second = await create_article(client, bob, "Second", tagList=["dragons"])
    await create_article(client, alice, "Third")
    for token, body in ((alice, "one"), (bob, "two"), (reader, "three")):
        response = await client.post(
            f"/articles/{first['slug']}/comments",
            json={"comment": {"body": body}},
            headers=auth(token),
        )
        assert response.status_code == 201
    assert (await client.post("/profiles/alice/follow", headers=auth(reader))).status_code == 200
    favorite = await client.post(f"/articles/{second['slug']}/favorite", headers=auth(reader))
    assert favorite.status_code == 200
    return {"alice": alice, "bob": bob, "reader": reader, "first": first, "second": second}


@pytest.mark.parametrize("signed_in", [False, True])
async def test_articles_mirror_the_rest_list(
    client: httpx.AsyncClient, gql: Gql, signed_in: bool
) -> None:
    world = await _world(client)
    token = world["reader"] if signed_in else None
    headers = auth(token) if token else {}
    for arguments, params in (
        ("", ""),
        ('(tag: "dragons")', "?tag=dragons"),
        ('(author: "alice")', "?author=alice"),
        ('(favorited: "reader")', "?favorited=reader"),
        ("(limit: 1, offset: 1)", "?limit=1&offset=1"),
    ):
        rest = (await client.get(f"/articles{params}", headers=headers)).json()
        body = await gql(
            f"{{ articles{arguments} {{ articlesCount articles {{ {LISTED} }} }} }}", token=token
        )
        assert "errors" not in body, body
        assert body["data"]["articles"] == rest, arguments


async def test_feed_article_comments_profile_tags_and_me_mirror_rest(
    client: httpx.AsyncClient, gql: Gql
) -> None:
    world = await _world(client)
    reader, slug = world["reader"], world["first"]["slug"]
    headers = auth(reader)
    body = await gql(
        f"""query($slug: String!) {{
            feed {{ articlesCount articles {{ {LISTED} }} }}
            article(slug: $slug) {{ {ARTICLE} }}
            comments(slug: $slug) {{ {COMMENT} }}
            profile(username: "alice") {{ {PROFILE} }}
            tags
            me {{ email token username bio image roles }}
        }}""",
        {"slug": slug},
        token=reader,
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["feed"] == (await client.get("/articles/feed", headers=headers)).json()
    assert (
        data["article"]
        == (await client.get(f"/articles/{slug}", headers=headers)).json()["article"]
    )
    rest_comments = (await client.get(f"/articles/{slug}/comments", headers=headers)).json()
    assert data["comments"] == rest_comments["comments"]
    assert (
        data["profile"] == (await client.get("/profiles/alice", headers=headers)).json()["profile"]
    )
    assert data["profile"]["following"] is True
    assert data["tags"] == (await client.get("/tags")).json()["tags"]
    assert data["me"] == (await client.get("/user", headers=headers)).json()["user"]


async def test_list_bodies_and_latest_comments_per_article(
    client: httpx.AsyncClient, gql: Gql
) -> None:
    world = await _world(client)
    body = await gql(
        "{ articles { articles { slug body comments(limit: 2) { body author { username } } "
        "all: comments { body } } } }"
    )
    assert "errors" not in body, body
    by_slug = {item["slug"]: item for item in body["data"]["articles"]["articles"]}
    first = by_slug[world["first"]["slug"]]
    assert first["body"] == "# Hello"
    # The newest two, oldest first (the order of the REST list).
    assert first["comments"] == [
        {"body": "two", "author": {"username": "bob"}},
        {"body": "three", "author": {"username": "reader"}},
    ]
    assert [c["body"] for c in first["all"]] == ["one", "two", "three"]
    assert by_slug[world["second"]["slug"]]["comments"] == []


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token", "bearer"])
async def test_token_and_bearer_both_authenticate(
    client: httpx.AsyncClient, gql: Gql, scheme: str
) -> None:
    token = await register(client, "alice")
    body = await gql("{ me { username token } }", token=token, scheme=scheme)
    assert body["data"]["me"] == {"username": "alice", "token": token}


async def test_without_a_token_me_is_unauthenticated(gql: Gql) -> None:
    body = await gql("{ me { username } }")
    assert body["data"] == {"me": None}
    error = error_of(body)
    assert error["extensions"] == {"code": "UNAUTHENTICATED", "errors": {"token": ["is missing"]}}
    assert error["path"] == ["me"]


@pytest.mark.parametrize("header", ["Token not-a-jwt", "Basic abc", "Token"])
async def test_a_bad_token_reads_as_anonymous_and_cannot_write(
    client: httpx.AsyncClient, header: str
) -> None:
    url = "http://conduit.test/graphql"
    read = await client.post(url, json={"query": "{ tags }"}, headers={"Authorization": header})
    assert read.json() == {"data": {"tags": []}}
    write = await client.post(
        url,
        json={"query": 'mutation { follow(username: "x") { username } }'},
        headers={"Authorization": header},
    )
    error = error_of(write.json())
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert error["extensions"]["errors"] == {"token": ["is invalid"]}


async def test_unknown_article_and_profile_are_null_and_comments_not_found(gql: Gql) -> None:
    body = await gql('{ article(slug: "nope") { slug } profile(username: "nobody") { username } }')
    assert body == {"data": {"article": None, "profile": None}}
    body = await gql('{ comments(slug: "nope") { id } }')
    error = error_of(body)
    assert error["extensions"] == {"code": "NOT_FOUND", "errors": {"article": ["not found"]}}


async def test_feed_needs_a_user(gql: Gql) -> None:
    error = error_of(await gql("{ feed { articlesCount } }"))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("arguments", "errors"),
    [
        ("(limit: 0)", {"limit": ["must be greater than or equal to 1"]}),
        ("(limit: 101)", {"limit": ["must be less than or equal to 100"]}),
        ("(offset: -1)", {"offset": ["must be greater than or equal to 0"]}),
        (f'(tag: "{"t" * 65}")', {"tag": ["is too long (maximum is 64 characters)"]}),
    ],
)
async def test_list_arguments_are_bounded_as_in_rest(
    client: httpx.AsyncClient, gql: Gql, arguments: str, errors: dict[str, list[str]]
) -> None:
    error = error_of(await gql(f"{{ articles{arguments} {{ articlesCount }} }}"))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "errors": errors}
    params = arguments.strip("()").replace(": ", "=").replace('"', "")
    rest = await client.get(f"/articles?{params}")
    assert rest.status_code == 422
    assert rest.json() == {"errors": errors}


async def test_comments_limit_is_bounded(gql: Gql, client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    await create_article(client, token)
    error = error_of(await gql("{ articles { articles { comments(limit: 500) { id } } } }"))
    assert error["extensions"] == {
        "code": "BAD_USER_INPUT",
        "errors": {"limit": ["must be less than or equal to 100"]},
    }


async def test_queries_also_work_over_get(client: httpx.AsyncClient) -> None:
    response = await client.get("http://conduit.test/graphql", params={"query": "{ tags }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"tags": []}}


async def test_a_request_that_is_not_graphql_is_400_never_500(client: httpx.AsyncClient) -> None:
    url = "http://conduit.test/graphql"
    no_query = await client.post(url, json={"variables": {}})
    assert no_query.status_code == 400
    not_json = await client.post(
        url, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    # Writes never go over GET (a link must not change anything).
    mutation = await client.get(
        url, params={"query": 'mutation { follow(username: "x") { username } }'}
    )
    assert mutation.status_code == 405  # GraphQL over HTTP: see test_request_errors.py
    assert "mutation" in mutation.text.lower()


async def test_tags_take_the_same_limit_as_rest(client: httpx.AsyncClient, gql: Gql) -> None:
    token = await register(client, "author")
    await create_article(client, token, "One", tagList=["rare", "common"])
    await create_article(client, token, "Two", tagList=["common"])
    assert (await gql("{ tags(limit: 1) }"))["data"] == {"tags": ["common"]}
    assert (await client.get("/tags?limit=1")).json() == {"tags": ["common"]}
    for limit, message in [
        (0, "must be greater than or equal to 1"),
        (1001, "must be less than or equal to 1000"),
    ]:
        error = error_of(await gql(f"{{ tags(limit: {limit}) }}"))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "errors": {"limit": [message]}}
        assert (await client.get(f"/tags?limit={limit}")).json() == {"errors": {"limit": [message]}}
