"""Helpers the API tests share on top of tests/helpers.py: error checks, users, comments."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.helpers import auth

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
PROFILE_KEYS = {"username", "bio", "image", "following"}
# ``roles`` is a Conduit extension (sorted: "user" and the granted ones).
USER_KEYS = {"email", "token", "username", "bio", "image", "roles"}
LIST_ITEM_KEYS = {
    "slug",
    "title",
    "description",
    "tagList",
    "createdAt",
    "updatedAt",
    "favorited",
    "favoritesCount",
    "author",
}
ARTICLE_KEYS = LIST_ITEM_KEYS | {"body"}
COMMENT_KEYS = {"id", "createdAt", "updatedAt", "body", "author"}


def error_body(response: httpx.Response) -> dict[str, list[str]]:
    """The ``errors`` object of a RealWorld error reply, after checking its format.

    ``{"errors": {"<field>": ["<message>", ...]}}``: every key a non-empty string, every
    value a non-empty list of non-empty strings, JSON content type.
    """
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"errors"}, body
    errors = body["errors"]
    assert isinstance(errors, dict), body
    assert errors, body
    for field, messages in errors.items():
        assert isinstance(field, str), body
        assert field, body
        assert isinstance(messages, list), body
        assert messages, body
        assert all(isinstance(message, str) and message for message in messages), body
    return errors


def assert_error(
    response: httpx.Response, status: int, expected: dict[str, list[str]] | None = None
) -> dict[str, list[str]]:
    """The reply has ``status`` and the error format (and exactly ``expected``, if given)."""
    assert response.status_code == status, (response.status_code, response.text)
    errors = error_body(response)
    if expected is not None:
        assert errors == expected
    return errors


def assert_client_error(response: httpx.Response) -> dict[str, list[str]]:
    """Bad input: a 4xx in the error format, never a server error."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    return error_body(response)


def assert_profile(profile: dict[str, Any], username: str, *, following: bool = False) -> None:
    assert set(profile) == PROFILE_KEYS
    assert profile["username"] == username
    assert profile["following"] is following


def assert_article_shape(article: dict[str, Any], *, with_body: bool = True) -> None:
    assert set(article) == (ARTICLE_KEYS if with_body else LIST_ITEM_KEYS), sorted(article)
    assert isinstance(article["slug"], str)
    assert article["slug"]
    assert isinstance(article["tagList"], list)
    assert all(isinstance(tag, str) for tag in article["tagList"])
    assert ISO_MS.match(article["createdAt"]), article["createdAt"]
    assert ISO_MS.match(article["updatedAt"]), article["updatedAt"]
    assert isinstance(article["favorited"], bool)
    assert isinstance(article["favoritesCount"], int)
    assert set(article["author"]) == PROFILE_KEYS


async def register_user(
    client: httpx.AsyncClient, name: str, password: str = "password123", email: str | None = None
) -> dict[str, Any]:
    """Register ``name`` and return the whole ``user`` object of the reply."""
    response = await client.post(
        "/users",
        json={
            "user": {
                "username": name,
                "email": email or f"{name}@conduit.test",
                "password": password,
            }
        },
    )
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()["user"]
    return user


async def add_comment(
    client: httpx.AsyncClient, token: str, slug: str, body: str = "Nice one"
) -> dict[str, Any]:
    response = await client.post(
        f"/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    comment: dict[str, Any] = response.json()["comment"]
    return comment


async def follow(client: httpx.AsyncClient, token: str, username: str) -> None:
    response = await client.post(f"/profiles/{username}/follow", headers=auth(token))
    assert response.status_code == 200, response.text


async def favorite(client: httpx.AsyncClient, token: str, slug: str) -> dict[str, Any]:
    response = await client.post(f"/articles/{slug}/favorite", headers=auth(token))
    assert response.status_code == 200, response.text
    article: dict[str, Any] = response.json()["article"]
    return article
