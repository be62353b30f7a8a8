"""The editor: publishing and editing an article, its tags with and without the script."""

from __future__ import annotations

import html
import re

import pytest

from tests.web.articles_support import write
from tests.web.conftest import Browser, error_messages

# The pages over the use cases (tested on every database by tests/api): SQLite only.
pytestmark = pytest.mark.sqlite_only


def tags_on(page: str) -> list[str]:
    """The article page's tag pills."""
    return re.findall(r'<li class="tag-default tag-pill tag-outline">(.*?)</li>', page)


def pills_in(editor: str) -> list[str]:
    """The editor's tag pills (their hidden ``tagList`` inputs)."""
    return re.findall(r'<input type="hidden" name="tagList" value="([^"]*)">', editor)


def field(editor: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', editor)
    assert found is not None, name
    return html.unescape(found.group(1))


def body_in(editor: str) -> str:
    found = re.search(r'<textarea id="article-body"[^>]*>\n(.*?)</textarea>', editor, re.DOTALL)
    assert found is not None
    return html.unescape(found.group(1))


async def test_a_signed_out_reader_is_sent_to_sign_in(browser: Browser) -> None:
    for url in ("/editor", "/editor/some-article"):
        answer = await browser.get(url)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login"
    posted = await browser.post("/editor", {"title": "t", "description": "d", "body": "b"})
    assert posted.headers["location"] == "/login"


async def test_publishing_takes_the_pills_and_the_typed_tags(browser: Browser) -> None:
    await browser.sign_up("alice")
    editor = (await browser.get("/editor")).text
    assert 'id="article-form"' in editor
    assert '<input type="text" id="article-tags" name="tags" placeholder="Enter tags"' in editor
    published = await browser.post(
        "/editor",
        {
            "title": "How to train your dragon",
            "description": "Ever wonder how?",
            "body": "It takes a *Jacobian*.",
            "tagList": ["dragons", "training"],
            "tags": "training, flying  fire,",
            "tagList_present": "1",
        },
        page="/editor",
    )
    assert published.status_code == 303
    assert published.headers["location"] == "/article/how-to-train-your-dragon"
    page = (await browser.get("/article/how-to-train-your-dragon")).text
    assert tags_on(page) == ["dragons", "fire", "flying", "training"]  # as the API lists them
    assert "<em>Jacobian</em>" in page


async def test_the_edit_form_is_filled_in_and_saves_the_changes(browser: Browser) -> None:
    await browser.sign_up("alice")
    slug = await write(browser, body="Line *one*\n\nLine <two>", tags=["dragons", "fire"])
    editor = (await browser.get(f"/editor/{slug}")).text
    assert field(editor, "title") == "Dragons"
    assert field(editor, "description") == "About Dragons"
    assert body_in(editor) == "Line *one*\n\nLine <two>"
    assert pills_in(editor) == ["dragons", "fire"]
    assert '<i class="ion-close-round"' in editor

    saved = await browser.post(
        f"/editor/{slug}",
        {
            "title": "Dragons, revised",
            "description": "About Dragons",
            "body": "Line *one*",
            "tagList": ["fire"],
            "tags": "ice",
            "tagList_present": "1",
        },
        page=f"/editor/{slug}",
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/article/{slug}"
    page = (await browser.get(f"/article/{slug}")).text
    assert "<h1>Dragons, revised</h1>" in page
    assert tags_on(page) == ["fire", "ice"]


async def test_removing_every_pill_leaves_no_tags(browser: Browser) -> None:
    await browser.sign_up("alice")
    slug = await write(browser, tags=["dragons", "fire"])
    unchanged = {"title": "Dragons", "description": "About Dragons", "body": "b"}
    # A form without its tags (no tagList_present) keeps them, as the API does.
    await browser.post(f"/editor/{slug}", unchanged, page=f"/editor/{slug}")
    assert tags_on((await browser.get(f"/article/{slug}")).text) == ["dragons", "fire"]
    cleared = await browser.post(
        f"/editor/{slug}", {**unchanged, "tagList_present": "1"}, page=f"/editor/{slug}"
    )
    assert cleared.status_code == 303
    page = (await browser.get(f"/article/{slug}")).text
    assert tags_on(page) == []
    assert 'class="tag-list"' not in page


async def test_invalid_fields_are_refused_with_the_apis_messages(browser: Browser) -> None:
    await browser.sign_up("alice")
    refused = await browser.post(
        "/editor",
        {"title": " ", "description": "", "body": "", "tags": "kept typed", "tagList_present": "1"},
        page="/editor",
    )
    assert refused.status_code == 422
    assert error_messages(refused.text) == [
        "title can&#39;t be blank",
        "description can&#39;t be blank",
        "body can&#39;t be blank",
    ]
    assert pills_in(refused.text) == ["kept", "typed"]

    slug = await write(browser)
    too_long = await browser.post(
        f"/editor/{slug}",
        {"title": "x" * 256, "description": "Kept <as typed>", "body": "b"},
        page=f"/editor/{slug}",
    )
    assert too_long.status_code == 422
    assert error_messages(too_long.text) == ["title is too long (maximum is 255 characters)"]
    assert field(too_long.text, "description") == "Kept <as typed>"
    assert f'action="/editor/{slug}"' in too_long.text
    assert "<h1>Dragons</h1>" in (await browser.get(f"/article/{slug}")).text


async def test_only_the_author_edits(browser: Browser, other_browser: Browser) -> None:
    await browser.sign_up("alice")
    slug = await write(browser)
    await other_browser.sign_up("bob")
    assert (await other_browser.get(f"/editor/{slug}")).status_code == 403
    refused = await other_browser.post(
        f"/editor/{slug}",
        {"title": "Mine now", "description": "d", "body": "b"},
        page="/editor",
    )
    assert refused.status_code == 403
    assert "<h1>Dragons</h1>" in (await browser.get(f"/article/{slug}")).text


async def test_editing_an_unknown_article_is_a_404_page(browser: Browser) -> None:
    await browser.sign_up("alice")
    answer = await browser.get("/editor/no-such-article")
    assert answer.status_code == 404
    assert "article not found" in answer.text
