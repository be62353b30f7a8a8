"""Fixtures of the metrics tests: the app as bootstrap builds it (metrics on unless told),
over HTTP from a chosen peer address, and its /metrics read back as samples."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from conduit.bootstrap import Container, build
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from tests.api.conftest import fast_password_hashing

__all__ = ["fast_password_hashing"]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
Connect = Callable[..., httpx.AsyncClient]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text page: (name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` (0 when absent: a counter not counted yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


class Conduit:
    """One app built by bootstrap from the test's settings, with what the tests read of it."""

    def __init__(self, settings: Settings, stack: AsyncExitStack) -> None:
        self.container: Container = build(settings)
        self.app: FastAPI = create_app(container=self.container)
        self._stack = stack
        stack.push_async_callback(self.container.db.dispose)

    def client(self, peer: str = "127.0.0.1", prefix: str = "/api") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(peer, 40_000))
        http = httpx.AsyncClient(transport=transport, base_url=f"http://conduit.test{prefix}")
        self._stack.push_async_callback(http.aclose)
        return http

    async def scrape(self) -> Samples:
        response = await self.client(prefix="").get("/metrics")
        assert response.status_code == 200, response.text
        return parse(response.text)


@pytest.fixture
async def conduit(db: Any, settings: Settings) -> AsyncIterator[Callable[..., Conduit]]:
    """``conduit(**settings)``: an app built by bootstrap (the ``db`` fixture empties the
    database afterwards)."""
    async with AsyncExitStack() as stack:

        def make(**values: Any) -> Conduit:
            configured = Settings.model_validate({**settings.model_dump(), **values})
            return Conduit(configured, stack)

        yield make
