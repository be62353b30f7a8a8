"""Rate limits over HTTP: login, registration, writes and reads, and who counts as the caller.

Each test builds the app with small limits (the production defaults are checked in
tests/unit/test_rate_limit_settings.py) and talks to it from chosen peer addresses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conduit.bootstrap import Container, rate_limiter
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.helpers import auth

TOO_MANY = {"errors": {"request": ["too many requests"]}}
Connect = Callable[..., httpx.AsyncClient]


def limited_app(db: Database, settings: Settings, tokens: TokenCodec, **values: Any) -> FastAPI:
    configured = Settings.model_validate({**settings.model_dump(), **values})
    container = Container(
        settings=configured, db=db, tokens=tokens, rate_limiter=rate_limiter(configured)
    )
    return create_app(container=container)


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


def assert_refused(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == TOO_MANY
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(response.headers["ratelimit-reset"]) <= 60


async def register(http: httpx.AsyncClient, name: str) -> str:
    user = {"username": name, "email": f"{name}@conduit.test", "password": "password123"}
    response = await http.post("/users", json={"user": user})
    assert response.status_code == 201, response.text
    token: str = response.json()["user"]["token"]
    return token


async def login(http: httpx.AsyncClient, email: str, **headers: str) -> httpx.Response:
    body = {"user": {"email": email, "password": "password123"}}
    return await http.post("/users/login", json=body, headers=headers)


async def test_the_eleventh_login_within_a_minute_from_one_address_is_refused(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(
        db,
        settings,
        tokens,
        rate_limit_login_per_ip="10/minute",
        rate_limit_login_per_account="1000/minute",
    )
    await register(connect(app, "192.0.2.50"), "alice")
    http = connect(app, "192.0.2.1")
    for attempt in range(10):
        response = await login(http, "alice@conduit.test")
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-limit"] == "10"
        assert response.headers["ratelimit-remaining"] == str(9 - attempt)
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
    assert_refused(await login(http, "alice@conduit.test"), limit=10)
    # Another address has its own budget.
    assert (await login(connect(app, "192.0.2.2"), "alice@conduit.test")).status_code == 200


async def guess(http: httpx.AsyncClient, email: str, address: str) -> httpx.Response:
    body = {"user": {"email": email, "password": "guess-123"}}
    return await http.post("/users/login", json=body, headers={"X-Forwarded-For": address})


async def test_failed_logins_to_one_account_are_limited_across_addresses(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(
        db,
        settings,
        tokens,
        trusted_proxies=["10.0.0.0/8"],
        rate_limit_login_per_ip="100/minute",
        rate_limit_login_per_account="3/minute",
    )
    proxy = connect(app, "10.0.0.1")
    await register(proxy, "bob")
    await register(proxy, "carol")
    # Signing in is not what the account's budget counts: only failures are.
    for n in range(5):
        ok = await login(proxy, "bob@conduit.test", **{"X-Forwarded-For": f"192.0.2.{n}"})
        assert ok.status_code == 200, ok.text
    # Guesses from three addresses, in any case of the email, spend the account's budget.
    for n, email in enumerate(["bob@conduit.test", "BOB@conduit.test", " bob@conduit.test"]):
        response = await guess(proxy, email, f"203.0.113.{n}")
        assert response.status_code == 401, response.text
        assert response.headers["ratelimit-limit"] == "3"
        assert response.headers["ratelimit-remaining"] == str(3 - n)
    # Now an address that has been failing on the account is refused, right password or not.
    for n in range(3):
        assert_refused(await guess(proxy, "bob@conduit.test", f"203.0.113.{n}"), limit=3)
        refused = await login(proxy, "bob@conduit.test", **{"X-Forwarded-For": f"203.0.113.{n}"})
        assert_refused(refused, limit=3)
    # A new address gets one guess; once it failed, it is refused as well.
    assert (await guess(proxy, "bob@conduit.test", "203.0.113.99")).status_code == 401
    assert_refused(await guess(proxy, "bob@conduit.test", "203.0.113.99"), limit=3)
    # Another account from the same addresses is not held up.
    carol = await login(proxy, "carol@conduit.test", **{"X-Forwarded-For": "203.0.113.0"})
    assert carol.status_code == 200, carol.text


async def test_failures_elsewhere_do_not_lock_the_owner_out(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(
        db,
        settings,
        tokens,
        trusted_proxies=["10.0.0.0/8"],
        rate_limit_login_per_ip="100/minute",
        rate_limit_login_per_account="3/minute",
    )
    proxy = connect(app, "10.0.0.1")
    await register(proxy, "vic")
    for n in range(10):  # someone keeps the account's failure budget spent, from anywhere
        response = await guess(proxy, "vic@conduit.test", f"198.51.100.{n}")
        assert response.status_code in (401, 429), response.text
    # The owner, from an address that has not been failing, still signs in.
    for attempt in range(3):
        owner = await login(proxy, "vic@conduit.test", **{"X-Forwarded-For": "192.0.2.77"})
        assert owner.status_code == 200, (attempt, owner.text)
        assert owner.json()["user"]["username"] == "vic"
    # Also with a direct connection (no proxy) from a clean address.
    direct = await login(connect(app, "192.0.2.78"), "vic@conduit.test")
    assert direct.status_code == 200, direct.text


async def test_a_login_body_read_for_the_limit_still_reaches_the_route(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(db, settings, tokens, rate_limit_login_per_account="2/minute")
    http = connect(app)
    await register(http, "dora")
    wrong = await http.post(
        "/users/login", json={"user": {"email": "dora@conduit.test", "password": "nope-nope"}}
    )
    assert wrong.status_code == 401, wrong.text
    assert wrong.headers["ratelimit-remaining"] == "2"  # as it stood before this failure
    right = await http.post(
        "/users/login", json={"user": {"email": "dora@conduit.test", "password": "password123"}}
    )
    assert right.status_code == 200, right.text
    assert right.headers["ratelimit-remaining"] == "1"
    # Malformed bodies are the route's to judge (422), counted by address only.
    broken = await http.post(
        "/users/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422, broken.text
    # A body over the size limit is still refused with 413.
    huge = {"user": {"email": "dora@conduit.test", "password": "x" * 2_000_000}}
    assert (await http.post("/users/login", json=huge)).status_code == 413


async def test_registration_is_limited_per_address(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(db, settings, tokens, rate_limit_register_per_ip="2/minute")
    http = connect(app, "192.0.2.7")
    await register(http, "reg1")
    await register(http, "reg2")
    user = {"username": "reg3", "email": "reg3@conduit.test", "password": "password123"}
    assert_refused(await http.post("/users", json={"user": user}), limit=2)
    await register(connect(app, "192.0.2.8"), "reg3")


async def test_writes_are_limited_per_user_whatever_the_address(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(db, settings, tokens, rate_limit_writes_per_user="3/minute")
    erin = await register(connect(app, "192.0.2.20"), "erin")
    finn = await register(connect(app, "192.0.2.21"), "finn")

    async def write(peer: str, token: str, bio: str) -> httpx.Response:
        body = {"user": {"bio": bio}}
        return await connect(app, peer).put("/user", json=body, headers=auth(token))

    for n in range(3):
        response = await write(f"192.0.2.{30 + n}", erin, f"bio {n}")
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-remaining"] == str(2 - n)
    assert_refused(await write("192.0.2.40", erin, "one too many"), limit=3)
    # Finn has a budget of his own, even from an address Erin used.
    assert (await write("192.0.2.30", finn, "mine")).status_code == 200
    # Without a valid token the address is counted, apart from the users on it.
    anonymous = connect(app, "192.0.2.30")
    for n in range(3):
        response = await anonymous.post("/articles", json={}, headers=auth("not-a-token"))
        assert response.status_code == 401, response.text
    assert_refused(await anonymous.post("/articles", json={}), limit=3)


async def test_reads_are_limited_per_address(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(db, settings, tokens, rate_limit_reads_per_ip="5/minute")
    http = connect(app, "192.0.2.60")
    for n in range(5):
        response = await http.get("/tags")
        assert response.status_code == 200, response.text
        assert response.headers["ratelimit-limit"] == "5"
        assert response.headers["ratelimit-remaining"] == str(4 - n)
    assert_refused(await http.get("/articles"), limit=5)
    assert (await connect(app, "192.0.2.61").get("/tags")).status_code == 200
    # Health checks, the documentation and CORS preflights are never counted.
    for _ in range(3):
        assert (await http.get("http://conduit.test/health/live")).status_code == 200
        preflight = await http.options(
            "/tags",
            headers={"Origin": "http://x.test", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 200


async def test_a_forged_forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(
        db, settings, tokens, trusted_proxies=["10.0.0.1"], rate_limit_reads_per_ip="3/minute"
    )
    attacker = connect(app, "192.0.2.66")
    for n in range(3):
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert (await attacker.get("/tags", headers=forged)).status_code == 200
    assert_refused(await attacker.get("/tags", headers={"X-Forwarded-For": "9.9.9.9"}), 3)


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(
        db,
        settings,
        tokens,
        trusted_proxies=["10.0.0.0/8", "127.0.0.1"],
        rate_limit_reads_per_ip="3/minute",
    )
    proxy = connect(app, "10.1.2.3")
    # Each client behind the proxy has its own budget ...
    for n in range(6):
        response = await proxy.get("/tags", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status_code == 200, response.text
    # ... the right-most untrusted address is the client: what it wrote to the left of it
    # (here a different address each time) changes nothing; trusted hops are skipped.
    for n in range(3):
        chain = f"203.0.113.{n}, 198.51.100.200, 10.9.9.9"
        response = await proxy.get("/tags", headers={"X-Forwarded-For": chain})
        assert response.status_code == 200, response.text
    refused = await proxy.get("/tags", headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.200"})
    assert_refused(refused, 3)


async def test_switched_off_nothing_is_counted(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(
        db, settings, tokens, rate_limits_enabled=False, rate_limit_reads_per_ip="1/minute"
    )
    http = connect(app)
    for _ in range(3):
        response = await http.get("/tags")
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers
