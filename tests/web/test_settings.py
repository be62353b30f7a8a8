"""The settings page: changing one's picture, name, bio, email and password, and signing out."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.web.conftest import Browser, error_messages

# The pages over the use cases (tested on every database by tests/api): SQLite only.
pytestmark = pytest.mark.sqlite_only


SMILEY = "https://api.realworld.io/images/smiley-cyrus.jpeg"
_USER_PIC = re.compile(r'<img src="([^"]*)" class="user-pic"')
_USER_IMG = re.compile(r'<img src="([^"]*)" class="user-img"')


def _field(page: str, name: str) -> str:
    """The value a form field shows (an input's value, a textarea's text)."""
    found = re.search(rf'<input [^>]*name="{name}"[^>]*value="([^"]*)"', page) or re.search(
        rf'<textarea [^>]*name="{name}"[^>]*>(.*?)</textarea>', page, re.DOTALL
    )
    assert found is not None, f"no field {name}"
    return html.unescape(found.group(1))


def _header_picture(page: str) -> str:
    found = _USER_PIC.search(page)
    assert found is not None, "the header shows no signed-in reader"
    return html.unescape(found.group(1))


def _profile_picture(page: str) -> str:
    found = _USER_IMG.search(page)
    assert found is not None, "no profile picture"
    return html.unescape(found.group(1))


def _signed_in_as(page: str, username: str) -> bool:
    return f'href="/profile/{username}"><img' in page and 'href="/login"' not in page


async def test_settings_are_for_signed_in_readers_only(browser: Browser) -> None:
    answer = await browser.get("/settings")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


async def test_the_form_shows_the_account_as_it_is(browser: Browser) -> None:
    await browser.sign_up("alice")
    page = (await browser.get("/settings")).text
    assert page.count("<h1") == 1
    assert '<h1 class="text-xs-center">Your Settings</h1>' in page
    assert _field(page, "username") == "alice"
    assert _field(page, "email") == "alice@example.com"
    assert _field(page, "image") == ""  # never "None" for a picture not set
    assert _field(page, "bio") == ""
    assert 'name="password" placeholder="New Password"' in page
    first_submit = page.index('type="submit"')
    assert page[first_submit:].split("</button>")[0].endswith("Update Settings")
    assert "Or click here to logout." in page


async def test_a_new_name_bio_and_picture_show_at_once(browser: Browser) -> None:
    await browser.sign_up("alice")
    saved = await browser.post(
        "/settings",
        {
            "image": SMILEY,
            "username": "alice2",
            "bio": "I write <things>",
            "email": "alice@example.com",
            "password": "",
        },
        page="/settings",
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/profile/alice2"
    profile = (await browser.get("/profile/alice2")).text
    assert _signed_in_as(profile, "alice2")  # the header knows the new name right away
    assert _header_picture(profile) == SMILEY
    assert _profile_picture(profile) == SMILEY
    assert "<h4>alice2</h4>" in profile
    assert "<p>I write &lt;things&gt;</p>" in profile
    settings = (await browser.get("/settings")).text
    assert _field(settings, "bio") == "I write <things>"
    assert (await browser.get("/profile/alice")).status_code == 404


async def test_an_empty_picture_or_bio_clears_it(browser: Browser) -> None:
    await browser.sign_up("alice")
    fields = {"username": "alice", "email": "alice@example.com", "password": ""}
    await browser.post("/settings", {**fields, "image": SMILEY, "bio": "Hello"}, page="/settings")
    cleared = await browser.post("/settings", {**fields, "image": "", "bio": ""}, page="/settings")
    assert cleared.headers["location"] == "/profile/alice"
    profile = (await browser.get("/profile/alice")).text
    assert _profile_picture(profile).endswith("/default-avatar.svg")
    assert _header_picture(profile).endswith("/default-avatar.svg")
    assert "<p></p>" in profile
    settings = (await browser.get("/settings")).text
    assert _field(settings, "image") == ""
    assert _field(settings, "bio") == ""


async def test_refusals_are_the_apis_and_keep_what_was_typed(
    browser: Browser, other_browser: Browser, site: httpx.AsyncClient
) -> None:
    await other_browser.sign_up("bob")
    await browser.sign_up("alice")
    typed = {"image": "", "username": "bob", "bio": "mine", "email": "alice@example.com"}
    taken = await browser.post("/settings", {**typed, "password": ""}, page="/settings")
    assert taken.status_code == 422
    signed_in = await site.post(
        "/api/users/login", json={"user": {"email": "alice@example.com", "password": "password123"}}
    )
    api = await site.put(
        "/api/user",
        json={"user": {"username": "bob"}},
        headers={"authorization": f"Token {signed_in.json()['user']['token']}"},
    )
    api_messages = [
        f"{field} {message}"
        for field, messages in api.json()["errors"].items()
        for message in messages
    ]
    assert error_messages(taken.text) == api_messages == ["username has already been taken"]
    assert _field(taken.text, "username") == "bob"
    assert _field(taken.text, "bio") == "mine"
    refused = await browser.post(
        "/settings",
        {**typed, "username": "alice", "email": "not-an-email", "password": "short"},
        page="/settings",
    )
    assert refused.status_code == 422
    assert error_messages(refused.text) == [
        "email is invalid",
        "password is too short (minimum is 8 characters)",
    ]
    assert _field(refused.text, "email") == "not-an-email"
    assert 'value="short"' not in refused.text  # a password is never written into a page
    unchanged = (await browser.get("/settings")).text
    assert _field(unchanged, "username") == "alice"
    assert _field(unchanged, "bio") == ""


async def test_a_new_password_signs_out_the_other_sessions(
    browser: Browser, other_browser: Browser
) -> None:
    await browser.sign_up("alice")
    signed_in = await other_browser.post(
        "/login", {"email": "alice@example.com", "password": "password123"}, page="/login"
    )
    assert signed_in.status_code == 303
    assert _signed_in_as((await other_browser.get("/")).text, "alice")
    changed = await browser.post(
        "/settings",
        {
            "image": "",
            "username": "alice",
            "bio": "",
            "email": "alice@example.com",
            "password": "a-new-password",
        },
        page="/settings",
    )
    assert changed.headers["location"] == "/profile/alice"
    elsewhere = (await other_browser.get("/")).text
    assert 'href="/login"' in elsewhere
    assert 'href="/profile/alice"' not in elsewhere
    assert _signed_in_as((await browser.get("/")).text, "alice")  # this browser stays in
    await browser.post("/logout")
    old = await browser.post(
        "/login", {"email": "alice@example.com", "password": "password123"}, page="/login"
    )
    assert old.status_code == 422
    new = await browser.post(
        "/login", {"email": "alice@example.com", "password": "a-new-password"}, page="/login"
    )
    assert new.status_code == 303


async def test_an_empty_password_leaves_it_as_it_is(browser: Browser) -> None:
    await browser.sign_up("alice")
    await browser.post(
        "/settings",
        {
            "image": "",
            "username": "alice",
            "bio": "Hi",
            "email": "alice@example.com",
            "password": "",
        },
        page="/settings",
    )
    await browser.post("/logout")
    again = await browser.post(
        "/login", {"email": "alice@example.com", "password": "password123"}, page="/login"
    )
    assert again.status_code == 303


async def test_sign_out_here_and_everywhere(browser: Browser, other_browser: Browser) -> None:
    await browser.sign_up("alice")
    await other_browser.post(
        "/login", {"email": "alice@example.com", "password": "password123"}, page="/login"
    )
    settings = (await browser.get("/settings")).text
    assert 'name="everywhere" value="1"' in settings
    out = await browser.post("/logout", {"everywhere": "1"}, page="/settings")
    assert out.headers["location"] == "/"
    for reader in (browser, other_browser):
        home = (await reader.get("/")).text
        assert 'href="/login"' in home
        assert 'href="/profile/alice"' not in home


async def test_sign_out_leaves_the_other_sessions(browser: Browser, other_browser: Browser) -> None:
    await browser.sign_up("alice")
    await other_browser.post(
        "/login", {"email": "alice@example.com", "password": "password123"}, page="/login"
    )
    out = await browser.post("/logout", page="/settings")
    assert out.headers["location"] == "/"
    assert 'href="/login"' in (await browser.get("/")).text
    assert _signed_in_as((await other_browser.get("/")).text, "alice")
