"""The web app: every route of Conduit is mounted here.

``create_app()`` builds the app from Settings (through bootstrap); ``conduit serve`` and the
tests call it. Routes live in each feature's router.py; this file only assembles them.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.routing import Route

from conduit import API_VERSION, __version__, migrations
from conduit.admin.router import audit_router
from conduit.admin.router import router as admin_router
from conduit.articles.router import router as articles_router
from conduit.articles.search_router import router as search_router
from conduit.auth.oidc.router import router as oidc_router
from conduit.auth.router import router as auth_router
from conduit.auth.router import sessions_router
from conduit.bootstrap import Container, Role, build, trusted_networks
from conduit.bootstrap.health import readiness
from conduit.comments.router import router as comments_router
from conduit.entrypoints.asyncapi import asyncapi_document
from conduit.entrypoints.health import install_health
from conduit.entrypoints.live import router as live_router
from conduit.graphql.router import GRAPHQL_PATH, graphql_router
from conduit.http.admission import Admission
from conduit.http.cors import CorsPolicy
from conduit.http.errors import install_error_handlers
from conduit.http.hardening import Hardening
from conduit.http.kit import JSONReply, error_responses
from conduit.http.pipeline import HttpPipeline
from conduit.http.rate_limits import RateLimits
from conduit.http.read_cache import CachedPaths, ReadCache
from conduit.http.routing import add_routes
from conduit.http.static_assets import (
    GRAPHIQL_PREFIX,
    GraphiqlAssets,
    swagger_ui_files,
    swagger_ui_page,
)
from conduit.notifications.router import router as notifications_router
from conduit.observability.metrics.http import (
    METRICS_PATH,
    AdmissionMetrics,
    MetricsEndpoint,
    RequestMetrics,
)
from conduit.observability.tracing.environment import start_tracing
from conduit.profiles.router import router as profiles_router
from conduit.settings import Settings
from conduit.tags.router import router as tags_router
from conduit.uploads.router import UPLOAD_BODY_BYTES, UPLOAD_PATHS, media_router
from conduit.uploads.router import router as uploads_router
from conduit.users.router import router as users_router
from conduit.web.app import install_web

API_PREFIX = "/api"
# The machine-readable descriptions sit at the root side by side: /openapi.json (REST),
# /asyncapi.json (events); /graphql answers introspection. /api/openapi.json, where the
# OpenAPI document used to be, still serves it.
OPENAPI_PATH = "/openapi.json"
LEGACY_OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
# Every operation can be refused by a rate limit or answer 503 when a service it needs
# (the database, a provider) does not answer: documented once, here, for all of them.
COMMON_RESPONSES = error_responses(429, 503)
log = structlog.get_logger("conduit")

OPENAPI_TAGS = [
    {"name": name}
    for name in (
        "Articles",
        "Comments",
        "Favorites",
        "Profile",
        "Tags",
        "User and Authentication",
        "Sessions",
        "Notifications",
        "Admin",
        "Authentication",
        "Search",
        "Uploads",
    )
]


def _events_mode(parts: Container) -> str:
    if parts.embedded_bus:
        return "embedded: relay and consumers in this process"
    if parts.settings.relay_in_serve:
        return "broker: relay in this process, consumers in conduit worker"
    return "broker: relay and consumers in conduit worker"


def _with_conduit_version(app: FastAPI) -> None:
    """``info.version`` is the API spec's (2.0.0); ``info.x-conduit-version`` is Conduit's."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        spec = generate()
        spec["info"]["x-conduit-version"] = __version__
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    """The app. Called with nothing (``conduit serve``'s factory: everything from the
    environment), it traces when the ``OTEL_*`` variables say so (service "conduit")."""
    if container is None:
        tracing = start_tracing("conduit") if settings is None else None
        container = build(settings, tracing=tracing)
    parts = container
    # From here the access rules follow this process's own commits, lifespan or not.
    parts.lifecycle.prepare(Role.SERVE)
    live_updates = parts.lifecycle.live_updates

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if parts.settings.should_auto_migrate:
            url = parts.settings.effective_database_url
            await asyncio.to_thread(migrations.upgrade, url)
        # The keeper, live updates, the events of this process and the pools: started
        # here, stopped in reverse when the app stops (as `conduit worker` does its own).
        async with parts.running(Role.SERVE):
            log.info("conduit_started", database=parts.db.dialect, events=_events_mode(parts))
            # What start-up built (modules, routes, schemas, compiled statements) lives as
            # long as the process: out of the collector's reach, a full collection no longer
            # walks it. Those walks were the slowest answers under load (bench/README.md:
            # p99 2-3x p50, 1.1-1.9x frozen) and 8-15 % of the throughput.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                gc.unfreeze()

    app = FastAPI(
        title="RealWorld Conduit API",
        description=f"Conduit API documentation (Conduit {__version__})",
        version=API_VERSION,  # the RealWorld API spec's; Conduit's is info.x-conduit-version
        openapi_url=OPENAPI_PATH,
        docs_url=None,  # served below, with Swagger UI's assets from this server
        redoc_url=None,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        default_response_class=JSONReply,
    )
    app.state.db = parts.db
    app.state.tokens = parts.tokens
    app.state.authenticator = parts.authenticator
    app.state.settings = parts.settings
    app.state.live = live_updates
    app.state.cache = parts.cache
    app.state.identity_providers = parts.identity_providers
    app.state.storage = parts.storage

    for router in (
        auth_router,
        users_router,
        sessions_router,
        oidc_router,
        profiles_router,
        search_router,  # before articles_router: /articles/search is not an article
        articles_router,
        comments_router,
        tags_router,
        notifications_router,
        admin_router,
        audit_router(parts.audit_types),
        uploads_router,
    ):
        add_routes(
            app,
            router,
            prefix=API_PREFIX,
            plans=parts.settings.route_plans,
            responses=COMMON_RESPONSES,
        )
    add_routes(app, media_router, plans=parts.settings.route_plans, responses=COMMON_RESPONSES)
    app.include_router(live_router, prefix=API_PREFIX)
    app.include_router(graphql_router(parts, live_updates.hub))

    install_docs(app, parts.settings)
    event_catalogue = asyncapi_document()

    @app.get(LEGACY_OPENAPI_PATH, include_in_schema=False)
    async def legacy_openapi() -> JSONReply:
        """The OpenAPI document where it used to be (now at /openapi.json)."""
        return JSONReply(app.openapi())

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> JSONReply:
        """The event catalogue (AsyncAPI 3.0), generated from the code."""
        return JSONReply(event_catalogue)

    install_health(app, readiness(parts), database=parts.db.dialect)

    _with_conduit_version(app)
    install_error_handlers(app)
    install_web(app, parts)  # after the API's handlers: its 404 page wraps theirs
    # Innermost: a cached answer still gets its 304, CORS headers and request id, and is
    # counted by the rate limits; every other step is one layer (http/pipeline.py: its
    # docstring gives their order).
    app.add_middleware(
        ReadCache,
        cache=parts.cache,
        paths=CachedPaths(parts.cache_rules.reads, prefix=API_PREFIX),
    )
    origins = parts.settings.cors_origins
    cors = CorsPolicy(
        allow_origins=origins,
        allow_credentials="*" not in origins,
        allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-Request-ID",
            "If-None-Match",
            "traceparent",
            "tracestate",
        ],
        expose_headers=["X-Request-ID", "ETag", "traceresponse"],
        max_age=600,
    )
    rate_limits = (
        None
        if parts.rate_limiter is None
        else RateLimits(
            limiter=parts.rate_limiter, authenticator=parts.authenticator, prefix=API_PREFIX
        )
    )
    app.add_middleware(
        HttpPipeline,
        max_body_bytes=parts.settings.max_body_bytes,
        route_limits={API_PREFIX + path: UPLOAD_BODY_BYTES for path in UPLOAD_PATHS},
        trusted_proxies=trusted_networks(parts.settings),
        cors=cors,
        rate_limits=rate_limits,
        hardening=Hardening(https=parts.settings.https, ide_path=GRAPHQL_PATH),
    )
    # Admission outside the pipeline (a shed request costs next to nothing: no request id,
    # access line, CORS, rate limit, cache or routing; its 503 carries its own few headers),
    # inside the request metrics (the 503s are counted).
    app.add_middleware(
        Admission,
        max_in_flight=parts.settings.admission_limit,
        queue_timeout_ms=parts.settings.queue_timeout_ms,
        observer=None if parts.metrics is None else AdmissionMetrics(),
    )
    install_metrics(app, parts)
    if parts.tracing is not None:  # outermost: a server span around everything above
        parts.tracing.instrument_app(app)
    return app


def install_metrics(app: FastAPI, parts: Container) -> None:
    """Every request measured (outermost: 413s and 429s too) and, unless the metrics have a
    port of their own (CONDUIT_METRICS_PORT), GET /metrics; nothing with metrics off."""
    if parts.metrics is None:
        return
    app.add_middleware(RequestMetrics)
    if parts.settings.metrics_port is None:
        endpoint = MetricsEndpoint(parts.metrics)
        app.router.routes.append(
            Route(METRICS_PATH, endpoint, methods=["GET"], include_in_schema=False)
        )


def install_docs(app: FastAPI, settings: Settings) -> None:
    """/docs (Swagger UI) and, with GraphiQL on, GraphiQL's assets: every script and style
    sheet from this server (http/static_assets.py), none from a CDN."""
    assets, swagger_files = swagger_ui_files()
    app.mount(assets, swagger_files, name="swagger-ui")
    openapi_url = app.openapi_url or OPENAPI_PATH

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return swagger_ui_page(
            openapi_url=openapi_url, title=f"{app.title} - Swagger UI", assets=assets
        )

    if settings.graphql_ide_enabled:
        graphiql = GraphiqlAssets(settings.graphiql_assets_dir)
        app.mount(GRAPHIQL_PREFIX, graphiql.files, name="graphiql")
