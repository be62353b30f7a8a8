"""Signing up, in and out on the web: the session cookies, CSRF and the API's rules."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from conduit.core.security import TokenCodec
from tests.web.conftest import ORIGIN, Browser, error_messages

# The pages over the use cases (tested on every database by tests/api): SQLite only.
pytestmark = pytest.mark.sqlite_only


def _cookie_flags(answer: httpx.Response, name: str) -> str:
    line = next(
        value
        for key, value in answer.headers.multi_items()
        if key == "set-cookie" and value.startswith(f"{name}=")
    )
    return line.lower()


async def test_sign_up_starts_a_session_the_header_shows(browser: Browser) -> None:
    answer = await browser.sign_up("alice")
    assert answer.headers["location"] == "/"
    flags = _cookie_flags(answer, "conduit_session")
    assert "httponly" in flags
    assert "secure" in flags
    assert "samesite=lax" in flags
    home = await browser.get("/")
    assert 'href="/profile/alice"' in home.text
    assert "Your Feed" in home.text
    assert 'href="/login"' not in home.text


async def test_sign_out_revokes_the_session_row(browser: Browser, site: httpx.AsyncClient) -> None:
    await browser.sign_up("bob")
    kept = site.cookies.get("conduit_session")
    await browser.post("/logout")
    assert "conduit_session" not in site.cookies
    # The old cookie, replayed, no longer signs anybody in: its session is revoked.
    replay = await site.get("/", headers={"cookie": f"conduit_session={kept}"})
    assert 'href="/login"' in replay.text
    assert 'href="/profile/bob"' not in replay.text


async def test_sign_in_with_wrong_password_says_so(browser: Browser) -> None:
    await browser.sign_up("carol")
    await browser.post("/logout")
    refused = await browser.post(
        "/login", {"email": "carol@example.com", "password": "wrong-password"}, page="/login"
    )
    assert refused.status_code == 422
    assert error_messages(refused.text)
    signed_in = await browser.post(
        "/login", {"email": "carol@example.com", "password": "password123"}, page="/login"
    )
    assert signed_in.status_code == 303


async def test_sign_up_refuses_what_the_api_refuses(browser: Browser) -> None:
    refused = await browser.post(
        "/register",
        {"username": "", "email": "not-an-email", "password": "short"},
        page="/register",
    )
    assert refused.status_code == 422
    assert error_messages(refused.text) == [
        "username can&#39;t be blank",
        "email is invalid",
        "password is too short (minimum is 8 characters)",
    ]
    await browser.sign_up("dave")
    await browser.post("/logout")
    taken = await browser.post(
        "/register",
        {"username": "dave", "email": "dave@example.com", "password": "password123"},
        page="/register",
    )
    assert taken.status_code == 422
    assert any("has already been taken" in message for message in error_messages(taken.text))


async def test_a_form_without_the_token_is_refused(site: httpx.AsyncClient) -> None:
    await site.get("/register")  # the CSRF cookie, but no token in the form
    fields = {"username": "eve", "email": "eve@example.com", "password": "password123"}
    refused = await site.post("/register", data=fields, headers={"origin": ORIGIN})
    assert refused.status_code == 403
    forged = await site.post(
        "/register", data={**fields, "csrf_token": "forged"}, headers={"origin": ORIGIN}
    )
    assert forged.status_code == 403


async def test_a_form_from_another_site_is_refused(
    browser: Browser, site: httpx.AsyncClient
) -> None:
    token = await browser.token("/register")
    fields = {"username": "mallory", "email": "m@example.com", "password": "password123"}
    refused = await site.post(
        "/register",
        data={**fields, "csrf_token": token},
        headers={"origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    assert "mallory" not in (await browser.get("/")).text


async def test_pages_carry_a_strict_content_security_policy(browser: Browser) -> None:
    page = await browser.get("/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in page.text  # no inline script for the policy to allow


async def test_an_unknown_page_is_a_page_and_an_unknown_api_path_json(
    site: httpx.AsyncClient,
) -> None:
    page = await site.get("/no-such-page", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = await site.get("/api/no-such-path", headers={"accept": "text/html"})
    assert api.status_code == 404
    assert api.json() == {"errors": {"path": ["not found"]}}


async def test_sign_in_comes_back_to_the_page_that_asked(browser: Browser) -> None:
    await browser.sign_up("frank")
    await browser.post("/logout")
    form = await browser.get("/login?next=/profile/frank")
    assert 'name="next" value="/profile/frank"' in form.text
    signed_in = await browser.post(
        "/login",
        {"email": "frank@example.com", "password": "password123", "next": "/profile/frank"},
        page="/login",
    )
    assert signed_in.headers["location"] == "/profile/frank"
    await browser.post("/logout")
    elsewhere = await browser.post(
        "/login",
        {"email": "frank@example.com", "password": "password123", "next": "//evil.example/"},
        page="/login",
    )
    assert elsewhere.headers["location"] == "/"  # only paths of this site


async def test_an_expired_page_token_is_renewed_from_the_session(
    browser: Browser, site: httpx.AsyncClient, tokens: TokenCodec
) -> None:
    await browser.sign_up("grace")
    claims = tokens.decode(site.cookies["conduit_session"])
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=tokens.ttl_seconds + 60)
    expired = tokens.issue(claims.user_id, session_id=claims.session_id, now=long_ago)
    site.cookies.set("conduit_session", expired, domain="conduit.test")
    page = await browser.get("/")
    assert 'href="/profile/grace"' in page.text  # still signed in: the session was rotated
    renewed = site.cookies["conduit_session"]
    assert renewed != expired
    assert tokens.decode(renewed).session_id == claims.session_id
    # Signed out, the same expired token and the old refresh token sign nobody in.
    await browser.post("/logout")
    site.cookies.set("conduit_session", expired, domain="conduit.test")
    assert 'href="/profile/grace"' not in (await browser.get("/")).text
