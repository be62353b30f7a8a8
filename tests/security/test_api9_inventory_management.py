"""OWASP API Security Top 10 (2023), API9 Improper Inventory Management: every route is
documented or explicitly allowed; undocumented paths and versions answer 404/405.

One test class per risk, on SQLite and PostgreSQL; shared helpers in owasp_support.py.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from starlette.routing import WebSocketRoute

from conduit.bootstrap import (
    Container,
)
from conduit.core.db import Database
from conduit.core.security import TokenCodec
from conduit.entrypoints.api import create_app
from conduit.settings import Settings
from conduit.web.app import ROUTES as web_routes
from tests.api.support import assert_error
from tests.helpers import auth, register
from tests.security.owasp_support import OPENAPI_METHODS, ROOT

# Routes the app answers that the OpenAPI document does not list, each on purpose.
UNDOCUMENTED_ROUTES = {
    ("/docs", "GET"),  # the Swagger UI of the document itself
    ("/openapi.json", "GET"),  # the document
    ("/api/openapi.json", "GET"),  # the document where it used to be
    ("/asyncapi.json", "GET"),  # the event catalogue (its own AsyncAPI document)
    ("/health/live", "GET"),  # probes for the orchestrator
    ("/health/ready", "GET"),
    ("/api/ws", "WEBSOCKET"),  # live updates (protocol in the README)
    ("/graphql", "GET"),  # GraphQL (its own schema: schema.graphql); GraphiQL outside production
    ("/graphql", "POST"),
    ("/graphql", "WEBSOCKET"),  # GraphQL subscriptions (graphql-transport-ws)
    ("/media/{key}", "GET"),  # uploaded images (links from user.image and upload.url)
}
# The web app's pages and forms (HTML for people, docs/web.md): none of them under /api.
WEB_PAGES = {
    (route.path, method)
    for route in web_routes
    for method in route.methods or ()
    if method != "HEAD"
}


def answered_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every route, included routers flattened; WEBSOCKET for sockets."""
    found = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert isinstance(path, str), route
        if isinstance(route.original_route, WebSocketRoute | APIWebSocketRoute):
            found.add((path, "WEBSOCKET"))
            continue
        found.update((path, method) for method in route.methods or () if method != "HEAD")
    return found


class TestAPI9ImproperInventoryManagement:
    """API9:2023 Improper Inventory Management.

    "APIs tend to expose more endpoints than traditional web applications, making proper
    and updated documentation highly important. A proper inventory of hosts and deployed
    API versions also are important to mitigate issues such as deprecated API versions and
    exposed debug endpoints."
    """

    def test_every_route_is_documented_or_explicitly_allowed(
        self, db: Database, settings: Settings, tokens: TokenCodec
    ) -> None:
        app = create_app(container=Container(settings=settings, db=db, tokens=tokens))
        spec = app.openapi()
        documented = {
            (path, method.upper())
            for path, item in spec["paths"].items()
            for method in item
            if method in OPENAPI_METHODS
        }
        answered = answered_routes(app)

        assert answered - documented == UNDOCUMENTED_ROUTES | WEB_PAGES
        assert not [path for path, _ in WEB_PAGES if path.startswith("/api")]
        assert documented <= answered, documented - answered

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/api/admin", 404),
            ("GET", "/api/v1/articles", 404),
            ("GET", "/api/v2/users", 404),
            ("GET", "/v1/api/articles", 404),
            ("GET", "/api/debug", 404),
            ("GET", "/api/internal/config", 404),
            ("GET", "/api/metrics", 404),
            ("GET", "/api/users", 405),
            ("DELETE", "/api/users", 405),
            ("GET", "/api/users/login", 405),
            ("PATCH", "/api/user", 405),
            ("DELETE", "/api/user", 405),
            ("PUT", "/api/articles", 405),
            ("DELETE", "/api/tags", 405),
            ("POST", "/api/openapi.json", 405),
            ("POST", "/health/live", 405),
        ],
    )
    async def test_undocumented_paths_and_methods_are_not_answered(
        self, client: httpx.AsyncClient, method: str, path: str, status: int
    ) -> None:
        token = await register(client, "alice")
        response = await client.request(method, f"{ROOT}{path}", headers=auth(token), json={})
        key = "path" if status == 404 else "request"
        message = "not found" if status == 404 else "method not allowed"
        assert_error(response, status, {key: [message]})
