"""OWASP API Security Top 10 (2023), API1 Broken Object Level Authorization: articles, comments,
notifications of others; another user's session (a logout never ends it, a refresh cookie only
ever yields a token of its own user).

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

import httpx
from sqlalchemy import select

from conduit.auth.models import sessions
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.notifications.handlers import consumer as notifications_consumer
from tests.api.support import add_comment, assert_error
from tests.helpers import auth, create_article, register
from tests.outbox_delivery import deliver_outbox
from tests.security.owasp_support import (
    claims,
    get_json,
    logout,
    notifications_of,
    refresh,
    session_of,
    sign_up,
    signed,
    status_of,
    user_id_of,
)


class TestAPI1BrokenObjectLevelAuthorization:
    """API1:2023 Broken Object Level Authorization.

    "APIs tend to expose endpoints that handle object identifiers, creating a wide attack
    surface of Object Level Access Control issues. Object level authorization checks should
    be considered in every function that accesses a data source using an ID from the user."
    """

    async def test_cannot_update_another_users_article(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice")
        mallory = await register(client, "mallory")
        slug = (await create_article(client, alice, "Mine", tagList=["a"]))["slug"]
        before = await get_json(client, f"/articles/{slug}")

        change = {"title": "Pwned", "body": "pwned", "description": "pwned", "tagList": []}
        response = await client.put(
            f"/articles/{slug}", json={"article": change}, headers=auth(mallory)
        )

        assert_error(response, 403, {"article": ["forbidden"]})
        assert await get_json(client, f"/articles/{slug}") == before

    async def test_cannot_delete_another_users_article(self, client: httpx.AsyncClient) -> None:
        alice = await register(client, "alice")
        mallory = await register(client, "mallory")
        slug = (await create_article(client, alice, "Mine"))["slug"]
        await add_comment(client, alice, slug, "first")
        before = await get_json(client, f"/articles/{slug}")
        comments_before = await get_json(client, f"/articles/{slug}/comments")

        response = await client.delete(f"/articles/{slug}", headers=auth(mallory))

        assert_error(response, 403, {"article": ["forbidden"]})
        assert await get_json(client, f"/articles/{slug}") == before
        assert await get_json(client, f"/articles/{slug}/comments") == comments_before

    async def test_cannot_delete_another_users_comment(self, client: httpx.AsyncClient) -> None:
        """Not even on one's own article: the article's author is not the comment's."""
        alice = await register(client, "alice")
        bob = await register(client, "bob")
        mallory = await register(client, "mallory")
        slug = (await create_article(client, alice, "Mine"))["slug"]
        comment = await add_comment(client, bob, slug, "bob was here")
        before = await get_json(client, f"/articles/{slug}/comments")

        for intruder in (mallory, alice):
            response = await client.delete(
                f"/articles/{slug}/comments/{comment['id']}", headers=auth(intruder)
            )
            assert_error(response, 403, {"comment": ["forbidden"]})
        assert await get_json(client, f"/articles/{slug}/comments") == before

    async def test_a_comment_id_is_only_reachable_through_its_own_article(
        self, client: httpx.AsyncClient
    ) -> None:
        """Mallory's own article in the URL does not give her Bob's comment elsewhere."""
        alice = await register(client, "alice")
        bob = await register(client, "bob")
        mallory = await register(client, "mallory")
        slug = (await create_article(client, alice, "Alice's"))["slug"]
        decoy = (await create_article(client, mallory, "Mallory's"))["slug"]
        comment = await add_comment(client, bob, slug, "bob was here")
        before = await get_json(client, f"/articles/{slug}/comments")

        response = await client.delete(
            f"/articles/{decoy}/comments/{comment['id']}", headers=auth(mallory)
        )

        assert_error(response, 404, {"comment": ["not found"]})
        assert await get_json(client, f"/articles/{slug}/comments") == before

    async def test_cannot_mark_another_users_notifications_read(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """Ids that are not the caller's are ignored (documented): theirs stay unread."""
        alice = await register(client, "alice")
        bob = await register(client, "bob")
        mallory = await register(client, "mallory")
        await client.post("/profiles/alice/follow", headers=auth(bob))
        await client.post("/profiles/mallory/follow", headers=auth(bob))
        await deliver_outbox(db, notifications_consumer)
        alices = await notifications_of(client, alice)
        mallorys = await notifications_of(client, mallory)
        assert len(alices) == len(mallorys) == 1
        assert not alices[0]["read"]

        response = await client.post(
            "/notifications/read",
            json={"ids": [mallorys[0]["id"], *(item["id"] for item in alices)]},
            headers=auth(mallory),
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"unreadCount": 0}
        response = await client.post(
            "/notifications/read", json={"all": True}, headers=auth(mallory)
        )
        assert response.status_code == 200, response.text

        assert [item["read"] for item in await notifications_of(client, mallory)] == [True]
        assert await notifications_of(client, alice) == alices

    async def test_cannot_read_another_users_notifications(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """The list is the caller's own; no parameter names another recipient."""
        alice = await register(client, "alice")
        bob = await register(client, "bob")
        mallory = await register(client, "mallory")
        await client.post("/profiles/alice/follow", headers=auth(bob))
        await deliver_outbox(db, notifications_consumer)
        assert len(await notifications_of(client, alice)) == 1
        alice_id = await user_id_of(db, "alice")

        for query in ("", f"?user=alice&userId={alice_id}&recipient_id={alice_id}&all=true"):
            body = await get_json(client, f"/notifications{query}", mallory)
            assert body == {"notifications": [], "notificationsCount": 0, "unreadCount": 0}
        assert_error(await client.get("/notifications"), 401)

    async def test_logging_out_cannot_revoke_another_users_session(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """Mallory signs out with Alice's refresh cookie next to her own token.

        The session ended is always the caller's: the access token's, or for a token that
        names none (issued before sessions existed) the cookie's only if it is the caller's.
        """
        alice, alice_cookie = await sign_up(client, "alice")
        mallory, _ = await sign_up(client, "mallory")
        sessionless = signed(claims(await user_id_of(db, "mallory")))
        assert await status_of(client, sessionless) == 200

        for token, everywhere in ((sessionless, False), (mallory, False), (sessionless, True)):
            response = await logout(client, token, alice_cookie, everywhere=everywhere)
            assert response.status_code == 204, response.text

        assert await status_of(client, mallory) == 401  # her own logout did take effect
        assert await status_of(client, sessionless) == 401
        assert await status_of(client, alice) == 200
        async with db.engine.connect() as conn:
            alices = await conn.scalar(
                select(sessions.c.revoked_at).where(sessions.c.id == session_of(alice))
            )
        assert alices is None
        renewed = await refresh(client, alice_cookie)
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["user"]["username"] == "alice"

    async def test_a_refresh_cookie_only_yields_a_token_of_its_own_user(
        self, client: httpx.AsyncClient, db: Database, tokens: TokenCodec
    ) -> None:
        """Whatever else the request carries (here the other user's access token)."""
        alice, alice_cookie = await sign_up(client, "alice")
        bob, bob_cookie = await sign_up(client, "bob")

        for owner, own_token, cookie, other in (
            ("alice", alice, alice_cookie, bob),
            ("bob", bob, bob_cookie, alice),
        ):
            response = await refresh(client, cookie, auth(other))
            assert response.status_code == 200, response.text
            user = response.json()["user"]
            assert (user["username"], user["email"]) == (owner, f"{owner}@conduit.test")
            assert tokens.user_id(user["token"]) == await user_id_of(db, owner)
            assert session_of(user["token"]) == session_of(own_token)
            assert (await get_json(client, "/user", user["token"]))["user"]["username"] == owner
