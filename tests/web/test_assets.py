"""The theme and the script are fetched once per release: pages name them with a version,
and a versioned answer may be kept a year; the icons and avatar revalidate daily."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import Browser

# The pages over the use cases (tested on every database by tests/api): SQLite only.
pytestmark = pytest.mark.sqlite_only


async def test_pages_name_versioned_assets_that_browsers_keep(browser: Browser) -> None:
    page = await browser.get("/")
    found = re.search(r'href="(/static/web/conduit\.css\?v=[0-9a-f]{12})"', page.text)
    assert found is not None
    assert re.search(r'src="/static/web/conduit\.js\?v=[0-9a-f]{12}"', page.text)
    sheet = await browser.http.get(found.group(1))
    assert sheet.status_code == 200
    assert sheet.headers["cache-control"] == "public, max-age=31536000, immutable"
    avatar = await browser.http.get("/static/web/default-avatar.svg")
    assert avatar.headers["content-type"].startswith("image/svg+xml")
    assert avatar.headers["cache-control"] == "public, max-age=86400"
    again = await browser.http.get(
        "/static/web/default-avatar.svg", headers={"if-none-match": avatar.headers["etag"]}
    )
    assert again.status_code == 304
