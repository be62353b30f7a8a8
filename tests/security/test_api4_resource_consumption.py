"""OWASP API Security Top 10 (2023), API4 Unrestricted Resource Consumption: body size, page
size, field sizes, long queries; rate limits on reads and writes (429, Retry-After, RateLimit-*
headers, error format).

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.settings import Settings
from tests.api.support import assert_error
from tests.helpers import auth, create_article, register
from tests.security.conftest import Connect
from tests.security.owasp_support import (
    assert_no_internals,
    assert_too_many,
    get_json,
    limited_app,
    sign_up,
)


class TestAPI4UnrestrictedResourceConsumption:
    """API4:2023 Unrestricted Resource Consumption.

    "Satisfying API requests requires resources such as network bandwidth, CPU, memory, and
    storage. [...] Exploitation can lead to Denial of Service or an increase of operational
    costs."
    """

    async def test_a_body_over_the_limit_is_refused_by_its_declared_length(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        limit = settings.max_body_bytes
        response = await client.post(
            "/users",
            content=b"{" + b" " * limit + b"}",
            headers={"Content-Type": "application/json"},
        )
        assert_error(response, 413, {"body": [f"is too large (maximum is {limit} bytes)"]})

    async def test_a_streamed_body_over_the_limit_is_cut_off(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        """No Content-Length: the body is counted as it arrives."""
        alice = await register(client, "alice")
        chunk = b" " * 65536
        chunks = settings.max_body_bytes // len(chunk) + 2

        async def stream() -> AsyncIterator[bytes]:
            for _ in range(chunks):
                yield chunk

        response = await client.post(
            "/articles",
            content=stream(),
            headers={"Content-Type": "application/json", **auth(alice)},
        )
        errors = assert_error(response, 413)
        assert set(errors) == {"body"}
        assert (await get_json(client, "/articles"))["articlesCount"] == 0

    @pytest.mark.parametrize(
        ("query", "errors"),
        [
            ("limit=101", {"limit": ["must be less than or equal to 100"]}),
            ("limit=100000000000000000000", {"limit": ["must be less than or equal to 100"]}),
            ("limit=0", {"limit": ["must be greater than or equal to 1"]}),
            ("offset=-1", {"offset": ["must be greater than or equal to 0"]}),
        ],
        ids=["limit-101", "limit-huge", "limit-0", "offset-negative"],
    )
    async def test_page_bounds(
        self, client: httpx.AsyncClient, query: str, errors: dict[str, list[str]]
    ) -> None:
        token = await register(client, "alice")
        for path in ("/articles", "/articles/feed", "/notifications"):
            response = await client.get(f"{path}?{query}", headers=auth(token))
            assert_error(response, 422, errors)
        assert (await client.get("/articles?limit=100", headers=auth(token))).status_code == 200

    async def test_field_size_limits(self, client: httpx.AsyncClient) -> None:
        """One over each maximum is refused; the maximum itself is accepted."""
        token = await register(client, "alice")
        slug = (await create_article(client, token, "Mine"))["slug"]

        async def new_article(**fields: Any) -> httpx.Response:
            article = {"title": "T", "description": "D", "body": "B", **fields}
            return await client.post("/articles", json={"article": article}, headers=auth(token))

        async def comment(body: str) -> httpx.Response:
            return await client.post(
                f"/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(token)
            )

        refused = {
            "article body": (
                await new_article(body="x" * 100_001),
                {"body": ["is too long (maximum is 100000 characters)"]},
            ),
            "tag count": (
                await new_article(tagList=[f"t{n}" for n in range(21)]),
                {"tagList": ["has too many items (maximum is 20)"]},
            ),
            "tag length": (
                await new_article(tagList=["t" * 65]),
                {"tagList": ["is too long (maximum is 64 characters)"]},
            ),
            "title": (
                await new_article(title="t" * 256),
                {"title": ["is too long (maximum is 255 characters)"]},
            ),
            "comment body": (
                await comment("x" * 20_001),
                {"body": ["is too long (maximum is 20000 characters)"]},
            ),
        }
        for name, (response, errors) in refused.items():
            assert response.status_code == 422, (name, response.text)
            assert_error(response, 422, errors)

        assert (await new_article(body="x" * 100_000)).status_code == 201
        assert (await new_article(tagList=[f"t{n}" for n in range(20)])).status_code == 201
        assert (await comment("x" * 20_000)).status_code == 201

    @pytest.mark.parametrize(
        "path",
        [
            "/articles?tag=" + "t" * 20_000,
            "/articles?author=" + "a" * 20_000,
            "/articles?unknown=" + "u" * 60_000,
            "/articles?" + "&".join(f"tag={n}" for n in range(3000)),
            "/articles?" + "&".join(f"p{n}=v" for n in range(3000)),
            "/profiles/" + "p" * 20_000,
            "/articles/" + "s" * 20_000 + "/comments",
        ],
        ids=[
            "long-tag",
            "long-author",
            "long-unknown",
            "many-tags",
            "many-params",
            "long-profile",
            "long-slug",
        ],
    )
    async def test_very_long_query_strings_and_paths_are_not_server_errors(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert_error(response, response.status_code)
        assert_no_internals(response)

    @pytest.mark.parametrize("kind", ["reads", "writes"])
    async def test_over_the_rate_limit_answers_429_with_retry_after(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect, kind: str
    ) -> None:
        """Reads per address, writes per user: each counted answer says what is left
        (RateLimit-*), the first one over says when to come back, and does nothing."""
        app = limited_app(
            db,
            settings,
            tokens,
            rate_limit_reads_per_ip="3/minute",
            rate_limit_writes_per_user="3/minute",
        )
        http = connect(app, "192.0.2.10")
        token, _ = await sign_up(http, "alice")

        async def request(n: int) -> httpx.Response:
            if kind == "reads":
                return await http.get("/articles" if n % 2 else "/tags")
            article = {"title": f"Post {n}", "description": "d", "body": "b"}
            return await http.post("/articles", json={"article": article}, headers=auth(token))

        for n in range(3):
            response = await request(n)
            assert response.status_code in (200, 201), response.text
            assert response.headers["ratelimit-limit"] == "3"
            assert response.headers["ratelimit-remaining"] == str(2 - n)
            assert 1 <= int(response.headers["ratelimit-reset"]) <= 60

        assert_too_many(await request(3), limit=3)
        published = await get_json(connect(app, "192.0.2.11"), "/articles")
        assert published["articlesCount"] == (0 if kind == "reads" else 3)
