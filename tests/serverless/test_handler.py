"""Conduit as an AWS Lambda function: the handler invoked with the events API Gateway (HTTP
API, payload 2.0) and an Application Load Balancer send (tests/serverless/events/), in
production mode, on each test database; and the relay function run by a schedule."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from conduit.core.outbox import outbox
from conduit.entrypoints import serverless
from tests.conftest import TEST_SECRET
from tests.serverless.function import Function, body_of, recorded

ORIGIN = "https://app.example.com"
GATEWAYS = ["http-api-v2", "alb"]


@pytest.fixture
def environment(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The function's environment: production, the test database (migrated beforehand, as
    a deployment runs ``conduit db upgrade``), the frontend's origin."""
    for name in list(os.environ):
        if name.startswith("CONDUIT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CONDUIT_ENVIRONMENT", "production")
    monkeypatch.setenv("CONDUIT_DATABASE_URL", database_url)
    monkeypatch.setenv("CONDUIT_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("CONDUIT_CORS_ORIGINS", json.dumps([ORIGIN]))
    monkeypatch.setenv("CONDUIT_HTTPS", "true")
    monkeypatch.setenv("CONDUIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONDUIT_AUTO_MIGRATE", "false")
    monkeypatch.setenv("CONDUIT_LOG_LEVEL", "WARNING")
    return database_url


@pytest.fixture
def function(environment: str) -> Iterator[Function]:
    function = Function()
    try:
        yield function
    finally:
        function.close(empty=True)


def headers_of(answer: dict[str, Any]) -> dict[str, list[str]]:
    """Every response header, lower-cased, whichever shape the gateway wants."""
    found: dict[str, list[str]] = {}
    for name, value in (answer.get("headers") or {}).items():
        found.setdefault(name.lower(), []).append(value)
    for name, values in (answer.get("multiValueHeaders") or {}).items():
        found.setdefault(name.lower(), []).extend(values)
    if answer.get("cookies"):
        found.setdefault("set-cookie", []).extend(answer["cookies"])
    return found


def refresh_cookie(answer: dict[str, Any]) -> tuple[str, str]:
    """The ``conduit_refresh`` cookie the answer sets: its value and its whole line."""
    for line in headers_of(answer).get("set-cookie", []):
        cookie = SimpleCookie(line)
        if "conduit_refresh" in cookie:
            return cookie["conduit_refresh"].value, line
    raise AssertionError(f"no refresh cookie in {answer}")


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_signing_up_answers_201_with_a_token_and_the_refresh_cookie(
    function: Function, gateway: str
) -> None:
    answer = function.invoke(recorded(f"{gateway}-register"))  # its body base64-encoded

    assert answer["statusCode"] == 201, answer
    user = body_of(answer)["user"]
    assert user["token"].count(".") == 2
    value, line = refresh_cookie(answer)
    assert value
    assert "HttpOnly" in line
    assert "Path=/api/users/refresh" in line
    headers = headers_of(answer)
    assert headers["access-control-allow-origin"] == [ORIGIN]
    assert headers["strict-transport-security"][0].startswith("max-age=")


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_an_article_written_through_the_function_is_listed(
    function: Function, gateway: str
) -> None:
    token = body_of(function.invoke(recorded(f"{gateway}-register")))["user"]["token"]
    written = function.invoke(recorded(f"{gateway}-create-article", token=token))
    assert written["statusCode"] == 201, written

    listed = function.invoke(recorded(f"{gateway}-list-articles"))

    assert listed["statusCode"] == 200, listed
    page = body_of(listed)
    assert page["articlesCount"] == 1
    assert [article["title"] for article in page["articles"]] == ["Cold starts"]
    assert page["articles"][0]["tagList"] == ["serverless"]
    assert headers_of(listed)["etag"]


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_errors_answer_in_the_api_error_format(function: Function, gateway: str) -> None:
    invalid = function.invoke(recorded(f"{gateway}-invalid-register"))
    missing = function.invoke(recorded(f"{gateway}-not-found"))

    assert invalid["statusCode"] == 422
    assert body_of(invalid) == {"errors": {"username": ["can't be blank"]}}
    assert missing["statusCode"] == 404
    assert body_of(missing) == {"errors": {"article": ["not found"]}}
    assert headers_of(missing)["content-type"] == ["application/json"]


def test_the_refresh_cookie_comes_back_in_the_cookies_of_an_http_api_event(
    function: Function,
) -> None:
    signed_up = function.invoke(recorded("http-api-v2-register"))
    refresh, _ = refresh_cookie(signed_up)

    answer = function.invoke(recorded("http-api-v2-refresh", refresh=refresh))

    assert answer["statusCode"] == 200, answer
    assert body_of(answer)["user"]["username"] == "lambda-alice"
    renewed, _ = refresh_cookie(answer)  # in the answer's own cookies array
    assert renewed != refresh
    assert answer["cookies"]


def test_behind_a_load_balancer_the_client_is_the_address_the_balancer_saw(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the client wrote into X-Forwarded-For itself changes nothing: both sign-ups come
    from the address the balancer appended, and share its rate-limit budget."""
    # An hourly budget, both requests well inside one of its windows (aligned on the hour):
    # a window boundary between them would forget the first.
    monkeypatch.setenv("CONDUIT_RATE_LIMIT_REGISTER_PER_IP", "5/hour")
    left = 3600 - time.time() % 3600
    if left < 30:
        time.sleep(left + 1)
    first = recorded("alb-multi-value-register")
    second = recorded("alb-multi-value-register")
    second["multiValueHeaders"]["x-forwarded-for"] = ["198.18.0.77, 203.0.113.41"]

    function = Function()
    try:
        answers = [function.invoke(first), function.invoke(second)]
    finally:
        function.close(empty=True)

    assert [answer["statusCode"] for answer in answers] == [201, 409]
    remaining = [int(headers_of(answer)["ratelimit-remaining"][0]) for answer in answers]
    assert remaining[1] == remaining[0] - 1
    assert "multiValueHeaders" in answers[0]  # the shape the target group asked for
    refresh_cookie(answers[0])


def test_invocations_share_the_pool_and_leave_nothing_running(function: Function) -> None:
    """A function is frozen between invocations: nothing may run in the background (relay,
    live updates, a refresh loop), and the next invocation reuses the open connections."""
    function.invoke(recorded("http-api-v2-register"))
    pool = function.db.engine.sync_engine.pool

    function.invoke(recorded("http-api-v2-list-articles"))

    assert function.pending_tasks() == set()
    assert function.db.engine.sync_engine.pool is pool
    assert function.run(pool.checkedin) >= 1  # kept open for the next invocation


def test_writes_wait_in_the_outbox_until_the_relay_function_runs(function: Function) -> None:
    alice = body_of(function.invoke(recorded("http-api-v2-register")))["user"]["token"]
    bob = body_of(function.invoke(recorded("alb-register")))["user"]["token"]
    followed = function.invoke(recorded("http-api-v2-follow", token=bob))
    assert followed["statusCode"] == 200, followed

    def notifications() -> list[dict[str, Any]]:
        answer = function.invoke(recorded("http-api-v2-notifications", token=alice))
        assert answer["statusCode"] == 200, answer
        found: list[dict[str, Any]] = body_of(answer)["notifications"]
        return found

    waiting = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    assert function.query(waiting) >= 3  # two sign-ups and a follow, at least
    assert notifications() == []

    relayed = function.relay()

    assert relayed["published"] >= 3
    assert function.query(waiting) == 0
    assert [note["actor"]["username"] for note in notifications()] == ["lambda-bob"]
    assert function.relay()["published"] == 0


def test_a_sign_out_everywhere_elsewhere_reaches_this_function(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two execution environments: what one commits, the other loads before its next
    invocation once its access rules are older than CONDUIT_ACCESS_RULES_REFRESH_SECONDS."""
    monkeypatch.setenv("CONDUIT_ACCESS_RULES_REFRESH_SECONDS", "0.001")
    here, there = Function(), Function()
    try:
        token = body_of(here.invoke(recorded("http-api-v2-register")))["user"]["token"]
        assert here.invoke(recorded("http-api-v2-current-user", token=token))["statusCode"] == 200

        signed_out = there.invoke(recorded("http-api-v2-logout-everywhere", token=token))
        assert signed_out["statusCode"] == 204, signed_out
        time.sleep(0.01)

        answer = here.invoke(recorded("http-api-v2-current-user", token=token))
        assert answer["statusCode"] == 401, answer
    finally:
        there.close()
        here.close(empty=True)


def test_the_runtime_finds_the_handler_built_from_the_environment(
    environment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serverless, "_handler", None)
    function = Function(lambda: serverless.handler)
    try:
        assert function.invoke(recorded("alb-not-found"))["statusCode"] == 404
        assert function.run(lambda: serverless.handler) is function.handler
    finally:
        function.close()
