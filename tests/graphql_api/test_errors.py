"""Failures Conduit did not plan for: a code, no details, never a stack trace or a 500."""

from __future__ import annotations

import httpx
import pytest
from graphql import GraphQLError
from pydantic import ValidationError

from conduit.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from conduit.graphql import errors
from conduit.graphql.errors import TooManyRequests, public_error
from conduit.tags import service as tags
from conduit.users.schemas import NewUser
from tests.graphql_api.conftest import Gql, error_of


async def test_an_unexpected_error_is_internal_and_says_nothing(
    gql: Gql, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_db: object, **_options: object) -> list[str]:
        raise RuntimeError("secret detail of the server")

    monkeypatch.setattr(tags, "popular", broken)
    body = await gql("{ tags }")
    error = error_of(body)
    assert error["message"] == "internal error"
    assert error["extensions"] == {
        "code": "INTERNAL_SERVER_ERROR",
        "errors": {"server": ["internal error"]},
    }
    assert "secret" not in str(body)


async def test_a_database_that_went_away_is_service_unavailable(
    gql: Gql, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreachable(_db: object, **_options: object) -> list[str]:
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(tags, "popular", unreachable)
    error = error_of(await gql("{ tags }"))
    assert error["extensions"] == {
        "code": "SERVICE_UNAVAILABLE",
        "errors": {"database": ["is unavailable"]},
    }


def _located(exc: Exception) -> GraphQLError:
    return GraphQLError(str(exc), original_error=exc, path=["field"])


@pytest.mark.parametrize(
    ("exc", "code", "field_errors"),
    [
        (Unauthenticated("token", "is missing"), "UNAUTHENTICATED", {"token": ["is missing"]}),
        (Forbidden("article"), "FORBIDDEN", {"article": ["forbidden"]}),
        (NotFound("profile"), "NOT_FOUND", {"profile": ["not found"]}),
        (Invalid("limit", "is invalid"), "BAD_USER_INPUT", {"limit": ["is invalid"]}),
        (
            Conflict("email", "has already been taken"),
            "CONFLICT",
            {"email": ["has already been taken"]},
        ),
        (TooManyRequests(7), "RATE_LIMITED", {"request": ["too many requests"]}),
    ],
)
def test_each_conduit_error_has_its_code_and_rest_messages(
    exc: Exception, code: str, field_errors: dict[str, list[str]]
) -> None:
    mapped = public_error(_located(exc))
    assert mapped.extensions is not None
    assert mapped.extensions["code"] == code
    assert mapped.extensions["errors"] == field_errors
    field, messages = next(iter(field_errors.items()))
    assert mapped.message == f"{field} {messages[0]}"
    assert mapped.path == ["field"]


def test_pydantic_validation_gets_the_rest_field_messages() -> None:
    with pytest.raises(ValidationError) as caught:
        NewUser.model_validate({"username": "a", "email": "nope", "password": "short"})
    mapped = public_error(_located(caught.value))
    assert mapped.extensions == {
        "code": "BAD_USER_INPUT",
        "errors": {"email": ["is invalid"], "password": ["is too short (minimum is 8 characters)"]},
    }


def test_document_errors_get_codes() -> None:
    assert public_error(GraphQLError("Syntax Error: Unexpected <EOF>.")).extensions == {
        "code": errors.PARSE_FAILED
    }
    assert public_error(GraphQLError("Cannot query field 'x' on type 'Query'.")).extensions == {
        "code": errors.VALIDATION_FAILED
    }
    assert public_error(GraphQLError("'q' exceeds maximum operation depth of 10")).extensions == {
        "code": errors.LIMIT_EXCEEDED
    }


async def test_http_status_is_200_for_every_graphql_error(client: httpx.AsyncClient) -> None:
    for query in ("{ nope }", "{ me { username } }", "{ articles(limit: 0) { articlesCount } }"):
        response = await client.post("http://conduit.test/graphql", json={"query": query})
        assert response.status_code == 200
        assert response.json()["errors"]
