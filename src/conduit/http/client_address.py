"""Who is on the other end: the client address every later step (rate limits, audit) uses.

The peer of the TCP connection, unless that peer is one of ``CONDUIT_TRUSTED_PROXIES``:
then X-Forwarded-For is read from the right (each proxy appends the address it saw) and the
first address that is not itself a trusted proxy is the client. Anyone can send the header,
so from an untrusted peer it is ignored, and entries left of the first untrusted one
(which the client wrote itself) are never believed.

The result is ``scope["state"]["client_ip"]`` (read by ``conduit.http.kit.client_of``).
``conduit serve`` runs uvicorn with ``proxy_headers=False`` so that the peer is the real one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

# An address is a network of one (CONDUIT_TRUSTED_PROXIES).
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CLIENT_IP = "client_ip"
_FORWARDED_FOR = b"x-forwarded-for"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


class ClientAddress:
    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[IPNetwork]) -> None:
        self.app = app
        self.trusted = tuple(trusted_proxies)

    def _trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.trusted)

    def client_ip(self, scope: Scope) -> str | None:
        peer = scope.get("client")
        if not peer:
            return None
        host: str = peer[0]
        if not self.trusted:
            return host
        client = _address(host)
        if client is None or not self._trusted(client):
            return host
        hops = [
            hop
            for name, value in scope["headers"]
            if name == _FORWARDED_FOR
            for hop in value.decode("latin-1").split(",")
        ]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:  # garbage: believe nothing further left
                break
            client = address
            if not self._trusted(client):
                break
        return str(client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope.setdefault("state", {})[CLIENT_IP] = self.client_ip(scope)
        await self.app(scope, receive, send)
