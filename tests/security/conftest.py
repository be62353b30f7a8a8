"""Fixtures of the OWASP API Security Top 10 module.

Its tests run on SQLite and PostgreSQL only (the risks are about the application, not the
database): the MariaDB items of ``database_url`` are deselected here, never skipped.
Passwords are hashed with the cheap argon2 parameters of tests/api.

Also here: clients of one app from chosen peer addresses (``connect``, for the rate limits),
the real OpenID Connect provider of tests/oidc (``oidc_provider``: node is needed; without it
the tests fail in CI and are skipped with the reason elsewhere, as in tests/oidc) and a
provider that answers what a test says (``broken_provider``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conduit.core import security
from tests.api.conftest import FAST_HASHER
from tests.oidc.conftest import ACCOUNTS, callback_uris
from tests.oidc.provider_process import OidcProviderProcess
from tests.security.broken_provider import BrokenProvider

HERE = Path(__file__).parent
BACKENDS_HERE = ("sqlite", "postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        if item.path.is_relative_to(HERE) and backend not in (None, *BACKENDS_HERE):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", FAST_HASHER)


Connect = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Clients of one app from a chosen peer address (the TCP peer the server sees)."""
    async with AsyncExitStack() as stack:

        def client(app: FastAPI, peer: str = "192.0.2.1") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(peer, 40_000))
            http = httpx.AsyncClient(transport=transport, base_url="http://conduit.test/api")
            stack.push_async_callback(http.aclose)
            return http

        yield client


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProviderProcess]:
    """The real provider of tests/oidc (oidc-provider under Node.js), with its accounts."""
    process = OidcProviderProcess(ACCOUNTS, redirect_uris=callback_uris())
    process.start()
    yield process
    process.stop()


@pytest.fixture
def broken_provider() -> Iterator[BrokenProvider]:
    with BrokenProvider().running() as provider:
        yield provider
