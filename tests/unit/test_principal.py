"""authenticate(token): the one framework-free way every entry point learns who is calling."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.requests import HTTPConnection

from conduit.core.errors import Unauthenticated
from conduit.core.principal import Principal, authenticate
from conduit.core.security import TokenCodec
from conduit.http.kit import read_token

CODEC = TokenCodec(secret="principal-test-secret-0123456789-abcdef", ttl_seconds=600)


def test_a_valid_token_names_its_user() -> None:
    principal = authenticate(CODEC, CODEC.issue(42))
    assert principal == Principal(id=42)
    assert principal.roles == frozenset({"user"})


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        CODEC.issue(42)[:-2] + "xx",  # tampered signature
        TokenCodec(secret="another-secret-0123456789-abcdefghij", ttl_seconds=600).issue(42),
        CODEC.issue(42, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)),  # expired
    ],
)
def test_anything_else_is_unauthenticated(token: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate(CODEC, token)


def test_a_websocket_handshake_carries_the_header_like_a_request() -> None:
    """The web layer reads the token from any HTTPConnection, WebSocket scopes included."""
    scope = {
        "type": "websocket",
        "path": "/api/ws",
        "headers": [(b"authorization", f"Token {CODEC.issue(7)}".encode())],
    }
    token = read_token(HTTPConnection(scope))
    assert token is not None
    assert authenticate(CODEC, token).id == 7
