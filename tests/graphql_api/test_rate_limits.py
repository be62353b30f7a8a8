"""REST's rate limits apply to GraphQL too, on the same counters: no way around them."""

from __future__ import annotations

import httpx

from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.settings import Settings
from tests.api.test_rate_limits import Connect, connect, limited_app, register
from tests.graphql_api.conftest import GRAPHQL_URL, run_graphql

__all__ = ["connect"]  # the fixture

LOGIN = 'mutation { login(user: {email: "alice@conduit.test", password: "wrong-pass"}) { token } }'


def _codes(body: dict[str, object]) -> list[str]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return [error["extensions"]["code"] for error in errors]


async def test_graphql_logins_count_with_rest_logins_per_address(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(db, settings, tokens, rate_limit_login_per_ip="3/minute")
    http = connect(app)
    await register(http, "alice")
    for _ in range(2):
        assert _codes(await run_graphql(http, LOGIN)) == ["UNAUTHENTICATED"]
    rest = await http.post(
        "/users/login", json={"user": {"email": "alice@conduit.test", "password": "wrong-pass"}}
    )
    assert rest.status_code == 401  # the third of three
    refused = await run_graphql(http, LOGIN)
    assert _codes(refused) == ["RATE_LIMITED"]
    extensions = refused["errors"][0]["extensions"]
    assert extensions["errors"] == {"request": ["too many requests"]}
    assert 1 <= extensions["retryAfter"] <= 60
    rest = await http.post(
        "/users/login", json={"user": {"email": "alice@conduit.test", "password": "password123"}}
    )
    assert rest.status_code == 429


async def test_aliased_logins_in_one_document_each_count(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(db, settings, tokens, rate_limit_login_per_ip="2/minute")
    await register(connect(app, "198.51.100.1"), "alice")
    login = 'login(user: {email: "alice@conduit.test", password: "password123"}) { token }'
    document = "mutation { " + " ".join(f"a{n}: {login}" for n in range(3)) + " }"
    body = await run_graphql(connect(app, "198.51.100.2"), document)
    assert _codes(body) == ["RATE_LIMITED"]
    assert body["errors"][0]["path"] == ["a2"]
    rest = await connect(app, "198.51.100.2").post(
        "/users/login", json={"user": {"email": "alice@conduit.test", "password": "password123"}}
    )
    assert rest.status_code == 429


async def test_graphql_login_failures_count_against_the_account_as_rest_ones(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(db, settings, tokens, rate_limit_login_per_account="2/minute")
    await register(connect(app, "198.51.100.1"), "alice")
    guesser = connect(app, "198.51.100.2")
    for _ in range(2):
        assert _codes(await run_graphql(guesser, LOGIN)) == ["UNAUTHENTICATED"]
    assert _codes(await run_graphql(guesser, LOGIN)) == ["RATE_LIMITED"]
    rest = await guesser.post(
        "/users/login", json={"user": {"email": "alice@conduit.test", "password": "password123"}}
    )
    assert rest.status_code == 429
    # The failures were this address's: the owner elsewhere still signs in.
    owner = await connect(app, "198.51.100.3").post(
        "/users/login", json={"user": {"email": "alice@conduit.test", "password": "password123"}}
    )
    assert owner.status_code == 200, owner.text


async def test_registration_writes_and_reads_are_limited(
    db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
) -> None:
    app = limited_app(
        db,
        settings,
        tokens,
        rate_limit_register_per_ip="1/minute",
        rate_limit_writes_per_user="1/minute",
        rate_limit_reads_per_ip="2/minute",
    )
    http = connect(app)
    user = '{username: "%s", email: "%s@conduit.test", password: "password123"}'
    first = await run_graphql(
        http, f"mutation {{ register(user: {user % ('a', 'a')}) {{ token }} }}"
    )
    token = first["data"]["register"]["token"]
    second = await run_graphql(
        http, f"mutation {{ register(user: {user % ('b', 'b')}) {{ token }} }}"
    )
    assert _codes(second) == ["RATE_LIMITED"]

    write = 'mutation { updateUser(user: {bio: "x"}) { bio } }'
    assert _codes(await run_graphql(http, write, token=token)) == []
    assert _codes(await run_graphql(http, write, token=token)) == ["RATE_LIMITED"]

    reader = connect(app, "203.0.113.9")
    assert _codes(await run_graphql(reader, "{ tags }")) == []
    assert _codes(await run_graphql(reader, "{ tags }")) == []
    assert _codes(await run_graphql(reader, "{ tags }")) == ["RATE_LIMITED"]
    rest = await reader.get("/tags")
    assert rest.status_code == 429


async def test_the_url_is_graphql(
    connect: Connect, db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    http: httpx.AsyncClient = connect(limited_app(db, settings, tokens))
    response = await http.post(GRAPHQL_URL, json={"query": "{ tags }"})
    assert response.json() == {"data": {"tags": []}}
