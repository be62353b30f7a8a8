"""A page is one or two SQL statements plus templates, counted from the database's own log.

The home page is the page of articles (with its count) and the popular tags, whatever the
number of articles, tags and favorites, anonymous or signed in: the header's name and
picture come from the signed session cookie, not from a query.
"""

from __future__ import annotations

from conduit.core.db import Database
from conduit.entrypoints.cli.seed import SeedPlan, seed_database
from tests.database_log import measure
from tests.web.conftest import Browser

HOME_BUDGET = 2  # the page of articles with its count, the popular tags


async def _seeded(db: Database) -> None:
    await seed_database(
        db, SeedPlan(users=6, articles=30, tags=8, favorites=60, follows=15, comments=40)
    )


async def test_home_page_is_two_statements(db: Database, browser: Browser) -> None:
    await _seeded(db)

    async def anonymous() -> None:
        answer = await browser.get("/")
        assert answer.status_code == 200
        assert answer.text.count('class="article-preview"') == 10

    assert len((await measure(db, anonymous)).data) == HOME_BUDGET
    await browser.sign_up("reader")

    async def signed_in() -> None:
        answer = await browser.get("/?page=2")
        assert 'href="/profile/reader"' in answer.text
        assert answer.text.count('class="article-preview"') == 10

    assert len((await measure(db, signed_in)).data) == HOME_BUDGET
