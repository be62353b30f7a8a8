"""What one document may ask for: depth, cost, aliases, tokens; introspection and GraphiQL
off in production. Over a limit: one error with a code, HTTP 200, nothing executed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.http.hardening import API_POLICY
from conduit.settings import Settings
from tests.graphql_api.conftest import GRAPHQL_URL, Gql, error_of, run_graphql

INTROSPECTION = "{ __schema { queryType { name } } }"
# Depth counts the levels below the root fields: 4 here (articles > articles > comments >
# author > username).
DEEP = "{ articles { articles { comments(limit: 1) { author { username } } } } }"
AppWith = Callable[..., httpx.AsyncClient]


@pytest.fixture
def app_with(db: Database, settings: Settings, tokens: TokenCodec) -> AppWith:
    def build(**values: Any) -> httpx.AsyncClient:
        configured = Settings.model_validate({**settings.model_dump(), **values})
        app = create_app(container=Container(settings=configured, db=db, tokens=tokens))
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://conduit.test/api"
        )

    return build


@pytest.fixture
async def production(app_with: AppWith) -> AsyncIterator[httpx.AsyncClient]:
    async with app_with(environment="production") as http:
        yield http


def _limit_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("data") is None, body
    error = error_of(body)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED", error
    return error


async def test_the_default_limits_let_a_normal_page_through(gql: Gql) -> None:
    query = (
        "{ articles(limit: 20) { articlesCount articles { slug title body tagList favorited "
        "favoritesCount author { username following } comments(limit: 3) { body author "
        "{ username } } } } tags }"
    )
    assert await gql(query) == {
        "data": {"articles": {"articlesCount": 0, "articles": []}, "tags": []}
    }


async def test_too_deep_is_refused(app_with: AppWith) -> None:
    async with app_with(graphql_max_depth=3) as http:
        error = _limit_error(await run_graphql(http, DEEP))
        assert "exceeds maximum operation depth of 3" in error["message"]
    async with app_with(graphql_max_depth=4) as http:
        assert "errors" not in await run_graphql(http, DEEP)


async def test_too_costly_is_refused_counting_list_limits(gql: Gql) -> None:
    fields = "slug title description body tagList favorited favoritesCount"
    comment = "id body createdAt updatedAt author { username bio image following }"
    comments = f"comments(limit: 100) {{ {comment} }}"
    query = f"{{ articles(limit: 100) {{ articles {{ {fields} {comments} }} }} }}"
    error = _limit_error(await gql(query))
    assert error["message"].startswith("Query cost ")
    assert "exceeds the maximum cost of 5000" in error["message"]
    assert error["extensions"]["cost"] > 5000
    assert error["extensions"]["maxCost"] == 5000
    # The same through variables and fragments, and a null comments limit counts as 100.
    query = (
        "query($n: Int!) { articles(limit: $n) { articles { ...A } } } "
        f"fragment A on Article {{ {fields} comments {{ ...C }} }} "
        f"fragment C on Comment {{ {comment} }}"
    )
    assert (
        _limit_error(await gql(query, {"n": 100}))["extensions"]["cost"]
        == error["extensions"]["cost"]
    )
    assert "errors" not in await gql(query, {"n": 2})


async def test_too_many_aliases_is_refused(gql: Gql) -> None:
    fifteen = " ".join(f"t{n}: tags" for n in range(15))
    assert "errors" not in await gql(f"{{ {fifteen} }}")
    error = _limit_error(await gql(f"{{ {fifteen} t15: tags }}"))
    assert "16 aliases found. Allowed: 15" in error["message"]


async def test_too_many_tokens_is_refused(gql: Gql) -> None:
    huge = "{ " + " ".join("tags" for _ in range(2100)) + " }"
    error = _limit_error(await gql(huge))
    assert "more than 2000 tokens" in error["message"]


async def test_a_syntax_error_has_its_code(gql: Gql) -> None:
    error = error_of(await gql("{ tags"))
    assert error["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_introspection_and_graphiql_are_off_in_production(
    production: httpx.AsyncClient,
) -> None:
    body = await run_graphql(production, INTROSPECTION)
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in error["message"].lower()
    assert (await run_graphql(production, "{ tags }")) == {"data": {"tags": []}}
    page = await production.get(GRAPHQL_URL, headers={"Accept": "text/html"})
    assert page.status_code == 404


async def test_production_can_switch_them_back_on(app_with: AppWith) -> None:
    async with app_with(environment="production", graphql_introspection=True) as http:
        body = await run_graphql(http, INTROSPECTION)
        assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_graphiql_outside_production_with_its_own_csp(
    client: httpx.AsyncClient, gql: Gql
) -> None:
    body = await gql(INTROSPECTION)
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"
    page = await client.get(GRAPHQL_URL, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    policy = dict(
        directive.split(" ", 1) for directive in page.headers["content-security-policy"].split("; ")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"].split()[0] == "'self'"  # its scripts from this server
    assert "https:" not in page.headers["content-security-policy"]  # no CDN
    assert "unpkg.com" not in page.text
    assert "'sha256-" in policy["script-src"]
    assert "unsafe-inline" not in policy["script-src"]
    assert policy["connect-src"] == "'self'"
    # Its JSON answers, and every other route, keep the API policy.
    answer = await client.post(GRAPHQL_URL, json={"query": "{ tags }"})
    assert answer.headers["content-security-policy"] == API_POLICY.decode()
    assert (await client.get("/tags")).headers["content-security-policy"] == API_POLICY.decode()
