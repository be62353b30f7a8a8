"""Routes run from a plan made once answer exactly as FastAPI's own handler does.

``conduit.http.routing.AppRoute`` works out a route's dependencies and parameters
when the app is built instead of on every request. The same requests go to two apps on
one database, one with plans and one with FastAPI's handler everywhere, and every answer
(status, body, headers) must be the same: good requests, invalid parameters, missing and
bad tokens, unknown resources.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.http import kit as web
from conduit.http import routing
from conduit.http.routing import AppRoute
from conduit.settings import Settings
from tests.helpers import auth, create_article, register

# Headers that differ between any two answers: a new id per request, the rate limiter's
# own counters (each app has its own), the clock.
_VARYING = {"x-request-id", "ratelimit-remaining", "ratelimit-reset", "date"}

# (method, path, signed in): every kind of value the planned routes take, valid and not.
REQUESTS: list[tuple[str, str, bool]] = [
    ("GET", "/articles", False),
    ("GET", "/articles", True),
    ("GET", "/articles?limit=1&offset=1", False),
    ("GET", "/articles?tag=plans&author=alice&favorited=bob", True),
    ("GET", "/articles?limit=0", False),
    ("GET", "/articles?limit=abc&offset=-1", False),
    ("GET", "/articles?limit=1001&offset=", False),
    ("GET", "/articles?tag=" + "t" * 65, False),
    ("GET", "/articles?limit=2&limit=3", False),
    ("GET", "/articles/feed", True),
    ("GET", "/articles/feed", False),
    ("GET", "/articles/feed?limit=-5", False),
    ("GET", "/articles/feed?limit=-5", True),
    ("GET", "/articles/search?q=plans", False),
    ("GET", "/articles/search", False),
    ("GET", "/articles/{slug}", True),
    ("GET", "/articles/{slug}", False),
    ("GET", "/articles/no-such-article", False),
    ("GET", "/articles/{slug}/comments", True),
    ("DELETE", "/articles/{slug}/comments/abc", True),
    ("DELETE", "/articles/{slug}/comments/999999", True),
    ("DELETE", "/articles/{slug}/comments/1", False),
    ("GET", "/profiles/alice", True),
    ("GET", "/profiles/nobody", False),
    ("POST", "/profiles/alice/follow", True),
    ("POST", "/profiles/alice/follow", False),
    ("DELETE", "/profiles/nobody/follow", True),
    ("POST", "/articles/no-such-article/favorite", True),
    ("GET", "/tags", False),
    ("GET", "/user", True),
    ("GET", "/user", False),
    ("GET", "/notifications?limit=x", True),
    ("GET", "/admin/audit", True),
]


def _build(settings: Settings, db: Database, tokens: TokenCodec) -> Any:
    return create_app(container=Container(settings=settings, db=db, tokens=tokens))


@pytest.fixture
async def clients(
    db: Database, settings: Settings, tokens: TokenCodec
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    planned_app = _build(settings, db, tokens)
    generic_app = _build(settings.model_copy(update={"route_plans": False}), db, tokens)
    assert all(route.plan is None for route in generic_app.routes if isinstance(route, AppRoute))
    base = "http://conduit.test/api"
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=planned_app), base_url=base) as one,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=generic_app), base_url=base) as two,
    ):
        yield one, two


def _answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = [(k, v) for k, v in response.headers.multi_items() if k not in _VARYING]
    return response.status_code, response.content, headers


async def test_planned_routes_answer_as_fastapi_does(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    planned, generic = clients
    bob = await register(planned, "bob")
    alice = await register(planned, "alice")
    article = await create_article(planned, alice, title="Plans", tagList=["plans"])
    await planned.post(f"/articles/{article['slug']}/favorite", headers=auth(bob))
    for method, path, signed_in in REQUESTS:
        url = path.replace("{slug}", article["slug"])
        headers = auth(bob) if signed_in else {}
        first = await planned.request(method, url, headers=headers)
        second = await generic.request(method, url, headers=headers)
        assert first.status_code < 500, (method, url, first.text)
        assert _answer(first) == _answer(second), (method, url)
    stale = {"Authorization": "Token not.a.token"}
    for url in ("/articles", "/profiles/alice", f"/articles/{article['slug']}"):
        first = await planned.get(url, headers=stale)
        second = await generic.get(url, headers=stale)
        assert _answer(first) == _answer(second), url


def test_every_read_and_bodyless_write_of_the_api_runs_from_a_plan(
    settings: Settings, db: Database, tokens: TokenCodec
) -> None:
    app = _build(settings, db, tokens)
    routes = [route for route in app.routes if isinstance(route, AppRoute)]
    unplanned = {
        (method, route.path) for route in routes if route.plan is None for method in route.methods
    }
    assert not {(method, path) for method, path in unplanned if method == "GET"}
    # Routes with a JSON body keep FastAPI's handler (its body parsing and limits).
    assert ("POST", "/api/articles") in unplanned
    assert ("PUT", "/api/user") in unplanned
    planned = {(m, r.path) for r in routes if r.plan is not None for m in r.methods}
    assert {
        ("GET", "/api/profiles/{username}"),
        ("GET", "/api/articles"),
        ("POST", "/api/articles/{slug}/favorite"),
        ("DELETE", "/api/articles/{slug}/comments/{id}"),
    } <= planned


def test_the_switch_runs_every_route_through_fastapis_handler(
    settings: Settings, db: Database, tokens: TokenCodec
) -> None:
    """CONDUIT_ROUTE_PLANS=false: the reference the official suite also runs against."""
    app = _build(Settings(**{**settings.model_dump(), "route_plans": False}), db, tokens)
    routes = [route for route in app.routes if isinstance(route, AppRoute)]
    assert routes
    assert all(isinstance(route, routing.HandlerRoute) for route in routes)
    assert all(route.plan is None for route in routes)


async def test_dependency_overrides_take_fastapis_handler(
    settings: Settings, db: Database, tokens: TokenCodec
) -> None:
    app = _build(settings, db, tokens)

    async def overridden() -> Database:
        raise LookupError("the override was used")

    app.dependency_overrides[web.get_db] = overridden
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
        with pytest.raises(LookupError, match="the override was used"):
            await http.get("/api/profiles/anyone")
