"""Registration, login and the current user over HTTP."""

from __future__ import annotations

import httpx

from tests.helpers import auth, register


async def test_register_then_read_current_user(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    response = await client.get("/user", headers=auth(token))
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["username"] == "alice"
    assert user["email"] == "alice@conduit.test"
    assert user["bio"] is None and user["image"] is None


async def test_duplicate_username_is_409(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    response = await client.post(
        "/users",
        json={"user": {"username": "bob", "email": "other@conduit.test", "password": "password123"}},
    )
    assert response.status_code == 409
    assert response.json() == {"errors": {"username": ["has already been taken"]}}
