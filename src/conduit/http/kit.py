"""HTTP plumbing shared by every feature's router: auth, the database, fast JSON replies.

Sits between the features and core: it may import FastAPI and core, never a feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from conduit.core import read_routing
from conduit.core.audit import Client
from conduit.core.db import Database
from conduit.core.errors import Unauthenticated
from conduit.core.identity import IdentityProvider
from conduit.core.pagination import MAX_LIMIT, MAX_OFFSET, Page
from conduit.core.principal import Authenticator, Principal, token_of
from conduit.core.security import TokenCodec
from conduit.core.storage import FileStorage
from conduit.settings import Settings


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


async def get_settings(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


async def get_storage(connection: HTTPConnection) -> FileStorage:
    """Where uploaded images are stored (CONDUIT_STORAGE_URL)."""
    storage: FileStorage = connection.app.state.storage
    return storage


async def get_identity_providers(connection: HTTPConnection) -> Mapping[str, IdentityProvider]:
    """The configured OpenID Connect providers by name (none by default)."""
    providers: Mapping[str, IdentityProvider] = connection.app.state.identity_providers
    return providers


def _authenticator(connection: HTTPConnection) -> Authenticator:
    authenticator: Authenticator = connection.app.state.authenticator
    return authenticator


def client_of(connection: HTTPConnection) -> Client:
    """Where the request came from: the address the proxy-aware middleware settled on."""
    peer = connection.client
    return Client(
        ip=connection.scope.get("state", {}).get("client_ip") or (peer.host if peer else None),
        user_agent=connection.headers.get("user-agent"),
    )


async def get_client(connection: HTTPConnection) -> Client:
    return client_of(connection)


# The scope-state key under which an ignored token's reason waits for the response
# (the HTTP pipeline turns it into WWW-Authenticate).
STALE_TOKEN = "stale_token"  # noqa: S105 (a key, not a secret)
# The scope-state key under which the signed-in caller's id waits for the request's log line
# (the HTTP pipeline); set wherever a token is accepted.
USER_ID = "user_id"


def signed_in(connection: HTTPConnection, principal: Principal) -> Principal:
    """Note who the request is from, for its log line (the id only: never the token), and
    for the database: this user's reads must see this user's writes (read replicas)."""
    connection.scope.setdefault("state", {})[USER_ID] = principal.id
    read_routing.read_as(principal.id)
    return principal


def read_token(connection: HTTPConnection) -> str | None:
    """The raw token of ``Authorization: Token <jwt>`` (or ``Bearer <jwt>``), if any;
    Unauthenticated for a malformed header (read by :func:`conduit.core.principal.token_of`)."""
    return token_of(connection.headers.get("authorization"))


async def optional_principal(connection: HTTPConnection) -> Principal | None:
    """The signed-in reader, or None for an anonymous request.

    A token that is expired, revoked, tampered with or malformed makes the request
    anonymous rather than failing it: RealWorld frontends sign the user out on any 401, and
    a stale token must not keep a reader from the public pages. The response then says why
    in ``WWW-Authenticate: Token error="invalid_token"``.

    Read endpoints trust the signed token and look nobody up: the id only decides the
    ``favorited`` and ``following`` flags, so a list stays within its statement budget.
    """
    try:
        token = read_token(connection)
        if token is None:
            return None
        return signed_in(connection, _authenticator(connection).authenticate(token))
    except Unauthenticated as exc:
        reason = next(iter(exc.errors.values()))[0]
        connection.scope.setdefault("state", {})[STALE_TOKEN] = f"token {reason}"
        return None


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
    return signed_in(connection, _authenticator(connection).authenticate(token))


async def presented_token(
    _user: Annotated[Principal, Depends(required_principal)], connection: HTTPConnection
) -> str:
    """The access token the signed-in caller sent (already checked by required_principal)."""
    token = read_token(connection)
    if token is None:  # pragma: no cover - required_principal refused it already
        raise Unauthenticated("token", "is missing")
    return token


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
PresentedToken = Annotated[str, Depends(presented_token)]
ClientInfo = Annotated[Client, Depends(get_client)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Storage = Annotated[FileStorage, Depends(get_storage)]
IdentityProviders = Annotated[Mapping[str, IdentityProvider], Depends(get_identity_providers)]
PageParams = Annotated[Page, Depends(page_params)]


class GenericErrorModel(BaseModel):
    """Every error: ``{"errors": {"<field>": ["<message>"]}}``."""

    errors: dict[str, list[str]]


_ERROR_DESCRIPTIONS = {
    401: "Unauthorized",
    403: "Forbidden. The error key identifies the resource type (article, comment, etc.)",
    404: "Not Found. The error key identifies the resource type (article, profile, comment, etc.)",
    409: "Conflict - resource already exists",
    413: "Payload Too Large",
    422: "Unexpected error",
    429: (
        "Too Many Requests: a rate limit refused the request "
        '(`{"errors": {"request": ["too many requests"]}}`); retry after Retry-After seconds'
    ),
    503: (
        "Service Unavailable: a service Conduit depends on did not answer, or every database "
        "connection is busy; retry after Retry-After seconds"
    ),
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_HEADERS = {429: _RETRY_AFTER, 503: _RETRY_AFTER}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "model": GenericErrorModel,
            "description": _ERROR_DESCRIPTIONS[status],
        }
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        responses[status] = entry
    return responses
