"""OWASP API Security Top 10 (2023), API3 Broken Object Property Level Authorization: mass
assignment through every write body.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

import httpx

from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.core.validation import RequestModel
from tests.api.support import USER_KEYS, add_comment, assert_error
from tests.helpers import auth, create_article, register
from tests.security.owasp_support import (
    LONG_AGO,
    get_json,
    roles_of,
    user_row,
)

USER_EXTRAS = {
    "roles": ["admin", "moderator"],
    "role": "admin",
    "admin": True,
    "banned": True,
    "token": "forged.token.value",
    "createdAt": LONG_AGO,
    "passwordHash": "$argon2id$v=19$m=65536,t=3,p=4$forged",
}


class TestAPI3BrokenObjectPropertyLevelAuthorization:
    """API3:2023 Broken Object Property Level Authorization.

    "This category combines API3:2019 Excessive Data Exposure and API6:2019 - Mass
    Assignment, focusing on the root cause: the lack of or improper authorization
    validation at the object property level."

    Request bodies ignore unknown keys (``RequestModel``: documented in core/validation.py):
    each test sends the extra properties, expects the write to succeed, and reads the
    resource back to check that none of them took effect.
    """

    def test_request_bodies_ignore_unknown_keys(self) -> None:
        """The policy the tests below rely on: unknown keys are dropped, never stored."""
        assert RequestModel.model_config.get("extra") == "ignore"

    async def test_register_ignores_privileged_properties(
        self, client: httpx.AsyncClient, db: Database, tokens: TokenCodec
    ) -> None:
        await register(client, "alice")
        alice_before = await user_row(db, "alice")
        body = {
            "user": {
                "username": "mallory",
                "email": "mallory@conduit.test",
                "password": "password123",
                "id": alice_before["id"],
                **USER_EXTRAS,
            },
            **USER_EXTRAS,
        }

        response = await client.post("/users", json=body)

        assert response.status_code == 201, response.text
        user = response.json()["user"]
        assert set(user) == USER_KEYS
        mallory = await user_row(db, "mallory")
        assert mallory["id"] != alice_before["id"]
        assert tokens.user_id(user["token"]) == mallory["id"]
        assert mallory["banned_at"] is None
        assert mallory["created_at"].year != 2000
        assert mallory["password_hash"] != USER_EXTRAS["passwordHash"]
        assert await roles_of(db, mallory["id"]) == []
        assert await user_row(db, "alice") == alice_before
        assert (await client.get("/user", headers=auth(user["token"]))).json()["user"][
            "username"
        ] == "mallory"

    async def test_update_user_ignores_privileged_properties(
        self, client: httpx.AsyncClient, db: Database, tokens: TokenCodec
    ) -> None:
        await register(client, "alice")
        mallory = await register(client, "mallory")
        alice_before = await user_row(db, "alice")
        mallory_before = await user_row(db, "mallory")

        response = await client.put(
            "/user",
            json={"user": {"bio": "changed", "id": alice_before["id"], **USER_EXTRAS}},
            headers=auth(mallory),
        )

        assert response.status_code == 200, response.text
        user = response.json()["user"]
        assert set(user) == USER_KEYS
        assert user["bio"] == "changed"
        assert tokens.user_id(user["token"]) == mallory_before["id"]
        after = await user_row(db, "mallory")
        unchanged = ("id", "username", "email", "password_hash", "created_at", "banned_at")
        assert {k: after[k] for k in unchanged} == {k: mallory_before[k] for k in unchanged}
        assert await roles_of(db, mallory_before["id"]) == []
        assert await user_row(db, "alice") == alice_before

    async def test_create_article_ignores_server_owned_properties(
        self, client: httpx.AsyncClient
    ) -> None:
        await register(client, "alice")
        mallory = await register(client, "mallory")
        forged = {
            "slug": "chosen-slug",
            "author": {"username": "alice", "bio": None, "image": None, "following": True},
            "favoritesCount": 1000,
            "favorited": True,
            "createdAt": LONG_AGO,
            "updatedAt": LONG_AGO,
            "id": 1,
        }

        article = await create_article(client, mallory, "A fine title", **forged)

        assert article["slug"] != "chosen-slug"
        assert article["slug"].startswith("a-fine-title")
        read_back = await get_json(client, f"/articles/{article['slug']}")
        for seen in (article, read_back["article"]):
            assert seen["author"]["username"] == "mallory"
            assert (seen["favoritesCount"], seen["favorited"]) == (0, False)
            assert seen["createdAt"] != LONG_AGO
            assert seen["updatedAt"] != LONG_AGO
            assert "id" not in seen
        assert_error(await client.get("/articles/chosen-slug"), 404)
        assert (await get_json(client, "/articles?author=alice"))["articlesCount"] == 0

    async def test_update_article_ignores_server_owned_properties(
        self, client: httpx.AsyncClient
    ) -> None:
        await register(client, "alice")
        mallory = await register(client, "mallory")
        before = (await create_article(client, mallory, "Original"))["slug"]
        original = (await get_json(client, f"/articles/{before}"))["article"]
        forged = {
            "body": "new body",
            "slug": "hijacked",
            "author": {"username": "alice"},
            "favoritesCount": 1000,
            "favorited": True,
            "createdAt": LONG_AGO,
            "updatedAt": LONG_AGO,
            "id": 1,
        }

        response = await client.put(
            f"/articles/{before}", json={"article": forged}, headers=auth(mallory)
        )

        assert response.status_code == 200, response.text
        after = (await get_json(client, f"/articles/{before}"))["article"]
        assert after["body"] == "new body"
        assert after["slug"] == original["slug"]
        assert after["author"] == original["author"]
        assert (after["favoritesCount"], after["favorited"]) == (0, False)
        assert after["createdAt"] == original["createdAt"]
        assert after["updatedAt"] != LONG_AGO
        assert_error(await client.get("/articles/hijacked"), 404)

    async def test_comment_ignores_server_owned_properties(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice")
        mallory = await register(client, "mallory")
        slug = (await create_article(client, alice, "Mine"))["slug"]
        existing = await add_comment(client, alice, slug, "alice's own")

        response = await client.post(
            f"/articles/{slug}/comments",
            json={
                "comment": {
                    "body": "mallory's",
                    "id": existing["id"],
                    "author": {"username": "alice"},
                    "createdAt": LONG_AGO,
                    "updatedAt": LONG_AGO,
                }
            },
            headers=auth(mallory),
        )

        assert response.status_code == 201, response.text
        comments = (await get_json(client, f"/articles/{slug}/comments"))["comments"]
        by_id = {comment["id"]: comment for comment in comments}
        assert len(by_id) == 2
        assert by_id[existing["id"]] == existing
        new = by_id[response.json()["comment"]["id"]]
        assert new["author"]["username"] == "mallory"
        assert new["body"] == "mallory's"
        assert LONG_AGO not in (new["createdAt"], new["updatedAt"])
