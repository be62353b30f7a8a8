"""Profile pages: a user's articles and favorites, and following them."""

from __future__ import annotations

import re

import pytest

from conduit.articles import service as articles
from conduit.core.db import Database
from conduit.core.principal import Principal
from conduit.users import service as users
from tests.web.conftest import Browser, error_messages

# The pages over the use cases (tested on every database by tests/api): SQLite only.
pytestmark = pytest.mark.sqlite_only


_PREVIEW_TITLE = re.compile(r'class="preview-link">\s*<h1>(.*?)</h1>', re.DOTALL)
_PAGE_LINK = re.compile(r'class="page-link" href="([^"]*)"')


async def _author(db: Database, username: str) -> Principal:
    account = await users.verify_credentials(
        db, email=f"{username}@example.com", password="password123"
    )
    assert account is not None
    return Principal(id=account.id)


async def _write(db: Database, author: Principal, title: str) -> str:
    article = await articles.create(
        db, actor=author, title=title, description="About it", body="Body", tag_list=[]
    )
    return article.slug


def _titles(page: str) -> list[str]:
    return _PREVIEW_TITLE.findall(page)


def _follow_buttons(page: str) -> list[str]:
    return re.findall(r"&nbsp;((?:Un)?[Ff]ollow [^<\s]+)\s*</button>", page)


async def test_a_profile_lists_its_authors_articles_and_favorites(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await browser.sign_up("alice")
    await other_browser.sign_up("bob")
    alice, bob = await _author(db, "alice"), await _author(db, "bob")
    await _write(db, alice, "First of alice")
    await _write(db, alice, "Second of alice")
    liked = await _write(db, bob, "One of bob")
    await articles.favorite(db, slug=liked, actor=alice)

    mine = await browser.get("/profile/alice")
    assert mine.status_code == 200
    assert 'class="profile-page"' in mine.text
    assert mine.text.count("<h4") == 1
    assert "<h4>alice</h4>" in mine.text
    assert _titles(mine.text) == ["Second of alice", "First of alice"]
    assert 'class="nav-link active" href="/profile/alice" aria-current="page">My Articles' in (
        mine.text
    )
    assert 'href="/profile/alice/favorites">Favorited Articles' in mine.text

    favorites = await browser.get("/profile/alice/favorites")
    assert _titles(favorites.text) == ["One of bob"]
    assert 'class="nav-link active" href="/profile/alice/favorites"' in favorites.text
    # the preview's button says the reader favorited it, and unfavoriting comes back here
    assert f'action="/article/{liked}/unfavorite"' in favorites.text
    assert 'name="next" value="/profile/alice/favorites"' in favorites.text

    none = await browser.get("/profile/bob/favorites")
    assert _titles(none.text) == []
    assert "No articles are here... yet." in none.text


async def test_a_profile_pages_its_articles_ten_at_a_time(browser: Browser, db: Database) -> None:
    await browser.sign_up("alice")
    alice = await _author(db, "alice")
    for number in range(12):
        await _write(db, alice, f"Article {number}")
    first = await browser.get("/profile/alice")
    assert len(_titles(first.text)) == 10
    assert _PAGE_LINK.findall(first.text) == ["/profile/alice?page=1", "/profile/alice?page=2"]
    second = await browser.get("/profile/alice?page=2")
    assert _titles(second.text) == ["Article 1", "Article 0"]
    assert re.search(
        r'class="page-item active">\s*<a class="page-link" href="/profile/alice\?page=2"',
        second.text,
    )


async def test_follow_and_unfollow_come_back_to_the_profile(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await browser.sign_up("alice")
    await other_browser.sign_up("bob")
    await _write(db, await _author(db, "bob"), "News from bob")

    before = (await browser.get("/profile/bob")).text
    assert _follow_buttons(before) == ["Follow bob"]
    assert 'action="/profile/bob/follow"' in before
    followed = await browser.post(
        "/profile/bob/follow", {"next": "/profile/bob"}, page="/profile/bob"
    )
    assert followed.status_code == 303
    assert followed.headers["location"] == "/profile/bob"
    after = (await browser.get("/profile/bob")).text
    assert _follow_buttons(after) == ["Unfollow bob"]
    assert "btn btn-sm btn-secondary action-btn" in after
    assert _titles((await browser.get("/?feed=following")).text) == ["News from bob"]

    unfollowed = await browser.post(
        "/profile/bob/unfollow", {"next": "/profile/bob"}, page="/profile/bob"
    )
    assert unfollowed.headers["location"] == "/profile/bob"
    assert _follow_buttons((await browser.get("/profile/bob")).text) == ["Follow bob"]
    assert _titles((await browser.get("/?feed=following")).text) == []


async def test_ones_own_profile_offers_the_settings_not_a_follow(browser: Browser) -> None:
    await browser.sign_up("alice")
    own = (await browser.get("/profile/alice")).text
    assert 'action-btn" href="/settings">' in own
    assert "Edit Profile Settings" in own
    assert _follow_buttons(own) == []
    assert "/follow" not in own


async def test_anonymous_readers_see_profiles_but_cannot_follow(
    browser: Browser, other_browser: Browser
) -> None:
    await other_browser.sign_up("bob")
    seen = await browser.get("/profile/bob")
    assert seen.status_code == 200
    assert "<h4>bob</h4>" in seen.text
    assert "<p></p>" in seen.text  # no bio: an empty paragraph, never "None"
    assert "default-avatar.svg" in seen.text
    assert _follow_buttons(seen.text) == []
    refused = await browser.post("/profile/bob/follow", {"next": "/profile/bob"})
    assert refused.status_code == 303
    assert refused.headers["location"] == "/login"
    await browser.sign_up("alice")
    assert _follow_buttons((await browser.get("/profile/bob")).text) == ["Follow bob"]


async def test_an_unknown_profile_is_the_not_found_page(browser: Browser) -> None:
    for url in ("/profile/nobody", "/profile/nobody/favorites"):
        missing = await browser.get(url)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("text/html")
        assert error_messages(missing.text) == ["profile not found"]
    await browser.sign_up("alice")
    follow = await browser.post("/profile/nobody/follow", {"next": "/profile/nobody"})
    assert follow.status_code == 404
