"""OWASP API Security Top 10 (2023), one test class per risk, on SQLite and PostgreSQL.

Each class is named after its risk and quotes it. Every test asserts a protection a user
relies on, so that it fails if the protection is removed.

Here:
- API1 Broken Object Level Authorization: articles, comments, notifications of others.
- API2 Broken Authentication: forged, expired and mistyped access tokens; passwords never
  leave the server; login does not tell unknown emails from wrong passwords.
- API3 Broken Object Property Level Authorization: mass assignment through every write body.
- API4 Unrestricted Resource Consumption: body size, page size, field sizes, long queries.
- API7 Server Side Request Forgery: no route fetches a URL a user wrote; only adapters
  import an HTTP client.
- API8 Security Misconfiguration: 500s without internals, unknown routes and methods, CORS,
  production secret key, where the generated docs are served.
- API9 Improper Inventory Management: every route is documented or explicitly allowed;
  undocumented paths and versions answer 404/405.

Added after the accounts work is merged (refresh sessions and logout, roles and moderation,
OpenID Connect login, rate limits and security headers):
- API2: refresh-token rotation and reuse, logout and sign-out everywhere, banned users.
- API5 Broken Function Level Authorization: admin and moderation routes.
- API6 Unrestricted Access to Sensitive Business Flows: register and login rate limits.
- API8: security headers (HSTS, nosniff, frame options) -- see the placeholder in API8.
- API10 Unsafe Consumption of APIs: what the OpenID Connect provider sends back.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from sqlalchemy import select
from starlette.routing import WebSocketRoute

import conduit
from conduit.bootstrap import ConfigurationError, Container, resolve_secret
from conduit.core.db import Database
from conduit.core.outbox import outbox
from conduit.core.security import TokenCodec
from conduit.core.validation import RequestModel
from conduit.entrypoints.api import create_app
from conduit.notifications.handlers import consumer as notifications_consumer
from conduit.settings import Settings
from conduit.tags import service as tags_service
from conduit.users.models import user_roles, users
from tests.api.support import USER_KEYS, add_comment, assert_error
from tests.conftest import TEST_SECRET
from tests.helpers import auth, create_article, register
from tests.outbox_delivery import deliver_outbox

ROOT = "http://conduit.test"
LONG_AGO = "2000-01-01T00:00:00.000Z"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/conduit"
STRONG_KEY = "Zq3-vL9_pR2xW7mK4tN8bY6cH1jD5fG0sA"


# --- helpers -----------------------------------------------------------------------------


@asynccontextmanager
async def app_client(
    db: Database,
    settings: Settings,
    tokens: TokenCodec,
    *,
    setup: Callable[[FastAPI], None] | None = None,
    **overrides: Any,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP like the ``client`` fixture, with settings ``overrides``.

    Unexpected exceptions are answered by the app (not re-raised into the test), as a
    server would; ``setup`` may add test-only routes.
    """
    app = create_app(
        container=Container(settings=settings.model_copy(update=overrides), db=db, tokens=tokens)
    )
    if setup is not None:
        setup(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"{ROOT}/api") as http:
        yield http


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(user_id: int | str, **changes: Any) -> dict[str, Any]:
    """The claims Conduit puts in an access token, with ``changes``."""
    now = time.time()
    return {"sub": str(user_id), "iat": now, "exp": int(now + 3600), "typ": "access", **changes}


def signed(payload: dict[str, Any], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def unsigned(payload: dict[str, Any]) -> str:
    """A token with ``alg: none`` and an empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


def swapped_payload(token: str, payload: dict[str, Any]) -> str:
    """Another user's signature over our own claims."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64(payload)}.{signature}"


async def user_id_of(db: Database, username: str) -> int:
    async with db.engine.connect() as conn:
        found = await conn.scalar(select(users.c.id).where(users.c.username == username))
    assert found is not None
    return int(found)


async def user_row(db: Database, username: str) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        row = (await conn.execute(select(users).where(users.c.username == username))).one()
    return dict(row._mapping)


async def roles_of(db: Database, user_id: int) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.scalars(select(user_roles.c.role).where(user_roles.c.user_id == user_id))
        return list(rows)


async def outbox_payloads(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        return list(await conn.scalars(select(outbox.c.payload).order_by(outbox.c.seq)))


async def get_json(client: httpx.AsyncClient, path: str, token: str | None = None) -> Any:
    response = await client.get(path, headers=auth(token) if token else None)
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json()


async def notifications_of(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await get_json(client, "/notifications", token))["notifications"]
    return items


def assert_no_internals(response: httpx.Response, *secrets: str) -> None:
    """No stack trace, exception type or message of the server in the reply."""
    text = response.text
    for leak in ("Traceback", 'File "', "Error:", "Exception", "site-packages", *secrets):
        assert leak not in text, (leak, text)


# --- API1 --------------------------------------------------------------------------------


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


# --- API2 --------------------------------------------------------------------------------


BAD_TOKENS: dict[str, Callable[[int], str]] = {
    "alg-none": lambda user: unsigned(claims(user)),
    "alg-none-signed-looking": lambda user: unsigned(claims(user)) + "c2lnbmF0dXJl",
    "other-key": lambda user: signed(claims(user), key="another-secret-key-0123456789-abcdefgh"),
    "hs512-same-key": lambda user: signed(claims(user), algorithm="HS512"),
    "expired": lambda user: signed(
        claims(user, iat=time.time() - 7200, exp=int(time.time() - 3600))
    ),
    "typ-refresh": lambda user: signed(claims(user, typ="refresh")),
    "typ-missing": lambda user: signed({k: v for k, v in claims(user).items() if k != "typ"}),
    "subject-username": lambda user: signed(claims("alice")),
    "subject-negative": lambda user: signed(claims(f"-{user}")),
    "subject-sql": lambda user: signed(claims(f"{user} OR 1=1")),
    "subject-float": lambda user: signed(claims(f"{user}.0")),
    "subject-empty": lambda user: signed(claims("")),
    "tampered-subject": lambda user: swapped_payload(signed(claims(user + 1)), claims(user)),
}


class TestAPI2BrokenAuthentication:
    """API2:2023 Broken Authentication.

    "Authentication mechanisms are often implemented incorrectly, allowing attackers to
    compromise authentication tokens or to exploit implementation flaws to assume other
    user's identities temporarily or permanently."
    """

    async def test_a_well_formed_token_is_accepted(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """The control for the forged tokens below: the same claims, properly signed."""
        await register(client, "alice")
        alice_id = await user_id_of(db, "alice")
        response = await client.get("/user", headers=auth(signed(claims(alice_id))))
        assert response.status_code == 200, response.text
        assert response.json()["user"]["username"] == "alice"

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    @pytest.mark.parametrize("forge", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
    async def test_forged_or_unusable_token_is_refused(
        self, client: httpx.AsyncClient, db: Database, forge: Callable[[int], str]
    ) -> None:
        await register(client, "alice")
        await register(client, "bob")  # the tampered token's signer
        token = forge(await user_id_of(db, "alice"))

        for method, path, body in (
            ("GET", "/user", None),
            ("POST", "/articles", {"article": {"title": "T", "description": "D", "body": "B"}}),
        ):
            response = await client.request(method, path, json=body, headers=auth(token))
            errors = assert_error(response, 401)
            assert set(errors) == {"token"}, errors
            assert response.headers["www-authenticate"].startswith("Token")
        assert (await get_json(client, "/articles"))["articlesCount"] == 0

    async def test_the_password_never_leaves_the_server(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        first, second = "first-Secret-pass-91", "second-Secret-pass-27"
        replies = [
            await client.post(
                "/users",
                json={"user": {"username": "alice", "email": "a@x.io", "password": first}},
            )
        ]
        token = replies[0].json()["user"]["token"]
        login = {"user": {"email": "a@x.io", "password": first}}
        replies.append(await client.post("/users/login", json=login))
        replies.append(await client.get("/user", headers=auth(token)))
        replies.append(
            await client.put(
                "/user", json={"user": {"password": second, "bio": "hi"}}, headers=auth(token)
            )
        )
        replies.append(await client.get("/profiles/alice"))
        login["user"]["password"] = second
        replies.append(await client.post("/users/login", json=login))
        login["user"]["password"] = first  # a failed login echoes nothing either
        replies.append(await client.post("/users/login", json=login))
        password_hash = (await user_row(db, "alice"))["password_hash"]

        assert [reply.status_code for reply in replies] == [201, 200, 200, 200, 200, 200, 401]
        for reply in replies[:-1]:
            assert set(reply.json().get("user", reply.json().get("profile", {}))) <= USER_KEYS | {
                "following"
            }
        payloads = await outbox_payloads(db)
        assert payloads, "registering and updating emit events"
        for text in [reply.text for reply in replies] + payloads:
            for secret in (first, second, password_hash, "$argon2"):
                assert secret not in text, (secret, text)

    async def test_unknown_email_and_wrong_password_answer_alike(
        self, client: httpx.AsyncClient
    ) -> None:
        await register(client, "alice")

        async def login(email: str, password: str) -> httpx.Response:
            return await client.post(
                "/users/login", json={"user": {"email": email, "password": password}}
            )

        wrong_password = await login("alice@conduit.test", "not-her-password")
        unknown_email = await login("nobody@conduit.test", "not-her-password")

        assert_error(wrong_password, 401, {"credentials": ["invalid"]})
        assert unknown_email.status_code == wrong_password.status_code
        assert unknown_email.json() == wrong_password.json()
        assert unknown_email.headers.get("www-authenticate") == wrong_password.headers.get(
            "www-authenticate"
        )
        assert (await login("alice@conduit.test", "password123")).status_code == 200


# --- API3 --------------------------------------------------------------------------------

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


# --- API4 --------------------------------------------------------------------------------


class TestAPI4UnrestrictedResourceConsumption:
    """API4:2023 Unrestricted Resource Consumption.

    "Satisfying API requests requires resources such as network bandwidth, CPU, memory, and
    storage. [...] Exploitation can lead to Denial of Service or an increase of operational
    costs."
    """

    async def test_a_body_over_the_limit_is_refused_by_its_declared_length(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        limit = settings.max_body_bytes
        response = await client.post(
            "/users",
            content=b"{" + b" " * limit + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert_error(response, 413, {"body": [f"is too large (maximum is {limit} bytes)"]})

    async def test_a_streamed_body_over_the_limit_is_cut_off(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        """No Content-Length: the body is counted as it arrives."""
        alice = await register(client, "alice")
        chunk = b" " * 65536
        chunks = settings.max_body_bytes // len(chunk) + 2

        async def stream() -> AsyncIterator[bytes]:
            for _ in range(chunks):
                yield chunk

        response = await client.post(
            "/articles",
            content=stream(),
            headers={"Content-Type": "application/json", **auth(alice)},
        )
        errors = assert_error(response, 413)
        assert set(errors) == {"body"}
        assert (await get_json(client, "/articles"))["articlesCount"] == 0

    @pytest.mark.parametrize(
        ("query", "errors"),
        [
            ("limit=101", {"limit": ["must be less than or equal to 100"]}),
            ("limit=100000000000000000000", {"limit": ["must be less than or equal to 100"]}),
            ("limit=0", {"limit": ["must be greater than or equal to 1"]}),
            ("offset=-1", {"offset": ["must be greater than or equal to 0"]}),
        ],
        ids=["limit-101", "limit-huge", "limit-0", "offset-negative"],
    )
    async def test_page_bounds(
        self, client: httpx.AsyncClient, query: str, errors: dict[str, list[str]]
    ) -> None:
        token = await register(client, "alice")
        for path in ("/articles", "/articles/feed", "/notifications"):
            response = await client.get(f"{path}?{query}", headers=auth(token))
            assert_error(response, 422, errors)
        assert (await client.get("/articles?limit=100", headers=auth(token))).status_code == 200

    async def test_field_size_limits(self, client: httpx.AsyncClient) -> None:
        """One over each maximum is refused; the maximum itself is accepted."""
        token = await register(client, "alice")
        slug = (await create_article(client, token, "Mine"))["slug"]

        async def new_article(**fields: Any) -> httpx.Response:
            article = {"title": "T", "description": "D", "body": "B", **fields}
            return await client.post("/articles", json={"article": article}, headers=auth(token))

        async def comment(body: str) -> httpx.Response:
            return await client.post(
                f"/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(token)
            )

        refused = {
            "article body": (
                await new_article(body="x" * 100_001),
                {"body": ["is too long (maximum is 100000 characters)"]},
            ),
            "tag count": (
                await new_article(tagList=[f"t{n}" for n in range(21)]),
                {"tagList": ["has too many items (maximum is 20)"]},
            ),
            "tag length": (
                await new_article(tagList=["t" * 65]),
                {"tagList": ["is too long (maximum is 64 characters)"]},
            ),
            "title": (
                await new_article(title="t" * 256),
                {"title": ["is too long (maximum is 255 characters)"]},
            ),
            "comment body": (
                await comment("x" * 20_001),
                {"body": ["is too long (maximum is 20000 characters)"]},
            ),
        }
        for name, (response, errors) in refused.items():
            assert response.status_code == 422, (name, response.text)
            assert_error(response, 422, errors)

        assert (await new_article(body="x" * 100_000)).status_code == 201
        assert (await new_article(tagList=[f"t{n}" for n in range(20)])).status_code == 201
        assert (await comment("x" * 20_000)).status_code == 201

    @pytest.mark.parametrize(
        "path",
        [
            "/articles?tag=" + "t" * 20_000,
            "/articles?author=" + "a" * 20_000,
            "/articles?unknown=" + "u" * 60_000,
            "/articles?" + "&".join(f"tag={n}" for n in range(3000)),
            "/articles?" + "&".join(f"p{n}=v" for n in range(3000)),
            "/profiles/" + "p" * 20_000,
            "/articles/" + "s" * 20_000 + "/comments",
        ],
        ids=[
            "long-tag",
            "long-author",
            "long-unknown",
            "many-tags",
            "many-params",
            "long-profile",
            "long-slug",
        ],
    )
    async def test_very_long_query_strings_and_paths_are_not_server_errors(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_error(response, response.status_code)
        assert_no_internals(response)


# --- API7 --------------------------------------------------------------------------------

HTTP_CLIENTS = ("httpx", "aiohttp", "requests", "urllib.request", "urllib3", "http.client")
SOURCE = Path(conduit.__file__).parent
# Modules allowed to make outgoing HTTP requests: the adapters (the OpenID Connect client
# belongs there too). Anything else that imports an HTTP client fails the test.
HTTP_CLIENT_ALLOWED = ("adapters/",)


def http_client_imports(source: str) -> set[str]:
    """The HTTP client modules a Python source imports (at any depth of the file)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(
            client
            for name in names
            for client in HTTP_CLIENTS
            if name == client or name.startswith(f"{client}.")
        )
    return found


class TestAPI7ServerSideRequestForgery:
    """API7:2023 Server Side Request Forgery.

    "Server-Side Request Forgery (SSRF) flaws can occur when an API is fetching a remote
    resource without validating the user-supplied URI. This enables an attacker to coerce
    the application to send a crafted request to an unexpected destination."
    """

    async def test_no_route_fetches_a_url_a_user_wrote(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        connections: list[str] = []

        async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append((await reader.read(200)).decode(errors="replace"))
            writer.close()

        server = await asyncio.start_server(record, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/internal"
        try:
            alice = await register(client, "alice")
            bob = await register(client, "bob")
            response = await client.put(
                "/user", json={"user": {"image": url, "bio": url}}, headers=auth(alice)
            )
            assert response.status_code == 200, response.text
            assert response.json()["user"]["image"] == url
            markdown = f"![pic]({url}/a.png) [link]({url}) <img src='{url}'> {url}"
            slug = (
                await create_article(
                    client, alice, "Links", body=markdown, description=url, tagList=[url]
                )
            )["slug"]
            await client.post("/profiles/alice/follow", headers=auth(bob))
            await client.post(f"/articles/{slug}/favorite", headers=auth(bob))
            await add_comment(client, bob, slug, markdown)
            await client.put(
                f"/articles/{slug}", json={"article": {"body": markdown}}, headers=auth(alice)
            )
            for path, token in [
                ("/user", alice),
                ("/profiles/alice", None),
                ("/profiles/alice", bob),
                (f"/articles/{slug}", None),
                (f"/articles/{slug}", bob),
                (f"/articles/{slug}/comments", None),
                ("/articles", None),
                ("/articles?author=alice", bob),
                ("/articles?tag=" + url, None),
                ("/articles/feed", bob),
                ("/tags", None),
            ]:
                await get_json(client, path, token)
            await deliver_outbox(db, notifications_consumer)
            await get_json(client, "/notifications", alice)
            await asyncio.sleep(0.2)

            assert connections == []

            # The control: the listener does see a connection when one is made.
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            await writer.drain()
            writer.close()
            for _ in range(50):
                if connections:
                    break
                await asyncio.sleep(0.02)
            assert len(connections) == 1
        finally:
            server.close()
            await server.wait_closed()

    def test_only_adapters_import_an_http_client(self) -> None:
        assert http_client_imports("import httpx\nfrom urllib.request import urlopen") == {
            "httpx",
            "urllib.request",
        }
        assert http_client_imports("from urllib import request") == {"urllib.request"}
        assert http_client_imports("from urllib.parse import urlsplit") == set()

        offenders = {}
        for path in sorted(SOURCE.rglob("*.py")):
            relative = path.relative_to(SOURCE).as_posix()
            if relative.startswith(HTTP_CLIENT_ALLOWED):
                continue
            found = http_client_imports(path.read_text(encoding="utf-8"))
            if found:
                offenders[relative] = sorted(found)
        assert offenders == {}


# --- API8 --------------------------------------------------------------------------------

ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }


class TestAPI8SecurityMisconfiguration:
    """API8:2023 Security Misconfiguration.

    "APIs and the systems supporting them typically contain complex configurations, meant
    to make the APIs more customizable. [...] attackers can find misconfigurations" --
    among them "error messages [that] include stack traces, or expose other sensitive
    information", missing CORS policy, and unnecessary HTTP verbs.
    """

    # Security headers (HSTS when https, X-Content-Type-Options, frame options, ...) are
    # added with the rate-limits and headers work, after the merge.

    async def test_an_unexpected_exception_answers_500_without_internals(
        self, db: Database, settings: Settings, tokens: TokenCodec
    ) -> None:
        secret = "db-password=hunter2 at /srv/conduit/internal.py line 42"

        def add_failing_route(app: FastAPI) -> None:
            async def boom() -> None:
                raise RuntimeError(secret)

            app.add_api_route("/api/boom", boom, methods=["GET"], include_in_schema=False)

        async with app_client(db, settings, tokens, setup=add_failing_route) as http:
            response = await http.get("/boom")
        assert_error(response, 500, {"server": ["internal error"]})
        assert_no_internals(response, secret, "RuntimeError", "boom")

    async def test_a_failing_use_case_answers_500_without_internals(
        self, db: Database, settings: Settings, tokens: TokenCodec, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        secret = "SELECT * FROM users -- password_hash"

        async def broken(_db: Database) -> list[str]:
            raise KeyError(secret)

        monkeypatch.setattr(tags_service, "popular", broken)
        async with app_client(db, settings, tokens) as http:
            response = await http.get("/tags")
        assert_error(response, 500, {"server": ["internal error"]})
        assert_no_internals(response, secret, "KeyError", "password_hash")

    async def test_an_unknown_route_answers_404_in_the_error_format(
        self, client: httpx.AsyncClient
    ) -> None:
        for url in ("/nowhere", "/articles/x/y/z", f"{ROOT}/.env", f"{ROOT}/.git/config"):
            response = await client.get(url)
            assert_error(response, 404, {"path": ["not found"]})

    @pytest.mark.parametrize("method", ["TRACE", "PATCH", "PROPFIND", "CONNECT", "FOO"])
    async def test_unsupported_methods_answer_405_without_echo(
        self, client: httpx.AsyncClient, method: str
    ) -> None:
        """No TRACE echo (cross-site tracing) of the token or the other headers."""
        token = await register(client, "alice")
        response = await client.request(
            method, "/articles", headers={**auth(token), "X-Probe": "probe-value-123"}
        )
        assert_error(response, 405, {"request": ["method not allowed"]})
        assert method not in response.headers["allow"]
        assert_no_internals(response, token, "probe-value-123")

    async def test_cors_with_configured_origins(
        self, db: Database, settings: Settings, tokens: TokenCodec
    ) -> None:
        async with app_client(db, settings, tokens, cors_origins=[ORIGIN]) as http:
            allowed = await http.options("/articles", headers=preflight(ORIGIN))
            other = await http.options("/articles", headers=preflight(OTHER_ORIGIN))
            patch = await http.options("/articles", headers=preflight(ORIGIN, "PATCH"))
            simple = await http.get("/tags", headers={"Origin": OTHER_ORIGIN})

        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        for refused in (other, patch):
            assert refused.status_code == 400, refused.text
            assert refused.headers.get("access-control-allow-origin") != OTHER_ORIGIN
        assert "access-control-allow-origin" not in other.headers
        assert simple.status_code == 200
        assert "access-control-allow-origin" not in simple.headers

    async def test_cors_for_any_origin_never_allows_credentials(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        assert settings.cors_origins == ["*"]
        response = await client.options("/user", headers=preflight(OTHER_ORIGIN, "PUT"))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        simple = await client.get("/tags", headers={"Origin": OTHER_ORIGIN})
        assert simple.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in simple.headers

    @pytest.mark.parametrize(
        ("key", "database"),
        [
            (None, PG_URL),
            (None, None),  # production refuses the generated key of the zero-config mode
            ("short-key", PG_URL),
            ("a" * 64, PG_URL),
            ("abcabcabcabcabcabcabcabcabcabcabcabc", PG_URL),
            ("", PG_URL),
        ],
        ids=["missing", "missing-sqlite", "short", "one-char", "few-chars", "empty"],
    )
    def test_production_refuses_a_missing_or_weak_secret_key(
        self, tmp_path: Path, key: str | None, database: str | None
    ) -> None:
        settings = Settings(
            _env_file=None,
            environment="production",
            database_url=database,
            secret_key=key,
            data_dir=tmp_path,
        )
        with pytest.raises(ConfigurationError, match="CONDUIT_SECRET_KEY"):
            resolve_secret(settings)
        assert not (tmp_path / "secret_key").exists()

    def test_production_accepts_a_strong_secret_key(self, tmp_path: Path) -> None:
        settings = Settings(
            _env_file=None,
            environment="production",
            database_url=PG_URL,
            secret_key=STRONG_KEY,
            data_dir=tmp_path,
        )
        assert resolve_secret(settings) == STRONG_KEY

    async def test_generated_docs_only_where_configured(self, client: httpx.AsyncClient) -> None:
        docs = await client.get(f"{ROOT}/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "/api/openapi.json" in docs.text
        assert (await client.get("/openapi.json")).status_code == 200
        for elsewhere in ("/redoc", "/openapi.json", "/api/docs", "/api/redoc", "/swagger"):
            assert_error(await client.get(f"{ROOT}{elsewhere}"), 404, {"path": ["not found"]})


# --- API9 --------------------------------------------------------------------------------

# Routes the app answers that the OpenAPI document does not list, each on purpose.
UNDOCUMENTED_ROUTES = {
    ("/docs", "GET"),  # the Swagger UI of the document itself
    ("/docs/oauth2-redirect", "GET"),  # part of the Swagger UI
    ("/api/openapi.json", "GET"),  # the document
    ("/asyncapi.json", "GET"),  # the event catalogue (its own AsyncAPI document)
    ("/health/live", "GET"),  # probes for the orchestrator
    ("/health/ready", "GET"),
    ("/api/ws", "WEBSOCKET"),  # live updates (protocol in the README)
}
OPENAPI_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def answered_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every route, included routers flattened; WEBSOCKET for sockets."""
    found = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert isinstance(path, str), route
        if isinstance(route.original_route, WebSocketRoute | APIWebSocketRoute):
            found.add((path, "WEBSOCKET"))
            continue
        found.update((path, method) for method in route.methods or () if method != "HEAD")
    return found


class TestAPI9ImproperInventoryManagement:
    """API9:2023 Improper Inventory Management.

    "APIs tend to expose more endpoints than traditional web applications, making proper
    and updated documentation highly important. A proper inventory of hosts and deployed
    API versions also are important to mitigate issues such as deprecated API versions and
    exposed debug endpoints."
    """

    def test_every_route_is_documented_or_explicitly_allowed(
        self, db: Database, settings: Settings, tokens: TokenCodec
    ) -> None:
        app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
        spec = app.openapi()
        documented = {
            (path, method.upper())
            for path, item in spec["paths"].items()
            for method in item
            if method in OPENAPI_METHODS
        }
        answered = answered_routes(app)

        assert answered - documented == UNDOCUMENTED_ROUTES
        assert documented <= answered, documented - answered

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/api/admin", 404),
            ("GET", "/api/v1/articles", 404),
            ("GET", "/api/v2/users", 404),
            ("GET", "/v1/api/articles", 404),
            ("GET", "/api/debug", 404),
            ("GET", "/api/internal/config", 404),
            ("GET", "/api/metrics", 404),
            ("GET", "/api/users", 405),
            ("DELETE", "/api/users", 405),
            ("GET", "/api/users/login", 405),
            ("PATCH", "/api/user", 405),
            ("DELETE", "/api/user", 405),
            ("PUT", "/api/articles", 405),
            ("DELETE", "/api/tags", 405),
            ("POST", "/api/openapi.json", 405),
            ("POST", "/health/live", 405),
        ],
    )
    async def test_undocumented_paths_and_methods_are_not_answered(
        self, client: httpx.AsyncClient, method: str, path: str, status: int
    ) -> None:
        token = await register(client, "alice")
        response = await client.request(method, f"{ROOT}{path}", headers=auth(token), json={})
        key = "path" if status == 404 else "request"
        message = "not found" if status == 404 else "method not allowed"
        assert_error(response, status, {key: [message]})
