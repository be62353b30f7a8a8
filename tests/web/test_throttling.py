"""The web's sign-in, sign-up and forms share the API's rate limits (the same rules, the same
budgets): a browser cannot try passwords faster on the pages than through the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conduit.bootstrap import Container, rate_limiter
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.web.conftest import ORIGIN, Browser

# The pages over the use cases (tested on every database by tests/api): SQLite only.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
async def limited(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[tuple[Browser, httpx.AsyncClient]]:
    """A browser on pages limited to 3 sign-ins and 2 form writes a minute, and an API client
    of the same app from the same address."""
    values: dict[str, Any] = {
        "rate_limit_login_per_ip": "3/minute",
        "rate_limit_writes_per_user": "2/minute",
    }
    configured = Settings.model_validate({**settings.model_dump(), **values})
    app = create_app(
        container=Container(
            settings=configured, db=db, tokens=tokens, rate_limiter=rate_limiter(configured)
        )
    )
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40_000))
    async with (
        httpx.AsyncClient(transport=transport, base_url=ORIGIN) as pages,
        httpx.AsyncClient(transport=transport, base_url=f"{ORIGIN}/api") as api,
    ):
        yield Browser(pages), api


async def test_sign_in_attempts_share_the_api_login_budget(
    limited: tuple[Browser, httpx.AsyncClient],
) -> None:
    browser, api = limited
    wrong = {"email": "nobody@example.com", "password": "wrong-password"}
    for _ in range(2):
        refused = await browser.post("/login", wrong, page="/login")
        assert refused.status_code == 422
    through_api = await api.post("/users/login", json={"user": wrong})
    assert through_api.status_code == 401  # the third attempt of this address
    throttled = await browser.post("/login", wrong, page="/login")
    assert throttled.status_code == 429
    assert "too many requests" in throttled.text
    assert throttled.headers["retry-after"]


async def test_form_posts_count_as_writes(limited: tuple[Browser, httpx.AsyncClient]) -> None:
    browser, _ = limited  # anonymous: counted by address, as the API counts them
    for _ in range(2):
        assert (await browser.post("/logout")).status_code == 303
    throttled = await browser.post("/logout")
    assert throttled.status_code == 429
