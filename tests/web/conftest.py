"""Web-app test fixtures: the whole app over HTTPS (its cookies are Secure), as a browser.

``site`` is an httpx client on the ASGI app with a cookie jar; :class:`Browser` adds what a
browser does with a form: it reads the page's CSRF token and posts it with the fields.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from argon2 import PasswordHasher

from conduit.bootstrap import Container
from conduit.core import security
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings

ORIGIN = "https://conduit.test"
_TOKEN = re.compile(r'name="csrf[-_]token" (?:value|content)="([^"]+)"')
_ERRORS = re.compile(r'<ul class="error-messages"[^>]*>(.*?)</ul>', re.DOTALL)
_ITEM = re.compile(r"<li>(.*?)</li>", re.DOTALL)


class Browser:
    """An httpx client that fills in forms as a browser would (Origin and CSRF token)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, url: str) -> httpx.Response:
        return await self.http.get(url, headers={"accept": "text/html"})

    async def token(self, page: str = "/") -> str:
        found = _TOKEN.search((await self.get(page)).text)
        assert found is not None, f"no form token on {page}"
        return found.group(1)

    async def post(
        self, url: str, data: dict[str, str | list[str]] | None = None, *, page: str = "/"
    ) -> httpx.Response:
        """Post a form as it would be from ``page`` (its token, Conduit's origin)."""
        fields = {"csrf_token": await self.token(page), **(data or {})}
        return await self.http.post(url, data=fields, headers={"origin": ORIGIN})

    async def sign_up(self, username: str, password: str = "password123") -> httpx.Response:
        answer = await self.post(
            "/register",
            {"username": username, "email": f"{username}@example.com", "password": password},
            page="/register",
        )
        assert answer.status_code == 303, error_messages(answer.text)
        return answer


def error_messages(html: str) -> list[str]:
    """The messages of the page's ``.error-messages`` list."""
    found = _ERRORS.search(html)
    return [] if found is None else [item.strip() for item in _ITEM.findall(found.group(1))]


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        security, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
async def site(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        yield http


@pytest.fixture
def browser(site: httpx.AsyncClient) -> Browser:
    return Browser(site)


@pytest.fixture
async def other_browser(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[Browser]:
    """A second reader with cookies of their own, on the same database."""
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        yield Browser(http)
