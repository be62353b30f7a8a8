"""The API's requests, measured; and ``GET /metrics``, for the addresses allowed to read it.

:class:`RequestMetrics` (the outermost middleware) counts every HTTP request by its route
*template* (``/api/articles/{slug}``), method and status, times it, and counts those in
flight. The template is the route the app matched; an answer given before routing (a
cached read, a 429, a 413) is matched against the app's routes here; a path no route
matches is labelled :data:`UNMATCHED`, and a method outside :data:`METHODS` ``OTHER``. So
the labels are bounded by the app's routes, never by what clients send: no raw path, slug,
user id or token ever becomes a label.

:class:`MetricsEndpoint` answers loopback and the networks of ``CONDUIT_METRICS_ALLOW``,
judged by the client address :class:`conduit.http.client_address.ClientAddress` settled on
(``CONDUIT_TRUSTED_PROXIES``); anyone else gets 403 in the API's error format.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

from conduit.http.client_address import CLIENT_IP
from conduit.observability.metrics import registry as metrics
from conduit.observability.metrics.sampler import ProcessMetrics
from conduit.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METRICS_PATH = "/metrics"
UNMATCHED = "unmatched"
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
# Paths already matched against the routes (answers given before routing): the same
# article read again and again is the common case. Emptied when it grows past this.
MATCHED_PATHS = 4096
# As the API says 403 (core.errors.Forbidden), in its error format.
_FORBIDDEN = orjson.dumps({"errors": {"metrics": ["forbidden"]}})


class RouteTemplates:
    """The template of the app route a request matches, for answers given before routing."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            return template
        key = (scope["method"], scope["path"])
        found = self._known.get(key)
        if found is None:
            found = self._match(scope, getattr(scope.get("app"), "routes", ()))
            if len(self._known) >= MATCHED_PATHS:
                self._known.clear()
            self._known[key] = found
        return found

    @staticmethod
    def _match(scope: Scope, routes: Iterable[Any]) -> str:
        """The first route that takes the path, as the router picks it (a route that takes
        the path but not the method, a 405, counts: it is the route answering)."""
        partial = None
        for route in routes:
            matches = getattr(route, "matches", None)
            template = getattr(route, "path_format", None)
            if matches is None or not isinstance(template, str):
                continue
            match, _ = matches(scope)
            if match.name == "FULL":
                return template
            if match.name == "PARTIAL" and partial is None:
                partial = template
        return partial or UNMATCHED


class RequestMetrics:
    """Counts, times and tracks every HTTP request (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.templates = RouteTemplates()
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else OTHER
        key = (self.templates.of(scope), method, str(status))
        children = self._children.get(key)
        if children is None:
            children = (metrics.HTTP_REQUESTS.labels(*key), metrics.HTTP_DURATION.labels(*key))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless the app answers: an error escaped it

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, watch)
        finally:
            metrics.HTTP_IN_FLIGHT.dec()
            self._record(scope, status, time.perf_counter() - started)


class AdmissionMetrics:
    """What :class:`conduit.http.admission.Admission` reports: requests shed, and queued."""

    def shed(self) -> None:
        metrics.HTTP_SHED.inc()

    def waiting(self, change: int) -> None:
        metrics.HTTP_QUEUED.inc(change)


def allowed_networks(settings: Settings) -> tuple[IPNetwork, ...]:
    """Loopback and ``CONDUIT_METRICS_ALLOW`` (its entries were checked with the settings)."""
    entries = (entry.strip() for entry in settings.metrics_allow.split(","))
    return (*LOOPBACK, *(ipaddress.ip_network(entry, strict=False) for entry in entries if entry))


def is_allowed(address: str | None, networks: Iterable[IPNetwork]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class MetricsEndpoint:
    """``GET /metrics``: the Prometheus text of every worker, for the allowed addresses."""

    def __init__(self, process: ProcessMetrics) -> None:
        self.process = process
        self.networks = allowed_networks(process.settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_allowed(scope.get("state", {}).get(CLIENT_IP), self.networks):
            await _answer(send, 403, b"application/json", _FORBIDDEN)
            return
        await self.process.refresh()
        await _answer(send, 200, metrics.CONTENT_TYPE.encode(), metrics.render())


async def _answer(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
