"""OWASP API Security Top 10 (2023), API5 Broken Function Level Authorization: every admin route
(from the OpenAPI document) for admins only, a banned admin loses them; moderators delete but do
not edit others' articles; banned users cannot write.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from conduit.core.db import Database
from tests.api.roles_support import make_admin, set_account
from tests.api.support import add_comment, assert_error
from tests.helpers import auth, create_article, register
from tests.security.owasp_support import (
    OPENAPI_METHODS,
    get_json,
    roles_of,
    user_row,
)

# A request that does something on each admin route (path parameters are filled with the
# target user). A route added under /api/admin fails the test below until it is listed.
ADMIN_REQUESTS: dict[tuple[str, str], dict[str, Any] | None] = {
    ("PUT", "/api/admin/users/{username}"): {"user": {"roles": ["moderator"], "banned": True}},
    ("GET", "/api/admin/audit"): None,
}
BANNED = {"user": ["is banned"]}


async def admin_call(
    client: httpx.AsyncClient, route: tuple[str, str], token: str | None
) -> httpx.Response:
    method, path = route
    url = path.removeprefix("/api").replace("{username}", "target")
    assert "{" not in url, url
    return await client.request(
        method, url, json=ADMIN_REQUESTS[route], headers=auth(token) if token else None
    )


class TestAPI5BrokenFunctionLevelAuthorization:
    """API5:2023 Broken Function Level Authorization.

    "Complex access control policies with different hierarchies, groups, and roles, and an
    unclear separation between administrative and regular functions, tend to lead to
    authorization flaws. By exploiting these issues, attackers can gain access to other
    users' resources and/or administrative functions."
    """

    async def test_every_admin_route_is_for_admins_only(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        spec = await get_json(client, "/openapi.json")
        routes = {
            (method.upper(), path)
            for path, item in spec["paths"].items()
            if path.startswith("/api/admin")
            for method in item
            if method in OPENAPI_METHODS
        }
        assert routes == set(ADMIN_REQUESTS)
        root = await make_admin(client, db)
        plain = await register(client, "plain")
        moderator = await register(client, "mod")
        await register(client, "target")
        assert (await set_account(client, root, "mod", roles=["moderator"])).status_code == 200
        target_before = await user_row(db, "target")
        target_id = target_before["id"]

        for route in sorted(routes):
            assert_error(await admin_call(client, route, None), 401)
            for token in (plain, moderator):
                assert_error(await admin_call(client, route, token), 403, {"user": ["forbidden"]})
        assert await user_row(db, "target") == target_before
        assert await roles_of(db, target_id) == []

        for route in sorted(routes):
            response = await admin_call(client, route, root)
            assert response.status_code == 200, (route, response.text)
        assert (await user_row(db, "target"))["banned_at"] is not None
        assert await roles_of(db, target_id) == ["moderator"]

    async def test_a_banned_admin_loses_the_admin_routes(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        root = await make_admin(client, db)
        other = await make_admin(client, db, "other")
        await register(client, "target")
        assert (await set_account(client, root, "other", banned=True)).status_code == 200

        for route in sorted(ADMIN_REQUESTS):
            assert_error(await admin_call(client, route, other), 403, BANNED)
        assert (await user_row(db, "target"))["banned_at"] is None

    async def test_a_moderator_deletes_but_does_not_edit_someone_elses_article(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        root = await make_admin(client, db)
        author = await register(client, "author")
        plain = await register(client, "plain")
        moderator = await register(client, "mod")
        assert (await set_account(client, root, "mod", roles=["moderator"])).status_code == 200
        slug = (await create_article(client, author, "Original"))["slug"]
        before = await get_json(client, f"/articles/{slug}")

        change = {"title": "Rewritten", "body": "rewritten", "description": "rewritten"}
        edit = await client.put(
            f"/articles/{slug}", json={"article": change}, headers=auth(moderator)
        )
        assert_error(edit, 403, {"article": ["forbidden"]})
        assert_error(
            await client.delete(f"/articles/{slug}", headers=auth(plain)),
            403,
            {"article": ["forbidden"]},
        )
        assert await get_json(client, f"/articles/{slug}") == before

        deleted = await client.delete(f"/articles/{slug}", headers=auth(moderator))
        assert deleted.status_code == 204, deleted.text
        assert_error(await client.get(f"/articles/{slug}"), 404)

    async def test_a_banned_user_gets_403_on_writes_and_still_reads(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        root = await make_admin(client, db)
        troll = await register(client, "troll")
        slug = (await create_article(client, troll, "Mine"))["slug"]
        comment = await add_comment(client, troll, slug, "mine too")
        assert (await set_account(client, root, "troll", banned=True)).status_code == 200
        before = (
            await get_json(client, f"/articles/{slug}"),
            await get_json(client, f"/articles/{slug}/comments"),
            await get_json(client, "/profiles/root", troll),
            await user_row(db, "troll"),
        )

        article = {"title": "New", "description": "d", "body": "b"}
        for method, path, body in (
            ("POST", "/articles", {"article": article}),
            ("PUT", f"/articles/{slug}", {"article": {"body": "changed"}}),
            ("DELETE", f"/articles/{slug}", None),
            ("POST", f"/articles/{slug}/comments", {"comment": {"body": "more"}}),
            ("DELETE", f"/articles/{slug}/comments/{comment['id']}", None),
            ("POST", f"/articles/{slug}/favorite", None),
            ("POST", "/profiles/root/follow", None),
            ("PUT", "/user", {"user": {"bio": "changed"}}),
        ):
            response = await client.request(method, path, json=body, headers=auth(troll))
            assert response.status_code == 403, (method, path, response.text)
            assert_error(response, 403, BANNED)

        after = (
            await get_json(client, f"/articles/{slug}"),
            await get_json(client, f"/articles/{slug}/comments"),
            await get_json(client, "/profiles/root", troll),
            await user_row(db, "troll"),
        )
        assert after == before
        assert (await get_json(client, "/articles"))["articlesCount"] == 1
