"""HEAD is answered wherever GET is (RFC 9110 9.3.2): the GET's status and headers, no body.

Checked on the API's reads (planned routes and FastAPI's handler), the probes, the images,
the machine-readable documents; a conditional HEAD gets its 304; the rate limits count a
HEAD as a read; HEAD never appears in the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conduit.bootstrap import Container, rate_limiter
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests import images
from tests.helpers import auth, create_article, register

ROOT = "http://conduit.test"
# Headers of the answer itself (not the request id, which differs per request).
SAME = ("content-type", "content-length", "etag", "cache-control", "vary")


def app_client(
    db: Database, settings: Settings, tokens: TokenCodec, **values: Any
) -> httpx.AsyncClient:
    configured = Settings.model_validate({**settings.model_dump(), **values})
    container = Container(
        settings=configured, db=db, tokens=tokens, rate_limiter=rate_limiter(configured)
    )
    transport = httpx.ASGITransport(app=create_app(container=container))
    return httpx.AsyncClient(transport=transport, base_url=f"{ROOT}/api")


@pytest.fixture(params=[True, False], ids=["plans", "fastapi-handler"])
async def http(
    request: pytest.FixtureRequest, db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(db, settings, tokens, route_plans=request.param) as client:
        yield client


async def assert_head_like_get(http: httpx.AsyncClient, url: str, **headers: str) -> None:
    got = await http.get(url, headers=headers)
    head = await http.head(url, headers=headers)
    assert head.status_code == got.status_code, (url, head.text)
    assert head.content == b"", url
    for name in SAME:
        assert head.headers.get(name) == got.headers.get(name), (url, name)
    assert int(head.headers["content-length"]) == len(got.content), url


async def test_head_answers_as_get_without_a_body(http: httpx.AsyncClient) -> None:
    token = await register(http, "header")
    slug = await create_article(http, token)
    upload = await http.post(
        "/uploads", files={"image": ("a.png", images.png(), "image/png")}, headers=auth(token)
    )
    media = upload.json()["upload"]["url"]
    for url in (
        "/articles",
        f"/articles/{slug}",
        f"/articles/{slug}/comments",
        "/tags",
        "/profiles/header",
        f"{ROOT}/health/live",
        f"{ROOT}{media}",
        f"{ROOT}/openapi.json",
        f"{ROOT}/api/openapi.json",
        f"{ROOT}/asyncapi.json",
        "/articles/no-such-article",  # a 404 too
    ):
        await assert_head_like_get(http, url)
    # Readiness measures each dependency anew: its body (latencies) differs from one answer
    # to the next, so the HEAD is compared with the GET on everything else.
    got, head = await http.get(f"{ROOT}/health/ready"), await http.head(f"{ROOT}/health/ready")
    assert (head.status_code, head.content) == (got.status_code, b"")
    assert head.headers["content-type"] == got.headers["content-type"]
    assert int(head.headers["content-length"]) > 0
    await assert_head_like_get(http, "/user", **auth(token))
    await assert_head_like_get(http, "/articles", **auth(token))
    head = await http.head("/articles")
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/json"
    assert head.headers["etag"].startswith('"')


async def test_the_app_itself_sends_no_body_for_head(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    """httpx drops a HEAD answer's body by itself: here the app is called as a server calls
    it, and what it sends is checked."""
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    for path in ("/api/tags", "/api/articles", "/health/live", "/openapi.json"):
        sent.clear()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "HEAD",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"conduit.test")],
            "client": ("192.0.2.1", 40_000),
            "server": ("conduit.test", 80),
        }
        await app(scope, receive, send)
        start, *bodies = sent
        assert start["status"] == 200, path
        assert int(dict(start["headers"])[b"content-length"]) > 0, path
        assert [body.get("body", b"") for body in bodies] == [b""], path


async def test_a_conditional_head_gets_304(http: httpx.AsyncClient) -> None:
    etag = (await http.head("/tags")).headers["etag"]
    again = await http.head("/tags", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag


async def test_head_where_get_is_not_served_is_405_and_allow_lists_head(
    http: httpx.AsyncClient,
) -> None:
    head = await http.head("/users/login")
    assert head.status_code == 405
    assert head.headers["allow"] == "POST"
    assert head.content == b""
    post_only = await http.post("/articles/feed")
    assert post_only.status_code == 405
    assert post_only.headers["allow"] == "GET, HEAD"


async def test_head_counts_as_a_read_not_a_write(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    async with app_client(
        db,
        settings,
        tokens,
        rate_limit_reads_per_ip="3/minute",
        rate_limit_writes_per_user="1/minute",
    ) as http:
        for _ in range(3):
            head = await http.head("/tags")
            assert head.status_code == 200
            assert head.headers["ratelimit-limit"] == "3"
        refused = await http.head("/tags")
        assert refused.status_code == 429
        assert refused.content == b""
        assert refused.headers["retry-after"]


async def test_head_is_not_an_operation_of_the_document(client: httpx.AsyncClient) -> None:
    spec = (await client.get(f"{ROOT}/openapi.json")).json()
    assert all("head" not in item for item in spec["paths"].values())


async def test_a_browser_may_send_head_with_a_token(client: httpx.AsyncClient) -> None:
    """HEAD with Authorization needs a CORS preflight: it names HEAD as allowed."""
    response = await client.options(
        "/user",
        headers={
            "Origin": "http://localhost:4200",
            "Access-Control-Request-Method": "HEAD",
            "Access-Control-Request-Headers": "Authorization",
        },
    )
    assert response.status_code == 200
    assert "HEAD" in response.headers["access-control-allow-methods"]
