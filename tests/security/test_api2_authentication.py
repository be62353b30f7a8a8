"""OWASP API Security Top 10 (2023), API2 Broken Authentication: forged, expired and mistyped
access tokens; passwords never leave the server; login does not tell unknown emails from wrong
passwords; refresh-token reuse revokes the whole session (audited); signing out everywhere cuts
off older access tokens; password guessing meets 429, the right password included (no oracle),
per address and per account across addresses (trusted proxy and X-Forwarded-For), whatever JSON
the login route accepts.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from conduit.auth.audit import REFRESH_REUSED
from conduit.auth.models import sessions
from conduit.core.audit import audit_log
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.settings import Settings
from tests.api.support import USER_KEYS, assert_error
from tests.helpers import auth, register
from tests.security.conftest import Connect
from tests.security.owasp_support import (
    PASSWORD,
    assert_too_many,
    claims,
    count,
    get_json,
    limited_app,
    log_in,
    logout,
    outbox_payloads,
    refresh,
    refresh_token_of,
    session_of,
    sign_up,
    signed,
    status_of,
    swapped_payload,
    unsigned,
    user_id_of,
    user_row,
)

BAD_TOKENS: dict[str, Callable[[int], str]] = {
    "alg-none": lambda user: unsigned(claims(user)),
    "alg-none-signed-looking": lambda user: unsigned(claims(user)) + "c2lnbmF0dXJl",
    "other-key": lambda user: signed(claims(user), key="another-secret-key-0123456789-abcdefgh"),
    "hs512-same-key": lambda user: signed(claims(user), algorithm="HS512"),
    "expired": lambda user: signed(
        claims(user, iat=time.time() - 7200, exp=int(time.time() - 3600))
    ),
    "typ-refresh": lambda user: signed(claims(user, typ="refresh")),
    "typ-missing": lambda user: signed({k: v for k, v in claims(user).items() if k != "typ"}),
    "subject-username": lambda user: signed(claims("alice")),
    "subject-negative": lambda user: signed(claims(f"-{user}")),
    "subject-sql": lambda user: signed(claims(f"{user} OR 1=1")),
    "subject-float": lambda user: signed(claims(f"{user}.0")),
    "subject-empty": lambda user: signed(claims("")),
    "tampered-subject": lambda user: swapped_payload(signed(claims(user + 1)), claims(user)),
}


class TestAPI2BrokenAuthentication:
    """API2:2023 Broken Authentication.

    "Authentication mechanisms are often implemented incorrectly, allowing attackers to
    compromise authentication tokens or to exploit implementation flaws to assume other
    user's identities temporarily or permanently."
    """

    async def test_a_well_formed_token_is_accepted(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """The control for the forged tokens below: the same claims, properly signed."""
        await register(client, "alice")
        alice_id = await user_id_of(db, "alice")
        response = await client.get("/user", headers=auth(signed(claims(alice_id))))
        assert response.status_code == 200, response.text
        assert response.json()["user"]["username"] == "alice"

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    @pytest.mark.parametrize("forge", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
    async def test_forged_or_unusable_token_is_refused(
        self, client: httpx.AsyncClient, db: Database, forge: Callable[[int], str]
    ) -> None:
        await register(client, "alice")
        await register(client, "bob")  # the tampered token's signer
        token = forge(await user_id_of(db, "alice"))

        for method, path, body in (
            ("GET", "/user", None),
            ("POST", "/articles", {"article": {"title": "T", "description": "D", "body": "B"}}),
        ):
            response = await client.request(method, path, json=body, headers=auth(token))
            errors = assert_error(response, 401)
            assert set(errors) == {"token"}, errors
            assert response.headers["www-authenticate"].startswith("Token")
        assert (await get_json(client, "/articles"))["articlesCount"] == 0

    async def test_the_password_never_leaves_the_server(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        first, second = "first-Secret-pass-91", "second-Secret-pass-27"
        replies = [
            await client.post(
                "/users",
                json={"user": {"username": "alice", "email": "a@x.io", "password": first}},
            )
        ]
        token = replies[0].json()["user"]["token"]
        login = {"user": {"email": "a@x.io", "password": first}}
        replies.append(await client.post("/users/login", json=login))
        replies.append(await client.get("/user", headers=auth(token)))
        replies.append(
            await client.put(
                "/user", json={"user": {"password": second, "bio": "hi"}}, headers=auth(token)
            )
        )
        replies.append(await client.get("/profiles/alice"))
        login["user"]["password"] = second
        replies.append(await client.post("/users/login", json=login))
        login["user"]["password"] = first  # a failed login echoes nothing either
        replies.append(await client.post("/users/login", json=login))
        password_hash = (await user_row(db, "alice"))["password_hash"]

        assert [reply.status_code for reply in replies] == [201, 200, 200, 200, 200, 200, 401]
        for reply in replies[:-1]:
            assert set(reply.json().get("user", reply.json().get("profile", {}))) <= USER_KEYS | {
                "following"
            }
        payloads = await outbox_payloads(db)
        assert payloads, "registering and updating emit events"
        for text in [reply.text for reply in replies] + payloads:
            for secret in (first, second, password_hash, "$argon2"):
                assert secret not in text, (secret, text)

    async def test_unknown_email_and_wrong_password_answer_alike(
        self, client: httpx.AsyncClient
    ) -> None:
        await register(client, "alice")

        async def login(email: str, password: str) -> httpx.Response:
            return await client.post(
                "/users/login", json={"user": {"email": email, "password": password}}
            )

        wrong_password = await login("alice@conduit.test", "not-her-password")
        unknown_email = await login("nobody@conduit.test", "not-her-password")

        assert_error(wrong_password, 401, {"credentials": ["invalid"]})
        assert unknown_email.status_code == wrong_password.status_code
        assert unknown_email.json() == wrong_password.json()
        assert unknown_email.headers.get("www-authenticate") == wrong_password.headers.get(
            "www-authenticate"
        )
        assert (await login("alice@conduit.test", "password123")).status_code == 200

    async def test_refresh_token_reuse_revokes_the_family_and_is_audited(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """A copied refresh token replayed after its owner moved on ends the whole session:
        the newest refresh token and the session's access tokens stop too."""
        first_access, stolen = await sign_up(client, "alice")
        rotated = await refresh(client, stolen)  # the owner's browser moves on
        assert rotated.status_code == 200, rotated.text
        again = await refresh(client, refresh_token_of(rotated))
        assert again.status_code == 200, again.text
        newest_cookie = refresh_token_of(again)
        newest_access = again.json()["user"]["token"]
        assert await status_of(client, newest_access) == 200

        replay = await refresh(client, stolen, {"User-Agent": "thief/1.0"})

        assert_error(replay, 401, {"refresh token": ["has been revoked"]})
        assert "set-cookie" not in replay.headers
        assert_error(await refresh(client, newest_cookie), 401)
        for token in (first_access, rotated.json()["user"]["token"], newest_access):
            assert await status_of(client, token) == 401
        async with db.engine.connect() as conn:
            records = list(
                await conn.execute(select(audit_log).where(audit_log.c.type == REFRESH_REUSED))
            )
        assert len(records) == 1
        assert records[0].subject_id == await user_id_of(db, "alice")
        assert records[0].user_agent == "thief/1.0"
        assert json.loads(records[0].details)["sessionId"] == session_of(newest_access)
        # The owner signs in again: a new session, untouched.
        fresh = await log_in(client, "alice@conduit.test")
        assert (await refresh(client, refresh_token_of(fresh))).status_code == 200

    async def test_signing_out_everywhere_cuts_off_every_older_access_token(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        """Session tokens, a token of another session and one that names no session."""
        registered, cookie = await sign_up(client, "alice")
        other_session = (await log_in(client, "alice@conduit.test")).json()["user"]["token"]
        sessionless = signed(claims(await user_id_of(db, "alice"), iat=int(time.time()) - 60))
        bystander, _ = await sign_up(client, "bob")
        old = (registered, other_session, sessionless)
        assert [await status_of(client, token) for token in old] == [200, 200, 200]

        assert (await logout(client, other_session, everywhere=True)).status_code == 204

        assert [await status_of(client, token) for token in old] == [401, 401, 401]
        assert_error(await refresh(client, cookie), 401)
        assert await status_of(client, bystander) == 200
        again = await log_in(client, "alice@conduit.test")
        assert again.status_code == 200, again.text
        assert await status_of(client, again.json()["user"]["token"]) == 200

    async def test_guessing_a_password_meets_429_and_then_the_right_one_gets_429_too(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        """Once the budget is spent, the answer no longer depends on the password: the
        guesser learns nothing (no oracle), and no session is started."""
        app = limited_app(
            db,
            settings,
            tokens,
            rate_limit_login_per_ip="5/minute",
            rate_limit_login_per_account="1000/minute",
        )
        await sign_up(connect(app, "192.0.2.99"), "alice")
        guesser = connect(app, "192.0.2.1")
        for n in range(5):
            wrong = await log_in(guesser, "alice@conduit.test", f"guess-{n}-xyz")
            assert_error(wrong, 401, {"credentials": ["invalid"]})
        sessions_before = await count(db, sessions)

        wrong = await log_in(guesser, "alice@conduit.test", "guess-5-xyz")
        right = await log_in(guesser, "alice@conduit.test", PASSWORD)

        for response in (wrong, right):
            assert_too_many(response, limit=5)
        assert right.content == wrong.content
        assert await count(db, sessions) == sessions_before
        # The owner, from her own address, is not locked out by the guesser.
        assert (await log_in(connect(app, "192.0.2.2"), "alice@conduit.test")).status_code == 200

    async def test_the_per_account_login_limit_holds_across_addresses(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        """Guesses spread over many addresses (behind a trusted proxy, each named by
        X-Forwarded-For, or straight from elsewhere) still count against the account: once
        its failures are spent, an address that failed on it is refused, and a new one
        gets a single guess."""
        app = limited_app(
            db,
            settings,
            tokens,
            trusted_proxies=["10.0.0.0/8"],
            rate_limit_login_per_ip="100/minute",
            rate_limit_login_per_account="3/minute",
        )
        proxy = connect(app, "10.0.0.1")
        await sign_up(proxy, "alice")
        await sign_up(proxy, "carol")
        for n in range(3):
            forwarded = {"X-Forwarded-For": f"203.0.113.{n}"}
            wrong = await log_in(proxy, "alice@conduit.test", f"guess-{n}-xyz", **forwarded)
            assert_error(wrong, 401, {"credentials": ["invalid"]})

        refused = [
            await log_in(proxy, "alice@conduit.test", **{"X-Forwarded-For": "203.0.113.0"}),
            await log_in(proxy, "ALICE@conduit.test", **{"X-Forwarded-For": "203.0.113.1"}),
            await log_in(
                proxy, "alice@conduit.test", "guess-x-xyz", **{"X-Forwarded-For": "203.0.113.2"}
            ),
        ]
        for n, address in enumerate(("198.51.100.7", "198.51.100.8")):
            forwarded = {"X-Forwarded-For": address}
            wrong = await log_in(proxy, "alice@conduit.test", f"guess-{n}-abc", **forwarded)
            assert_error(wrong, 401, {"credentials": ["invalid"]})
            refused.append(await log_in(proxy, "alice@conduit.test", **forwarded))
        guesser = connect(app, "192.0.2.50")
        assert (await log_in(guesser, "alice@conduit.test", "guess-d-xyz")).status_code == 401
        refused.append(await log_in(guesser, "alice@conduit.test"))

        for response in refused:
            assert_too_many(response, limit=3)
        carol = await log_in(proxy, "carol@conduit.test", **{"X-Forwarded-For": "203.0.113.0"})
        assert carol.status_code == 200, carol.text

    @pytest.mark.parametrize(
        "shape",
        [
            '{"user": {"email": "alice@conduit.test", "password": "%s"}, "x": "\\ud800"}',
            '\ufeff{"user": {"email": "alice@conduit.test", "password": "%s"}}',
            '{"user": {"email": "alice@conduit.test", "password": "%s"}, "x": NaN}',
            "utf-16",
        ],
        ids=["lone-surrogate", "byte-order-mark", "nan", "utf-16"],
    )
    async def test_the_per_account_login_limit_reads_the_body_as_the_route_does(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect, shape: str
    ) -> None:
        """Bodies the login route accepts but a stricter JSON parser refuses must count
        against the account too (they used to escape the per-account limit)."""
        app = limited_app(
            db,
            settings,
            tokens,
            trusted_proxies=["10.0.0.0/8"],
            rate_limit_login_per_ip="100/minute",
            rate_limit_login_per_account="3/minute",
        )
        proxy = connect(app, "10.0.0.1")
        await sign_up(proxy, "alice")

        async def attempt(password: str, n: int) -> httpx.Response:
            if shape == "utf-16":
                body = json.dumps({"user": {"email": "alice@conduit.test", "password": password}})
                content = body.encode("utf-16")
            else:
                content = (shape % password).encode()
            return await proxy.post(
                "/users/login",
                content=content,
                headers={"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{n}"},
            )

        for n in range(3):
            assert_error(await attempt(f"guess-{n}-xyz", n), 401, {"credentials": ["invalid"]})
        # The failures counted: the addresses that failed are refused.
        assert_too_many(await attempt(PASSWORD, 2), limit=3)
