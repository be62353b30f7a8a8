"""HTTP plumbing shared by every feature's router: auth, the database, fast JSON replies.

Sits between the features and core: it may import FastAPI and core, never a feature.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from conduit.core.db import Database
from conduit.core.errors import Unauthenticated
from conduit.core.pagination import MAX_LIMIT, MAX_OFFSET, Page
from conduit.core.principal import Principal, authenticate
from conduit.core.security import TokenCodec

_SCHEMES = ("token", "bearer")


class JSONReply(JSONResponse):
    """A JSON response serialized once with orjson (no second validation pass).

    A JSONResponse, so that OpenAPI documents each route's ``response_model``.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def get_db(connection: HTTPConnection) -> Database:
    db: Database = connection.app.state.db
    return db


def _tokens(connection: HTTPConnection) -> TokenCodec:
    tokens: TokenCodec = connection.app.state.tokens
    return tokens


async def get_tokens(connection: HTTPConnection) -> TokenCodec:
    return _tokens(connection)


def read_token(connection: HTTPConnection) -> str | None:
    """The raw token of ``Authorization: Token <jwt>`` (or ``Bearer <jwt>``), if any."""
    header = connection.headers.get("authorization")
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in _SCHEMES or not token:
        raise Unauthenticated("token", "is invalid")
    return token


async def optional_principal(connection: HTTPConnection) -> Principal | None:
    """The signed-in reader, or None for an anonymous request.

    Read endpoints trust the signed token and look nobody up: the id only decides the
    ``favorited`` and ``following`` flags, so a list stays within its statement budget.
    """
    token = read_token(connection)
    return None if token is None else authenticate(_tokens(connection), token)


# Documents the "Token" security scheme of the RealWorld spec on the routes that need a
# signed-in user; the header itself is read (and checked) by read_token.
TOKEN_SCHEME = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",
    description="A token from /users or /users/login, sent as: Token xxxxxx.yyyyyyy.zzzzzz",
    auto_error=False,
)


async def required_principal(
    connection: HTTPConnection, _header: Annotated[str | None, Security(TOKEN_SCHEME)] = None
) -> Principal:
    token = read_token(connection)
    if token is None:
        raise Unauthenticated("token", "is missing")
    return authenticate(_tokens(connection), token)


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="The numbers of items to return.")
    ] = 20,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_OFFSET,
            description="The number of items to skip before starting to collect the result set.",
        ),
    ] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


DB = Annotated[Database, Depends(get_db)]
Tokens = Annotated[TokenCodec, Depends(get_tokens)]
Viewer = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(required_principal)]
PageParams = Annotated[Page, Depends(page_params)]


class GenericErrorModel(BaseModel):
    """Every error: ``{"errors": {"<field>": ["<message>"]}}``."""

    errors: dict[str, list[str]]


_ERROR_DESCRIPTIONS = {
    401: "Unauthorized",
    403: "Forbidden. The error key identifies the resource type (article, comment, etc.)",
    404: "Not Found. The error key identifies the resource type (article, profile, comment, etc.)",
    409: "Conflict - resource already exists",
    422: "Unexpected error",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {
        status: {"model": GenericErrorModel, "description": _ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }
