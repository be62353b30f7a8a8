"""The Authorization header, read once (core.principal.token_of) by every entry point.

The rules: ``Token <jwt>`` or ``Bearer <jwt>`` in any case, spaces around the value and the
token ignored; no value or a blank one is an anonymous caller; another scheme or an empty
token is invalid. REST, GraphQL and the rate limiter must read a header the same way: a
header REST signs in with is the one the rate limiter counts as that user.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from starlette.requests import Request
from starlette.types import Message

from conduit.core.errors import Unauthenticated
from conduit.core.principal import Authenticator, token_of
from conduit.core.rate_limits import WRITES_PER_USER, Quota
from conduit.core.security import TokenCodec
from conduit.graphql.context import ConduitContext
from conduit.http.kit import read_token
from conduit.http.rate_limits import RateLimits

# A day: the token is made when the module is collected, and a parallel run may reach these
# tests a quarter of an hour later (a shorter lifetime made them fail as expired).
CODEC = TokenCodec(secret="authorization-test-secret-0123456789-abc", ttl_seconds=86_400)
JWT = CODEC.issue(7)


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Token abc.def.ghi", "abc.def.ghi"),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("token abc", "abc"),
        ("BEARER abc", "abc"),
        ("bEaReR abc", "abc"),
        ("  Token    abc  ", "abc"),
        ("Token abc def", "abc def"),  # the rest of the value is the token (it will not verify)
    ],
)
def test_the_token_and_bearer_schemes_in_any_case(value: str, token: str) -> None:
    assert token_of(value) == token


@pytest.mark.parametrize("value", [None, "", " ", "  \t "])
def test_no_value_or_a_blank_one_is_anonymous(value: str | None) -> None:
    assert token_of(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "Token",
        "Bearer ",
        "Token   ",
        "Basic abc",
        "abc.def.ghi",
        "Tokenabc",
        "Token\tabc",
        "JWT abc",
    ],
)
def test_another_scheme_or_an_empty_token_is_invalid(value: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        token_of(value)
    assert caught.value.errors == {"token": ["is invalid"]}


# --- every entry point reads the header alike ----------------------------------------------

HEADERS = [
    f"Token {JWT}",
    f"bearer {JWT}",
    f"  TOKEN   {JWT}  ",
    f"Token {JWT}\xa0",  # Latin-1 no-break space: whitespace to str.strip, as REST reads it
    f"Basic {JWT}",
    "Token ",
    JWT,
    f"Token\t{JWT}",
    "Token not-a-jwt",
    "",
]


def _scope(header: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "PUT",
        "path": "/api/user",
        "headers": [(b"authorization", header.encode("latin-1"))],
        "client": ("203.0.113.9", 1234),
    }


def _rest_caller(header: str) -> str:
    """Who REST's required_principal signs in with this header, as the limiter keys it."""
    try:
        token = read_token(Request(_scope(header)))
        return "ip:203.0.113.9" if token is None else f"user:{authenticate(token)}"
    except Unauthenticated:
        return "ip:203.0.113.9"


def authenticate(token: str) -> int:
    return Authenticator(CODEC).authenticate(token).id


def test_the_headers_sign_in_some_writers_and_not_others() -> None:
    assert _rest_caller(f"Token {JWT}") == "user:7"
    assert _rest_caller(f"Token {JWT}\xa0") == "user:7"
    assert _rest_caller(f"Token\t{JWT}") == "ip:203.0.113.9"


class CountingLimiter:
    def __init__(self) -> None:
        self.hits: list[tuple[str, str]] = []

    async def hit(self, rule: str, caller: str) -> Quota | None:
        self.hits.append((rule, caller))
        return Quota(allowed=True, limit=10, remaining=9, reset_seconds=60)

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("header", HEADERS)
async def test_the_rate_limiter_counts_the_writer_rest_signs_in(header: str) -> None:
    limiter = CountingLimiter()
    limits = RateLimits(limiter=limiter, authenticator=Authenticator(CODEC), prefix="/api")

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    await limits.admit(_scope(header), receive)
    assert limiter.hits == [(WRITES_PER_USER, _rest_caller(header))]


@pytest.mark.parametrize("header", HEADERS)
def test_graphql_signs_in_as_rest_does(header: str) -> None:
    parts = SimpleNamespace(authenticator=Authenticator(CODEC))
    context = ConduitContext(cast(Any, parts), cast(Any, None), Request(_scope(header)))
    rest = _rest_caller(header)
    assert (f"user:{context.viewer_id}" if context.principal else "ip:203.0.113.9") == rest
    if rest.startswith("ip:") and header.strip():
        assert context.auth_error is not None
    if context.principal is not None:
        assert context.token == JWT
