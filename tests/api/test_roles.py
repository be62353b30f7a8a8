"""Roles and moderation over HTTP: moderators delete others' content, bans stop writes."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import func, select

from conduit.admin.audit import USER_BANNED
from conduit.articles.audit import ARTICLE_MODERATED
from conduit.articles.models import articles
from conduit.auth import repository as sessions
from conduit.auth.models import sessions as sessions_table
from conduit.comments.audit import COMMENT_MODERATED
from conduit.comments.models import comments
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.users.models import users
from tests.api.roles_support import audit_rows, make_admin, set_account
from tests.api.support import add_comment, assert_error
from tests.helpers import auth, create_article, register

BANNED = {"user": ["is banned"]}


async def count(db: Database, table: Any, *conditions: Any) -> int:
    async with db.reader() as uow:
        query = select(func.count()).select_from(table).where(*conditions)
        return int((await uow.conn.execute(query)).scalar_one())


async def roles_of(client: httpx.AsyncClient, token: str) -> list[str]:
    response = await client.get("/user", headers=auth(token))
    assert response.status_code == 200, response.text
    roles: list[str] = response.json()["user"]["roles"]
    return roles


async def test_everyone_has_the_user_role(client: httpx.AsyncClient) -> None:
    registered = await client.post(
        "/users",
        json={"user": {"username": "ann", "email": "ann@conduit.test", "password": "pw-123456"}},
    )
    assert registered.json()["user"]["roles"] == ["user"]
    login = await client.post(
        "/users/login", json={"user": {"email": "ann@conduit.test", "password": "pw-123456"}}
    )
    assert login.json()["user"]["roles"] == ["user"]
    token = login.json()["user"]["token"]
    assert await roles_of(client, token) == ["user"]
    updated = await client.put("/user", json={"user": {"bio": "hi"}}, headers=auth(token))
    assert updated.json()["user"]["roles"] == ["user"]


async def test_a_moderator_deletes_someone_elses_article_and_comment(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    author = await register(client, "author")
    moderator = await register(client, "mod")
    granted = await set_account(client, root, "mod", roles=["moderator"])
    assert granted.status_code == 200, granted.text
    assert await roles_of(client, moderator) == ["moderator", "user"]

    slug = (await create_article(client, author, "Spam"))["slug"]
    comment = await add_comment(client, author, slug, "more spam")
    removed = await client.delete(
        f"/articles/{slug}/comments/{comment['id']}",
        headers={**auth(moderator), "User-Agent": "mod-console/1.0"},
    )
    assert removed.status_code == 204, removed.text
    assert await count(db, comments, comments.c.id == comment["id"]) == 0
    deleted = await client.delete(f"/articles/{slug}", headers=auth(moderator))
    assert deleted.status_code == 204, deleted.text
    assert await count(db, articles, articles.c.slug == slug) == 0
    assert (await client.get(f"/articles/{slug}")).status_code == 404

    author_id = await _user_id(db, "author")
    moderator_id = await _user_id(db, "mod")
    [on_comment] = await audit_rows(db, COMMENT_MODERATED)
    assert (on_comment.actor_id, on_comment.subject_id) == (moderator_id, author_id)
    assert on_comment.user_agent == "mod-console/1.0"
    assert json.loads(on_comment.details) == {
        "slug": slug,
        "commentId": comment["id"],
        "authorId": author_id,
    }
    [on_article] = await audit_rows(db, ARTICLE_MODERATED)
    assert (on_article.actor_id, on_article.subject_id) == (moderator_id, author_id)
    assert json.loads(on_article.details)["slug"] == slug
    assert json.loads(on_article.details)["authorId"] == author_id


async def test_an_admin_moderates_too_and_an_author_deleting_their_own_is_not_audited(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    author = await register(client, "author")
    mine = (await create_article(client, author, "Mine"))["slug"]
    theirs = (await create_article(client, author, "Theirs"))["slug"]
    assert (await client.delete(f"/articles/{mine}", headers=auth(author))).status_code == 204
    assert await audit_rows(db, ARTICLE_MODERATED) == []
    assert (await client.delete(f"/articles/{theirs}", headers=auth(root))).status_code == 204
    assert len(await audit_rows(db, ARTICLE_MODERATED)) == 1


async def test_a_plain_user_still_gets_403_and_a_moderator_may_not_edit(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    author = await register(client, "author")
    other = await register(client, "other")
    moderator = await register(client, "mod")
    await set_account(client, root, "mod", roles=["moderator"])
    slug = (await create_article(client, author))["slug"]
    comment = await add_comment(client, author, slug)

    assert_error(
        await client.delete(f"/articles/{slug}", headers=auth(other)),
        403,
        {"article": ["forbidden"]},
    )
    assert_error(
        await client.delete(f"/articles/{slug}/comments/{comment['id']}", headers=auth(other)),
        403,
        {"comment": ["forbidden"]},
    )
    assert_error(
        await client.put(
            f"/articles/{slug}", json={"article": {"title": "Rewritten"}}, headers=auth(moderator)
        ),
        403,
        {"article": ["forbidden"]},
    )
    assert (await client.get(f"/articles/{slug}")).json()["article"]["title"] == "A title"
    assert await count(db, comments) == 1
    assert await audit_rows(db, ARTICLE_MODERATED) == []


async def test_granted_and_revoked_roles_hold_from_the_next_request(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    author = await register(client, "author")
    helper = await register(client, "helper")
    first = (await create_article(client, author, "First"))["slug"]
    second = (await create_article(client, author, "Second"))["slug"]
    assert (await client.delete(f"/articles/{first}", headers=auth(helper))).status_code == 403

    # The same token: its roles come from the access rules, not from the token.
    assert (await set_account(client, root, "helper", roles=["moderator"])).status_code == 200
    assert (await client.delete(f"/articles/{first}", headers=auth(helper))).status_code == 204

    revoked = await set_account(client, root, "helper", roles=[])
    assert revoked.json()["user"]["roles"] == ["user"]
    assert await roles_of(client, helper) == ["user"]
    assert (await client.delete(f"/articles/{second}", headers=auth(helper))).status_code == 403


async def _user_id(db: Database, username: str) -> int:
    async with db.reader() as uow:
        query = select(users.c.id).where(users.c.username == username)
        return int((await uow.conn.execute(query)).scalar_one())


async def _write_statuses(
    client: httpx.AsyncClient, token: str, *, slug: str, comment_id: int
) -> dict[str, httpx.Response]:
    """Every write route, as the user of ``token`` (acting on their own content)."""
    headers = auth(token)
    return {
        "create article": await client.post(
            "/articles",
            json={"article": {"title": "New", "description": "d", "body": "b"}},
            headers=headers,
        ),
        "update article": await client.put(
            f"/articles/{slug}", json={"article": {"body": "changed"}}, headers=headers
        ),
        "add comment": await client.post(
            f"/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=headers
        ),
        "delete comment": await client.delete(
            f"/articles/{slug}/comments/{comment_id}", headers=headers
        ),
        "favorite": await client.post(f"/articles/{slug}/favorite", headers=headers),
        "unfavorite": await client.delete(f"/articles/{slug}/favorite", headers=headers),
        "follow": await client.post("/profiles/root/follow", headers=headers),
        "unfollow": await client.delete("/profiles/root/follow", headers=headers),
        "update user": await client.put(
            "/user", json={"user": {"bio": "changed"}}, headers=headers
        ),
        "mark read": await client.post("/notifications/read", json={"ids": [1]}, headers=headers),
        "mark all read": await client.post(
            "/notifications/read", json={"all": True}, headers=headers
        ),
        "delete article": await client.delete(f"/articles/{slug}", headers=headers),
    }


async def test_a_ban_stops_every_write_but_not_reading_and_an_unban_restores_them_to_a_new_login(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    token = await register(client, "troll")
    slug = (await create_article(client, token, "Troll post"))["slug"]
    comment = await add_comment(client, token, slug)

    banned = await set_account(client, root, "troll", banned=True)
    assert banned.status_code == 200, banned.text
    assert banned.json()["user"]["banned"] is True

    for route, response in (
        await _write_statuses(client, token, slug=slug, comment_id=comment["id"])
    ).items():
        assert response.status_code == 403, (route, response.text)
        assert_error(response, 403, BANNED)
    # Nothing was written.
    assert await count(db, articles) == 1
    assert await count(db, comments) == 1
    # Reads still work, with the same token.
    assert (await client.get("/user", headers=auth(token))).status_code == 200
    assert (await client.get(f"/articles/{slug}", headers=auth(token))).status_code == 200
    assert (await client.get("/articles", headers=auth(token))).status_code == 200
    assert (await client.get("/articles/feed", headers=auth(token))).status_code == 200
    assert (await client.get(f"/articles/{slug}/comments", headers=auth(token))).status_code == 200
    assert (await client.get("/profiles/root", headers=auth(token))).status_code == 200
    assert (await client.get("/notifications", headers=auth(token))).status_code == 200

    lifted = await set_account(client, root, "troll", banned=False)
    assert lifted.json()["user"]["banned"] is False
    # The tokens issued before the ban stay cut off for good: the unban does not revive them.
    for response in (
        await client.get("/user", headers=auth(token)),
        await client.put("/user", json={"user": {"bio": "back"}}, headers=auth(token)),
    ):
        assert_error(response, 401, {"token": ["has been revoked"]})
    login = await client.post(
        "/users/login",
        json={"user": {"email": "troll@conduit.test", "password": "password123"}},
    )
    assert login.status_code == 200, login.text
    token = login.json()["user"]["token"]
    statuses = await _write_statuses(client, token, slug=slug, comment_id=comment["id"])
    assert {route: r.status_code for route, r in statuses.items()} == {
        "create article": 201,
        "update article": 200,
        "add comment": 201,
        "delete comment": 204,
        "favorite": 200,
        "unfavorite": 200,
        "follow": 200,
        "unfollow": 200,
        "update user": 200,
        "mark read": 200,
        "mark all read": 200,
        "delete article": 204,
    }


async def test_a_ban_revokes_the_users_sessions(
    client: httpx.AsyncClient, db: Database, tokens: TokenCodec
) -> None:
    root = await make_admin(client, db)
    await register(client, "troll")
    await register(client, "bystander")
    troll_id = await _user_id(db, "troll")
    bystander_id = await _user_id(db, "bystander")
    async with db.uow() as uow:
        started = [
            await sessions.start(uow.conn, user_id=user_id, ttl_seconds=3600)
            for user_id in (troll_id, troll_id, bystander_id)
        ]
        await uow.commit()

    assert (await set_account(client, root, "troll", banned=True)).status_code == 200
    async with db.reader() as uow:
        rows = {
            row.id: row
            for row in await uow.conn.execute(
                select(
                    sessions_table.c.id,
                    sessions_table.c.revoked_at,
                    sessions_table.c.revoked_reason,
                )
            )
        }
    for issued in started[:2]:
        assert rows[issued.session_id].revoked_at is not None
        assert rows[issued.session_id].revoked_reason == "ban"
    assert rows[started[2].session_id].revoked_at is None
    [record] = await audit_rows(db, USER_BANNED)
    assert record.subject_id == troll_id
    assert json.loads(record.details)["sessionsRevoked"] == 3  # the registration's and 2 more
    # A token of a session the ban revoked still reads (the ban answers writes with 403).
    session_token = tokens.issue(troll_id, session_id=started[0].session_id)
    assert (await client.get("/user", headers=auth(session_token))).status_code == 200
    response = await client.put("/user", json={"user": {"bio": "x"}}, headers=auth(session_token))
    assert_error(response, 403, BANNED)
