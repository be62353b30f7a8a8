"""Login with OpenID Connect against a real provider: the answers Conduit refuses (RFC 9207's
``iss``: mix-up attacks), the redirect URI a client cannot choose (CONDUIT_PUBLIC_URL, never
the Host header), and the retention of what failed logins leave (pruned by the worker).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import orjson
import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from conduit.auth.audit import LOGIN_FAILED, LOGIN_SUCCEEDED
from conduit.auth.oidc import service as oidc_logins
from conduit.auth.oidc.models import login_states
from conduit.bootstrap import ConfigurationError, Container, check_settings, identity_providers
from conduit.bootstrap.lifecycle import prune_logins
from conduit.core.audit import audit_log
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.core.tables import utcnow
from conduit.entrypoints import serving
from conduit.entrypoints.cli.main import app as cli
from conduit.entrypoints.cli.main import local_url
from conduit.settings import Settings
from tests.oidc.conftest import (
    app_settings,
    browse_to_callback,
    callback_uris,
    provider_config,
    serve,
)
from tests.oidc.provider_process import APP_BASE, OidcProviderProcess
from tests.oidc.test_login import assert_nothing_created, count, token_of


def with_query(callback: str, **changes: str | None) -> str:
    """The callback URL with query parameters replaced (None: removed)."""
    parts = urlsplit(callback)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return f"{parts.path}?{urlencode(query)}"


async def failures(db: Database) -> list[dict[str, str]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(audit_log.c.details).where(audit_log.c.type == LOGIN_FAILED)
        )
        return [orjson.loads(details) for details in rows.scalars()]


# --- RFC 9207: the iss of the authorization response -------------------------------------


async def test_the_provider_advertises_and_sends_iss(
    app: httpx.AsyncClient, provider: OidcProviderProcess
) -> None:
    """The premise of the checks below, from the real provider."""
    async with httpx.AsyncClient() as plain:
        answer = await plain.get(f"{provider.issuer}/.well-known/openid-configuration")
    metadata = answer.json()
    assert metadata["authorization_response_iss_parameter_supported"] is True
    callback = await browse_to_callback(app, "test", "alice")
    assert parse_qs(urlsplit(callback).query)["iss"] == [provider.issuer]
    token_of(await app.get(callback))  # its own issuer: signed in


async def test_a_callback_without_iss_is_refused(app: httpx.AsyncClient, db: Database) -> None:
    callback = await browse_to_callback(app, "test", "alice")
    response = await app.get(with_query(callback, iss=None))
    assert response.status_code == 401
    assert response.json() == {
        "errors": {"login": ["iss is missing (the provider always sends it)"]}
    }
    await assert_nothing_created(db)
    assert await failures(db) == [
        {"provider": "test", "reason": "login iss is missing (the provider always sends it)"}
    ]
    # The state was used up: the same answer with its iss back is not taken either.
    assert (await app.get(callback)).status_code == 401


async def test_another_providers_answer_is_refused(
    app: httpx.AsyncClient, db: Database, provider: OidcProviderProcess
) -> None:
    """A mix-up attack: an answer naming another issuer, sent to this provider's callback,
    is refused before its code is used."""
    for other in ("https://evil.example", f"{provider.issuer}/", provider.issuer.upper()):
        callback = await browse_to_callback(app, "test", "alice")
        response = await app.get(with_query(callback, iss=other))
        assert response.status_code == 401, other
        assert response.json() == {"errors": {"login": ["iss is not this provider's issuer"]}}
    await assert_nothing_created(db)
    assert len(await failures(db)) == 3


async def test_a_provider_without_rfc_9207_needs_no_iss_but_a_wrong_one_is_refused(
    db: Database, database_url: str, tmp_path: Path, tokens: TokenCodec
) -> None:
    plain = OidcProviderProcess(
        {"zoe": {"email": "zoe@example.test", "email_verified": True}},
        redirect_uris=callback_uris(),
        iss_parameter=False,
    )
    plain.start()
    try:
        settings = app_settings(database_url, tmp_path, [provider_config("late", plain.issuer)])
        async for app in serve(db, settings, tokens):
            callback = await browse_to_callback(app, "late", "zoe")
            assert "iss" not in parse_qs(urlsplit(callback).query)
            token_of(await app.get(callback))  # signed in without it
            # An iss present is checked all the same.
            callback = await browse_to_callback(app, "late", "zoe")
            response = await app.get(with_query(callback, iss="https://evil.example"))
            assert response.status_code == 401
    finally:
        plain.stop()


async def test_an_error_answer_with_another_iss_is_refused_as_a_mix_up(
    app: httpx.AsyncClient,
) -> None:
    start = await app.get("/auth/test/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    params = {"error": "access_denied", "state": state, "iss": "https://evil.example"}
    response = await app.get("/auth/test/callback", params=params)
    assert response.status_code == 401
    assert response.json() == {"errors": {"login": ["iss is not this provider's issuer"]}}


# --- the redirect URI: CONDUIT_PUBLIC_URL, never the Host header --------------------------


async def test_a_forged_host_does_not_change_the_redirect_uri(
    app: httpx.AsyncClient, db: Database
) -> None:
    expected = [f"{APP_BASE}/auth/test/callback"]
    for host in ("evil.example", "evil.example:8443", "conduit.test.evil.example"):
        start = await app.get("/auth/test/login", headers={"host": host})
        assert start.status_code == 302
        assert parse_qs(urlsplit(start.headers["location"]).query)["redirect_uri"] == expected
    # The whole login with a forged Host still uses (and the provider accepts) the real one.
    callback = await browse_to_callback(app, "test", "alice")
    response = await app.get(callback, headers={"host": "evil.example"})
    token_of(response)


async def test_the_public_url_makes_the_redirect_uri(
    db: Database,
    database_url: str,
    tmp_path: Path,
    tokens: TokenCodec,
    provider: OidcProviderProcess,
) -> None:
    for public_url, expected in (
        (None, "http://127.0.0.1:8000/api/auth/test/callback"),
        ("https://api.example.com/", "https://api.example.com/api/auth/test/callback"),
        ("https://example.com/conduit", "https://example.com/conduit/api/auth/test/callback"),
    ):
        settings = app_settings(database_url, tmp_path, [provider_config("test", provider.issuer)])
        settings = settings.model_copy(update={"public_url": public_url})
        async for app in serve(db, settings, tokens):
            start = await app.get("/auth/test/login")
            redirect_uri = parse_qs(urlsplit(start.headers["location"]).query)["redirect_uri"]
            assert redirect_uri == [expected]


def test_production_with_providers_needs_the_public_url(tmp_path: Path) -> None:
    settings = app_settings("postgresql+asyncpg://x/y", tmp_path, [])
    base = settings.model_copy(
        update={
            "environment": "production",
            "cors_origins": ["https://app.example.com"],
            "public_url": None,
        }
    )
    check_settings(base)  # no provider: no redirect URI to build
    with_providers = base.model_copy(
        update={"oidc_providers": [provider_config("acme", "https://id.example.com")]}
    )
    with pytest.raises(ConfigurationError, match="CONDUIT_PUBLIC_URL is not set"):
        check_settings(with_providers)
    check_settings(with_providers.model_copy(update={"public_url": "https://api.example.com"}))
    with pytest.raises(ConfigurationError, match="CONDUIT_PUBLIC_URL must be"):
        check_settings(base.model_copy(update={"public_url": "api.example.com"}))


def test_conduit_serve_derives_the_public_url_from_host_and_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert local_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert local_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert local_url("::1", 8000) == "http://[::1]:8000"
    assert local_url("localhost", 8001) == "http://localhost:8001"
    # The workers (uvicorn's factory) read it from the environment conduit serve leaves.
    monkeypatch.setattr(serving, "run", lambda *args, **kwargs: None)
    monkeypatch.setenv("CONDUIT_PUBLIC_URL", "http://placeholder.test")
    monkeypatch.delenv("CONDUIT_PUBLIC_URL")
    env = {"CONDUIT_DATA_DIR": str(tmp_path), "CONDUIT_LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8123"], env=env)
    assert result.exit_code == 0, result.output
    assert os.environ["CONDUIT_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert Settings().public_base_url == "http://127.0.0.1:8123"
    # Set, it is kept as it is.
    monkeypatch.setenv("CONDUIT_PUBLIC_URL", "https://api.example.com")
    result = CliRunner().invoke(cli, ["serve", "--port", "8124"], env=env)
    assert result.exit_code == 0, result.output
    assert os.environ["CONDUIT_PUBLIC_URL"] == "https://api.example.com"


# --- retention: failed provider logins and abandoned login states -------------------------


async def seed_rows(db: Database) -> None:
    """Old and recent failed provider logins, beside what must be kept."""
    now = utcnow()
    old, recent = now - dt.timedelta(days=31), now - dt.timedelta(days=29)
    rows = [
        (old, LOGIN_FAILED, None, {"provider": "test", "reason": "login iss is missing"}),
        (old, LOGIN_FAILED, None, {"provider": "acme", "reason": "login state is missing"}),
        (recent, LOGIN_FAILED, None, {"provider": "test", "reason": "recent: kept"}),
        (old, LOGIN_FAILED, None, {"email": "a@b.test", "reason": "password: kept"}),
        (old, LOGIN_SUCCEEDED, 1, {"provider": "test"}),
    ]
    async with db.engine.begin() as conn:
        for occurred_at, kind, actor, details in rows:
            await conn.execute(
                insert(audit_log).values(
                    occurred_at=occurred_at,
                    type=str(kind),
                    actor_id=actor,
                    ip="203.0.113.7",
                    details=orjson.dumps(details).decode(),
                )
            )
        for state, age in (("abandoned", dt.timedelta(minutes=11)), ("fresh", dt.timedelta())):
            await conn.execute(
                insert(login_states).values(
                    state=state, provider="test", nonce="n", code_verifier="v" * 43,
                    created_at=now - age,
                )
            )  # fmt: skip


async def kept(db: Database) -> tuple[list[str], list[str]]:
    async with db.engine.connect() as conn:
        details = (await conn.execute(select(audit_log.c.details).order_by(audit_log.c.id))).all()
        states = (await conn.execute(select(login_states.c.state))).scalars().all()
    reasons = [orjson.loads(row.details).get("reason", "success") for row in details]
    return reasons, sorted(states)


async def test_prune_deletes_old_failed_provider_logins_and_abandoned_states(
    db: Database,
) -> None:
    await seed_rows(db)
    pruned = await oidc_logins.prune(db, failed_logins_older_than=dt.timedelta(days=30))
    assert (pruned.failed_logins, pruned.login_states) == (2, 1)
    assert await kept(db) == (["recent: kept", "password: kept", "success"], ["fresh"])
    again = await oidc_logins.prune(db, failed_logins_older_than=dt.timedelta(days=30))
    assert (again.failed_logins, again.login_states) == (0, 0)


async def test_the_worker_prunes_with_the_configured_retention(
    db: Database, database_url: str, tmp_path: Path, tokens: TokenCodec
) -> None:
    await seed_rows(db)
    settings = app_settings(
        database_url, tmp_path, [provider_config("test", "http://127.0.0.1:9")]
    ).model_copy(
        update={"oidc_failed_login_retention_days": 30.0, "oidc_prune_interval_seconds": 0.05}
    )
    providers = identity_providers(settings)
    container = Container(settings=settings, db=db, tokens=tokens, identity_providers=providers)
    task = asyncio.create_task(prune_logins(container))
    try:
        async with asyncio.timeout(10):
            while await count(db, login_states) != 1:  # noqa: ASYNC110 (another process's rows)
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for client in providers.values():
            await client.close()
    assert await kept(db) == (["recent: kept", "password: kept", "success"], ["fresh"])
