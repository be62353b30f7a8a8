"""Which address a request is counted and audited under, with and without trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.types import Receive, Scope, Send

from conduit.http.client_address import ClientAddress

TRUSTED = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "127.0.0.1", "fd00::/8")]


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    return None


def resolve(peer: str | None, *forwarded: str, trusted: bool = True) -> str | None:
    step = ClientAddress(_app, trusted_proxies=TRUSTED if trusted else [])
    scope: Scope = {
        "type": "http",
        "client": None if peer is None else (peer, 1234),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }
    return step.client_ip(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", [], "203.0.113.9"),
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.2", [], "10.0.0.2"),  # a proxy that forwards nothing is the client
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        ("10.0.0.2", ["1.1.1.1, 198.51.100.1"], "198.51.100.1"),  # left of it: the client's
        ("10.0.0.2", ["198.51.100.1, 10.3.3.3, 127.0.0.1"], "198.51.100.1"),  # proxies skipped
        ("10.0.0.2", ["1.1.1.1", "198.51.100.1"], "198.51.100.1"),  # several header lines
        ("10.0.0.2", ["10.4.4.4, 10.5.5.5"], "10.4.4.4"),  # only proxies: the farthest
        ("10.0.0.2", ["1.1.1.1, not-an-address"], "10.0.0.2"),  # garbage: believe nothing
        ("fd00::1", ["2001:db8::7"], "2001:db8::7"),
        ("::1", ["2001:db8::7"], "::1"),
    ],
)
def test_the_client_address(peer: str, forwarded: list[str], client: str) -> None:
    assert resolve(peer, *forwarded) == client


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert resolve("10.0.0.2", "198.51.100.1", trusted=False) == "10.0.0.2"
    assert resolve("127.0.0.1", "198.51.100.1", trusted=False) == "127.0.0.1"


def test_no_peer_no_address() -> None:
    assert resolve(None, "198.51.100.1") is None
