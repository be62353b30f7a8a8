"""Admission in the app as ``conduit serve`` builds it: over CONDUIT_MAX_IN_FLIGHT and past
CONDUIT_QUEUE_TIMEOUT_MS a request gets 503 with Retry-After in the API's error format (with
the security headers), counted in the metrics; the probes and the metrics still answer;
0 switches it off. A request whose body has not finished arriving holds its slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from conduit.bootstrap import build
from conduit.entrypoints.api import create_app
from conduit.settings import Settings

SHED = "conduit_http_requests_shed_total"
REQUESTS = "conduit_http_requests_total"


@asynccontextmanager
async def client_with(settings: Settings, **values: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app built by bootstrap (metrics on) with these settings, over HTTP from loopback."""
    container = build(Settings.model_validate({**settings.model_dump(), **values}))
    transport = httpx.ASGITransport(app=create_app(container=container), client=("127.0.0.1", 1))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as http:
            yield http
    finally:
        await container.db.dispose()


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


class SlowBody:
    """A sign-up whose body arrives when the test says: it holds a slot in the app."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.sent = asyncio.Event()
        self.go_on = asyncio.Event()
        headers = {"content-type": "application/json"}
        self.task = asyncio.create_task(
            http.post("/api/users", content=self._body(), headers=headers)
        )

    async def _body(self) -> AsyncIterator[bytes]:
        yield b'{"user": '
        self.sent.set()
        await self.go_on.wait()
        yield b'{"username": "slow", "email": "slow@example.com", "password": "password1"}}'

    async def finish(self) -> httpx.Response:
        self.go_on.set()
        return await self.task


async def test_over_the_limit_a_request_gets_503_with_retry_after_and_is_counted(
    settings: Settings, db: Any
) -> None:
    async with client_with(settings, max_in_flight=1, queue_timeout_ms=20) as http:
        before = (await http.get("/metrics")).text
        holder = SlowBody(http)
        await asyncio.wait_for(holder.sent.wait(), 5)

        refused = await http.get("/api/tags")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {"errors": {"server": ["is busy, try again"]}}
        assert refused.headers["x-content-type-options"] == "nosniff"  # security headers
        # The probes and the metrics answer while the process is full.
        assert (await http.get("/health/live")).status_code == 200
        after = (await http.get("/metrics")).text
        assert sample(after, SHED) - sample(before, SHED) == 1
        labels = {"route": "/api/tags", "method": "GET", "status": "503"}
        assert sample(after, REQUESTS, **labels) - sample(before, REQUESTS, **labels) == 1
        assert sample(after, "conduit_http_requests_queued") == 0

        assert (await holder.finish()).status_code == 201
        assert (await http.get("/api/tags")).status_code == 200  # the slot came back


async def test_a_waiting_request_goes_in_when_the_slot_frees(settings: Settings, db: Any) -> None:
    async with client_with(settings, max_in_flight=1, queue_timeout_ms=10_000) as http:
        holder = SlowBody(http)
        await asyncio.wait_for(holder.sent.wait(), 5)
        waiting = asyncio.create_task(http.get("/api/tags"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        assert (await holder.finish()).status_code == 201
        assert (await waiting).status_code == 200


async def test_max_in_flight_0_admits_everything(settings: Settings, db: Any) -> None:
    async with client_with(settings, max_in_flight=0, queue_timeout_ms=0) as http:
        holder = SlowBody(http)
        await asyncio.wait_for(holder.sent.wait(), 5)
        assert (await http.get("/api/tags")).status_code == 200
        assert (await holder.finish()).status_code == 201


def test_the_default_limit_is_twice_the_database_connections_at_least_64(
    settings: Settings,
) -> None:
    for pool, overflow, limit in ((5, 0, 64), (40, 0, 80), (30, 10, 80)):
        values = {"db_pool_size": pool, "db_pool_max_overflow": overflow}
        assert Settings.model_validate({**settings.model_dump(), **values}).admission_limit == limit
    configured = Settings.model_validate({**settings.model_dump(), "max_in_flight": 7})
    assert configured.admission_limit == 7
