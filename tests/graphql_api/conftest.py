"""GraphQL-test fixtures: the app's /graphql over HTTP next to the REST API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from conduit.core import security

GRAPHQL_URL = "http://conduit.test/graphql"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

Gql = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "_hasher", FAST_HASHER)


async def run_graphql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    scheme: str = "Token",
    url: str = GRAPHQL_URL,
) -> dict[str, Any]:
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    response = await http.post(
        url, json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def gql(client: httpx.AsyncClient) -> Gql:
    async def call(
        query: str, variables: dict[str, Any] | None = None, **options: Any
    ) -> dict[str, Any]:
        return await run_graphql(client, query, variables, **options)

    return call


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of a response, with its extensions."""
    errors = body.get("errors")
    assert errors, body
    assert len(errors) == 1, body
    error: dict[str, Any] = errors[0]
    return error
