"""Fixtures of the OpenID Connect login tests: a real provider, and the app configured with it.

The provider (oidc-provider under Node.js) is a real HTTP server on a free port; the app runs
in-process over httpx's ASGI transport at http://conduit.test/api, and the browser's part
(following the provider's redirects, its login and consent) is played by a plain httpx
client with its own cookies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher

from conduit.bootstrap import Container, identity_providers
from conduit.core import security
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import OidcProvider, Settings
from tests.conftest import TEST_SECRET
from tests.oidc.provider_process import (
    APP_BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    OidcProviderProcess,
    free_port,
)

FRONTEND = "http://frontend.test/app"
PROVIDER_NAMES = ("test", "late", "userinfo")
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {
        "email": "Alice@Example.test",
        "email_verified": True,
        "name": "Alice Liddell",
        "preferred_username": "alice",
    },
    "bob": {"email": "bob@example.test", "email_verified": False, "preferred_username": "bob"},
    "carol": {"email": "carol@conduit.test", "email_verified": True, "preferred_username": "c"},
    "dave": {"email": "dave@conduit.test", "email_verified": False, "preferred_username": "d"},
    "eve": {"email": "eve.smith@example.test", "email_verified": True, "name": "Eve  Smith"},
    "frank": {"email": "frank@example.test", "email_verified": True},
    "noemail": {"preferred_username": "noemail"},
}


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


def callback_uris() -> list[str]:
    return [f"{APP_BASE}/auth/{name}/callback" for name in PROVIDER_NAMES]


@pytest.fixture(scope="session")
def provider() -> Iterator[OidcProviderProcess]:
    """The provider every test shares (its accounts are never changed by a test)."""
    process = OidcProviderProcess(ACCOUNTS, redirect_uris=callback_uris())
    process.start()
    yield process
    process.stop()


def provider_config(name: str, issuer: str) -> OidcProvider:
    return OidcProvider(name=name, issuer=issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


def app_settings(database_url: str, data_dir: Path, providers: list[OidcProvider]) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        data_dir=data_dir,
        auto_migrate=False,
        log_json=True,
        log_level="WARNING",
        frontend_url=FRONTEND,
        public_url=APP_BASE.removesuffix("/api"),
        oidc_providers=providers,
    )


async def serve(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI, with the identity providers bootstrap builds from the settings."""
    clients = identity_providers(settings)
    container = Container(settings=settings, db=db, tokens=tokens, identity_providers=clients)
    transport = httpx.ASGITransport(app=create_app(container=container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=APP_BASE) as http:
            yield http
    finally:
        for client in clients.values():
            await client.close()


@pytest.fixture
async def app(
    db: Database,
    database_url: str,
    tmp_path: Path,
    tokens: TokenCodec,
    provider: OidcProviderProcess,
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the provider "test" and the provider "down" (nothing listens there)."""
    settings = app_settings(
        database_url,
        tmp_path,
        [
            provider_config("test", provider.issuer),
            provider_config("down", f"http://127.0.0.1:{free_port()}"),
        ],
    )
    async for http in serve(db, settings, tokens):
        yield http


async def browse_to_callback(app: httpx.AsyncClient, provider: str, account: str) -> str:
    """Play the browser: start the login at the app, sign in at the provider as ``account``
    and grant consent; the callback URL the provider sends the browser to (path and query,
    relative to the API's base)."""
    start = await app.get(f"/auth/{provider}/login")
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        for _ in range(10):
            if location.startswith(APP_BASE):
                return location.removeprefix(APP_BASE)
            if urlsplit(location).path.startswith("/interaction/"):
                location = f"{location}?account={account}"
            answer = await browser.get(location)
            assert answer.status_code in (302, 303), (answer.status_code, answer.text)
            location = urljoin(location, answer.headers["location"])
    raise AssertionError("the provider never sent the browser back")
