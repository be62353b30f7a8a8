"""The admin endpoints: PUT /api/admin/users/{username} and GET /api/admin/audit."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from conduit.admin.audit import ROLE_GRANTED, ROLE_REVOKED, USER_BANNED, USER_UNBANNED
from conduit.articles.audit import ARTICLE_MODERATED
from conduit.auth.audit import LOGIN_SUCCEEDED
from conduit.bootstrap import AUDIT_TYPES
from conduit.core.db import Database
from conduit.core.events import Event
from conduit.core.outbox import outbox
from tests.api.roles_support import audit_rows, make_admin, set_account
from tests.api.support import ISO_MS, assert_error
from tests.helpers import auth, create_article, register
from tests.unit.test_audit_types import held_audit_types

RECORD_KEYS = {"id", "type", "occurredAt", "actorId", "subjectId", "ip", "userAgent", "details"}


async def events(db: Database, kind: str) -> list[Event]:
    async with db.reader() as uow:
        rows = await uow.conn.execute(
            select(outbox.c.payload).where(outbox.c.type == kind).order_by(outbox.c.seq)
        )
        return [Event.from_json(payload) for (payload,) in rows]


async def audit_list(client: httpx.AsyncClient, token: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/admin/audit{query}", headers=auth(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"auditRecords", "auditRecordsCount"}
    return body


async def test_admin_endpoints_are_for_admins_only(client: httpx.AsyncClient, db: Database) -> None:
    root = await make_admin(client, db)
    user = await register(client, "user")
    moderator = await register(client, "mod")
    assert (await set_account(client, root, "mod", roles=["moderator"])).status_code == 200

    assert_error(await set_account(client, None, "user", banned=True), 401)
    assert_error(await client.get("/admin/audit"), 401)
    for token in (user, moderator):
        assert_error(
            await set_account(client, token, "user", roles=["admin"]), 403, {"user": ["forbidden"]}
        )
        assert_error(
            await client.get("/admin/audit", headers=auth(token)), 403, {"user": ["forbidden"]}
        )
    me = await client.get("/user", headers=auth(user))
    assert me.json()["user"]["roles"] == ["user"]
    assert await audit_rows(db, USER_BANNED) == []


async def test_setting_roles_and_ban_answers_the_account(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    await register(client, "bob")
    response = await set_account(client, root, "bob", roles=["admin", "moderator", "user"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {
            "username": "bob",
            "email": "bob@conduit.test",
            "roles": ["admin", "moderator", "user"],
            "banned": False,
        }
    }
    # One event per change: the command line's grant to root, then bob's roles.
    made_root, changed = await events(db, "user.roles_changed")
    assert made_root.data["username"] == "root"
    assert changed.data["username"] == "bob"
    assert changed.data["roles"] == ["admin", "moderator", "user"]
    granted = await audit_rows(db, ROLE_GRANTED)
    # The CLI's grant of root's admin role, then bob's two.
    assert [(row.actor_id is None, json.loads(row.details)) for row in granted] == [
        (True, {"username": "root", "role": "admin"}),
        (False, {"username": "bob", "role": "admin"}),
        (False, {"username": "bob", "role": "moderator"}),
    ]

    # The unwrapped body works as well; roles left out stay as they are.
    unwrapped = await client.put("/admin/users/bob", json={"banned": True}, headers=auth(root))
    assert unwrapped.status_code == 200, unwrapped.text
    assert unwrapped.json()["user"]["banned"] is True
    assert unwrapped.json()["user"]["roles"] == ["admin", "moderator", "user"]
    assert len(await events(db, "user.banned")) == 1

    revoked = await client.put("/admin/users/bob", json={"roles": ["user"]}, headers=auth(root))
    assert revoked.json()["user"] == {
        "username": "bob",
        "email": "bob@conduit.test",
        "roles": ["user"],
        "banned": True,
    }
    assert len(await audit_rows(db, ROLE_REVOKED)) == 2
    assert (await events(db, "user.roles_changed"))[-1].data["roles"] == ["user"]


async def test_asking_for_what_already_holds_changes_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    await register(client, "bob")
    await set_account(client, root, "bob", roles=["moderator"], banned=True)
    before = (await audit_list(client, root))["auditRecordsCount"]
    outbox_before = len(await events(db, "user.roles_changed")) + len(
        await events(db, "user.banned")
    )
    again = await set_account(client, root, "bob", roles=["moderator"], banned=True)
    assert again.status_code == 200
    assert again.json()["user"]["roles"] == ["moderator", "user"]
    assert (await audit_list(client, root))["auditRecordsCount"] == before
    outbox_after = len(await events(db, "user.roles_changed")) + len(
        await events(db, "user.banned")
    )
    assert outbox_after == outbox_before
    unban = await set_account(client, root, "bob", banned=False)
    assert unban.json()["user"]["banned"] is False
    assert len(await events(db, "user.unbanned")) == 1
    assert len(await audit_rows(db, USER_UNBANNED)) == 1


async def test_bad_requests(client: httpx.AsyncClient, db: Database) -> None:
    root = await make_admin(client, db)
    await register(client, "bob")
    assert_error(
        await set_account(client, root, "nobody", banned=True), 404, {"user": ["not found"]}
    )
    assert "roles" in assert_error(await set_account(client, root, "bob", roles=["boss"]), 422)
    assert_error(await set_account(client, root, "bob", roles="admin"), 422)
    assert_error(await set_account(client, root, "bob", banned="yes"), 422)
    assert (await client.get("/user", headers=auth(root))).json()["user"]["roles"] == [
        "admin",
        "user",
    ]


async def test_an_admin_cannot_lock_themselves_out(client: httpx.AsyncClient, db: Database) -> None:
    root = await make_admin(client, db)
    assert_error(
        await set_account(client, root, "root", banned=True),
        403,
        {"user": ["cannot ban yourself"]},
    )
    assert_error(
        await set_account(client, root, "root", roles=["moderator"]),
        403,
        {"user": ["cannot remove your own admin role"]},
    )
    me = await client.get("/user", headers=auth(root))
    assert me.json()["user"]["roles"] == ["admin", "user"]
    # Another admin may.
    other = await make_admin(client, db, "other")
    demoted = await set_account(client, other, "root", roles=[])
    assert demoted.json()["user"]["roles"] == ["user"]
    assert_error(await client.get("/admin/audit", headers=auth(root)), 403)


async def test_the_audit_log_newest_first_filtered_and_paged(
    client: httpx.AsyncClient, db: Database
) -> None:
    root = await make_admin(client, db)
    author = await register(client, "author")
    for name in ("a", "b", "c"):
        await register(client, name)
        assert (await set_account(client, root, name, banned=True)).status_code == 200
    slug = (await create_article(client, author))["slug"]
    await client.delete(f"/articles/{slug}", headers={**auth(root), "User-Agent": "ops/2"})

    everything = await audit_list(client, root)
    records = everything["auditRecords"]
    assert everything["auditRecordsCount"] == len(records)
    # Besides the sign-ins (each registration is one): a grant, 3 bans, a deletion.
    acts = [r for r in records if r["type"] != LOGIN_SUCCEEDED]
    assert [r["type"] for r in acts] == [
        ARTICLE_MODERATED,
        *[USER_BANNED] * 3,
        ROLE_GRANTED,
    ]
    assert [r["id"] for r in records] == sorted((r["id"] for r in records), reverse=True)
    newest = records[0]
    assert set(newest) == RECORD_KEYS
    assert newest["type"] == ARTICLE_MODERATED
    assert ISO_MS.match(newest["occurredAt"])
    assert newest["userAgent"] == "ops/2"
    assert newest["details"]["slug"] == slug
    assert newest["subjectId"] == newest["details"]["authorId"]

    bans = await audit_list(client, root, f"?type={USER_BANNED}")
    assert bans["auditRecordsCount"] == 3
    assert [r["details"]["username"] for r in bans["auditRecords"]] == ["c", "b", "a"]
    assert {r["type"] for r in bans["auditRecords"]} == {USER_BANNED}

    first = await audit_list(client, root, f"?type={USER_BANNED}&limit=2")
    second = await audit_list(client, root, f"?type={USER_BANNED}&limit=2&offset=2")
    assert [r["details"]["username"] for r in first["auditRecords"]] == ["c", "b"]
    assert [r["details"]["username"] for r in second["auditRecords"]] == ["a"]
    assert first["auditRecordsCount"] == second["auditRecordsCount"] == 3
    none = await audit_list(client, root, f"?type={ROLE_REVOKED}")
    assert none == {"auditRecords": [], "auditRecordsCount": 0}


@pytest.mark.parametrize("query", ["?type=nonsense", "?limit=0", "?offset=-1", "?limit=101"])
async def test_bad_audit_queries_are_422(
    client: httpx.AsyncClient, db: Database, query: str
) -> None:
    root = await make_admin(client, db)
    assert_error(await client.get(f"/admin/audit{query}", headers=auth(root)), 422)


async def test_the_audit_view_filters_by_every_type_a_feature_records(
    client: httpx.AsyncClient, db: Database
) -> None:
    """What the features declare (their audit.py, assembled in bootstrap) is what the app's
    audit view accepts and documents."""
    root = await make_admin(client, db)
    recorded = set(held_audit_types())
    assert recorded <= set(AUDIT_TYPES)
    for kind in sorted(recorded):
        assert (await audit_list(client, root, f"?type={kind}"))["auditRecordsCount"] >= 0
    spec = (await client.get("/openapi.json")).json()
    parameters = spec["paths"]["/api/admin/audit"]["get"]["parameters"]
    (kind,) = [p for p in parameters if p["name"] == "type"]
    assert kind["schema"]["enum"] == list(AUDIT_TYPES)
