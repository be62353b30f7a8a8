"""Small helpers the API tests share: register a user, write an article."""

from __future__ import annotations

from typing import Any

import httpx


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


async def register(client: httpx.AsyncClient, name: str, password: str = "password123") -> str:
    """Register ``name`` (email name@conduit.test) and return the token."""
    response = await client.post(
        "/users",
        json={"user": {"username": name, "email": f"{name}@conduit.test", "password": password}},
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["user"]["token"]
    return token


async def create_article(
    client: httpx.AsyncClient, token: str, title: str = "A title", **fields: Any
) -> dict[str, Any]:
    article = {"title": title, "description": "about it", "body": "# Hello", **fields}
    response = await client.post("/articles", json={"article": article}, headers=auth(token))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["article"]
    return created
