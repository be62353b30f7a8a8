"""Registration, login and the current user over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

import bcrypt
import httpx
import pytest
from sqlalchemy import select, update

from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.users.models import users
from tests.api.support import USER_KEYS, assert_error, register_user
from tests.helpers import auth, register

OTHER_SECRET = "another-secret-key-9876543210-zyxwvutsrqponm"


async def put_user(client: httpx.AsyncClient, token: str, **fields: Any) -> httpx.Response:
    return await client.put("/user", json={"user": fields}, headers=auth(token))


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/users/login", json={"user": {"email": email, "password": password}})


# --- registration -------------------------------------------------------------------------


async def test_register_then_read_current_user(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    response = await client.get("/user", headers=auth(token))
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["username"] == "alice"
    assert user["email"] == "alice@conduit.test"
    assert user["bio"] is None
    assert user["image"] is None


async def test_register_answers_201_with_the_user_and_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users",
        json={"user": {"username": "carol", "email": "carol@conduit.test", "password": "secret12"}},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user"}
    user = body["user"]
    assert set(user) == USER_KEYS
    assert user["username"] == "carol"
    assert user["email"] == "carol@conduit.test"
    assert user["bio"] is None
    assert user["image"] is None
    assert isinstance(user["token"], str)
    assert user["token"].count(".") == 2
    assert "password" not in response.text
    assert "secret12" not in response.text


async def test_duplicate_username_is_409(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    response = await client.post(
        "/users",
        json={
            "user": {"username": "bob", "email": "other@conduit.test", "password": "password123"}
        },
    )
    assert response.status_code == 409
    assert response.json() == {"errors": {"username": ["has already been taken"]}}


async def test_duplicate_email_is_409(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    response = await client.post(
        "/users",
        json={
            "user": {"username": "bobby", "email": "bob@conduit.test", "password": "password123"}
        },
    )
    assert_error(response, 409, {"email": ["has already been taken"]})


async def test_duplicate_username_and_email_name_both(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    response = await client.post(
        "/users",
        json={"user": {"username": "bob", "email": "bob@conduit.test", "password": "password123"}},
    )
    assert_error(
        response,
        409,
        {"username": ["has already been taken"], "email": ["has already been taken"]},
    )


async def test_email_is_stored_lower_case_and_login_ignores_case(
    client: httpx.AsyncClient,
) -> None:
    user = await register_user(client, "dora", email="Dora@Conduit.TEST")
    assert user["email"] == "dora@conduit.test"
    response = await login(client, "DORA@conduit.test", "password123")
    assert response.status_code == 200
    assert response.json()["user"]["username"] == "dora"


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("value", ["", None, "   "], ids=["empty", "null", "spaces"])
async def test_register_refuses_a_blank_field(
    client: httpx.AsyncClient, field: str, value: str | None
) -> None:
    user = {"username": "erin", "email": "erin@conduit.test", "password": "password123"}
    user[field] = value  # type: ignore[assignment]
    response = await client.post("/users", json={"user": user})
    assert_error(response, 422, {field: ["can't be blank"]})


@pytest.mark.parametrize("field", ["username", "email", "password"])
async def test_register_refuses_a_missing_field(client: httpx.AsyncClient, field: str) -> None:
    user = {"username": "erin", "email": "erin@conduit.test", "password": "password123"}
    del user[field]
    response = await client.post("/users", json={"user": user})
    assert_error(response, 422, {field: ["can't be blank"]})


@pytest.mark.parametrize("email", ["no-at-sign", "a@b", "two@@x.org", "sp ace@x.org"])
async def test_register_refuses_an_invalid_email(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post(
        "/users", json={"user": {"username": "erin", "email": email, "password": "password123"}}
    )
    assert_error(response, 422, {"email": ["is invalid"]})


@pytest.mark.parametrize("username", ["with space", "sla/sh", "ques?tion", "hash#tag"])
async def test_register_refuses_a_username_that_cannot_be_a_url_segment(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post(
        "/users",
        json={"user": {"username": username, "email": "e@conduit.test", "password": "password123"}},
    )
    assert_error(response, 422, {"username": ["is invalid"]})


@pytest.mark.parametrize(
    ("password", "status"),
    [("a" * 7, 422), ("a" * 8, 201), ("a" * 64, 201), ("p" * 256, 201)],
    ids=["7", "8", "64", "256"],
)
async def test_register_password_length_policy(
    client: httpx.AsyncClient, password: str, status: int
) -> None:
    response = await client.post(
        "/users",
        json={"user": {"username": "pat", "email": "pat@conduit.test", "password": password}},
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert_error(response, 422, {"password": ["is too short (minimum is 8 characters)"]})
    else:
        assert (await login(client, "pat@conduit.test", password)).status_code == 200


# --- login --------------------------------------------------------------------------------


async def test_login_answers_200_with_the_user_and_a_working_token(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "alice")
    response = await login(client, "alice@conduit.test", "password123")
    assert response.status_code == 200
    user = response.json()["user"]
    assert set(user) == USER_KEYS
    assert user["username"] == "alice"
    assert user["email"] == "alice@conduit.test"
    assert user["bio"] is None
    assert user["image"] is None
    me = await client.get("/user", headers=auth(user["token"]))
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "alice"


@pytest.mark.parametrize(
    ("email", "password"),
    [("alice@conduit.test", "wrongpassword"), ("nobody@conduit.test", "password123")],
    ids=["wrong-password", "unknown-email"],
)
async def test_login_with_bad_credentials_is_401(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    await register(client, "alice")
    response = await login(client, email, password)
    assert_error(response, 401, {"credentials": ["invalid"]})


@pytest.mark.parametrize("field", ["email", "password"])
@pytest.mark.parametrize("value", ["", None], ids=["empty", "null"])
async def test_login_refuses_a_blank_field(
    client: httpx.AsyncClient, field: str, value: str | None
) -> None:
    user: dict[str, str | None] = {"email": "alice@conduit.test", "password": "password123"}
    user[field] = value
    response = await client.post("/users/login", json={"user": user})
    assert_error(response, 422, {field: ["can't be blank"]})


async def test_legacy_bcrypt_account_logs_in_and_is_rehashed_with_argon2(
    client: httpx.AsyncClient, db: Database
) -> None:
    await register(client, "legacy")
    legacy_hash = bcrypt.hashpw(b"old-password", bcrypt.gensalt(rounds=4)).decode()
    async with db.engine.begin() as conn:
        await conn.execute(
            update(users).where(users.c.username == "legacy").values(password_hash=legacy_hash)
        )
    response = await login(client, "legacy@conduit.test", "old-password")
    assert response.status_code == 200, response.text
    async with db.engine.connect() as conn:
        stored = (
            await conn.execute(select(users.c.password_hash).where(users.c.username == "legacy"))
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert (await login(client, "legacy@conduit.test", "old-password")).status_code == 200
    assert (await login(client, "legacy@conduit.test", "password123")).status_code == 401


# --- current user -------------------------------------------------------------------------


async def test_current_user_without_token_is_401_is_missing(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/user"), 401, {"token": ["is missing"]})
    response = await client.put("/user", json={"user": {"bio": "test"}})
    assert_error(response, 401, {"token": ["is missing"]})


async def test_unauthorized_reply_names_the_scheme(client: httpx.AsyncClient) -> None:
    response = await client.get("/user")
    assert response.headers.get("www-authenticate") == "Token"


async def test_bearer_scheme_is_accepted_too(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    for header in (f"Bearer {token}", f"bearer {token}", f"Token {token}", f"TOKEN  {token} "):
        response = await client.get("/user", headers={"Authorization": header})
        assert response.status_code == 200, header
        assert response.json()["user"]["username"] == "alice"


async def _user_id(client: httpx.AsyncClient, tokens: TokenCodec, name: str) -> int:
    return tokens.user_id(await register(client, name))


async def test_expired_token_is_401_has_expired(
    client: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    user_id = await _user_id(client, tokens, "alice")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    expired = TokenCodec(secret=tokens.secret, ttl_seconds=60).issue(user_id, now=long_ago)
    response = await client.get("/user", headers=auth(expired))
    assert_error(response, 401, {"token": ["has expired"]})


async def test_token_signed_with_another_key_is_401(
    client: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    user_id = await _user_id(client, tokens, "alice")
    forged = TokenCodec(secret=OTHER_SECRET, ttl_seconds=3600).issue(user_id)
    assert_error(await client.get("/user", headers=auth(forged)), 401, {"token": ["is invalid"]})


@pytest.mark.parametrize(
    "header",
    ["Token not-a-jwt", "Token a.b.c", "Token", "Token ", "Basic dXNlcjpwYXNz", "Bearer"],
)
async def test_malformed_authorization_is_401_is_invalid(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get("/user", headers={"Authorization": header})
    assert_error(response, 401, {"token": ["is invalid"]})


async def test_tampered_token_is_401(client: httpx.AsyncClient, tokens: TokenCodec) -> None:
    token = await register(client, "alice")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert_error(await client.get("/user", headers=auth(tampered)), 401, {"token": ["is invalid"]})


async def test_empty_authorization_header_counts_as_missing(client: httpx.AsyncClient) -> None:
    response = await client.get("/user", headers={"Authorization": ""})
    assert_error(response, 401, {"token": ["is missing"]})


async def test_token_of_a_deleted_account_is_401(client: httpx.AsyncClient, db: Database) -> None:
    token = await register(client, "ghost")
    async with db.engine.begin() as conn:
        await conn.execute(users.delete().where(users.c.username == "ghost"))
    assert_error(await client.get("/user", headers=auth(token)), 401, {"token": ["is invalid"]})


# --- update -------------------------------------------------------------------------------


async def test_update_bio_and_image_persist(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    response = await put_user(
        client, token, bio="Updated bio", image="https://example.com/photo.jpg"
    )
    assert response.status_code == 200
    user = response.json()["user"]
    assert set(user) == USER_KEYS
    assert user["bio"] == "Updated bio"
    assert user["image"] == "https://example.com/photo.jpg"
    assert user["username"] == "alice"
    assert user["email"] == "alice@conduit.test"
    again = (await client.get("/user", headers=auth(token))).json()["user"]
    assert again["bio"] == "Updated bio"
    assert again["image"] == "https://example.com/photo.jpg"


@pytest.mark.parametrize("field", ["bio", "image"])
@pytest.mark.parametrize("value", ["", None], ids=["empty", "null"])
async def test_update_bio_or_image_to_empty_or_null_stores_null(
    client: httpx.AsyncClient, field: str, value: str | None
) -> None:
    token = await register(client, "alice")
    assert (await put_user(client, token, **{field: "something"})).status_code == 200
    response = await put_user(client, token, **{field: value})
    assert response.status_code == 200, response.text
    assert response.json()["user"][field] is None
    assert (await client.get("/user", headers=auth(token))).json()["user"][field] is None


async def test_update_leaves_unsent_fields_alone(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    await put_user(client, token, bio="My bio", image="https://img.example/a.png")
    response = await put_user(client, token, bio="Changed")
    user = response.json()["user"]
    assert user["bio"] == "Changed"
    assert user["image"] == "https://img.example/a.png"
    empty = await put_user(client, token)
    assert empty.status_code == 200
    assert empty.json()["user"]["bio"] == "Changed"


@pytest.mark.parametrize("field", ["email", "username", "password"])
@pytest.mark.parametrize("value", ["", None], ids=["empty", "null"])
async def test_update_refuses_blank_email_username_password(
    client: httpx.AsyncClient, field: str, value: str | None
) -> None:
    token = await register(client, "alice")
    response = await put_user(client, token, **{field: value})
    assert_error(response, 422, {field: ["can't be blank"]})
    me = (await client.get("/user", headers=auth(token))).json()["user"]
    assert me["username"] == "alice"
    assert me["email"] == "alice@conduit.test"


@pytest.mark.parametrize(
    ("password", "status"), [("short7c", 422), ("bonjour1", 200), ("a" * 64, 200)]
)
async def test_update_password_policy(
    client: httpx.AsyncClient, password: str, status: int
) -> None:
    token = await register(client, "alice")
    response = await put_user(client, token, password=password)
    assert response.status_code == status, response.text
    if status == 422:
        assert_error(response, 422, {"password": ["is too short (minimum is 8 characters)"]})
        assert (await login(client, "alice@conduit.test", "password123")).status_code == 200
    else:
        assert (await login(client, "alice@conduit.test", password)).status_code == 200
        old = await login(client, "alice@conduit.test", "password123")
        assert_error(old, 401, {"credentials": ["invalid"]})


async def test_update_username_and_email(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    response = await put_user(client, token, username="alice2", email="alice2@conduit.test")
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["username"] == "alice2"
    assert user["email"] == "alice2@conduit.test"
    me = await client.get("/user", headers=auth(user["token"]))
    assert me.json()["user"]["username"] == "alice2"
    assert (await login(client, "alice2@conduit.test", "password123")).status_code == 200
    assert (await login(client, "alice@conduit.test", "password123")).status_code == 401
    profile = await client.get("/profiles/alice2")
    assert profile.status_code == 200


async def test_update_to_a_taken_username_or_email_is_409(client: httpx.AsyncClient) -> None:
    await register(client, "bob")
    token = await register(client, "alice")
    assert_error(
        await put_user(client, token, username="bob"), 409, {"username": ["has already been taken"]}
    )
    assert_error(
        await put_user(client, token, email="bob@conduit.test"),
        409,
        {"email": ["has already been taken"]},
    )
    # Keeping one's own name and email is no conflict.
    same = await put_user(client, token, username="alice", email="alice@conduit.test")
    assert same.status_code == 200


async def test_update_refuses_an_invalid_email(client: httpx.AsyncClient) -> None:
    token = await register(client, "alice")
    assert_error(await put_user(client, token, email="nope"), 422, {"email": ["is invalid"]})
