"""Security headers on API answers and on the documentation page; HSTS only over HTTPS."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def client_for(db: Database, settings: Settings, tokens: TokenCodec) -> httpx.AsyncClient:
    app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://conduit.test")


def assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get_list(name) == [value], name


async def test_api_answers_carry_the_security_headers(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/tags"),
        await client.get("/articles/no-such-article"),
        await client.get("/user"),
        await client.post("/users", content=b"x" * 2_000_000),  # 413 from the body limit
        await client.get("http://conduit.test/health/live"),
    ):
        assert_common(response)
        assert response.headers["content-security-policy"] == API_POLICY
        assert response.headers["cross-origin-resource-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers


async def test_the_docs_policy_lets_swagger_ui_load_and_nothing_else(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("http://conduit.test/docs")
    assert response.status_code == 200
    assert_common(response)
    policy = {
        name: value
        for name, _, value in (
            directive.partition(" ")
            for directive in response.headers["content-security-policy"].split("; ")
        )
    }
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["connect-src"] == "'self'"  # fetches /openapi.json, runs "Try it out"
    html = response.text
    # Every asset the page names is this server's (no CDN), which the policy allows.
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    assert all(asset.startswith("/static/swagger-ui/") for asset in assets), assets
    for directive in ("script-src", "style-src", "img-src"):
        assert policy[directive].split()[0] == "'self'"
    assert "https:" not in response.headers["content-security-policy"]
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert scripts, "Swagger UI starts with an inline script"
    sources = policy["script-src"].split()
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in sources
    assert "'unsafe-inline'" not in sources
    assert "'unsafe-eval'" not in sources


@pytest.mark.parametrize("https", [True, False])
async def test_hsts_is_sent_only_over_https(
    db: Database, settings: Settings, tokens: TokenCodec, https: bool
) -> None:
    configured = settings.model_copy(update={"https": https})
    async with client_for(db, configured, tokens) as http:
        for path in ("/api/tags", "/docs"):
            response = await http.get(path)
            hsts = response.headers.get("strict-transport-security")
            assert hsts == ("max-age=31536000; includeSubDomains" if https else None)
