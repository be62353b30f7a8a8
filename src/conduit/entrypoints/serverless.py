"""AWS Lambda: the REST API behind API Gateway (HTTP API, payload format 2.0) or an
Application Load Balancer, through Mangum; and the relay, one pass per scheduled invocation.

Two handlers (docs/operating/serverless.md):

``conduit.entrypoints.serverless.handler``
    the app :func:`~conduit.entrypoints.api.create_app` builds from Settings (the
    function's environment, ``CONDUIT_*``), built when the runtime first asks for it: in the
    function's init phase, once per execution environment.
``conduit.entrypoints.serverless.relay``
    for an EventBridge schedule: one pass of the relay (``relay_once``: what
    ``conduit events relay --once`` does), its counts as the result.

Lifespan: Mangum runs the ASGI lifespan around every invocation, and a function is frozen
between invocations, so nothing may run in the background there. The app's own lifespan
(the relay, live updates, the access-rules loop: ``Role.SERVE``) is replaced by one for
``Role.FUNCTION``: its first startup enters the pools and loads the access rules; every
later one only reloads the access rules when they are older than
CONDUIT_ACCESS_RULES_REFRESH_SECONDS; shutdown keeps the pools open for the next invocation
(Mangum keeps one event loop for the life of the process). Writes still record their events
in the outbox, in the same transaction: the relay function (or ``conduit events relay
--once`` on a schedule) publishes them, and applies them with the embedded bus.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from mangum import Mangum
from starlette.types import ASGIApp, Receive, Scope, Send

from conduit.bootstrap import Container, Role, build
from conduit.bootstrap.relay_pass import relay_once
from conduit.entrypoints.api import create_app
from conduit.settings import Settings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def function_lifespan(container: Container) -> Lifespan:
    """The lifespan of the app in a function: see the module docstring."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if container.lifecycle.started:
            await container.lifecycle.refresh_access_rules()
        else:
            await container.start(Role.FUNCTION)
        yield  # the pools stay open: the next invocation reuses them

    return lifespan


class BalancerClientAddress:
    """Behind an Application Load Balancer, the client is the address the balancer saw.

    Mangum takes the whole ``X-Forwarded-For`` of an ALB event as the client's address; a
    client may send that header itself, and the balancer then appends the address it saw
    (``"what the client wrote, the client"``). The last entry is the one to believe: it
    becomes the client of the request, for the rate limits and the audit log. (API
    Gateway's ``requestContext.http.sourceIp``, which Mangum uses, is already the peer.)
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        event = scope.get("aws.event")
        client = scope.get("client")
        if scope["type"] == "http" and event and "elb" in event.get("requestContext", {}):
            seen = client[0].rsplit(",", 1)[-1].strip() if client else ""
            scope["client"] = (seen, 0) if seen else None
        await self.app(scope, receive, send)


def build_handler(settings: Settings | None = None) -> Mangum:
    """The Lambda handler of the REST API, built from ``settings`` (default: the
    environment). Migrations are not run here: run ``conduit db upgrade`` when deploying."""
    container = build(settings)
    app = create_app(container=container)
    app.router.lifespan_context = function_lifespan(container)
    return Mangum(BalancerClientAddress(app), lifespan="on")


def relay(_event: dict[str, Any], _context: Any) -> dict[str, int]:
    """One pass of the relay (an EventBridge schedule's invocation); its counts."""
    container = build(Settings(), serving=False)

    async def one_pass() -> dict[str, int]:
        try:
            return dataclasses.asdict(await relay_once(container))
        finally:
            await container.db.dispose()

    return event_loop().run_until_complete(one_pass())


def event_loop() -> asyncio.AbstractEventLoop:
    """This thread's event loop, made if it has none: the loop Mangum runs every invocation
    on, kept for the life of the process (the database pool's connections belong to it)."""
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


_handler: Mangum | None = None


def __getattr__(name: str) -> Any:
    """``handler``, built on first access: the Lambda runtime reads it in the init phase,
    right after importing this module; importing it alone (tests, tools) builds nothing."""
    global _handler
    if name != "handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _handler is None:
        _handler = build_handler()
    return _handler
