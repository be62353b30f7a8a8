"""Article search over HTTP on every database: relevance, phrases, exclusions, tags,
pagination, the reader's flags, bad input, an index current at commit, statement count."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from conduit.core.db import Database
from tests.api.support import assert_article_shape, assert_error, favorite, follow
from tests.database_log import measure
from tests.helpers import auth, create_article, register
from tests.integration.support import count_statements
from tests.unit.test_search_query import NASTY, search_text

SEARCH_BUDGET = 2  # the page with its tags, the total (not on the last page)


async def search(
    client: httpx.AsyncClient, q: str, token: str | None = None, **page: int
) -> dict[str, Any]:
    query = urlencode({"q": q, **page})
    response = await client.get(f"/articles/search?{query}", headers=auth(token) if token else {})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"articles", "articlesCount"}
    for item in body["articles"]:
        assert_article_shape(item, with_body=False)
    return body


def titles(body: dict[str, Any]) -> list[str]:
    return [item["title"] for item in body["articles"]]


async def write(client: httpx.AsyncClient, token: str, title: str, body: str, **more: Any) -> str:
    created = await create_article(client, token, title, body=body, **more)
    slug: str = created["slug"]
    return slug


async def fillers(client: httpx.AsyncClient, token: str, count: int = 4) -> None:
    """Articles matching nothing the tests look for (full-text relevance weighs rarity)."""
    for n in range(count):
        await write(client, token, f"Filler {n}", "Nothing relevant here whatsoever.")


async def test_a_title_hit_ranks_above_a_body_hit(client: httpx.AsyncClient) -> None:
    token = await register(client, "writer")
    await fillers(client, token)
    await write(client, token, "Dragons of the north", "A story about winter.")
    await write(client, token, "Winter tales", "Somewhere there were dragons.")
    found = await search(client, "dragons")
    assert titles(found) == ["Dragons of the north", "Winter tales"]
    assert found["articlesCount"] == 2


async def test_equally_relevant_articles_are_newest_first(client: httpx.AsyncClient) -> None:
    token = await register(client, "writer")
    await fillers(client, token)
    for n in range(3):
        await create_article(
            client, token, "Kraken sighting", description="same", body="Kraken again."
        )
    found = await search(client, "kraken")
    slugs = [item["slug"] for item in found["articles"]]
    listed = await client.get("/articles?limit=3")
    assert slugs == [item["slug"] for item in listed.json()["articles"]]  # newest first
    assert found["articlesCount"] == 3


async def test_words_phrases_and_exclusions(client: httpx.AsyncClient) -> None:
    token = await register(client, "writer")
    await fillers(client, token)
    await write(client, token, "Ocean notes", "We saw a blue whale near the reef.")
    await write(client, token, "Harbour notes", "A whale, then something blue.")
    await write(client, token, "Shark notes", "A blue whale chased by a shark.")

    assert set(titles(await search(client, "blue whale"))) == {
        "Ocean notes",
        "Harbour notes",
        "Shark notes",
    }
    assert set(titles(await search(client, '"blue whale"'))) == {"Ocean notes", "Shark notes"}
    assert titles(await search(client, '"blue whale" -shark')) == ["Ocean notes"]
    assert set(titles(await search(client, 'whale -"blue whale"'))) == {"Harbour notes"}
    assert (await search(client, "whale octopus"))["articlesCount"] == 0  # every word needed
    assert (await search(client, "-whale"))["articlesCount"] == 0  # nothing to look for


async def test_tags_are_searchable_and_follow_updates(client: httpx.AsyncClient) -> None:
    token = await register(client, "writer")
    await fillers(client, token)
    slug = await write(client, token, "Functional notes", "Monads.", tagList=["haskell"])
    assert titles(await search(client, "haskell")) == ["Functional notes"]

    response = await client.put(
        f"/articles/{slug}", json={"article": {"tagList": ["ocaml"]}}, headers=auth(token)
    )
    assert response.status_code == 200, response.text
    assert titles(await search(client, "ocaml")) == ["Functional notes"]
    assert (await search(client, "haskell"))["articlesCount"] == 0


async def test_the_index_is_current_after_each_write(client: httpx.AsyncClient) -> None:
    token = await register(client, "writer")
    await fillers(client, token)
    slug = await write(client, token, "Zeppelin flight", "Airships over the city.")
    assert titles(await search(client, "zeppelin")) == ["Zeppelin flight"]

    changes = {"title": "Balloon flight", "body": "Hot air over the meadow."}
    response = await client.put(f"/articles/{slug}", json={"article": changes}, headers=auth(token))
    assert response.status_code == 200, response.text
    assert (await search(client, "zeppelin"))["articlesCount"] == 0
    assert (await search(client, "airships"))["articlesCount"] == 0
    assert titles(await search(client, "meadow balloon")) == ["Balloon flight"]

    assert (await client.delete(f"/articles/{slug}", headers=auth(token))).status_code == 204
    assert (await search(client, "balloon"))["articlesCount"] == 0


async def test_pages_and_total(client: httpx.AsyncClient) -> None:
    token = await register(client, "writer")
    await fillers(client, token)
    for n in range(5):
        await write(client, token, f"Comet {n}", "A comet crossed the sky.")
    seen = []
    for offset in (0, 2, 4):
        page = await search(client, "comet", limit=2, offset=offset)
        assert page["articlesCount"] == 5
        seen += titles(page)
    assert sorted(seen) == [f"Comet {n}" for n in range(5)]
    beyond = await search(client, "comet", limit=2, offset=10)
    assert beyond == {"articles": [], "articlesCount": 5}


async def test_flags_are_the_readers(client: httpx.AsyncClient) -> None:
    author = await register(client, "author")
    reader = await register(client, "reader")
    await fillers(client, author)
    slug = await write(client, author, "Glacier report", "Ice everywhere.")
    await follow(client, reader, "author")
    await favorite(client, reader, slug)

    (mine,) = (await search(client, "glacier", reader))["articles"]
    assert mine["favorited"] is True
    assert mine["favoritesCount"] == 1
    assert mine["author"]["following"] is True
    (anonymous,) = (await search(client, "glacier"))["articles"]
    assert anonymous["favorited"] is False
    assert anonymous["author"]["following"] is False


@pytest.mark.parametrize("query", ["", "q=", "q=%20%20", "q=%09%0A"])
async def test_blank_text_is_refused(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/articles/search?{query}")
    assert_error(response, 422, {"q": ["can't be blank"]})


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("limit=0", {"limit": ["must be greater than or equal to 1"]}),
        ("limit=101", {"limit": ["must be less than or equal to 100"]}),
        ("offset=-1", {"offset": ["must be greater than or equal to 0"]}),
    ],
)
async def test_page_bounds_are_the_lists(
    client: httpx.AsyncClient, query: str, errors: dict[str, list[str]]
) -> None:
    assert_error(await client.get(f"/articles/search?q=x&{query}"), 422, errors)


async def test_an_article_titled_search_or_feed_keeps_both_routes(
    client: httpx.AsyncClient,
) -> None:
    token = await register(client, "writer")
    for title in ("Search", "Feed"):
        slug = await write(client, token, title, "Reserved words as titles.")
        assert slug not in ("search", "feed")
        assert slug.startswith(f"{title.lower()}-")
        assert (await client.get(f"/articles/{slug}")).json()["article"]["title"] == title
    found = await search(client, "reserved")
    assert set(titles(found)) == {"Search", "Feed"}


@pytest.mark.parametrize("text", NASTY)
async def test_nasty_text_is_answered(client: httpx.AsyncClient, text: str) -> None:
    token = await register(client, "writer")
    await write(client, token, "Blue whale", "The sea and a shark (and NEAR a reef).")
    assert_answered(await client.get("/articles/search", params={"q": text}), text)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=search_text.filter(str.strip))
async def test_any_text_is_answered(client: httpx.AsyncClient, text: str) -> None:
    assert_answered(await client.get("/articles/search", params={"q": text}), text)


def assert_answered(response: httpx.Response, text: str) -> None:
    """A list; or, for a URL carrying a NUL character, the app's usual 422 for such URLs."""
    if "\x00" in text:
        assert_error(response, 422, {"url": ["is invalid"]})
        return
    assert response.status_code == 200, (text, response.text)
    assert set(response.json()) == {"articles", "articlesCount"}


async def test_a_page_takes_at_most_two_statements(db: Database, client: httpx.AsyncClient) -> None:
    author = await register(client, "author")
    reader = await register(client, "reader")
    for n in range(25):  # more than a page: the total needs its own count
        slug = await write(
            client, author, f"Nebula {n}", "Stars and a nebula.", tagList=["space", f"t{n}"]
        )
        await favorite(client, reader, slug)
    await follow(client, reader, "author")
    urls = ["/articles/search?q=nebula", '/articles/search?q=nebula%20-"no%20such"&limit=20']

    for url in urls:
        for token in (None, reader):
            headers = auth(token) if token else {}
            with count_statements(db) as sent:
                response = await client.get(url, headers=headers)
            assert response.status_code == 200
            assert len(response.json()["articles"]) == 20
            assert response.json()["articlesCount"] == 25
            assert 1 <= sent.count <= SEARCH_BUDGET, sent.statements

            async def read(url: str = url, headers: dict[str, str] = headers) -> None:
                assert (await client.get(url, headers=headers)).status_code == 200

            logged = await measure(db, read)
            # SQLite's trace also reports, prefixed with "--", the statements the FTS5 module
            # runs inside a query (reading its shadow tables, e.g. one document size per
            # ranked match): in-process work of the search statement, not round trips.
            sent_by_conduit = [s for s in logged.data if not s.startswith("--")]
            internal = [s for s in logged.data if s.startswith("--")]
            assert 1 <= len(sent_by_conduit) <= SEARCH_BUDGET, str(logged)
            assert all("articles_fts" in s or "data_version" in s for s in internal), internal
