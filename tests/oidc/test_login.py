"""Login with OpenID Connect, end to end against a real provider (oidc-provider).

The browser's part is played over HTTP; the app signs users in from the provider's answers.
Each refusal is checked to leave nothing behind: no user, no linked identity, no session.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from sqlalchemy import func, insert, select, update

from conduit.auth.audit import LOGIN_FAILED, LOGIN_SUCCEEDED
from conduit.auth.models import refresh_tokens, sessions
from conduit.auth.oidc.models import login_states, user_identities
from conduit.core.audit import audit_log
from conduit.core.db import Database
from conduit.core.outbox import outbox
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow
from conduit.settings import OidcProvider
from conduit.users.models import users
from tests.helpers import auth, register
from tests.oidc.conftest import (
    FRONTEND,
    PROVIDER_NAMES,
    app_settings,
    browse_to_callback,
    callback_uris,
    provider_config,
    serve,
)
from tests.oidc.provider_process import CLIENT_ID, OidcProviderProcess


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.engine.connect() as conn:
        query = select(func.count()).select_from(table)
        if where:
            query = query.where(*where)
        return int((await conn.execute(query)).scalar_one())


async def user_id_of(db: Database, email: str) -> int | None:
    async with db.engine.connect() as conn:
        found = await conn.execute(select(users.c.id).where(users.c.email == email))
        return found.scalar_one_or_none()


async def assert_nothing_created(db: Database) -> None:
    """No user, identity, session or event was left by a refused login."""
    assert await count(db, users) == 0
    assert await count(db, user_identities) == 0
    assert await count(db, sessions) == 0
    assert await count(db, outbox) == 0


def token_of(response: httpx.Response) -> str:
    """The access token of the callback's redirect, which must be in the fragment only."""
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == FRONTEND
    assert location.query == ""
    fragment = parse_qs(location.fragment)
    assert list(fragment) == ["token"]
    return fragment["token"][0]


async def log_in(app: httpx.AsyncClient, account: str, provider: str = "test") -> httpx.Response:
    return await app.get(await browse_to_callback(app, provider, account))


async def test_first_login_creates_the_user_and_signs_in(
    app: httpx.AsyncClient, db: Database
) -> None:
    start = await app.get("/auth/test/login")
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://conduit.test/api/auth/test/callback"]
    assert {"state", "nonce", "code_challenge"} <= set(query)
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}

    response = await log_in(app, "alice")
    token = token_of(response)
    assert response.headers["cache-control"] == "no-store"
    me = await app.get("/user", headers=auth(token))
    assert me.status_code == 200, me.text
    assert me.json()["user"]["username"] == "alice"
    assert me.json()["user"]["email"] == "alice@example.test"  # lower-cased

    cookie = response.headers["set-cookie"]
    assert cookie.startswith("conduit_refresh=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api/users/refresh"):
        assert attribute in cookie
    refresh = cookie.split(";")[0].removeprefix("conduit_refresh=")
    user_id = await user_id_of(db, "alice@example.test")
    assert user_id is not None
    async with db.engine.connect() as conn:
        session = (await conn.execute(select(sessions))).one()
        assert session.user_id == user_id
        assert (await conn.execute(select(refresh_tokens.c.session_id))).scalar_one() == session.id
        assert len(refresh) >= 40
        identity = (await conn.execute(select(user_identities))).one()
        assert (identity.provider, identity.subject, identity.user_id) == ("test", "alice", user_id)
        entry = (await conn.execute(select(audit_log))).one()
        assert (entry.type, entry.actor_id) == (LOGIN_SUCCEEDED, user_id)
        assert orjson.loads(entry.details) == {"provider": "test"}
        events = (await conn.execute(select(outbox.c.type).order_by(outbox.c.seq))).scalars()
        assert list(events) == ["user.registered", "user.identity_linked"]
    assert await count(db, login_states) == 1  # the first start above, abandoned; this one used


async def test_a_second_login_is_the_same_user(app: httpx.AsyncClient, db: Database) -> None:
    first = token_of(await log_in(app, "alice"))
    second = token_of(await log_in(app, "alice"))
    one = (await app.get("/user", headers=auth(first))).json()["user"]
    two = (await app.get("/user", headers=auth(second))).json()["user"]
    assert one["username"] == two["username"] == "alice"
    assert await count(db, users) == 1
    assert await count(db, user_identities) == 1
    assert await count(db, sessions) == 2


async def test_a_username_taken_gets_a_suffix(app: httpx.AsyncClient, db: Database) -> None:
    await register(app, "alice")  # alice@conduit.test: another person
    token = token_of(await log_in(app, "alice"))
    assert (await app.get("/user", headers=auth(token))).json()["user"]["username"] == "alice-2"
    # No preferred_username: the name, made a valid username; else the email's local part.
    eve = token_of(await log_in(app, "eve"))
    assert (await app.get("/user", headers=auth(eve))).json()["user"]["username"] == "Eve-Smith"
    frank = token_of(await log_in(app, "frank"))
    assert (await app.get("/user", headers=auth(frank))).json()["user"]["username"] == "frank"


async def test_a_verified_email_links_the_existing_account(
    app: httpx.AsyncClient, db: Database
) -> None:
    await register(app, "carol", password="carols-password")
    carol = await user_id_of(db, "carol@conduit.test")
    token = token_of(await log_in(app, "carol"))
    me = (await app.get("/user", headers=auth(token))).json()["user"]
    assert me["username"] == "carol"
    assert await count(db, users) == 1
    async with db.engine.connect() as conn:
        assert (await conn.execute(select(user_identities.c.user_id))).scalar_one() == carol
    # The password still works.
    login = await app.post(
        "/users/login",
        json={"user": {"email": "carol@conduit.test", "password": "carols-password"}},
    )
    assert login.status_code == 200


async def test_an_unverified_email_never_links(app: httpx.AsyncClient, db: Database) -> None:
    await register(app, "dave")
    response = await log_in(app, "dave")
    assert response.status_code == 403
    assert list(response.json()["errors"]) == ["email"]
    assert "set-cookie" not in response.headers
    assert await count(db, users) == 1
    assert await count(db, user_identities) == 0
    assert await count(db, sessions) == 1  # the registration's own; the login started none


async def test_an_unverified_email_creates_no_account(app: httpx.AsyncClient, db: Database) -> None:
    response = await log_in(app, "bob")
    assert response.status_code == 403
    assert response.json() == {"errors": {"email": ["is not verified by the provider"]}}
    await assert_nothing_created(db)


async def test_no_email_no_account(app: httpx.AsyncClient, db: Database) -> None:
    response = await log_in(app, "noemail")
    assert response.status_code == 403
    assert list(response.json()["errors"]) == ["email"]
    await assert_nothing_created(db)


async def test_a_banned_user_cannot_log_in(app: httpx.AsyncClient, db: Database) -> None:
    token_of(await log_in(app, "alice"))
    async with db.engine.begin() as conn:
        await conn.execute(update(users).values(banned_at=utcnow()))
    response = await log_in(app, "alice")
    assert response.status_code == 403
    assert response.json() == {"errors": {"user": ["is banned"]}}
    assert await count(db, sessions) == 1


@pytest.mark.parametrize("mode", ["payload", "signature", "none"])
async def test_a_tampered_id_token_is_refused(
    app: httpx.AsyncClient, db: Database, provider: OidcProviderProcess, mode: str
) -> None:
    callback = await browse_to_callback(app, "test", "alice")
    provider.tamper_next_id_token(mode)  # the provider's real id_token, altered in transit
    response = await app.get(callback)
    assert response.status_code == 401
    assert response.json() == {"errors": {"login": ["id_token is invalid"]}}
    await assert_nothing_created(db)


async def test_a_wrong_nonce_is_refused(app: httpx.AsyncClient, db: Database) -> None:
    callback = await browse_to_callback(app, "test", "alice")
    async with db.engine.begin() as conn:
        await conn.execute(update(login_states).values(nonce="not-the-nonce-sent"))
    response = await app.get(callback)
    assert response.status_code == 401
    assert response.json() == {"errors": {"login": ["id_token is invalid"]}}
    await assert_nothing_created(db)


async def test_a_replayed_state_is_refused(app: httpx.AsyncClient, db: Database) -> None:
    callback = await browse_to_callback(app, "test", "alice")
    token_of(await app.get(callback))
    replay = await app.get(callback)
    assert replay.status_code == 401
    assert replay.json() == {"errors": {"login": ["state is unknown or already used"]}}
    assert await count(db, sessions) == 1
    async with db.engine.connect() as conn:
        failed = (
            await conn.execute(select(audit_log).where(audit_log.c.type == LOGIN_FAILED))
        ).one()
    assert orjson.loads(failed.details) == {
        "provider": "test",
        "reason": "login state is unknown or already used",
    }


async def test_a_missing_or_unknown_state_is_refused(app: httpx.AsyncClient, db: Database) -> None:
    callback = await browse_to_callback(app, "test", "alice")
    query = parse_qs(urlsplit(callback).query)
    missing = await app.get("/auth/test/callback", params={"code": query["code"][0]})
    assert missing.status_code == 401
    assert missing.json() == {"errors": {"login": ["state is missing"]}}
    unknown = await app.get(
        "/auth/test/callback", params={"code": query["code"][0], "state": "forged"}
    )
    assert unknown.status_code == 401
    # A state is bound to its provider: another provider's callback does not take it.
    other = await app.get(
        "/auth/down/callback", params={"code": query["code"][0], "state": query["state"][0]}
    )
    assert other.status_code == 401
    await assert_nothing_created(db)
    assert await count(db, login_states) == 1  # still waiting for its own callback


async def test_an_expired_state_is_refused(app: httpx.AsyncClient, db: Database) -> None:
    callback = await browse_to_callback(app, "test", "alice")
    async with db.engine.begin() as conn:
        old = utcnow() - dt.timedelta(minutes=11)
        await conn.execute(update(login_states).values(created_at=old))
    response = await app.get(callback)
    assert response.status_code == 401
    assert response.json() == {"errors": {"login": ["has expired, start again"]}}
    await assert_nothing_created(db)
    assert await count(db, login_states) == 0


async def test_a_code_the_provider_refuses(app: httpx.AsyncClient, db: Database) -> None:
    callback = await browse_to_callback(app, "test", "alice")
    query = parse_qs(urlsplit(callback).query)
    params = {"code": "made-up", "state": query["state"][0], "iss": query["iss"][0]}
    response = await app.get("/auth/test/callback", params=params)
    assert response.status_code == 401
    assert response.json() == {"errors": {"login": ["code was refused by the provider"]}}
    await assert_nothing_created(db)


async def test_the_provider_says_no(
    app: httpx.AsyncClient, db: Database, provider: OidcProviderProcess
) -> None:
    start = await app.get("/auth/test/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    response = await app.get(
        "/auth/test/callback",
        params={"error": "access_denied", "state": state, "iss": provider.issuer},
    )
    assert response.status_code == 401
    assert response.json() == {"errors": {"login": ["was refused by the provider (access_denied)"]}}
    assert await count(db, login_states) == 0


async def test_a_provider_that_does_not_answer(app: httpx.AsyncClient, db: Database) -> None:
    login = await app.get("/auth/down/login")
    assert login.status_code == 503
    assert login.json() == {"errors": {"provider": ["is unavailable"]}}
    assert await count(db, login_states) == 0
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(login_states).values(
                state="s" * 43,
                provider="down",
                nonce="n",
                code_verifier="v" * 43,
                created_at=utcnow(),
            )
        )
    callback = await app.get("/auth/down/callback", params={"code": "c", "state": "s" * 43})
    assert callback.status_code == 503
    assert callback.json() == {"errors": {"provider": ["is unavailable"]}}
    await assert_nothing_created(db)


async def test_a_provider_that_stops_during_the_login(
    db: Database, database_url: str, tmp_path: Path, tokens: TokenCodec
) -> None:
    late = OidcProviderProcess(
        {"zoe": {"email": "zoe@example.test", "email_verified": True}},
        redirect_uris=callback_uris(),
    )
    late.start()
    try:
        settings = app_settings(database_url, tmp_path, [provider_config("late", late.issuer)])
        async for app in serve(db, settings, tokens):
            callback = await browse_to_callback(app, "late", "zoe")
            late.stop()
            response = await app.get(callback)
            assert response.status_code == 503
            assert response.json() == {"errors": {"provider": ["is unavailable"]}}
    finally:
        late.stop()
    await assert_nothing_created(db)


async def test_claims_from_userinfo(
    db: Database, database_url: str, tmp_path: Path, tokens: TokenCodec
) -> None:
    """A provider that keeps email and profile at userinfo (not in the id_token)."""
    other = OidcProviderProcess(
        {"yuki": {"email": "yuki@example.test", "email_verified": True, "name": "Yuki"}},
        redirect_uris=callback_uris(),
        claims_in_id_token=False,
    )
    other.start()
    try:
        settings = app_settings(database_url, tmp_path, [provider_config("userinfo", other.issuer)])
        async for app in serve(db, settings, tokens):
            token = token_of(await log_in(app, "yuki", provider="userinfo"))
            me = (await app.get("/user", headers=auth(token))).json()["user"]
            assert (me["username"], me["email"]) == ("Yuki", "yuki@example.test")
    finally:
        other.stop()


async def test_an_unknown_provider_is_not_found(app: httpx.AsyncClient) -> None:
    assert "nowhere" not in PROVIDER_NAMES
    for path in ("/auth/nowhere/login", "/auth/nowhere/callback?code=c&state=s"):
        response = await app.get(path)
        assert response.status_code == 404
        assert response.json() == {"errors": {"provider": ["not found"]}}


async def test_two_callbacks_with_one_state_sign_in_once(
    app: httpx.AsyncClient, db: Database
) -> None:
    """The state is consumed by one request only, even when two arrive together."""
    callback = await browse_to_callback(app, "test", "alice")
    first, second = await asyncio.gather(app.get(callback), app.get(callback))
    assert sorted([first.status_code, second.status_code]) == [302, 401]
    assert await count(db, users) == 1
    assert await count(db, sessions) == 1


@pytest.mark.parametrize(
    "issuer",
    [
        "http://localhost:{port}",  # the provider calls itself http://127.0.0.1:{port}
        "http://127.0.0.1:{port}/elsewhere",  # no discovery document there (404)
        "http://127.0.0.1:{port}/jwks#",  # JSON, but not a discovery document
    ],
)
async def test_a_misconfigured_provider_is_unavailable(
    db: Database,
    database_url: str,
    tmp_path: Path,
    tokens: TokenCodec,
    provider: OidcProviderProcess,
    issuer: str,
) -> None:
    configured = issuer.format(port=provider.port)
    settings = app_settings(database_url, tmp_path, [provider_config("test", configured)])
    async for app in serve(db, settings, tokens):
        response = await app.get("/auth/test/login")
        assert response.status_code == 503
        assert response.json() == {"errors": {"provider": ["is unavailable"]}}
    assert await count(db, login_states) == 0


async def test_a_wrong_client_secret_is_unavailable_not_the_users_fault(
    db: Database,
    database_url: str,
    tmp_path: Path,
    tokens: TokenCodec,
    provider: OidcProviderProcess,
) -> None:
    wrong = OidcProvider(
        name="test", issuer=provider.issuer, client_id=CLIENT_ID, client_secret="not-the-secret"
    )
    settings = app_settings(database_url, tmp_path, [wrong])
    async for app in serve(db, settings, tokens):
        response = await log_in(app, "alice")
        assert response.status_code == 503
        assert response.json() == {"errors": {"provider": ["is unavailable"]}}
    await assert_nothing_created(db)
