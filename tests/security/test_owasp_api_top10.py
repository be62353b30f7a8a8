"""OWASP API Security Top 10 (2023), one test class per risk, on SQLite and PostgreSQL.

Each class is named after its risk and quotes it. Every test asserts a protection a user
relies on, so that it fails if the protection is removed.

- API1 Broken Object Level Authorization: articles, comments, notifications of others;
  another user's session (a logout never ends it, a refresh cookie only ever yields a token
  of its own user).
- API2 Broken Authentication: forged, expired and mistyped access tokens; passwords never
  leave the server; login does not tell unknown emails from wrong passwords; refresh-token
  reuse revokes the whole session (audited); signing out everywhere cuts off older access
  tokens; password guessing meets 429, the right password included (no oracle), per
  address and per account across addresses (trusted proxy and X-Forwarded-For), whatever
  JSON the login route accepts.
- API3 Broken Object Property Level Authorization: mass assignment through every write body.
- API4 Unrestricted Resource Consumption: body size, page size, field sizes, long queries;
  rate limits on reads and writes (429, Retry-After, RateLimit-* headers, error format).
- API5 Broken Function Level Authorization: every admin route (from the OpenAPI document)
  for admins only, a banned admin loses them; moderators delete but do not edit others'
  articles; banned users cannot write.
- API6 Unrestricted Access to Sensitive Business Flows: registration floods per address,
  follow and favorite floods per user.
- API7 Server Side Request Forgery: no route fetches a URL a user wrote; only adapters
  import an HTTP client.
- API8 Security Misconfiguration: 500s without internals, unknown routes and methods, CORS,
  production secret key and wildcard CORS origin, where the generated docs are served;
  security headers on every answer (errors, 413, 429, the docs page), HSTS only over HTTPS.
- API9 Improper Inventory Management: every route is documented or explicitly allowed;
  undocumented paths and versions answer 404/405.
- API10 Unsafe Consumption of APIs: what the OpenID Connect provider sends back -- the
  real provider's id_token altered in transit, and a provider under the test's control
  (tests/security/broken_provider.py) answering id_tokens for another audience or issuer,
  badly signed or expired, and discovery documents, key sets, token and userinfo answers
  of the wrong shape: 401 or 503 in the error format, never a 500, and no user created.
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
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from sqlalchemy import func, select
from starlette.routing import WebSocketRoute

import conduit
from conduit.auth.audit import LOGIN_FAILED, REFRESH_REUSED
from conduit.auth.models import sessions
from conduit.auth.oidc.models import user_identities
from conduit.bootstrap import (
    ConfigurationError,
    Container,
    check_settings,
    rate_limiter,
    resolve_secret,
)
from conduit.core.audit import audit_log
from conduit.core.db import Database
from conduit.core.outbox import outbox
from conduit.core.security import TokenCodec
from conduit.core.validation import RequestModel
from conduit.entrypoints.api import create_app
from conduit.notifications.handlers import consumer as notifications_consumer
from conduit.settings import Settings
from conduit.tags import service as tags_service
from conduit.users.models import user_roles, users
from tests.api.roles_support import make_admin, set_account
from tests.api.support import USER_KEYS, add_comment, assert_error
from tests.conftest import TEST_SECRET
from tests.helpers import auth, create_article, register
from tests.oidc.conftest import app_settings, browse_to_callback, provider_config, serve
from tests.oidc.provider_process import CLIENT_ID, CLIENT_SECRET, OidcProviderProcess
from tests.outbox_delivery import deliver_outbox
from tests.security.broken_provider import Answer, BrokenProvider, rsa_key
from tests.security.conftest import Connect

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


COOKIE = "conduit_refresh"
PASSWORD = "password123"
TOO_MANY = {"request": ["too many requests"]}


def refresh_token_of(response: httpx.Response) -> str:
    """The refresh token the answer's Set-Cookie gives the browser."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{COOKIE}="):
            value = header.split(";", 1)[0].removeprefix(f"{COOKIE}=")
            assert value, header
            return value
    raise AssertionError(f"no {COOKIE} cookie in {response.headers.get_list('set-cookie')}")


async def sign_up(client: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """Register ``name``: its access token and its refresh token."""
    response = await client.post(
        "/users",
        json={"user": {"username": name, "email": f"{name}@conduit.test", "password": PASSWORD}},
    )
    assert response.status_code == 201, response.text
    return response.json()["user"]["token"], refresh_token_of(response)


async def log_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    body = {"user": {"email": email, "password": password}}
    return await client.post("/users/login", json=body, headers=headers)


async def refresh(
    client: httpx.AsyncClient, cookie: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST /users/refresh with the cookie, as the browser sends it (and nothing else)."""
    client.cookies.clear()
    return await client.post(
        "/users/refresh", headers={**(headers or {}), "Cookie": f"{COOKIE}={cookie}"}
    )


async def logout(
    client: httpx.AsyncClient, token: str, cookie: str | None = None, everywhere: bool = False
) -> httpx.Response:
    client.cookies.clear()
    headers = auth(token) | ({"Cookie": f"{COOKIE}={cookie}"} if cookie else {})
    body = {"everywhere": True} if everywhere else None
    return await client.post("/users/logout", json=body, headers=headers)


async def status_of(client: httpx.AsyncClient, token: str) -> int:
    """What GET /user answers the token: 200 while it works, 401 once revoked."""
    return (await client.get("/user", headers=auth(token))).status_code


def session_of(token: str) -> str:
    session: str = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])["sid"]
    return session


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.engine.connect() as conn:
        query = select(func.count()).select_from(table)
        if where:
            query = query.where(*where)
        return int((await conn.execute(query)).scalar_one())


def limited_app(db: Database, settings: Settings, tokens: TokenCodec, **values: Any) -> FastAPI:
    """The app with rate limits (``values``: settings such as rate_limit_reads_per_ip)."""
    configured = Settings.model_validate({**settings.model_dump(), **values})
    container = Container(
        settings=configured, db=db, tokens=tokens, rate_limiter=rate_limiter(configured)
    )
    return create_app(container=container)


def assert_too_many(response: httpx.Response, limit: int) -> None:
    """A 429 in the error format, with when to come back and the rule's state."""
    assert_error(response, 429, TOO_MANY)
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    assert "set-cookie" not in response.headers


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

    async def test_refresh_token_reuse_revokes_the_family_and_is_audited(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """A copied refresh token replayed after its owner moved on ends the whole session:
        the newest refresh token and the session's access tokens stop too."""
        first_access, stolen = await sign_up(client, "alice")
        rotated = await refresh(client, stolen)  # the owner's browser moves on
        assert rotated.status_code == 200, rotated.text
        again = await refresh(client, refresh_token_of(rotated))
        assert again.status_code == 200, again.text
        newest_cookie = refresh_token_of(again)
        newest_access = again.json()["user"]["token"]
        assert await status_of(client, newest_access) == 200

        replay = await refresh(client, stolen, {"User-Agent": "thief/1.0"})

        assert_error(replay, 401, {"refresh token": ["has been revoked"]})
        assert "set-cookie" not in replay.headers
        assert_error(await refresh(client, newest_cookie), 401)
        for token in (first_access, rotated.json()["user"]["token"], newest_access):
            assert await status_of(client, token) == 401
        async with db.engine.connect() as conn:
            records = list(
                await conn.execute(select(audit_log).where(audit_log.c.type == REFRESH_REUSED))
            )
        assert len(records) == 1
        assert records[0].subject_id == await user_id_of(db, "alice")
        assert records[0].user_agent == "thief/1.0"
        assert json.loads(records[0].details)["sessionId"] == session_of(newest_access)
        # The owner signs in again: a new session, untouched.
        fresh = await log_in(client, "alice@conduit.test")
        assert (await refresh(client, refresh_token_of(fresh))).status_code == 200

    async def test_signing_out_everywhere_cuts_off_every_older_access_token(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """Session tokens, a token of another session and one that names no session."""
        registered, cookie = await sign_up(client, "alice")
        other_session = (await log_in(client, "alice@conduit.test")).json()["user"]["token"]
        sessionless = signed(claims(await user_id_of(db, "alice"), iat=int(time.time()) - 60))
        bystander, _ = await sign_up(client, "bob")
        old = (registered, other_session, sessionless)
        assert [await status_of(client, token) for token in old] == [200, 200, 200]

        assert (await logout(client, other_session, everywhere=True)).status_code == 204

        assert [await status_of(client, token) for token in old] == [401, 401, 401]
        assert_error(await refresh(client, cookie), 401)
        assert await status_of(client, bystander) == 200
        again = await log_in(client, "alice@conduit.test")
        assert again.status_code == 200, again.text
        assert await status_of(client, again.json()["user"]["token"]) == 200

    async def test_guessing_a_password_meets_429_and_then_the_right_one_gets_429_too(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        """Once the budget is spent, the answer no longer depends on the password: the
        guesser learns nothing (no oracle), and no session is started."""
        app = limited_app(
            db,
            settings,
            tokens,
            rate_limit_login_per_ip="5/minute",
            rate_limit_login_per_account="1000/minute",
        )
        await sign_up(connect(app, "192.0.2.99"), "alice")
        guesser = connect(app, "192.0.2.1")
        for n in range(5):
            wrong = await log_in(guesser, "alice@conduit.test", f"guess-{n}-xyz")
            assert_error(wrong, 401, {"credentials": ["invalid"]})
        sessions_before = await count(db, sessions)

        wrong = await log_in(guesser, "alice@conduit.test", "guess-5-xyz")
        right = await log_in(guesser, "alice@conduit.test", PASSWORD)

        for response in (wrong, right):
            assert_too_many(response, limit=5)
        assert right.content == wrong.content
        assert await count(db, sessions) == sessions_before
        # The owner, from her own address, is not locked out by the guesser.
        assert (await log_in(connect(app, "192.0.2.2"), "alice@conduit.test")).status_code == 200

    async def test_the_per_account_login_limit_holds_across_addresses(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        """Guesses spread over many addresses (behind a trusted proxy, each named by
        X-Forwarded-For, or straight from elsewhere) still count against the account: once
        its failures are spent, an address that failed on it is refused, and a new one
        gets a single guess."""
        app = limited_app(
            db,
            settings,
            tokens,
            trusted_proxies=["10.0.0.0/8"],
            rate_limit_login_per_ip="100/minute",
            rate_limit_login_per_account="3/minute",
        )
        proxy = connect(app, "10.0.0.1")
        await sign_up(proxy, "alice")
        await sign_up(proxy, "carol")
        for n in range(3):
            forwarded = {"X-Forwarded-For": f"203.0.113.{n}"}
            wrong = await log_in(proxy, "alice@conduit.test", f"guess-{n}-xyz", **forwarded)
            assert_error(wrong, 401, {"credentials": ["invalid"]})

        refused = [
            await log_in(proxy, "alice@conduit.test", **{"X-Forwarded-For": "203.0.113.0"}),
            await log_in(proxy, "ALICE@conduit.test", **{"X-Forwarded-For": "203.0.113.1"}),
            await log_in(
                proxy, "alice@conduit.test", "guess-x-xyz", **{"X-Forwarded-For": "203.0.113.2"}
            ),
        ]
        for n, address in enumerate(("198.51.100.7", "198.51.100.8")):
            forwarded = {"X-Forwarded-For": address}
            wrong = await log_in(proxy, "alice@conduit.test", f"guess-{n}-abc", **forwarded)
            assert_error(wrong, 401, {"credentials": ["invalid"]})
            refused.append(await log_in(proxy, "alice@conduit.test", **forwarded))
        guesser = connect(app, "192.0.2.50")
        assert (await log_in(guesser, "alice@conduit.test", "guess-d-xyz")).status_code == 401
        refused.append(await log_in(guesser, "alice@conduit.test"))

        for response in refused:
            assert_too_many(response, limit=3)
        carol = await log_in(proxy, "carol@conduit.test", **{"X-Forwarded-For": "203.0.113.0"})
        assert carol.status_code == 200, carol.text

    @pytest.mark.parametrize(
        "shape",
        [
            '{"user": {"email": "alice@conduit.test", "password": "%s"}, "x": "\\ud800"}',
            '\ufeff{"user": {"email": "alice@conduit.test", "password": "%s"}}',
            '{"user": {"email": "alice@conduit.test", "password": "%s"}, "x": NaN}',
            "utf-16",
        ],
        ids=["lone-surrogate", "byte-order-mark", "nan", "utf-16"],
    )
    async def test_the_per_account_login_limit_reads_the_body_as_the_route_does(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect, shape: str
    ) -> None:
        """Bodies the login route accepts but a stricter JSON parser refuses must count
        against the account too (they used to escape the per-account limit)."""
        app = limited_app(
            db,
            settings,
            tokens,
            trusted_proxies=["10.0.0.0/8"],
            rate_limit_login_per_ip="100/minute",
            rate_limit_login_per_account="3/minute",
        )
        proxy = connect(app, "10.0.0.1")
        await sign_up(proxy, "alice")

        async def attempt(password: str, n: int) -> httpx.Response:
            if shape == "utf-16":
                body = json.dumps({"user": {"email": "alice@conduit.test", "password": password}})
                content = body.encode("utf-16")
            else:
                content = (shape % password).encode()
            return await proxy.post(
                "/users/login",
                content=content,
                headers={"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{n}"},
            )

        for n in range(3):
            assert_error(await attempt(f"guess-{n}-xyz", n), 401, {"credentials": ["invalid"]})
        # The failures counted: the addresses that failed are refused.
        assert_too_many(await attempt(PASSWORD, 2), limit=3)


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

    @pytest.mark.parametrize("kind", ["reads", "writes"])
    async def test_over_the_rate_limit_answers_429_with_retry_after(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect, kind: str
    ) -> None:
        """Reads per address, writes per user: each counted answer says what is left
        (RateLimit-*), the first one over says when to come back, and does nothing."""
        app = limited_app(
            db,
            settings,
            tokens,
            rate_limit_reads_per_ip="3/minute",
            rate_limit_writes_per_user="3/minute",
        )
        http = connect(app, "192.0.2.10")
        token, _ = await sign_up(http, "alice")

        async def request(n: int) -> httpx.Response:
            if kind == "reads":
                return await http.get("/articles" if n % 2 else "/tags")
            article = {"title": f"Post {n}", "description": "d", "body": "b"}
            return await http.post("/articles", json={"article": article}, headers=auth(token))

        for n in range(3):
            response = await request(n)
            assert response.status_code in (200, 201), response.text
            assert response.headers["ratelimit-limit"] == "3"
            assert response.headers["ratelimit-remaining"] == str(2 - n)
            assert 1 <= int(response.headers["ratelimit-reset"]) <= 60

        assert_too_many(await request(3), limit=3)
        published = await get_json(connect(app, "192.0.2.11"), "/articles")
        assert published["articlesCount"] == (0 if kind == "reads" else 3)


# --- API5 --------------------------------------------------------------------------------

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


# --- API6 --------------------------------------------------------------------------------


class TestAPI6UnrestrictedAccessToSensitiveBusinessFlows:
    """API6:2023 Unrestricted Access to Sensitive Business Flows.

    "APIs vulnerable to this risk expose a business flow - such as buying a ticket, or
    posting a comment - without compensating for how the functionality could harm the
    business if used excessively in an automated manner."

    Here: creating accounts, following and favoriting (fake popularity) in bulk.
    """

    async def test_a_registration_flood_from_one_address_meets_429(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        app = limited_app(db, settings, tokens, rate_limit_register_per_ip="3/minute")
        bot = connect(app, "192.0.2.66")
        for n in range(3):
            await sign_up(bot, f"bot{n}")

        user = {"username": "bot3", "email": "bot3@conduit.test", "password": PASSWORD}
        assert_too_many(await bot.post("/users", json={"user": user}), limit=3)

        assert await count(db, users, users.c.username == "bot3") == 0
        assert await count(db, users) == 3
        # Another address is not held up.
        await sign_up(connect(app, "192.0.2.67"), "bot3")

    async def test_a_follow_and_favorite_flood_meets_the_writes_budget(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        app = limited_app(db, settings, tokens, rate_limit_writes_per_user="4/minute")
        author, _ = await sign_up(connect(app, "192.0.2.80"), "author")
        slug = (await create_article(connect(app, "192.0.2.80"), author))["slug"]
        http = connect(app, "192.0.2.81")  # two users on one address
        mallory, _ = await sign_up(http, "mallory")
        bob, _ = await sign_up(http, "bob")

        for method, path in (
            ("POST", "/profiles/author/follow"),
            ("DELETE", "/profiles/author/follow"),
            ("POST", f"/articles/{slug}/favorite"),
            ("DELETE", f"/articles/{slug}/favorite"),
        ):
            response = await http.request(method, path, headers=auth(mallory))
            assert response.status_code == 200, (method, path, response.text)
        assert_too_many(await http.post(f"/articles/{slug}/favorite", headers=auth(mallory)), 4)
        assert_too_many(await http.post("/profiles/author/follow", headers=auth(mallory)), 4)

        article = (await get_json(http, f"/articles/{slug}", mallory))["article"]
        assert (article["favorited"], article["favoritesCount"]) == (False, 0)
        assert (await get_json(http, "/profiles/author", mallory))["profile"]["following"] is False
        # Bob, on the same address, has a budget of his own.
        assert (await http.post(f"/articles/{slug}/favorite", headers=auth(bob))).status_code == 200
        assert (await http.post("/profiles/author/follow", headers=auth(bob))).status_code == 200


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
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


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

        async def broken(_db: Database, **_options: object) -> list[str]:
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
        assert "'/openapi.json'" in docs.text
        assert (await client.get(f"{ROOT}/openapi.json")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200  # /api/openapi.json
        for elsewhere in ("/redoc", "/api/docs", "/api/redoc", "/swagger"):
            assert_error(await client.get(f"{ROOT}{elsewhere}"), 404, {"path": ["not found"]})

    async def test_security_headers_on_api_answers_errors_and_the_docs(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        """Every answer, whoever makes it (a route, validation, the body limit, the rate
        limit), tells browsers not to sniff, frame or render it; the docs page too."""
        app = limited_app(db, settings, tokens, rate_limit_reads_per_ip="3/minute")
        http = connect(app, "192.0.2.90")
        too_large = b"{" + b" " * settings.max_body_bytes + b"}"
        answers = {
            200: await http.get("/tags"),
            404: await http.get("/articles/no-such-article"),
            401: await http.get("/user"),
            422: await http.post("/users", json={"user": {"username": "x"}}),
            413: await http.post(
                "/users", content=too_large, headers={"Content-Type": "application/json"}
            ),
        }
        for _ in range(5):  # the reads above counted too
            response = await http.get("/tags")
            if response.status_code != 200:
                break
        answers[429] = response
        docs = await http.get(f"{ROOT}/docs")

        for status, response in answers.items():
            assert response.status_code == status, (status, response.text)
            if status != 200:
                assert_error(response, status)
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get_list(name) == [value], (status, name)
            assert response.headers["content-security-policy"] == API_POLICY
            assert response.headers["cross-origin-resource-policy"] == "same-origin"
            assert "strict-transport-security" not in response.headers
        assert docs.status_code == 200
        for name, value in SECURITY_HEADERS.items():
            assert docs.headers.get_list(name) == [value], name
        policy = docs.headers["content-security-policy"].split("; ")
        assert {"default-src 'none'", "frame-ancestors 'none'"} <= set(policy)
        assert "'unsafe-inline'" not in next(d for d in policy if d.startswith("script-src"))

    @pytest.mark.parametrize("https", [True, False], ids=["https", "http"])
    async def test_hsts_only_when_served_over_https(
        self, db: Database, settings: Settings, tokens: TokenCodec, https: bool
    ) -> None:
        async with app_client(db, settings, tokens, https=https) as http:
            answers = [
                await http.get("/tags"),
                await http.get("/nowhere"),
                await http.get(f"{ROOT}/docs"),
            ]
        for response in answers:
            expected = ["max-age=31536000; includeSubDomains"] if https else []
            assert response.headers.get_list("strict-transport-security") == expected

    @pytest.mark.parametrize(
        "origins", [["*"], ["https://app.example", "*"]], ids=["wildcard", "listed-and-wildcard"]
    )
    def test_production_refuses_a_wildcard_cors_origin(
        self, tmp_path: Path, origins: list[str]
    ) -> None:
        settings = Settings(
            _env_file=None,
            environment="production",
            database_url=PG_URL,
            secret_key=STRONG_KEY,
            data_dir=tmp_path,
            cors_origins=origins,
        )
        with pytest.raises(ConfigurationError, match="CONDUIT_CORS_ORIGINS"):
            check_settings(settings)

    def test_production_accepts_listed_cors_origins(self, tmp_path: Path) -> None:
        """The control; outside production a wildcard stays allowed (local frontends)."""
        listed = Settings(
            _env_file=None,
            environment="production",
            database_url=PG_URL,
            secret_key=STRONG_KEY,
            data_dir=tmp_path,
            cors_origins=[ORIGIN],
        )
        assert check_settings(listed) == STRONG_KEY
        development = listed.model_copy(
            update={"environment": "development", "cors_origins": ["*"]}
        )
        assert check_settings(development) == STRONG_KEY


# --- API9 --------------------------------------------------------------------------------

# Routes the app answers that the OpenAPI document does not list, each on purpose.
UNDOCUMENTED_ROUTES = {
    ("/docs", "GET"),  # the Swagger UI of the document itself
    ("/openapi.json", "GET"),  # the document
    ("/api/openapi.json", "GET"),  # the document where it used to be
    ("/asyncapi.json", "GET"),  # the event catalogue (its own AsyncAPI document)
    ("/health/live", "GET"),  # probes for the orchestrator
    ("/health/ready", "GET"),
    ("/api/ws", "WEBSOCKET"),  # live updates (protocol in the README)
    ("/graphql", "GET"),  # GraphQL (its own schema: schema.graphql); GraphiQL outside production
    ("/graphql", "POST"),
    ("/graphql", "WEBSOCKET"),  # GraphQL subscriptions (graphql-transport-ws)
    ("/media/{key}", "GET"),  # uploaded images (links from user.image and upload.url)
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


# --- API10 -------------------------------------------------------------------------------

PROVIDER = "broken"
UNAVAILABLE = {"provider": ["is unavailable"]}
BAD_ID_TOKEN = {"login": ["id_token is invalid"]}


async def assert_no_user_created(db: Database) -> None:
    for table in (users, user_identities, sessions):
        assert await count(db, table) == 0, table.name


async def start_login(app: httpx.AsyncClient) -> tuple[str, str]:
    """Begin a login at the app: the state and nonce it sent the browser off with."""
    response = await app.get(f"/auth/{PROVIDER}/login")
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return query["state"][0], query["nonce"][0]


async def finish_login(app: httpx.AsyncClient, state: str) -> httpx.Response:
    """The browser comes back from the provider with a code: the app asks the provider."""
    return await app.get(f"/auth/{PROVIDER}/callback", params={"code": "a-code", "state": state})


@asynccontextmanager
async def app_with(
    db: Database, database_url: str, tmp_path: Path, tokens: TokenCodec, issuer: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with one OpenID Connect provider, ``broken``, at ``issuer``."""
    settings = app_settings(database_url, tmp_path, [provider_config(PROVIDER, issuer)])
    async for app in serve(db, settings, tokens):
        yield app


def hs256_with_client_secret(provider: BrokenProvider, nonce: str) -> str:
    """Algorithm confusion: signed with the client secret, which the provider shares."""
    return jwt.encode(provider.claims(nonce), CLIENT_SECRET, algorithm="HS256")


def unsigned_id_token(provider: BrokenProvider, nonce: str) -> str:
    return unsigned(provider.claims(nonce))


# id_tokens a provider (or a man in the middle) may hand over; Conduit must refuse each.
BAD_ID_TOKENS: dict[str, Callable[[BrokenProvider, str], object]] = {
    "other-audience": lambda p, nonce: p.id_token(nonce, aud="another-client"),
    "other-audiences": lambda p, nonce: p.id_token(nonce, aud=["another-client", "third"]),
    "no-audience": lambda p, nonce: p.id_token(nonce, aud=None),
    "other-issuer": lambda p, nonce: p.id_token(nonce, iss="https://evil.example"),
    "no-issuer": lambda p, nonce: p.id_token(nonce, iss=None),
    "expired": lambda p, nonce: p.id_token(
        nonce, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600
    ),
    "issued-in-the-future": lambda p, nonce: p.id_token(
        nonce, iat=int(time.time()) + 3600, exp=int(time.time()) + 7200
    ),
    "not-yet-valid": lambda p, nonce: p.id_token(nonce, nbf=int(time.time()) + 3600),
    "for-another-party": lambda p, nonce: p.id_token(
        nonce, aud=[CLIENT_ID, "another-client"], azp="another-client"
    ),
    "other-nonce": lambda p, nonce: p.id_token("not-the-nonce-sent"),
    "no-nonce": lambda p, nonce: p.id_token(nonce, nonce=None),
    "no-subject": lambda p, nonce: p.id_token(nonce, sub=None),
    "subject-not-a-string": lambda p, nonce: p.id_token(nonce, sub=42),
    "other-key-same-kid": lambda p, nonce: p.id_token(nonce, key=rsa_key("attacker")),
    "hs256-client-secret": hs256_with_client_secret,
    "alg-none": unsigned_id_token,
    "not-a-jwt": lambda p, nonce: "not.a.jwt",
    "empty": lambda p, nonce: "",
    "not-a-string": lambda p, nonce: {"sub": "zoe"},
}
# Token endpoint answers of the wrong shape (or an error) and what Conduit answers.
BAD_TOKEN_ANSWERS: dict[str, tuple[Answer, int, dict[str, list[str]]]] = {
    "no-id-token": (
        Answer.of({"access_token": "at", "token_type": "Bearer"}),
        401,
        {"login": ["id_token is missing"]},
    ),
    "html": (Answer(b"<html>oops</html>", 200, "text/html"), 503, UNAVAILABLE),
    "json-list": (Answer.of([{"id_token": "x"}]), 503, UNAVAILABLE),
    "json-string": (Answer.of("id_token"), 503, UNAVAILABLE),
    "json-null": (Answer.of(None), 503, UNAVAILABLE),
    "empty": (Answer(b""), 503, UNAVAILABLE),
    "server-error-500": (Answer(b"boom", 500, "text/plain"), 503, UNAVAILABLE),
    "error-server_error": (Answer.of({"error": "server_error"}, 400), 503, UNAVAILABLE),
    "error-invalid_grant": (
        Answer.of({"error": "invalid_grant"}, 400),
        401,
        {"login": ["code was refused by the provider"]},
    ),
}
# Discovery documents of the wrong shape: the login cannot even start.
BAD_DISCOVERY: dict[str, Callable[[BrokenProvider], Answer]] = {
    "json-list": lambda p: Answer.of([p.discovery()]),
    "html": lambda p: Answer(b"<html>login</html>", 200, "text/html"),
    "not-found": lambda p: Answer(b"{}", 404),
    "other-issuer": lambda p: Answer.of(p.discovery(issuer="https://evil.example")),
    "no-issuer": lambda p: Answer.of({k: v for k, v in p.discovery().items() if k != "issuer"}),
    "no-token-endpoint": lambda p: Answer.of(p.discovery(token_endpoint=None)),
    "endpoint-not-a-url": lambda p: Answer.of(p.discovery(authorization_endpoint=42)),
    "jwks-file-url": lambda p: Answer.of(p.discovery(jwks_uri="file:///etc/passwd")),
}
# Key sets of the wrong shape: found when the id_token is checked.
BAD_KEYS: dict[str, Answer] = {
    "keys-not-a-list": Answer.of({"keys": "none"}),
    "json-list": Answer.of([]),
    "incomplete-key": Answer.of({"keys": [{"kty": "RSA", "kid": "broken-key-1"}]}),
    "html": Answer(b"<html/>", 200, "text/html"),
}


class TestAPI10UnsafeConsumptionOfAPIs:
    """API10:2023 Unsafe Consumption of APIs.

    "Developers tend to trust data received from third-party APIs more than user input,
    and so tend to adopt weaker security standards. In order to compromise APIs, attackers
    go after integrated third-party services instead of trying to compromise the target
    API directly."

    The third party here is the OpenID Connect provider. What it sends back is checked:
    a refused answer is a 401 (the login cannot be trusted) or a 503 (the provider is
    broken), in the error format, never a 500; and it leaves no user behind.
    """

    @pytest.mark.parametrize("mode", ["payload", "signature", "none"])
    async def test_a_tampered_id_token_from_the_real_provider_is_refused(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        oidc_provider: OidcProviderProcess,
        mode: str,
    ) -> None:
        settings = app_settings(
            database_url, tmp_path, [provider_config("test", oidc_provider.issuer)]
        )
        async for app in serve(db, settings, tokens):
            callback = await browse_to_callback(app, "test", "alice")
            oidc_provider.tamper_next_id_token(mode)  # altered in transit
            response = await app.get(callback)
            assert_error(response, 401, BAD_ID_TOKEN)
            assert "set-cookie" not in response.headers
        await assert_no_user_created(db)

    async def test_a_correct_answer_signs_in(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        broken_provider: BrokenProvider,
    ) -> None:
        """The control: the test provider, answering correctly, signs a user in."""
        async with app_with(db, database_url, tmp_path, tokens, broken_provider.issuer) as app:
            state, nonce = await start_login(app)
            broken_provider.answer(
                "/token", broken_provider.token_answer(broken_provider.id_token(nonce))
            )
            response = await finish_login(app, state)
        assert response.status_code == 302, response.text
        assert "#token=" in response.headers["location"]
        assert await count(db, users, users.c.email == "zoe@example.test") == 1
        assert "POST /token" in broken_provider.requests

    @pytest.mark.parametrize("forge", BAD_ID_TOKENS.values(), ids=BAD_ID_TOKENS.keys())
    async def test_an_id_token_that_does_not_verify_is_refused(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        broken_provider: BrokenProvider,
        forge: Callable[[BrokenProvider, str], object],
    ) -> None:
        async with app_with(db, database_url, tmp_path, tokens, broken_provider.issuer) as app:
            state, nonce = await start_login(app)
            broken_provider.answer(
                "/token", broken_provider.token_answer(forge(broken_provider, nonce))
            )
            response = await finish_login(app, state)
        expected = (
            {"login": ["id_token is missing"]}
            if forge in (BAD_ID_TOKENS["empty"], BAD_ID_TOKENS["not-a-string"])
            else BAD_ID_TOKEN
        )
        assert_error(response, 401, expected)
        assert_no_internals(response)
        await assert_no_user_created(db)
        async with db.engine.connect() as conn:
            failed = await conn.scalar(
                select(audit_log.c.details).where(audit_log.c.type == LOGIN_FAILED)
            )
        assert failed is not None

    @pytest.mark.parametrize("case", BAD_TOKEN_ANSWERS.values(), ids=BAD_TOKEN_ANSWERS.keys())
    async def test_a_token_answer_of_the_wrong_shape_is_refused(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        broken_provider: BrokenProvider,
        case: tuple[Answer, int, dict[str, list[str]]],
    ) -> None:
        answer, status, errors = case
        async with app_with(db, database_url, tmp_path, tokens, broken_provider.issuer) as app:
            state, _ = await start_login(app)
            broken_provider.answer("/token", answer)
            response = await finish_login(app, state)
        assert_error(response, status, errors)
        assert_no_internals(response)
        await assert_no_user_created(db)

    @pytest.mark.parametrize("document", BAD_DISCOVERY.values(), ids=BAD_DISCOVERY.keys())
    async def test_a_discovery_document_of_the_wrong_shape_is_refused(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        broken_provider: BrokenProvider,
        document: Callable[[BrokenProvider], Answer],
    ) -> None:
        broken_provider.answer("/.well-known/openid-configuration", document(broken_provider))
        async with app_with(db, database_url, tmp_path, tokens, broken_provider.issuer) as app:
            response = await app.get(f"/auth/{PROVIDER}/login")
        assert_error(response, 503, UNAVAILABLE)
        assert "location" not in response.headers
        assert broken_provider.requests == ["GET /.well-known/openid-configuration"]
        await assert_no_user_created(db)

    @pytest.mark.parametrize("keys", BAD_KEYS.values(), ids=BAD_KEYS.keys())
    async def test_a_key_set_of_the_wrong_shape_is_refused(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        broken_provider: BrokenProvider,
        keys: Answer,
    ) -> None:
        broken_provider.answer("/jwks", keys)
        async with app_with(db, database_url, tmp_path, tokens, broken_provider.issuer) as app:
            state, nonce = await start_login(app)
            broken_provider.answer(
                "/token", broken_provider.token_answer(broken_provider.id_token(nonce))
            )
            response = await finish_login(app, state)
        assert_error(response, 503, UNAVAILABLE)
        await assert_no_user_created(db)

    async def test_a_provider_offering_only_symmetric_signatures_is_refused(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        broken_provider: BrokenProvider,
    ) -> None:
        """HS256 would be keyed with the client secret: never accepted, even if advertised."""
        discovery = broken_provider.discovery(id_token_signing_alg_values_supported=["HS256"])
        broken_provider.answer("/.well-known/openid-configuration", Answer.of(discovery))
        async with app_with(db, database_url, tmp_path, tokens, broken_provider.issuer) as app:
            state, nonce = await start_login(app)
            forged = hs256_with_client_secret(broken_provider, nonce)
            broken_provider.answer("/token", broken_provider.token_answer(forged))
            response = await finish_login(app, state)
        assert_error(response, 503, UNAVAILABLE)
        await assert_no_user_created(db)

    @pytest.mark.parametrize(
        ("userinfo", "status", "errors"),
        [
            (
                Answer.of(
                    {"sub": "mallory", "email": "mallory@example.test", "email_verified": True}
                ),
                401,
                {"login": ["userinfo is invalid"]},
            ),
            (
                Answer.of({"email": "zoe@example.test", "email_verified": True}),
                401,
                {"login": ["userinfo is invalid"]},
            ),
            (Answer.of([{"sub": "zoe"}]), 503, UNAVAILABLE),
            (Answer(b"<html/>", 200, "text/html"), 503, UNAVAILABLE),
            (Answer(b"down", 502, "text/plain"), 503, UNAVAILABLE),
        ],
        ids=["other-subject", "no-subject", "json-list", "html", "bad-gateway"],
    )
    async def test_userinfo_that_does_not_match_is_refused(
        self,
        db: Database,
        database_url: str,
        tmp_path: Path,
        tokens: TokenCodec,
        broken_provider: BrokenProvider,
        userinfo: Answer,
        status: int,
        errors: dict[str, list[str]],
    ) -> None:
        """The id_token names zoe without an email: the email must come from userinfo,
        about the same subject."""
        broken_provider.answer("/userinfo", userinfo)
        async with app_with(db, database_url, tmp_path, tokens, broken_provider.issuer) as app:
            state, nonce = await start_login(app)
            id_token = broken_provider.id_token(nonce, email=None, email_verified=None)
            broken_provider.answer("/token", broken_provider.token_answer(id_token))
            response = await finish_login(app, state)
        assert_error(response, status, errors)
        assert "GET /userinfo" in broken_provider.requests
        await assert_no_user_created(db)
