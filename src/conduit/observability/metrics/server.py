"""The metrics on a port of their own, and the folder several workers share their values in.

``CONDUIT_METRICS_PORT`` (``conduit worker --metrics-port``, ``conduit serve
--metrics-port``): a small HTTP server on a thread of the process answers ``GET /metrics``
(any other path: 404) to loopback and ``CONDUIT_METRICS_ALLOW``, as the API port does. The
worker has no other HTTP server; ``conduit serve`` then serves no ``/metrics`` on the API
port. With ``--workers N`` it runs in the supervising process and adds up every worker's
values from :func:`shared_values`' folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import orjson
import structlog

from conduit.observability.metrics import registry as metrics
from conduit.observability.metrics.http import METRICS_PATH, allowed_networks, is_allowed
from conduit.settings import Settings

log = structlog.get_logger("conduit.metrics")
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (every few seconds, forever)."""


def _json(status: str, errors: dict[str, list[str]], start: StartResponse) -> list[bytes]:
    body = orjson.dumps({"errors": errors})
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def metrics_app(settings: Settings) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app of the metrics port."""
    networks = allowed_networks(settings)
    metrics.BUILD_INFO.git_sha = metrics.git_sha(settings.git_sha)

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH or environ["REQUEST_METHOD"] not in (
            "GET",
            "HEAD",
        ):
            return _json("404 Not Found", {"path": ["not found"]}, start)
        if not is_allowed(environ.get("REMOTE_ADDR"), networks):
            return _json("403 Forbidden", {"metrics": ["forbidden"]}, start)
        body = metrics.render()
        start(
            "200 OK", [("Content-Type", metrics.CONTENT_TYPE), ("Content-Length", str(len(body)))]
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    return app


class MetricsServer:
    """The metrics port, served by a thread until :meth:`close`."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.server = make_server(
            settings.metrics_host,
            port,
            metrics_app(settings),
            server_class=_Server,
            handler_class=_Quiet,
        )
        self.port = self.server.server_port
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="conduit-metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_metrics_port(settings: Settings, port: int | None) -> MetricsServer | None:
    """The metrics port, serving (None with metrics off or no port); OSError when the port
    cannot be bound."""
    if not settings.metrics_enabled or port is None:
        return None
    server = MetricsServer(settings, port).start()
    log.info("metrics_port", host=settings.metrics_host, port=server.port)
    return server


@contextlib.contextmanager
def shared_values(workers: int) -> Iterator[str | None]:
    """With several workers, a fresh folder for their values (``PROMETHEUS_MULTIPROC_DIR``,
    set for the workers to inherit), removed when the block ends; with one, nothing."""
    if workers < 2:
        yield None
        return
    folder = tempfile.mkdtemp(prefix="conduit-metrics-")
    previous = os.environ.get(metrics.MULTIPROCESS_DIR)
    os.environ[metrics.MULTIPROCESS_DIR] = folder
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop(metrics.MULTIPROCESS_DIR, None)
        else:
            os.environ[metrics.MULTIPROCESS_DIR] = previous
        shutil.rmtree(folder, ignore_errors=True)
