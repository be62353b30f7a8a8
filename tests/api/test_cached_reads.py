"""The reads the features declare cacheable (their cache_rules.py) are the app's own."""

from __future__ import annotations

import httpx

from conduit.bootstrap import CACHE_RULES
from conduit.entrypoints.api import API_PREFIX


async def test_every_declared_read_is_a_get_route_of_the_app(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    gets = {path for path, operations in spec["paths"].items() if "get" in operations}
    declared = {API_PREFIX + template for template in CACHE_RULES.reads}
    assert declared - gets == set(), "a cache rule names a path no route serves"
