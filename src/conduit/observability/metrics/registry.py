"""Conduit's Prometheus metrics: what is measured, and the text ``GET /metrics`` answers.

Every metric is declared here, on Conduit's own registry (:data:`REGISTRY`), and named
``conduit_*`` (docs/operating/metrics.md lists them with their labels). The rest of the
package records into them: :mod:`.http` (requests), :mod:`.measured` (the event
bus, the response cache and the rate limiter, wrapped by bootstrap) and
:mod:`.sampler` (what is read from the process's state: pools, sockets, the
password queue, the outbox).

Several processes (``conduit serve --workers N``): ``conduit serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start (:mod:`.server`), every
worker's values go to files there, and :func:`render` adds them up at scrape time, so the
numbers are the server's whatever worker answers. A gauge says how its processes' values
combine (``multiprocess_mode``): ``livesum`` for what each process holds (connections,
requests in flight), ``livemostrecent`` for what each process reads of the same database.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from conduit import __version__

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Fast enough for an answer from the response cache (1 ms), long enough for a pool timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

# -- HTTP (http.RequestMetrics) ------------------------------------------------------
HTTP_LABELS = ("route", "method", "status")
HTTP_REQUESTS = Counter(
    "conduit_http_requests",
    "HTTP requests answered, by route template, method and status.",
    HTTP_LABELS,
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "conduit_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by route template, method and status.",
    HTTP_LABELS,
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_IN_FLIGHT = Gauge(
    "conduit_http_requests_in_flight",
    "HTTP requests being answered now.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
HTTP_SHED = Counter(
    "conduit_http_requests_shed",
    "HTTP requests answered 503 at once because the process was at CONDUIT_MAX_IN_FLIGHT "
    "for longer than CONDUIT_QUEUE_TIMEOUT_MS.",
    registry=REGISTRY,
)
HTTP_QUEUED = Gauge(
    "conduit_http_requests_queued",
    "HTTP requests waiting for a slot under CONDUIT_MAX_IN_FLIGHT.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

# -- Database pools (sampler) --------------------------------------------------------
POOL_SIZE = Gauge(
    "conduit_db_pool_size",
    "Connections a pool keeps (CONDUIT_DB_POOL_SIZE; SQLite: 1 writer, the readers).",
    ["pool"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "conduit_db_pool_checked_out",
    "Connections in use by a unit of work.",
    ["pool"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "conduit_db_pool_overflow",
    "Connections open beyond the pool size (CONDUIT_DB_POOL_MAX_OVERFLOW).",
    ["pool"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
POOL_WAITING = Gauge(
    "conduit_db_pool_waiting",
    "Units of work waiting for a connection (at most CONDUIT_DB_POOL_TIMEOUT_SECONDS).",
    ["pool"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)

# -- Events: the outbox, the relay and the consumers ------------------------------------------
OUTBOX_BACKLOG = Gauge(
    "conduit_outbox_unpublished_events",
    "Events committed to the outbox and not yet confirmed by the broker.",
    registry=REGISTRY,
    multiprocess_mode="livemostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "conduit_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest unpublished event (0 when none waits).",
    registry=REGISTRY,
    multiprocess_mode="livemostrecent",
)
RELAY_PUBLISHED = Counter(
    "conduit_relay_published_events",
    "Events the relay published and the broker confirmed.",
    registry=REGISTRY,
)
RELAY_FAILURES = Counter(
    "conduit_relay_publish_failures",
    "Batches the broker did not confirm (the relay publishes them again).",
    registry=REGISTRY,
)
CONSUMER_DELIVERIES = Counter(
    "conduit_consumer_deliveries",
    "Events delivered to a consumer (each attempt counts).",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_FAILURES = Counter(
    "conduit_consumer_failures",
    "Deliveries a consumer failed to apply (retried or dead-lettered).",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_RETRIES = Counter(
    "conduit_consumer_retries",
    "Failed deliveries that will be tried again.",
    ["consumer"],
    registry=REGISTRY,
)
CONSUMER_DEAD_LETTERS = Counter(
    "conduit_consumer_dead_letters",
    "Events a consumer gave up on (recorded in dead_letters; conduit events replay).",
    ["consumer"],
    registry=REGISTRY,
)

# -- Response cache, rate limits, live updates, password hashing ------------------------------
CACHE_HITS = Counter(
    "conduit_cache_hits", "Anonymous reads answered from the cache.", registry=REGISTRY
)
CACHE_MISSES = Counter(
    "conduit_cache_misses", "Cacheable reads the cache did not hold.", registry=REGISTRY
)
CACHE_BYPASSES = Counter(
    "conduit_cache_bypasses",
    "Cacheable reads that went to the database because the cache was unavailable.",
    registry=REGISTRY,
)
CACHE_ERRORS = Counter(
    "conduit_cache_errors",
    "Failed calls to the cache (timeouts, refused connections), by operation.",
    ["operation"],
    registry=REGISTRY,
)
RATE_LIMIT_REJECTIONS = Counter(
    "conduit_rate_limit_rejections",
    "Requests refused with 429, by the limit they exceeded.",
    ["limit"],
    registry=REGISTRY,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "conduit_websocket_connections",
    "Authenticated live-update connections (WebSocket and GraphQL subscriptions).",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
WEBSOCKET_MESSAGES = Counter(
    "conduit_websocket_messages_sent",
    "Messages queued to live-update connections (pings aside).",
    registry=REGISTRY,
)
PASSWORD_QUEUE = Gauge(
    "conduit_password_hash_queue_depth",
    "Password hashes and checks waiting for a hashing thread.",
    registry=REGISTRY,
    multiprocess_mode="livesum",
)


@functools.cache
def git_sha(configured: str | None = None) -> str:
    """CONDUIT_GIT_SHA, else the commit of the source tree Conduit runs from, else unknown."""
    if configured:
        return configured
    source = Path(__file__).resolve().parent
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607 (git from PATH, as a developer runs it)
            cwd=source,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = found.stdout.strip()
    return sha if found.returncode == 0 and re.fullmatch(r"[0-9a-f]{7,64}", sha) else "unknown"


class BuildInfo:
    """``conduit_build_info{version, git_sha} 1``: the same in every process."""

    def __init__(self) -> None:
        self.git_sha = "unknown"

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "conduit_build_info",
            "The Conduit version and commit this process runs (always 1).",
            labels=["version", "git_sha"],
        )
        info.add_metric([__version__, self.git_sha], 1)
        yield info


BUILD_INFO = BuildInfo()
REGISTRY.register(BUILD_INFO)


def multiprocess_dir() -> str | None:
    """Where the processes of ``conduit serve --workers N`` keep their values, if set."""
    return os.environ.get(MULTIPROCESS_DIR) or None


def forget_dead_processes(path: str) -> None:
    """Drop the ``live*`` gauges of processes that have exited (a worker uvicorn replaced):
    what they held (connections, requests in flight) is held no more. Their counters stay."""
    for file in Path(path).glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            mark_process_dead(int(pid), path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render() -> bytes:
    """The metrics in Prometheus's text format: this process's, or every worker's added up."""
    path = multiprocess_dir()
    if path is None:
        return generate_latest(REGISTRY)
    forget_dead_processes(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    registry.register(BUILD_INFO)
    return generate_latest(registry)
