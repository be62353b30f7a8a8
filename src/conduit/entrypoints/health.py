"""``/health/live`` and ``/health/ready``: the probes of an orchestrator or a proxy.

``/health/live`` answers from memory (no I/O): the process runs. ``/health/ready`` checks
every dependency of this instance at once (``conduit.observability.health``; which ones, and
which are required: ``conduit.bootstrap.health``) and answers 200 while every required one
is up, 503 in the API's error format otherwise; either way with the report of each. Both
answer ``HEAD`` as well (``http/pipeline.py``). Neither is part of the OpenAPI document.
"""

from __future__ import annotations

from fastapi import FastAPI

from conduit import API_VERSION, __version__
from conduit.http.errors import errors_body
from conduit.http.kit import JSONReply
from conduit.observability.health import Readiness


def install_health(app: FastAPI, readiness: Readiness, *, database: str) -> None:
    """Add the two probes to ``app``; ``database``: the dialect, shown in the ready answer."""

    @app.get("/health/live", tags=["Health"], include_in_schema=False)
    async def live() -> JSONReply:
        return JSONReply({"status": "ok", "version": __version__, "api": API_VERSION})

    @app.get("/health/ready", tags=["Health"], include_in_schema=False)
    async def ready() -> JSONReply:
        report = await readiness.check()
        body = {**report.as_dict(), "database": database}
        if report.ready:
            return JSONReply(body)
        errors = {
            result.dependency.name: ["is unavailable"]
            for result in report.results
            if result.dependency.required and not result.up
        }
        return JSONReply({**body, **errors_body(errors)}, status_code=503)
