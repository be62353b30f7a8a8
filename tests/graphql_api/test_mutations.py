"""Every REST write as a mutation: same use case, same field messages, codes for the statuses."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from conduit.settings import Settings
from tests.conftest import TEST_SECRET
from tests.graphql_api.conftest import GRAPHQL_URL, Gql, error_of
from tests.helpers import auth, create_article, register

USER = "email token username bio image roles"
ARTICLE = (
    "slug title description body tagList favorited favoritesCount author { username following }"
)

REGISTER = f"mutation($user: NewUserInput!) {{ register(user: $user) {{ {USER} }} }}"
LOGIN = f"mutation($user: LoginUserInput!) {{ login(user: $user) {{ {USER} }} }}"
UPDATE_USER = f"mutation($user: UpdateUserInput!) {{ updateUser(user: $user) {{ {USER} }} }}"
CREATE = f"mutation($a: NewArticleInput!) {{ createArticle(article: $a) {{ {ARTICLE} }} }}"
UPDATE = (
    "mutation($slug: String!, $a: UpdateArticleInput!) "
    f"{{ updateArticle(slug: $slug, article: $a) {{ {ARTICLE} }} }}"
)
DELETE = "mutation($slug: String!) { deleteArticle(slug: $slug) }"
FAVORITE = "mutation($slug: String!) { favorite(slug: $slug) { favorited favoritesCount } }"
UNFAVORITE = "mutation($slug: String!) { unfavorite(slug: $slug) { favorited favoritesCount } }"
FOLLOW = "mutation($u: String!) { follow(username: $u) { username following } }"
UNFOLLOW = "mutation($u: String!) { unfollow(username: $u) { username following } }"
ADD_COMMENT = (
    "mutation($slug: String!, $c: NewCommentInput!) "
    "{ addComment(slug: $slug, comment: $c) { id body author { username } } }"
)
DELETE_COMMENT = "mutation($slug: String!, $id: Int!) { deleteComment(slug: $slug, id: $id) }"


def _code(body: dict[str, Any]) -> tuple[str, dict[str, list[str]]]:
    extensions = error_of(body)["extensions"]
    return extensions["code"], extensions["errors"]


async def test_register_and_login_give_tokens_that_work(
    client: httpx.AsyncClient, gql: Gql
) -> None:
    new = {"username": "alice", "email": "Alice@Conduit.test", "password": "password123"}
    registered = await client.post(
        "http://conduit.test/graphql", json={"query": REGISTER, "variables": {"user": new}}
    )
    user = registered.json()["data"]["register"]
    assert user["email"] == "alice@conduit.test"
    assert user["username"] == "alice"
    assert user["roles"] == ["user"]
    assert "conduit_refresh" in registered.headers.get("set-cookie", "")
    me = await client.get("/user", headers=auth(user["token"]))
    assert me.json()["user"] == user

    body = await gql(LOGIN, {"user": {"email": "alice@conduit.test", "password": "password123"}})
    logged_in = body["data"]["login"]
    assert logged_in["username"] == "alice"
    assert (await client.get("/user", headers=auth(logged_in["token"]))).status_code == 200


def _refresh_cookie(response: httpx.Response) -> tuple[str, list[str]]:
    """The refresh cookie a response sets: its value and its attributes, in order."""
    found = [
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith("conduit_refresh=")
    ]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    pair, *attributes = (part.strip() for part in found[0].split(";"))
    return pair.removeprefix("conduit_refresh="), attributes


async def test_rest_and_graphql_sign_ins_answer_the_same_token_and_cookie(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Both render the one result of the sign-in use cases: the session's access token in
    the user, its refresh token in the same cookie (HttpOnly, Secure, SameSite=Strict,
    scoped to the refresh route, for the refresh-token lifetime)."""

    def account(name: str) -> dict[str, str]:
        return {"username": name, "email": f"{name}@conduit.test", "password": "password123"}

    def credentials(name: str) -> dict[str, str]:
        return {"email": f"{name}@conduit.test", "password": "password123"}

    answers = {
        "rest register": await client.post("/users", json={"user": account("alice")}),
        "graphql register": await client.post(
            GRAPHQL_URL, json={"query": REGISTER, "variables": {"user": account("bob")}}
        ),
        "rest login": await client.post("/users/login", json={"user": credentials("bob")}),
        "graphql login": await client.post(
            GRAPHQL_URL, json={"query": LOGIN, "variables": {"user": credentials("alice")}}
        ),
    }
    expected = [
        f"Max-Age={settings.refresh_token_ttl_seconds}",
        "Path=/api/users/refresh",
        "SameSite=strict",
        "Secure",
        "HttpOnly",
    ]
    for name, response in answers.items():
        assert response.status_code in (200, 201), (name, response.text)
        body = response.json()
        user = body["user"] if "user" in body else next(iter(body["data"].values()))
        refresh_token, attributes = _refresh_cookie(response)
        assert sorted(attributes) == sorted(expected), name
        assert jwt.decode(user["token"], TEST_SECRET, algorithms=["HS256"])["sid"], name
        # The cookie is the session's: refreshing with it keeps the access token's session.
        client.cookies.clear()
        refreshed = await client.post(
            "/users/refresh", headers={"Cookie": f"conduit_refresh={refresh_token}"}
        )
        assert refreshed.status_code == 200, (name, refreshed.text)
        assert _refresh_cookie(refreshed)[1] == attributes, name
        session = jwt.decode(refreshed.json()["user"]["token"], TEST_SECRET, algorithms=["HS256"])
        assert session["sid"] == jwt.decode(user["token"], TEST_SECRET, algorithms=["HS256"])["sid"]


async def test_register_refuses_what_rest_refuses(client: httpx.AsyncClient, gql: Gql) -> None:
    await register(client, "alice")
    taken = {"username": "alice", "email": "alice@conduit.test", "password": "password123"}
    assert _code(await gql(REGISTER, {"user": taken})) == (
        "CONFLICT",
        {"username": ["has already been taken"], "email": ["has already been taken"]},
    )
    bad = {"username": " ", "email": "not-an-email", "password": "short"}
    code, errors = _code(await gql(REGISTER, {"user": bad}))
    rest = await client.post("/users", json={"user": bad})
    assert rest.status_code == 422
    assert (code, errors) == ("BAD_USER_INPUT", rest.json()["errors"])
    assert errors["password"] == ["is too short (minimum is 8 characters)"]


async def test_login_with_a_wrong_password_is_unauthenticated(
    client: httpx.AsyncClient, gql: Gql
) -> None:
    await register(client, "alice")
    wrong = {"email": "alice@conduit.test", "password": "wrong-password"}
    rest = await client.post("/users/login", json={"user": wrong})
    assert _code(await gql(LOGIN, {"user": wrong})) == ("UNAUTHENTICATED", rest.json()["errors"])


async def test_update_user(client: httpx.AsyncClient, gql: Gql) -> None:
    token = await register(client, "alice")
    await register(client, "bob")
    body = await gql(UPDATE_USER, {"user": {"bio": "Hello", "image": None}}, token=token)
    user = body["data"]["updateUser"]
    assert (user["bio"], user["image"], user["token"]) == ("Hello", None, token)
    assert (await client.get("/user", headers=auth(token))).json()["user"]["bio"] == "Hello"
    assert _code(await gql(UPDATE_USER, {"user": {"username": "bob"}}, token=token)) == (
        "CONFLICT",
        {"username": ["has already been taken"]},
    )
    assert _code(await gql(UPDATE_USER, {"user": {"email": None}}, token=token)) == (
        "BAD_USER_INPUT",
        {"email": ["can't be blank"]},
    )
    assert _code(await gql(UPDATE_USER, {"user": {"bio": "x"}}))[0] == "UNAUTHENTICATED"


async def test_follow_and_unfollow(client: httpx.AsyncClient, gql: Gql) -> None:
    token = await register(client, "reader")
    await register(client, "alice")
    followed = await gql(FOLLOW, {"u": "alice"}, token=token)
    assert followed["data"]["follow"] == {"username": "alice", "following": True}
    profile = (await client.get("/profiles/alice", headers=auth(token))).json()["profile"]
    assert profile["following"] is True
    unfollowed = await gql(UNFOLLOW, {"u": "alice"}, token=token)
    assert unfollowed["data"]["unfollow"] == {"username": "alice", "following": False}
    assert _code(await gql(FOLLOW, {"u": "nobody"}, token=token)) == (
        "NOT_FOUND",
        {"profile": ["not found"]},
    )
    code, _ = _code(await gql(FOLLOW, {"u": "reader"}, token=token))
    rest = await client.post("/profiles/reader/follow", headers=auth(token))
    assert code == {403: "FORBIDDEN", 422: "BAD_USER_INPUT"}[rest.status_code]
    assert _code(await gql(FOLLOW, {"u": "alice"}))[0] == "UNAUTHENTICATED"


async def test_article_lifecycle(client: httpx.AsyncClient, gql: Gql) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    new = {"title": "How to", "description": "d", "body": "b", "tagList": ["b", "a", "b"]}
    created = (await gql(CREATE, {"a": new}, token=alice))["data"]["createArticle"]
    slug = created["slug"]
    assert created["tagList"] == ["a", "b"]
    rest = (await client.get(f"/articles/{slug}")).json()["article"]
    assert {key: rest[key] for key in created if key != "author"} == {
        key: created[key] for key in created if key != "author"
    }

    updated = await gql(UPDATE, {"slug": slug, "a": {"title": "New", "tagList": []}}, token=alice)
    assert updated["data"]["updateArticle"]["title"] == "New"
    assert updated["data"]["updateArticle"]["tagList"] == []
    assert _code(await gql(UPDATE, {"slug": slug, "a": {"title": "x"}}, token=bob)) == (
        "FORBIDDEN",
        {"article": ["forbidden"]},
    )
    assert _code(await gql(UPDATE, {"slug": slug, "a": {"body": None}}, token=alice)) == (
        "BAD_USER_INPUT",
        {"body": ["can't be blank"]},
    )
    assert _code(await gql(UPDATE, {"slug": "nope", "a": {"title": "x"}}, token=alice)) == (
        "NOT_FOUND",
        {"article": ["not found"]},
    )

    favorited = await gql(FAVORITE, {"slug": slug}, token=bob)
    assert favorited["data"]["favorite"] == {"favorited": True, "favoritesCount": 1}
    unfavorited = await gql(UNFAVORITE, {"slug": slug}, token=bob)
    assert unfavorited["data"]["unfavorite"] == {"favorited": False, "favoritesCount": 0}
    assert _code(await gql(FAVORITE, {"slug": "nope"}, token=bob))[0] == "NOT_FOUND"
    assert _code(await gql(UNFAVORITE, {"slug": slug}))[0] == "UNAUTHENTICATED"

    assert _code(await gql(DELETE, {"slug": slug}, token=bob))[0] == "FORBIDDEN"
    assert (await gql(DELETE, {"slug": slug}, token=alice)) == {"data": {"deleteArticle": True}}
    assert (await client.get(f"/articles/{slug}")).status_code == 404
    assert _code(await gql(DELETE, {"slug": slug}, token=alice))[0] == "NOT_FOUND"


@pytest.mark.parametrize(
    "article",
    [
        {"title": " ", "description": "d", "body": "b"},
        {"title": "t", "description": "d", "body": "b", "tagList": [" "]},
        {"title": "t" * 256, "description": "d", "body": "b"},
        {"title": "t", "description": "d", "body": "b", "tagList": [str(n) for n in range(21)]},
    ],
)
async def test_create_article_has_the_rest_field_messages(
    client: httpx.AsyncClient, gql: Gql, article: dict[str, Any]
) -> None:
    token = await register(client, "alice")
    rest = await client.post("/articles", json={"article": article}, headers=auth(token))
    assert rest.status_code == 422
    assert _code(await gql(CREATE, {"a": article}, token=token)) == (
        "BAD_USER_INPUT",
        rest.json()["errors"],
    )


async def test_create_article_needs_a_user(gql: Gql) -> None:
    new = {"title": "t", "description": "d", "body": "b"}
    assert _code(await gql(CREATE, {"a": new})) == ("UNAUTHENTICATED", {"token": ["is missing"]})


async def test_comments(client: httpx.AsyncClient, gql: Gql) -> None:
    alice = await register(client, "alice")
    bob = await register(client, "bob")
    slug = (await create_article(client, alice))["slug"]
    added = (await gql(ADD_COMMENT, {"slug": slug, "c": {"body": "Nice"}}, token=bob))["data"]
    comment = added["addComment"]
    assert comment["body"] == "Nice"
    listed = (await client.get(f"/articles/{slug}/comments")).json()["comments"]
    assert [c["id"] for c in listed] == [comment["id"]]
    assert _code(await gql(ADD_COMMENT, {"slug": slug, "c": {"body": " "}}, token=bob)) == (
        "BAD_USER_INPUT",
        {"body": ["can't be blank"]},
    )
    assert _code(await gql(ADD_COMMENT, {"slug": "nope", "c": {"body": "x"}}, token=bob))[0] == (
        "NOT_FOUND"
    )
    assert _code(await gql(ADD_COMMENT, {"slug": slug, "c": {"body": "x"}}))[0] == (
        "UNAUTHENTICATED"
    )
    variables = {"slug": slug, "id": comment["id"]}
    assert _code(await gql(DELETE_COMMENT, variables, token=alice)) == (
        "FORBIDDEN",
        {"comment": ["forbidden"]},
    )
    assert await gql(DELETE_COMMENT, variables, token=bob) == {"data": {"deleteComment": True}}
    assert _code(await gql(DELETE_COMMENT, variables, token=bob)) == (
        "NOT_FOUND",
        {"comment": ["not found"]},
    )


async def test_a_missing_required_input_field_is_a_validation_error(gql: Gql) -> None:
    body = await gql('mutation { register(user: {username: "a", email: "a@b.c"}) { token } }')
    error = error_of(body)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "password" in error["message"]
