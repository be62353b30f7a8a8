"""The assets of /docs and GraphiQL come from this server (installed packages, no CDN), under
URLs that name their version and are cached for a year; GraphiQL without its npm packages
says how to install them. (tests/browser/test_pages.py checks the pages in Chromium.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.http.static_assets import DEFAULT_GRAPHIQL_DIR, IMMUTABLE
from conduit.settings import Settings
from tests.browser.test_pages import GRAPHIQL, npm_ci

ROOT = "http://conduit.test"
HTML = {"Accept": "text/html"}


def app_client(db: Database, settings: Settings, tokens: TokenCodec) -> httpx.AsyncClient:
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ROOT)


def assets_of(page: str) -> list[tuple[str, str | None]]:
    """(URL, integrity or None) of every script and style sheet of a page."""
    found = []
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", page):
        url = re.search(r'(?:src|href)="([^"]+)"', tag)
        if url:
            integrity = re.search(r'integrity="([^"]+)"', tag)
            found.append((url[1], integrity[1] if integrity else None))
    return found


@pytest.fixture(scope="module")
def graphiql_installed() -> None:
    assert GRAPHIQL == DEFAULT_GRAPHIQL_DIR
    npm_ci(GRAPHIQL, "graphiql")


async def test_swagger_ui_is_served_from_here_and_cached(client: httpx.AsyncClient) -> None:
    page = await client.get(f"{ROOT}/docs")
    assets = assets_of(page.text)
    assert len(assets) == 3  # script, style sheet, icon
    for url, _ in assets:
        assert url.startswith("/static/swagger-ui/"), url
        answer = await client.get(f"{ROOT}{url}")
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == IMMUTABLE
        assert len(answer.content) > 1000
    assert "cdn" not in page.text
    script = next(url for url, _ in assets if url.endswith(".js"))
    answer = await client.get(f"{ROOT}{script}")
    assert answer.headers["content-type"].startswith("text/javascript")
    assert b"SwaggerUIBundle" in answer.content


async def test_graphiql_is_served_from_here_with_its_integrity(
    client: httpx.AsyncClient, graphiql_installed: None
) -> None:
    page = await client.get(f"{ROOT}/graphql", headers=HTML)
    assert page.status_code == 200
    assert "unpkg" not in page.text
    assets = assets_of(page.text)
    assert len(assets) == 7
    for url, integrity in assets:
        assert url.startswith("/static/graphiql/"), url
        answer = await client.get(f"{ROOT}{url}")
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == IMMUTABLE
        # The same bytes the page's integrity hash was made for (those of the CDN).
        assert integrity is not None
        algorithm, _, expected = integrity.partition("-")
        assert algorithm == "sha384"
        assert base64.b64encode(hashlib.sha384(answer.content).digest()).decode() == expected


def test_web_graphiql_pins_the_versions_of_strawberrys_page() -> None:
    """A Strawberry upgrade that changes its GraphiQL page's versions fails here: update
    web/graphiql/package.json (and its lock) to the same."""
    from strawberry.http.ides import get_graphql_ide_html

    page = get_graphql_ide_html(graphql_ide="graphiql")
    wanted = dict(re.findall(r"https://unpkg\.com/((?:@[^/@\"]+/)?[^/@\"]+)@([^/\"]+)/", page))
    pinned = json.loads((GRAPHIQL / "package.json").read_text())["dependencies"]
    assert pinned == wanted


async def test_only_the_listed_packages_at_their_version_are_served(
    client: httpx.AsyncClient, graphiql_installed: None
) -> None:
    version = json.loads((GRAPHIQL / "package.json").read_text())["dependencies"]["graphiql"]
    assert (await client.get(f"{ROOT}/static/graphiql/graphiql@{version}/package.json")).is_success
    for path in (
        "graphiql@0.0.1/graphiql.min.js",  # another version
        "graphiql/graphiql.min.js",  # no version
        "graphql@16.9.0/package.json",  # installed (a peer), not listed
        f"graphiql@{version}/../graphql/package.json",
        f"graphiql@{version}/%2e%2e/%2e%2e/package.json",
        "../package.json",
    ):
        answer = await client.get(f"{ROOT}/static/graphiql/{path}")
        assert answer.status_code == 404, path


async def test_graphiql_without_its_packages_says_how_to_install_them(
    db: Database, settings: Settings, tokens: TokenCodec, tmp_path: Path
) -> None:
    (tmp_path / "package.json").write_text((GRAPHIQL / "package.json").read_text())
    configured = settings.model_copy(update={"graphiql_assets_dir": tmp_path})
    async with app_client(db, configured, tokens) as http:
        page = await http.get("/graphql", headers=HTML)
        assert page.status_code == 503
        assert "GraphiQL is not installed" in page.text
        assert "make install" in page.text
        assert "graphiql@" in page.text
        assert "<script" not in page.text
        asset = await http.get("/static/graphiql/graphiql@3.8.3/graphiql.min.js")
        assert asset.status_code == 404
        # The GraphQL API itself does not need them.
        answer = await http.post("/graphql", json={"query": "{ tags }"})
        assert answer.json() == {"data": {"tags": []}}
