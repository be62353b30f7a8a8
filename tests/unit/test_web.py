"""Reading the token from the Authorization header (no request is sent)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from conduit.core.errors import Unauthenticated
from conduit.http.kit import read_token


def request_with(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Token abc.def.ghi", "abc.def.ghi"),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("token abc", "abc"),
        ("BEARER abc", "abc"),
        ("  Token    abc  ", "abc"),
    ],
)
def test_token_and_bearer_schemes(header: str, token: str) -> None:
    assert read_token(request_with(header)) == token


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_header_means_anonymous(header: str | None) -> None:
    assert read_token(request_with(header)) is None


@pytest.mark.parametrize("header", ["Token", "Bearer ", "Basic abc", "abc.def.ghi", "Tokenabc"])
def test_malformed_header_is_refused(header: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        read_token(request_with(header))
    assert caught.value.errors == {"token": ["is invalid"]}
