"""What every request gets: a request id, CORS for browsers, health probes."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import httpx
import pytest

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.engines import create_engine
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.api.support import assert_error
from tests.conftest import TEST_SECRET

ORIGIN = "https://some-frontend.example"


async def test_request_id_is_echoed_when_sent(client: httpx.AsyncClient) -> None:
    response = await client.get("/tags", headers={"X-Request-ID": "abc-123_XYZ"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "abc-123_XYZ"


@pytest.mark.parametrize(
    "path", ["/tags", "/user", "/articles/nope", "/nowhere"], ids=["200", "401", "404", "route"]
)
async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient, path: str) -> None:
    first = await client.get(path)
    second = await client.get(path)
    for response in (first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("sent", ["", "has space", "x" * 200, "ünïcode"])
async def test_unusable_request_id_is_replaced(client: httpx.AsyncClient, sent: str) -> None:
    response = await client.get("/tags", headers={"X-Request-ID": sent.encode("utf-8")})
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_request_id_on_a_rejected_oversized_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users",
        content=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json", "X-Request-ID": "big-one"},
    )
    assert_error(response, 413)
    assert response.headers["x-request-id"] == "big-one"


async def test_cors_preflight_from_any_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/articles",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", ORIGIN)
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


async def test_cors_headers_on_a_plain_request(client: httpx.AsyncClient) -> None:
    response = await client.get("/tags", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", ORIGIN)
    assert "x-request-id" in response.headers.get("access-control-expose-headers", "").lower()


async def test_liveness_reports_conduits_version_and_the_api_spec_version(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("http://conduit.test/health/live")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": importlib.metadata.version("conduit"),
        "api": "2.0.0",
    }


async def test_openapi_info_has_the_api_spec_version_and_conduits_own(
    client: httpx.AsyncClient,
) -> None:
    info = (await client.get("/openapi.json")).json()["info"]
    assert info["version"] == "2.0.0"  # the RealWorld API spec's
    assert info["x-conduit-version"] == importlib.metadata.version("conduit")


async def test_readiness_checks_the_database(client: httpx.AsyncClient, database_url: str) -> None:
    response = await client.get("http://conduit.test/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    expected = database_url.split("+", 1)[0].replace("mariadb", "mysql")
    assert body["database"] in (expected, "mariadb")


async def test_json_replies_say_so(client: httpx.AsyncClient) -> None:
    response = await client.get("/tags")
    assert response.headers["content-type"].startswith("application/json")


async def test_readiness_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    settings = Settings(
        environment="test",
        database_url="postgresql+asyncpg://postgres@127.0.0.1:9/unreachable",
        secret_key=TEST_SECRET,
        data_dir=tmp_path,
        log_level="CRITICAL",
    )
    down = Database(create_engine(settings.effective_database_url))
    app = create_app(
        container=Container(
            settings=settings, db=down, tokens=TokenCodec(secret=TEST_SECRET, ttl_seconds=60)
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        response = await http.get("/health/ready")
        live = await http.get("/health/live")
    await down.dispose()
    assert response.status_code == 503
    assert response.json()["errors"] == {"database": ["is unavailable"]}
    assert live.status_code == 200
