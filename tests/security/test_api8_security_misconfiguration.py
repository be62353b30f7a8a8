"""OWASP API Security Top 10 (2023), API8 Security Misconfiguration: 500s without internals,
unknown routes and methods, CORS, production secret key and wildcard CORS origin, where the
generated docs are served; security headers on every answer (errors, 413, 429, the docs page),
HSTS only over HTTPS.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from conduit.bootstrap import (
    ConfigurationError,
    check_settings,
    resolve_secret,
)
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.settings import Settings
from conduit.tags import service as tags_service
from tests.api.support import assert_error
from tests.helpers import auth, register
from tests.security.conftest import Connect
from tests.security.owasp_support import (
    PG_URL,
    ROOT,
    STRONG_KEY,
    app_client,
    assert_no_internals,
    limited_app,
)

ORIGIN = "https://app.example"
OTHER_ORIGIN = "https://evil.example"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }


class TestAPI8SecurityMisconfiguration:
    """API8:2023 Security Misconfiguration.

    "APIs and the systems supporting them typically contain complex configurations, meant
    to make the APIs more customizable. [...] attackers can find misconfigurations" --
    among them "error messages [that] include stack traces, or expose other sensitive
    information", missing CORS policy, and unnecessary HTTP verbs.
    """

    async def test_an_unexpected_exception_answers_500_without_internals(
        self, db: Database, settings: Settings, tokens: TokenCodec
    ) -> None:
        secret = "db-password=hunter2 at /srv/conduit/internal.py line 42"

        def add_failing_route(app: FastAPI) -> None:
            async def boom() -> None:
                raise RuntimeError(secret)

            app.add_api_route("/api/boom", boom, methods=["GET"], include_in_schema=False)

        async with app_client(db, settings, tokens, setup=add_failing_route) as http:
            response = await http.get("/boom")
        assert_error(response, 500, {"server": ["internal error"]})
        assert_no_internals(response, secret, "RuntimeError", "boom")

    async def test_a_failing_use_case_answers_500_without_internals(
        self, db: Database, settings: Settings, tokens: TokenCodec, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        secret = "SELECT * FROM users -- password_hash"

        async def broken(_db: Database, **_options: object) -> list[str]:
            raise KeyError(secret)

        monkeypatch.setattr(tags_service, "popular", broken)
        async with app_client(db, settings, tokens) as http:
            response = await http.get("/tags")
        assert_error(response, 500, {"server": ["internal error"]})
        assert_no_internals(response, secret, "KeyError", "password_hash")

    async def test_an_unknown_route_answers_404_in_the_error_format(
        self, client: httpx.AsyncClient
    ) -> None:
        for url in ("/nowhere", "/articles/x/y/z", f"{ROOT}/.env", f"{ROOT}/.git/config"):
            response = await client.get(url)
            assert_error(response, 404, {"path": ["not found"]})

    @pytest.mark.parametrize("method", ["TRACE", "PATCH", "PROPFIND", "CONNECT", "FOO"])
    async def test_unsupported_methods_answer_405_without_echo(
        self, client: httpx.AsyncClient, method: str
    ) -> None:
        """No TRACE echo (cross-site tracing) of the token or the other headers."""
        token = await register(client, "alice")
        response = await client.request(
            method, "/articles", headers={**auth(token), "X-Probe": "probe-value-123"}
        )
        assert_error(response, 405, {"request": ["method not allowed"]})
        assert method not in response.headers["allow"]
        assert_no_internals(response, token, "probe-value-123")

    async def test_cors_with_configured_origins(
        self, db: Database, settings: Settings, tokens: TokenCodec
    ) -> None:
        async with app_client(db, settings, tokens, cors_origins=[ORIGIN]) as http:
            allowed = await http.options("/articles", headers=preflight(ORIGIN))
            other = await http.options("/articles", headers=preflight(OTHER_ORIGIN))
            patch = await http.options("/articles", headers=preflight(ORIGIN, "PATCH"))
            simple = await http.get("/tags", headers={"Origin": OTHER_ORIGIN})

        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        for refused in (other, patch):
            assert refused.status_code == 400, refused.text
            assert refused.headers.get("access-control-allow-origin") != OTHER_ORIGIN
        assert "access-control-allow-origin" not in other.headers
        assert simple.status_code == 200
        assert "access-control-allow-origin" not in simple.headers

    async def test_cors_for_any_origin_never_allows_credentials(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        assert settings.cors_origins == ["*"]
        response = await client.options("/user", headers=preflight(OTHER_ORIGIN, "PUT"))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        simple = await client.get("/tags", headers={"Origin": OTHER_ORIGIN})
        assert simple.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in simple.headers

    @pytest.mark.parametrize(
        ("key", "database"),
        [
            (None, PG_URL),
            (None, None),  # production refuses the generated key of the zero-config mode
            ("short-key", PG_URL),
            ("a" * 64, PG_URL),
            ("abcabcabcabcabcabcabcabcabcabcabcabc", PG_URL),
            ("", PG_URL),
        ],
        ids=["missing", "missing-sqlite", "short", "one-char", "few-chars", "empty"],
    )
    def test_production_refuses_a_missing_or_weak_secret_key(
        self, tmp_path: Path, key: str | None, database: str | None
    ) -> None:
        settings = Settings(
            _env_file=None,
            environment="production",
            database_url=database,
            secret_key=key,
            data_dir=tmp_path,
        )
        with pytest.raises(ConfigurationError, match="CONDUIT_SECRET_KEY"):
            resolve_secret(settings)
        assert not (tmp_path / "secret_key").exists()

    def test_production_accepts_a_strong_secret_key(self, tmp_path: Path) -> None:
        settings = Settings(
            _env_file=None,
            environment="production",
            database_url=PG_URL,
            secret_key=STRONG_KEY,
            data_dir=tmp_path,
        )
        assert resolve_secret(settings) == STRONG_KEY

    async def test_generated_docs_only_where_configured(self, client: httpx.AsyncClient) -> None:
        docs = await client.get(f"{ROOT}/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "'/openapi.json'" in docs.text
        assert (await client.get(f"{ROOT}/openapi.json")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200  # /api/openapi.json
        for elsewhere in ("/redoc", "/api/docs", "/api/redoc", "/swagger"):
            assert_error(await client.get(f"{ROOT}{elsewhere}"), 404, {"path": ["not found"]})

    async def test_security_headers_on_api_answers_errors_and_the_docs(
        self, db: Database, settings: Settings, tokens: TokenCodec, connect: Connect
    ) -> None:
        """Every answer, whoever makes it (a route, validation, the body limit, the rate
        limit), tells browsers not to sniff, frame or render it; the docs page too."""
        app = limited_app(db, settings, tokens, rate_limit_reads_per_ip="3/minute")
        http = connect(app, "192.0.2.90")
        too_large = b"{" + b" " * settings.max_body_bytes + b"}"
        answers = {
            200: await http.get("/tags"),
            404: await http.get("/articles/no-such-article"),
            401: await http.get("/user"),
            422: await http.post("/users", json={"user": {"username": "x"}}),
            413: await http.post(
                "/users", content=too_large, headers={"Content-Type": "application/json"}
            ),
        }
        for _ in range(5):  # the reads above counted too
            response = await http.get("/tags")
            if response.status_code != 200:
                break
        answers[429] = response
        docs = await http.get(f"{ROOT}/docs")

        for status, response in answers.items():
            assert response.status_code == status, (status, response.text)
            if status != 200:
                assert_error(response, status)
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get_list(name) == [value], (status, name)
            assert response.headers["content-security-policy"] == API_POLICY
            assert response.headers["cross-origin-resource-policy"] == "same-origin"
            assert "strict-transport-security" not in response.headers
        assert docs.status_code == 200
        for name, value in SECURITY_HEADERS.items():
            assert docs.headers.get_list(name) == [value], name
        policy = docs.headers["content-security-policy"].split("; ")
        assert {"default-src 'none'", "frame-ancestors 'none'"} <= set(policy)
        assert "'unsafe-inline'" not in next(d for d in policy if d.startswith("script-src"))

    @pytest.mark.parametrize("https", [True, False], ids=["https", "http"])
    async def test_hsts_only_when_served_over_https(
        self, db: Database, settings: Settings, tokens: TokenCodec, https: bool
    ) -> None:
        async with app_client(db, settings, tokens, https=https) as http:
            answers = [
                await http.get("/tags"),
                await http.get("/nowhere"),
                await http.get(f"{ROOT}/docs"),
            ]
        for response in answers:
            expected = ["max-age=31536000; includeSubDomains"] if https else []
            assert response.headers.get_list("strict-transport-security") == expected

    @pytest.mark.parametrize(
        "origins", [["*"], ["https://app.example", "*"]], ids=["wildcard", "listed-and-wildcard"]
    )
    def test_production_refuses_a_wildcard_cors_origin(
        self, tmp_path: Path, origins: list[str]
    ) -> None:
        settings = Settings(
            _env_file=None,
            environment="production",
            database_url=PG_URL,
            secret_key=STRONG_KEY,
            data_dir=tmp_path,
            cors_origins=origins,
        )
        with pytest.raises(ConfigurationError, match="CONDUIT_CORS_ORIGINS"):
            check_settings(settings)

    def test_production_accepts_listed_cors_origins(self, tmp_path: Path) -> None:
        """The control; outside production a wildcard stays allowed (local frontends)."""
        listed = Settings(
            _env_file=None,
            environment="production",
            database_url=PG_URL,
            secret_key=STRONG_KEY,
            data_dir=tmp_path,
            cors_origins=[ORIGIN],
        )
        assert check_settings(listed) == STRONG_KEY
        development = listed.model_copy(
            update={"environment": "development", "cors_origins": ["*"]}
        )
        assert check_settings(development) == STRONG_KEY
