"""The article page: the body as sanitised HTML, favorites, comments, deleting, who sees what."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from conduit.admin import service as admin
from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.integration.support import count_statements
from tests.web.articles_support import write
from tests.web.conftest import ORIGIN, Browser, error_messages

# The pages over the use cases (tested on every database by tests/api): SQLite only.
pytestmark = pytest.mark.sqlite_only


ARTICLE_PAGE_BUDGET = 2  # the article, its comments


def card_texts(html: str) -> list[str]:
    return re.findall(r'<p class="card-text">(.*?)</p>', html, re.DOTALL)


@pytest.fixture
async def web_app(db: Database, settings: Settings, tokens: TokenCodec) -> FastAPI:
    return create_app(container=Container(settings=settings, db=db, tokens=tokens))


@pytest.fixture
async def app_browser(web_app: FastAPI) -> AsyncIterator[Browser]:
    """A reader of ``web_app`` (whose article bodies the test can look at)."""
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        yield Browser(http)


async def test_the_page_shows_the_body_as_sanitised_markdown(browser: Browser) -> None:
    await browser.sign_up("alice")
    slug = await write(
        browser,
        title="Fire & ice",
        body="Some **bold** words.\n\n<script>alert('x')</script>\n\n[link](javascript:alert(1))",
        tags=["dragons", "ice"],
    )
    page = await browser.get(f"/article/{slug}")
    assert page.status_code == 200
    assert re.findall(r"<h1[ >].*?</h1>", page.text, re.DOTALL) == ["<h1>Fire &amp; ice</h1>"]
    assert "<strong>bold</strong>" in page.text
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;" in page.text  # shown as the text the author typed
    assert 'href="javascript' not in page.text
    assert re.findall(r'<li class="tag-default tag-pill tag-outline">(.*?)</li>', page.text) == [
        "dragons",
        "ice",
    ]


async def test_each_version_of_a_body_is_rendered_once(
    app_browser: Browser, web_app: FastAPI
) -> None:
    bodies = web_app.state.web.bodies
    await app_browser.sign_up("alice")
    slug = await write(app_browser, body="First *draft*.")
    for _ in range(2):
        assert "<em>draft</em>" in (await app_browser.get(f"/article/{slug}")).text
    assert len(bodies) == 1
    edited = await app_browser.post(
        f"/editor/{slug}",
        {"title": "Dragons", "description": "About Dragons", "body": "Final **copy**."},
        page=f"/editor/{slug}",
    )
    assert edited.status_code == 303
    page = (await app_browser.get(f"/article/{slug}")).text
    assert "<strong>copy</strong>" in page
    assert "draft" not in page
    assert len(bodies) == 2


async def test_the_author_can_edit_and_delete_others_cannot(
    browser: Browser, other_browser: Browser
) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    own = (await browser.get(f"/article/{slug}")).text
    assert f'href="/editor/{slug}"' in own
    assert "Delete Article" in own
    assert "Follow alice" not in own
    await other_browser.sign_up("bob")
    theirs = (await other_browser.get(f"/article/{slug}")).text
    assert "Edit Article" not in theirs
    assert "Delete Article" not in theirs
    assert "Follow alice" in theirs
    assert 'action="/profile/alice/follow"' in theirs

    refused = await other_browser.post(f"/article/{slug}/delete", page=f"/article/{slug}")
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    deleted = await browser.post(f"/article/{slug}/delete", page=f"/article/{slug}")
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/"
    assert (await browser.get(f"/article/{slug}")).status_code == 404


async def test_a_moderator_may_delete_someone_elses_article(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    await admin.grant(db, username="alice", role="moderator", actor=None)
    await other_browser.sign_up("mod")
    await admin.grant(db, username="mod", role="moderator", actor=None)
    page = (await other_browser.get(f"/article/{slug}")).text
    assert "Delete Article" in page
    assert "Edit Article" not in page
    deleted = await other_browser.post(f"/article/{slug}/delete", page=f"/article/{slug}")
    assert deleted.headers["location"] == "/"
    assert (await browser.get(f"/article/{slug}")).status_code == 404


async def test_favorite_and_unfavorite(browser: Browser, other_browser: Browser) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    await other_browser.sign_up("bob")
    before = (await other_browser.get(f"/article/{slug}")).text
    assert 'class="btn btn-outline-primary"' in before
    assert 'Favorite Article <span class="counter">(0)</span>' in before

    favorited = await other_browser.post(
        f"/article/{slug}/favorite", {"next": f"/article/{slug}"}, page=f"/article/{slug}"
    )
    assert favorited.status_code == 303
    assert favorited.headers["location"] == f"/article/{slug}"
    after = (await other_browser.get(f"/article/{slug}")).text
    assert 'class="btn btn-primary"' in after
    assert 'Unfavorite Article <span class="counter">(1)</span>' in after

    await other_browser.post(f"/article/{slug}/unfavorite", page=f"/article/{slug}")
    again = (await other_browser.get(f"/article/{slug}")).text
    assert 'class="btn btn-outline-primary"' in again
    assert 'Favorite Article <span class="counter">(0)</span>' in again


async def test_a_favorite_without_the_form_token_is_refused(
    browser: Browser, other_browser: Browser
) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    await other_browser.sign_up("bob")
    refused = await other_browser.http.post(f"/article/{slug}/favorite", headers={"origin": ORIGIN})
    assert refused.status_code == 403
    page = (await other_browser.get(f"/article/{slug}")).text
    assert 'Favorite Article <span class="counter">(0)</span>' in page


async def test_comments_are_added_shown_as_text_and_deleted_by_their_author(
    browser: Browser, other_browser: Browser
) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    await other_browser.sign_up("bob")
    posted = await other_browser.post(
        f"/article/{slug}/comments",
        {"body": "Nice <b>dragon</b>!\nSecond line"},
        page=f"/article/{slug}",
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == f"/article/{slug}"
    page = (await other_browser.get(f"/article/{slug}")).text
    assert card_texts(page) == ["Nice &lt;b&gt;dragon&lt;/b&gt;!\nSecond line"]
    delete_action = re.search(r'action="(/article/[^"]+/comments/\d+/delete)"', page)
    assert delete_action is not None
    assert "Delete comment" in page
    assert '<i class="ion-trash-a" aria-hidden="true"></i>' in page

    # The article's author did not write the comment: no delete button, and no deleting.
    seen_by_author = (await browser.get(f"/article/{slug}")).text
    assert "Delete comment" not in seen_by_author
    refused = await browser.post(delete_action.group(1), page=f"/article/{slug}")
    assert refused.status_code == 403
    assert len(card_texts((await browser.get(f"/article/{slug}")).text)) == 1

    deleted = await other_browser.post(delete_action.group(1), page=f"/article/{slug}")
    assert deleted.status_code == 303
    assert card_texts((await other_browser.get(f"/article/{slug}")).text) == []


async def test_a_moderator_sees_and_uses_the_delete_button_of_any_comment(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    await browser.post(f"/article/{slug}/comments", {"body": "spam"}, page=f"/article/{slug}")
    await other_browser.sign_up("mod")
    await admin.grant(db, username="mod", role="moderator", actor=None)
    page = (await other_browser.get(f"/article/{slug}")).text
    delete_action = re.search(r'action="(/article/[^"]+/comments/\d+/delete)"', page)
    assert delete_action is not None
    deleted = await other_browser.post(delete_action.group(1), page=f"/article/{slug}")
    assert deleted.status_code == 303
    assert card_texts((await browser.get(f"/article/{slug}")).text) == []


async def test_a_blank_comment_is_refused_with_the_apis_message(browser: Browser) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    refused = await browser.post(
        f"/article/{slug}/comments", {"body": "   "}, page=f"/article/{slug}"
    )
    assert refused.status_code == 422
    assert error_messages(refused.text) == ["body can&#39;t be blank"]
    assert "<h1>Dragons</h1>" in refused.text
    assert card_texts(refused.text) == []


async def test_a_signed_out_reader_is_asked_to_sign_in_to_comment(
    browser: Browser, other_browser: Browser
) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    await browser.post(f"/article/{slug}/comments", {"body": "First!"}, page=f"/article/{slug}")
    page = (await other_browser.get(f"/article/{slug}")).text
    assert card_texts(page) == ["First!"]
    assert 'placeholder="Write a comment..."' not in page
    assert page.count('href="/login"') == 1  # the header's only
    assert f'href="/login?next=/article/{slug}"' in page
    assert f'href="/register?next=/article/{slug}"' in page
    assert "Delete comment" not in page
    refused = await other_browser.post(
        f"/article/{slug}/comments", {"body": "anon"}, page=f"/article/{slug}"
    )
    assert refused.headers["location"] == "/login"


async def test_an_unknown_article_is_a_404_page(browser: Browser) -> None:
    page = await browser.get("/article/no-such-article")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "article not found" in page.text


async def test_the_page_takes_two_statements(
    browser: Browser, other_browser: Browser, db: Database
) -> None:
    await browser.sign_up("alice")
    slug = await write(browser, tags=["a", "b"])
    for text in ("one", "two", "three"):
        await browser.post(f"/article/{slug}/comments", {"body": text}, page=f"/article/{slug}")
    await other_browser.get("/")  # anonymous, cookies set
    for reader in (browser, other_browser):
        await reader.get(f"/article/{slug}")  # warm: connections open
        with count_statements(db) as sent:
            page = await reader.get(f"/article/{slug}")
        assert page.status_code == 200
        assert len(card_texts(page.text)) == 3
        assert sent.count == ARTICLE_PAGE_BUDGET, sent.statements
