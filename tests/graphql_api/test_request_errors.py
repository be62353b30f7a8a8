"""A request to /graphql that is not GraphQL is answered in the GraphQL-over-HTTP error
shape: ``application/json``, ``{"errors": [{"message": ...}]}``, a 4xx status, never text."""

from __future__ import annotations

import httpx
import pytest

from conduit.bootstrap import Container
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.graphql_api.conftest import GRAPHQL_URL

JSON = {"Content-Type": "application/json"}


def assert_graphql_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"errors": [{"message": message}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Unable to parse request body as JSON"),
        (b"\xff\xfe\xfd", "Unable to parse request body as JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "The request body is nested too deeply"),
        (b'{"variables": {}}', "No GraphQL query found in the request"),
        (
            b'{"query": 42}',
            "The GraphQL operation's `query` must be a string or null, if provided.",
        ),
    ],
    ids=["malformed", "invalid-utf8", "too-deep", "no-query", "query-not-a-string"],
)
async def test_a_body_that_is_not_a_graphql_request_is_400(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await client.post(GRAPHQL_URL, content=body, headers=JSON)
    assert_graphql_error(response, 400, message)


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "text/plain"}], ids=["none", "text"])
async def test_a_body_that_is_not_json_by_its_type_is_415(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(GRAPHQL_URL, content=b'{"query": "{ tags }"}', headers=headers)
    assert_graphql_error(
        response, 415, "Unsupported content type: send the request as application/json"
    )


async def test_a_mutation_over_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.get(
        GRAPHQL_URL, params={"query": 'mutation { follow(username: "x") { username } }'}
    )
    assert_graphql_error(response, 405, "mutations are not allowed when using GET")
    assert response.headers["allow"] == "POST"


async def test_bad_variables_over_get_are_400(client: httpx.AsyncClient) -> None:
    response = await client.get(GRAPHQL_URL, params={"query": "{ tags }", "variables": "{x"})
    assert_graphql_error(response, 400, "Unable to parse request body as JSON")


async def test_graphiql_switched_off_is_a_404_in_the_same_shape(
    db: Database, settings: Settings, tokens: TokenCodec
) -> None:
    configured = settings.model_copy(update={"graphql_ide": False})
    app = create_app(container=Container(settings=configured, db=db, tokens=tokens))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        response = await http.get(GRAPHQL_URL, headers={"Accept": "text/html"})
    assert_graphql_error(response, 404, "Not Found")
