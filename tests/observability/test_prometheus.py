"""A real Prometheus scrapes a real Conduit: ``conduit serve --workers 2`` and ``conduit
worker`` on PostgreSQL, Redis and RabbitMQ as in the production recipe. The values read back
through Prometheus's query API are what the traffic made; every panel of the Grafana
dashboard is a query Prometheus accepts; the alerts pass ``promtool check rules`` and their
unit tests (``promtool test rules``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from conduit.observability.metrics.registry import REGISTRY
from tests.conftest import IN_CI, Backend
from tests.integration.messaging import rabbit_url
from tests.live_support import _wait_for_port
from tests.observability.test_metrics_processes import conduit_command, conduit_env, started
from tests.ports import free_port
from tests.processes import program
from tests.redis_server import PrivateRedis

__all__ = ["rabbit_url"]
ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "conduit.json"
# Grafana's variables, as a query over the last minutes of a test would have them.
GRAFANA = {"$__rate_interval": "15s", "$__range": "5m", "$job": "conduit.*"}
TAGS_READS = 25
TAGS = 'conduit_http_requests_total{job="conduit-api",route="/api/tags",method="GET",status="200"}'
ARTICLE_READS = 3


def tool(name: str) -> str:
    return program(name, how_to_get="apt-get install -y prometheus")


def test_the_alerts_are_valid_rules_and_pass_their_unit_tests() -> None:
    promtool = tool("promtool")
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = ALERTS.read_text(encoding="utf-8").count("- alert: ")
    assert f"SUCCESS: {rules} rules found" in checked.stdout
    tested = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def exported_names() -> set[str]:
    """Every sample name Conduit's metrics can have (counters' _total, histograms' parts)."""
    names = {"conduit_build_info"}
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
    return names


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
    ]


def test_the_dashboard_and_the_alerts_name_only_metrics_conduit_exports() -> None:
    exported = exported_names()
    texts = [expr for _, expr in dashboard_queries()] + [ALERTS.read_text()]
    named = {name for text in texts for name in re.findall(r"\bconduit_\w+", text)}
    assert named, "no Conduit metric named"
    assert named <= exported, named - exported
    titles = [title for title, _ in dashboard_queries()]
    for wanted in ("Requests/s by route", "Latency p50 / p99", "Outbox backlog", "Cache hit ratio"):
        assert wanted in titles


class Prometheus:
    def __init__(self, folder: Path, targets: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.copy(ALERTS, folder / "alerts.yml")
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n"
            for job, target in targets.items()
        )
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - alerts.yml\nscrape_configs:\n{jobs}"
        )
        self.command = [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]

    def query(self, promql: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        body: dict[str, Any] = answer.json()
        assert body.get("status") == "success", f"{promql}: {body}"
        return body

    def value(self, promql: str) -> float | None:
        result = self.query(promql)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def until(self, promql: str, accept: Callable[[float], bool], within: float = 60) -> float:
        deadline = time.monotonic() + within
        found = None
        while time.monotonic() < deadline:
            found = self.value(promql)
            if found is not None and accept(found):
                return found
            time.sleep(0.5)
        raise AssertionError(f"{promql} = {found} after {within} s")


def traffic(api: str, prometheus: Prometheus) -> None:
    """Sign-ups, a follow, an article and a comment (their events reach the worker), and
    reads: one that Prometheus sees first, the others an increase it can rate."""
    with httpx.Client(base_url=api, timeout=10) as http:
        assert http.get("/tags").status_code == 200
        prometheus.until(f"sum({TAGS})", lambda n: n == 1)
        tokens = {}
        for name in ("alice", "bob"):
            user = {"username": name, "email": f"{name}@conduit.test", "password": "password123"}
            answer = http.post("/users", json={"user": user})
            assert answer.status_code == 201, answer.text
            tokens[name] = {"Authorization": f"Token {answer.json()['user']['token']}"}
        assert http.post("/profiles/alice/follow", headers=tokens["bob"]).status_code == 200
        article = {"title": "Metrics", "description": "d", "body": "b"}
        answer = http.post("/articles", json={"article": article}, headers=tokens["alice"])
        assert answer.status_code == 201, answer.text
        slug = answer.json()["article"]["slug"]
        comment = {"comment": {"body": "Well measured"}}
        answer = http.post(f"/articles/{slug}/comments", json=comment, headers=tokens["bob"])
        assert answer.status_code == 201, answer.text
        for _ in range(TAGS_READS - 1):
            assert http.get("/tags").status_code == 200
        for _ in range(ARTICLE_READS):  # anonymous: a miss, then answers from Redis
            assert http.get("/articles").status_code == 200


def test_prometheus_reads_back_what_conduit_did(tmp_path: Path, rabbit_url: str) -> None:
    tool("prometheus")
    database = Backend("postgresql", tmp_path)
    try:
        url = database.create()
    except Exception as exc:
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    redis = PrivateRedis(tmp_path)
    redis.start()
    api_port, worker_port = free_port(), free_port()
    env = conduit_env(
        tmp_path,
        CONDUIT_DATABASE_URL=url,
        CONDUIT_REDIS_URL=redis.url,
        CONDUIT_BROKER_URL=rabbit_url,
        CONDUIT_DB_POOL_SIZE="20",  # the metric's sum below: 2 workers x 20
    )
    serve = conduit_command("serve", "--workers", "2", "--port", str(api_port))
    worker = conduit_command("worker", "--metrics-port", str(worker_port))
    targets = {"conduit-api": f"127.0.0.1:{api_port}", "conduit-worker": f"127.0.0.1:{worker_port}"}
    prometheus = Prometheus(tmp_path, targets)
    try:
        with (
            started(tmp_path, "serve", serve, env) as serving,
            started(tmp_path, "worker", worker, env) as working,
            started(tmp_path, "prometheus", prometheus.command, dict(os.environ)) as scraping,
        ):
            for port, process in ((api_port, serving), (worker_port, working)):
                _wait_for_port(port, process, wait=60)
            _wait_for_port(prometheus.port, scraping, wait=60)
            for job in targets:
                prometheus.until(f'up{{job="{job}"}}', lambda up: up == 1)
            traffic(f"http://127.0.0.1:{api_port}/api", prometheus)
            check(prometheus)
    finally:
        redis.stop()
        database.drop()


def check(prometheus: Prometheus) -> None:
    assert prometheus.until(f"sum({TAGS})", lambda n: n >= TAGS_READS) == TAGS_READS
    assert prometheus.value(f"sum(rate({TAGS}[30s]))") > 0  # type: ignore[operator]
    p99 = (
        "histogram_quantile(0.99, sum by (le) "
        '(rate(conduit_http_request_duration_seconds_bucket{job="conduit-api"}[30s])))'
    )
    assert 0 < prometheus.until(p99, lambda seconds: seconds > 0) < 10
    articles = 'conduit_http_requests_total{route="/api/articles",method="GET",status="200"}'
    assert prometheus.until(f"sum({articles})", lambda n: n >= ARTICLE_READS) == ARTICLE_READS
    prometheus.until("sum(conduit_cache_hits_total)", lambda hits: hits >= 1)
    deliveries = 'sum(conduit_consumer_deliveries_total{job="conduit-worker"})'
    prometheus.until(deliveries, lambda n: n >= 2)  # the follow and the comment
    prometheus.until('max(conduit_outbox_unpublished_events{job="conduit-api"})', lambda n: n == 0)
    assert prometheus.value('sum(conduit_db_pool_size{job="conduit-api",pool="main"})') == 2 * 20
    for title, expr in dashboard_queries():
        for variable, value in GRAFANA.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{title}: a Grafana variable left in {expr}"
        prometheus.query(expr)  # status success, or the assertion names the panel's query
