"""What the OWASP API Top 10 tests (one file per risk, test_api*_*.py) share."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import func, select

from conduit.bootstrap import (
    Container,
    rate_limiter,
)
from conduit.core.db import Database
from conduit.core.outbox import outbox
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from conduit.users.models import user_roles, users
from tests.api.support import assert_error
from tests.conftest import TEST_SECRET
from tests.helpers import auth

ROOT = "http://conduit.test"
LONG_AGO = "2000-01-01T00:00:00.000Z"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/conduit"
STRONG_KEY = "Zq3-vL9_pR2xW7mK4tN8bY6cH1jD5fG0sA"
OPENAPI_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


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
