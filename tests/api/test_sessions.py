"""Sessions over HTTP: the refresh cookie, rotation and reuse, logout (here and everywhere),
the origin check on cookie-authenticated requests, the audit records and banned accounts."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from sqlalchemy import select, update

from conduit.auth.audit import (
    LOGIN_FAILED,
    LOGIN_SUCCEEDED,
    REFRESH_REUSED,
    SIGNED_OUT_EVERYWHERE,
)
from conduit.auth.models import refresh_tokens, sessions
from conduit.bootstrap import Container
from conduit.core.audit import audit_log
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from conduit.users.models import users
from tests.api.support import USER_KEYS, assert_error
from tests.conftest import TEST_SECRET
from tests.helpers import auth

COOKIE = "conduit_refresh"
PASSWORD = "password123"
LISTED_ORIGIN = "https://app.conduit.example"


def refresh_cookie(response: httpx.Response) -> SimpleCookie:
    """The parsed Set-Cookie of the refresh cookie (exactly one)."""
    found = [
        header
        for header in response.headers.get_list("set-cookie")
        if header.startswith(f"{COOKIE}=")
    ]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(found[0])
    return cookie


def refresh_token_of(response: httpx.Response) -> str:
    value = refresh_cookie(response)[COOKIE].value
    assert value
    return value


async def signup(client: httpx.AsyncClient, name: str) -> httpx.Response:
    response = await client.post(
        "/users",
        json={"user": {"username": name, "email": f"{name}@conduit.test", "password": PASSWORD}},
    )
    assert response.status_code == 201, response.text
    return response


async def login(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD, **headers: str
) -> httpx.Response:
    return await client.post(
        "/users/login",
        json={"user": {"email": f"{name}@conduit.test", "password": password}},
        headers=headers,
    )


async def refresh(
    client: httpx.AsyncClient, token: str | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST /users/refresh with the cookie as a browser on the API's site sends it."""
    client.cookies.clear()
    sent = dict(headers or {})
    if token is not None:
        sent["Cookie"] = f"{COOKIE}={token}"
    return await client.post("/users/refresh", headers=sent)


async def logout(
    client: httpx.AsyncClient, token: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    if body is None:
        return await client.post("/users/logout", headers=auth(token))
    return await client.post("/users/logout", json=body, headers=auth(token))


async def current_status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/user", headers=auth(token))).status_code


async def audit_rows(db: Database, kind: str) -> list[Any]:
    async with db.engine.connect() as conn:
        result = await conn.execute(
            select(audit_log).where(audit_log.c.type == kind).order_by(audit_log.c.id)
        )
        return list(result)


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    return decoded


# --- the cookie --------------------------------------------------------------------------


async def test_login_sets_the_refresh_cookie(client: httpx.AsyncClient, settings: Settings) -> None:
    await signup(client, "alice")
    response = await login(client, "alice")
    assert response.status_code == 200
    assert set(response.json()) == {"user"}
    assert set(response.json()["user"]) == USER_KEYS
    morsel = refresh_cookie(response)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/api/users/refresh"
    assert morsel["max-age"] == str(settings.refresh_token_ttl_seconds)
    assert len(morsel.value) >= 40


async def test_register_starts_a_session_named_by_the_access_token(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await signup(client, "alice")
    token = response.json()["user"]["token"]
    session_id = claims(token)["sid"]
    stored_hashes = []
    async with db.engine.connect() as conn:
        session = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).one()
        for row in await conn.execute(select(refresh_tokens.c.token_hash)):
            stored_hashes.append(row.token_hash)
    assert session.revoked_at is None
    assert session.expires_at > utcnow()
    cookie_value = refresh_token_of(response)
    assert cookie_value not in stored_hashes  # stored as a hash only
    assert len(stored_hashes) == 1


# --- refresh -----------------------------------------------------------------------------


async def test_refresh_rotates_the_cookie_and_answers_the_user(client: httpx.AsyncClient) -> None:
    registered = await signup(client, "alice")
    first = refresh_token_of(registered)
    response = await refresh(client, first)
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert set(user) == USER_KEYS
    assert user["username"] == "alice"
    assert claims(user["token"])["sid"] == claims(registered.json()["user"]["token"])["sid"]
    assert await current_status(client, user["token"]) == 200
    second = refresh_token_of(response)
    assert second != first
    morsel = refresh_cookie(response)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["path"] == "/api/users/refresh"
    again = await refresh(client, second)
    assert again.status_code == 200, again.text


async def test_reusing_a_rotated_token_revokes_the_whole_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    registered = await signup(client, "alice")
    stolen = refresh_token_of(registered)
    rotated = await refresh(client, stolen)
    newest_cookie = refresh_token_of(rotated)
    newest_access = rotated.json()["user"]["token"]
    assert await current_status(client, newest_access) == 200
    await exchanged_long_ago(db)  # past the reuse grace period

    reuse = await refresh(client, stolen)
    assert_error(reuse, 401)
    # The family is gone: the newest refresh token and the session's access tokens too.
    assert_error(await refresh(client, newest_cookie), 401)
    assert await current_status(client, newest_access) == 401
    assert await current_status(client, registered.json()["user"]["token"]) == 401

    async with db.engine.connect() as conn:
        session = (await conn.execute(select(sessions))).one()
    assert session.revoked_at is not None
    assert session.revoked_reason == "reuse"
    (record,) = await audit_rows(db, REFRESH_REUSED)
    assert record.subject_id == int(claims(newest_access)["sub"])
    assert orjson.loads(record.details)["sessionId"] == session.id
    # Another login is a new session, untouched.
    fresh = await login(client, "alice")
    assert (await refresh(client, refresh_token_of(fresh))).status_code == 200


async def test_refresh_without_a_cookie_is_401(client: httpx.AsyncClient) -> None:
    assert_error(await refresh(client, None), 401, {"refresh token": ["is missing"]})


async def test_refresh_with_an_unknown_cookie_is_401(client: httpx.AsyncClient) -> None:
    await signup(client, "alice")
    assert_error(await refresh(client, "not-a-token-we-issued"), 401)


async def test_refresh_of_an_expired_session_is_401(
    client: httpx.AsyncClient, db: Database
) -> None:
    cookie = refresh_token_of(await signup(client, "alice"))
    async with db.engine.begin() as conn:
        await conn.execute(update(sessions).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert_error(await refresh(client, cookie), 401, {"refresh token": ["has expired"]})


async def exchanged_long_ago(db: Database, seconds: int = 3600) -> None:
    """Move the exchanges of refresh tokens back in time (past any grace period)."""
    async with db.engine.begin() as conn:
        await conn.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.rotated_at.is_not(None))
            .values(rotated_at=utcnow() - dt.timedelta(seconds=seconds))
        )


async def test_concurrent_refreshes_with_one_token_get_the_same_successor(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Two tabs refreshing at once: both get the one successor, and the session lives on."""
    cookie = refresh_token_of(await signup(client, "alice"))
    results = await asyncio.gather(*(refresh(client, cookie) for _ in range(2)))
    assert [response.status_code for response in results] == [200, 200], [
        response.text for response in results
    ]
    successors = {refresh_token_of(response) for response in results}
    assert len(successors) == 1
    # One successor only: the family never forks.
    async with db.engine.connect() as conn:
        stored = list(await conn.execute(select(refresh_tokens)))
        session = (await conn.execute(select(sessions))).one()
    assert len(stored) == 2
    assert sum(row.rotated_at is None for row in stored) == 1
    assert session.revoked_at is None
    for response in results:
        assert await current_status(client, response.json()["user"]["token"]) == 200
    assert (await refresh(client, successors.pop())).status_code == 200


# --- logout ------------------------------------------------------------------------------


async def test_logout_revokes_this_session_only(client: httpx.AsyncClient, db: Database) -> None:
    first = await signup(client, "alice")
    second = await login(client, "alice")
    token = first.json()["user"]["token"]

    response = await logout(client, token)
    assert response.status_code == 204
    assert response.content == b""
    cleared = refresh_cookie(response)[COOKIE]
    assert cleared["max-age"] == "0"
    assert cleared["path"] == "/api/users/refresh"

    assert await current_status(client, token) == 401
    assert_error(await refresh(client, refresh_token_of(first)), 401)
    # The other session is untouched.
    assert await current_status(client, second.json()["user"]["token"]) == 200
    assert (await refresh(client, refresh_token_of(second))).status_code == 200
    async with db.engine.connect() as conn:
        reasons = {row.revoked_reason for row in await conn.execute(select(sessions))}
    assert reasons == {"logout", None}


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/users/logout"), 401)


async def test_reading_or_updating_the_user_never_renews_the_token(
    client: httpx.AsyncClient,
) -> None:
    """A token must not extend its own life (a stolen one would never expire): GET and PUT
    /user answer with the token the caller sent; sessions renew through /users/refresh."""
    token = (await signup(client, "alice")).json()["user"]["token"]
    assert (await client.get("/user", headers=auth(token))).json()["user"]["token"] == token
    updated = await client.put("/user", json={"user": {"bio": "hi"}}, headers=auth(token))
    assert updated.json()["user"]["token"] == token
    assert (await logout(client, token)).status_code == 204
    assert await current_status(client, token) == 401


async def test_a_new_password_signs_out_every_other_session(
    client: httpx.AsyncClient, db: Database
) -> None:
    """Whoever else knew the old password is out; the caller, and the token it holds (as
    RealWorld frontends keep using it), stay in."""
    mine = await signup(client, "alice")
    theirs = await login(client, "alice")
    my_token = mine.json()["user"]["token"]

    changed = await client.put(
        "/user", json={"user": {"password": "a-new-password"}}, headers=auth(my_token)
    )
    assert changed.status_code == 200
    assert changed.json()["user"]["token"] == my_token

    assert await current_status(client, my_token) == 200
    assert await current_status(client, theirs.json()["user"]["token"]) == 401
    assert_error(await refresh(client, refresh_token_of(theirs)), 401)
    assert (await refresh(client, refresh_token_of(mine))).status_code == 200
    (record,) = await audit_rows(db, SIGNED_OUT_EVERYWHERE)
    details = orjson.loads(record.details)
    assert details == {"sessions": 1, "reason": "password", "kept": claims(my_token)["sid"]}


async def test_logout_everywhere_revokes_every_token(
    client: httpx.AsyncClient, db: Database
) -> None:
    registered = await signup(client, "alice")
    other = await login(client, "alice")
    refreshed = await refresh(client, refresh_token_of(other))
    access_tokens = [
        registered.json()["user"]["token"],
        other.json()["user"]["token"],
        refreshed.json()["user"]["token"],
    ]
    cookies = [refresh_token_of(registered), refresh_token_of(refreshed)]
    bystander = (await signup(client, "bob")).json()["user"]["token"]

    response = await logout(client, access_tokens[1], {"everywhere": True})
    assert response.status_code == 204

    for token in access_tokens:
        assert await current_status(client, token) == 401
    for cookie in cookies:
        assert_error(await refresh(client, cookie), 401)
    assert await current_status(client, bystander) == 200
    # Signing in again afterwards works.
    again = await login(client, "alice")
    assert again.status_code == 200
    assert await current_status(client, again.json()["user"]["token"]) == 200
    assert (await refresh(client, refresh_token_of(again))).status_code == 200

    async with db.engine.connect() as conn:
        cutoff = (
            await conn.execute(
                select(users.c.tokens_revoked_before).where(users.c.username == "alice")
            )
        ).scalar_one()
        reasons = [row.revoked_reason for row in await conn.execute(select(sessions))]
    assert cutoff is not None
    assert cutoff.microsecond % 1000 == 0
    # alice's two sessions; bob's and alice's new one are open.
    assert sorted(reason or "" for reason in reasons) == ["", "", "everywhere", "everywhere"]
    (record,) = await audit_rows(db, SIGNED_OUT_EVERYWHERE)
    assert record.actor_id == record.subject_id
    assert orjson.loads(record.details)["sessions"] == 2


# --- the origin check --------------------------------------------------------------------


@pytest.fixture
async def listed_client(
    db: Database, settings: Settings, tokens: TokenCodec, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with one browser origin listed in CONDUIT_CORS_ORIGINS."""
    configured = settings.model_copy(update={"cors_origins": [LISTED_ORIGIN]})
    app = create_app(container=Container(settings=configured, db=db, tokens=tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api") as http:
        yield http


async def test_refresh_from_a_foreign_origin_is_403(listed_client: httpx.AsyncClient) -> None:
    cookie = refresh_token_of(await signup(listed_client, "alice"))
    for headers in (
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
    ):
        response = await refresh(listed_client, cookie, headers)
        assert_error(response, 403, {"origin": ["is not allowed"]})
    # Refused before anything happened: the token was not rotated.
    assert (await refresh(listed_client, cookie)).status_code == 200


async def test_refresh_from_a_listed_or_own_origin_is_accepted(
    listed_client: httpx.AsyncClient,
) -> None:
    cookie = refresh_token_of(await signup(listed_client, "alice"))
    for headers in (
        {"Origin": LISTED_ORIGIN},
        {"Origin": "http://conduit.test"},
        {"Referer": f"{LISTED_ORIGIN}/settings"},
    ):
        response = await refresh(listed_client, cookie, headers)
        assert response.status_code == 200, (headers, response.text)
        cookie = refresh_token_of(response)


async def test_a_wildcard_origin_does_not_vouch_for_the_cookie(client: httpx.AsyncClient) -> None:
    cookie = refresh_token_of(await signup(client, "alice"))
    response = await refresh(client, cookie, {"Origin": "https://evil.example"})
    assert_error(response, 403, {"origin": ["is not allowed"]})


async def test_logout_with_the_cookie_checks_the_origin(client: httpx.AsyncClient) -> None:
    registered = await signup(client, "alice")
    token = registered.json()["user"]["token"]
    client.cookies.clear()
    response = await client.post(
        "/users/logout",
        headers={
            **auth(token),
            "Cookie": f"{COOKIE}={refresh_token_of(registered)}",
            "Origin": "https://evil.example",
        },
    )
    assert_error(response, 403, {"origin": ["is not allowed"]})
    assert await current_status(client, token) == 200


# --- audit and bans ----------------------------------------------------------------------


async def test_logins_are_audited_with_the_client(client: httpx.AsyncClient, db: Database) -> None:
    await signup(client, "alice")
    ok = await login(client, "alice", **{"User-Agent": "TestBrowser/1.0"})
    assert ok.status_code == 200
    wrong = await login(client, "alice", "wrong-password-9", **{"User-Agent": "Guesser/2.0"})
    assert_error(wrong, 401)
    unknown = await client.post(
        "/users/login",
        json={"user": {"email": "nobody@conduit.test", "password": "secret-guess-1"}},
    )
    assert_error(unknown, 401)

    succeeded = await audit_rows(db, LOGIN_SUCCEEDED)
    assert len(succeeded) == 2  # registration and login
    login_record = succeeded[-1]
    assert login_record.user_agent == "TestBrowser/1.0"
    assert login_record.ip == "127.0.0.1"
    assert login_record.actor_id == login_record.subject_id is not None

    failed = await audit_rows(db, LOGIN_FAILED)
    assert len(failed) == 2
    assert failed[0].user_agent == "Guesser/2.0"
    assert failed[0].ip == "127.0.0.1"
    assert failed[0].subject_id == login_record.subject_id  # the account the email names
    assert orjson.loads(failed[0].details)["email"] == "alice@conduit.test"
    assert orjson.loads(failed[1].details)["email"] == "nobody@conduit.test"
    assert failed[1].subject_id is None
    for row in failed:
        assert "wrong-password-9" not in row.details
        assert "secret-guess-1" not in row.details


async def test_a_banned_user_can_neither_log_in_nor_refresh(
    client: httpx.AsyncClient, db: Database
) -> None:
    cookie = refresh_token_of(await signup(client, "mallory"))
    async with db.engine.begin() as conn:
        await conn.execute(
            update(users).where(users.c.username == "mallory").values(banned_at=utcnow())
        )
    assert_error(await login(client, "mallory"), 403, {"user": ["is banned"]})
    assert_error(await refresh(client, cookie), 403, {"user": ["is banned"]})
    failed = await audit_rows(db, LOGIN_FAILED)
    assert [orjson.loads(row.details)["reason"] for row in failed] == ["banned"]
