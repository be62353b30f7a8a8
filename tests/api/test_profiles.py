"""Profiles, follow and unfollow over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.api.support import assert_error, assert_profile, register_user
from tests.helpers import auth, register


async def test_get_profile_anonymously(client: httpx.AsyncClient) -> None:
    await register(client, "celeb")
    response = await client.get("/profiles/celeb")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"profile"}
    assert_profile(body["profile"], "celeb", following=False)
    assert body["profile"]["bio"] is None
    assert body["profile"]["image"] is None


async def test_profile_shows_bio_and_image(client: httpx.AsyncClient) -> None:
    token = await register(client, "celeb")
    await client.put(
        "/user",
        json={"user": {"bio": "I sing", "image": "https://img.example/c.png"}},
        headers=auth(token),
    )
    profile = (await client.get("/profiles/celeb")).json()["profile"]
    assert profile["bio"] == "I sing"
    assert profile["image"] == "https://img.example/c.png"


async def test_follow_then_unfollow(client: httpx.AsyncClient) -> None:
    token = await register(client, "fan")
    await register(client, "celeb")

    before = await client.get("/profiles/celeb", headers=auth(token))
    assert_profile(before.json()["profile"], "celeb", following=False)

    followed = await client.post("/profiles/celeb/follow", headers=auth(token))
    assert followed.status_code == 200
    assert_profile(followed.json()["profile"], "celeb", following=True)
    seen = await client.get("/profiles/celeb", headers=auth(token))
    assert seen.json()["profile"]["following"] is True
    # Anonymous readers and the followee themselves see no follow.
    assert (await client.get("/profiles/celeb")).json()["profile"]["following"] is False

    unfollowed = await client.delete("/profiles/celeb/follow", headers=auth(token))
    assert unfollowed.status_code == 200
    assert_profile(unfollowed.json()["profile"], "celeb", following=False)
    after = await client.get("/profiles/celeb", headers=auth(token))
    assert after.json()["profile"]["following"] is False


async def test_follow_and_unfollow_are_idempotent(client: httpx.AsyncClient) -> None:
    token = await register(client, "fan")
    await register(client, "celeb")
    for _ in range(2):
        response = await client.post("/profiles/celeb/follow", headers=auth(token))
        assert response.status_code == 200
        assert response.json()["profile"]["following"] is True
    for _ in range(2):
        response = await client.delete("/profiles/celeb/follow", headers=auth(token))
        assert response.status_code == 200
        assert response.json()["profile"]["following"] is False


async def test_following_is_per_reader(client: httpx.AsyncClient) -> None:
    fan = await register(client, "fan")
    other = await register(client, "other")
    await register(client, "celeb")
    await client.post("/profiles/celeb/follow", headers=auth(fan))
    mine = await client.get("/profiles/celeb", headers=auth(fan))
    theirs = await client.get("/profiles/celeb", headers=auth(other))
    assert mine.json()["profile"]["following"] is True
    assert theirs.json()["profile"]["following"] is False


async def test_cannot_follow_yourself(client: httpx.AsyncClient) -> None:
    token = await register(client, "narcissus")
    response = await client.post("/profiles/narcissus/follow", headers=auth(token))
    assert_error(response, 422, {"profile": ["can't follow yourself"]})


async def test_unknown_profile_is_404(client: httpx.AsyncClient) -> None:
    token = await register(client, "fan")
    assert_error(await client.get("/profiles/nobody"), 404, {"profile": ["not found"]})
    authed = await client.get("/profiles/nobody", headers=auth(token))
    assert_error(authed, 404, {"profile": ["not found"]})
    for method in ("POST", "DELETE"):
        response = await client.request(method, "/profiles/nobody/follow", headers=auth(token))
        assert_error(response, 404, {"profile": ["not found"]})


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_follow_without_token_is_401_even_for_unknown_users(
    client: httpx.AsyncClient, method: str
) -> None:
    await register(client, "celeb")
    for name in ("celeb", "nobody"):
        response = await client.request(method, f"/profiles/{name}/follow")
        assert_error(response, 401, {"token": ["is missing"]})


async def test_profile_names_are_case_sensitive(client: httpx.AsyncClient) -> None:
    await register(client, "Celeb")
    assert (await client.get("/profiles/Celeb")).status_code == 200
    assert_error(await client.get("/profiles/celeb"), 404, {"profile": ["not found"]})


async def test_unicode_username_round_trips(client: httpx.AsyncClient) -> None:
    name = "jürgen_日本_🚀"
    user = await register_user(client, name, email="jurgen@conduit.test")
    assert user["username"] == name
    response = await client.get(f"/profiles/{name}")
    assert response.status_code == 200
    assert response.json()["profile"]["username"] == name
    fan = await register(client, "fan")
    followed = await client.post(f"/profiles/{name}/follow", headers=auth(fan))
    assert followed.json()["profile"]["following"] is True
