"""Metrics across processes: ``conduit serve --workers 2`` adds up its workers' values
whichever answers, the metrics port of ``conduit serve`` and of ``conduit worker``; and the
response cache's hits, misses and failures on a redis-server of the test's own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET
from tests.live_support import _wait_for_port
from tests.observability.conftest import Conduit, Samples, parse, value
from tests.ports import free_port
from tests.processes import stop
from tests.redis_server import PrivateRedis

REQUESTS = 60


def conduit_env(folder: Path, **settings: str) -> dict[str, str]:
    env = {name: v for name, v in os.environ.items() if not name.startswith("CONDUIT_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        CONDUIT_ENVIRONMENT="test",
        CONDUIT_SECRET_KEY=TEST_SECRET,
        CONDUIT_DATA_DIR=str(folder),  # SQLite, migrated at start
        CONDUIT_LOG_LEVEL="WARNING",
        CONDUIT_LOG_JSON="true",
        TMPDIR=str(folder),  # where conduit serve makes the folder of its workers' values
        **settings,
    )
    return env


@contextlib.contextmanager
def started(
    folder: Path, name: str, command: list[str], env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` running (its output in ``<folder>/<name>.log``), stopped with SIGINT."""
    log = (folder / f"{name}.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop(process, sig=signal.SIGINT)
        log.close()


def conduit_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "conduit.entrypoints.cli", *args]


@contextlib.contextmanager
def running(folder: Path, *args: str, port: int, **settings: str) -> Iterator[None]:
    """``conduit <args>`` running, once it listens on ``port``."""
    env = conduit_env(folder, **settings)
    with started(folder, args[0], conduit_command(*args), env) as process:
        _wait_for_port(port, process, wait=60)
        yield


def get(url: str) -> httpx.Response:
    # A new connection each time: uvicorn's workers take turns at accepting them.
    with httpx.Client(timeout=10) as http:
        return http.get(url)


def tags_requests(url: str) -> float:
    response = get(url)
    assert response.status_code == 200, response.text
    return value(parse(response.text), "conduit_http_requests_total", **TAGS)


TAGS = {"route": "/api/tags", "method": "GET", "status": "200"}


def test_two_workers_report_every_request_whichever_worker_is_asked(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(tmp_path, "serve", "--workers", "2", "--port", str(port), port=port):
        for _ in range(REQUESTS):
            assert get(f"{base}/api/tags").status_code == 200
        counts = {tags_requests(f"{base}/metrics") for _ in range(10)}
        shared = list(tmp_path.glob("conduit-metrics-*"))
        assert len(shared) == 1
        pids = {file.stem.rsplit("_", 1)[-1] for file in shared[0].glob("*.db")}
    assert counts == {REQUESTS}
    assert len(pids) == 2  # both workers keep their values there
    assert not list(tmp_path.glob("conduit-metrics-*"))  # removed on exit


def test_with_a_metrics_port_serve_answers_metrics_there_and_not_on_the_api_port(
    tmp_path: Path,
) -> None:
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    args = ("serve", "--workers", "2", "--port", str(port), "--metrics-port", str(metrics_port))
    with running(tmp_path, *args, port=port):
        for _ in range(REQUESTS):
            assert get(f"{base}/api/tags").status_code == 200
        assert get(f"{base}/metrics").status_code == 404
        assert tags_requests(f"http://127.0.0.1:{metrics_port}/metrics") == REQUESTS
        elsewhere = get(f"http://127.0.0.1:{metrics_port}/api/tags")
        assert elsewhere.status_code == 404
        assert elsewhere.json() == {"errors": {"path": ["not found"]}}


def test_the_worker_is_scraped_on_its_metrics_port(tmp_path: Path) -> None:
    metrics_port = free_port()
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with running(tmp_path, "worker", "--metrics-port", str(metrics_port), port=metrics_port):
        samples = parse(get(url).text)
    assert value(samples, "conduit_db_pool_size", pool="main") == 1  # sampled: SQLite's writer
    assert value(samples, "conduit_outbox_unpublished_events") == 0
    assert any(name == "conduit_build_info" for name, _ in samples)
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)


async def test_cache_hits_misses_and_failures_of_a_real_redis(
    conduit: Callable[..., Conduit], tmp_path: Path
) -> None:
    redis = PrivateRedis(tmp_path)
    redis.start()
    try:
        app = conduit(redis_url=redis.url, rate_limits_enabled=False)
        http = app.client()
        before = await app.scrape()
        for _ in range(3):  # a miss, then two answers from Redis
            assert (await http.get("/articles")).status_code == 200
        cached = await app.scrape()
        redis.stop()
        assert (await http.get("/articles")).status_code == 200  # from the database
        after = await app.scrape()
    finally:
        redis.stop()

    def counted(samples: Samples, name: str, **labels: str) -> float:
        return value(samples, name, **labels) - value(before, name, **labels)

    assert counted(cached, "conduit_cache_misses_total") == 1
    assert counted(cached, "conduit_cache_hits_total") == 2
    assert counted(cached, "conduit_cache_errors_total", operation="lookup") == 0
    assert counted(after, "conduit_cache_bypasses_total") == 1
    assert counted(after, "conduit_cache_errors_total", operation="lookup") == 1
    # Answers from the cache skip the router: they are labelled with its template all the same.
    labels = {"route": "/api/articles", "method": "GET", "status": "200"}
    assert counted(after, "conduit_http_requests_total", **labels) == 4
