"""The OpenAPI document: committed as openapi.json (``make openapi``, which runs
``conduit openapi``: tests/cli covers the command), served at /openapi.json beside
/asyncapi.json, and still at /api/openapi.json where it used to be."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from conduit.entrypoints.cli.main import openapi_text

COMMITTED = Path(__file__).parents[2] / "openapi.json"
ROOT = "http://conduit.test"


def test_committed_openapi_json_is_what_the_code_generates() -> None:
    assert COMMITTED.is_file(), "openapi.json is missing: run `make openapi`"
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(), (
        "openapi.json differs from the routes in the code: run `make openapi` and commit it"
    )


async def test_served_at_the_root_and_at_the_old_place(client: httpx.AsyncClient) -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    for path in ("/openapi.json", "/api/openapi.json"):
        response = await client.get(f"{ROOT}{path}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("application/json"), path
        assert response.json() == committed, path


async def test_the_docs_page_reads_the_document_at_the_root(client: httpx.AsyncClient) -> None:
    docs = await client.get(f"{ROOT}/docs")
    assert docs.status_code == 200
    assert "'/openapi.json'" in docs.text
