"""Puts the web app into the ASGI app: its pages, its static files and its 404 page."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from conduit.bootstrap import Container
from conduit.web import console
from conduit.web.assets import STATIC_PREFIX, WebAssets
from conduit.web.context import Web
from conduit.web.errors import not_found_page
from conduit.web.markdown import ArticleBodies
from conduit.web.pages import article, auth, editor, home, profile, settings

ROUTES = [
    *home.ROUTES,
    *auth.ROUTES,
    *article.ROUTES,
    *editor.ROUTES,
    *profile.ROUTES,
    *settings.ROUTES,
    *console.ROUTES,
]


def install_web(app: FastAPI, parts: Container) -> None:
    """The pages at ``/`` beside the API, and an HTML 404 for a page that does not exist."""
    app.state.web = Web(
        settings=parts.settings,
        db=parts.db,
        tokens=parts.tokens,
        authenticator=parts.authenticator,
        rate_limiter=parts.rate_limiter,
        bodies=ArticleBodies(),
        audit_types=parts.audit_types,
        consumer_names=tuple(consumer.name for consumer in parts.consumers),
        rate_limit_refusals=parts.rate_limit_refusals,
    )
    app.mount(STATIC_PREFIX, WebAssets(), name="web-static")
    app.router.routes.extend(ROUTES)
    api_handler = app.exception_handlers[HTTPException]

    async def not_found(request: Request, exc: Exception) -> Response:
        """A browser asking for a page that does not exist gets a page; the API its JSON."""
        if (
            isinstance(exc, HTTPException)
            and exc.status_code == 404
            and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", "")
        ):
            return await not_found_page(request)
        answered = api_handler(request, exc)
        return answered if isinstance(answered, Response) else await answered

    app.add_exception_handler(HTTPException, not_found)
