"""OWASP API Security Top 10 (2023), API10 Unsafe Consumption of APIs: what the OpenID Connect
provider sends back -- the real provider's id_token altered in transit, and a provider under the
test's control (tests/security/broken_provider.py) answering id_tokens for another audience or
issuer, badly signed or expired, and discovery documents, key sets, token and userinfo answers
of the wrong shape: 401 or 503 in the error format, never a 500, and no user created.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import select

from conduit.auth.audit import LOGIN_FAILED
from conduit.auth.models import sessions
from conduit.auth.oidc.models import user_identities
from conduit.core.audit import audit_log
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.users.models import users
from tests.api.support import assert_error
from tests.oidc.conftest import app_settings, browse_to_callback, provider_config, serve
from tests.oidc.provider_process import CLIENT_ID, CLIENT_SECRET, OidcProviderProcess
from tests.security.broken_provider import Answer, BrokenProvider, rsa_key
from tests.security.owasp_support import (
    assert_no_internals,
    count,
    unsigned,
)

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
