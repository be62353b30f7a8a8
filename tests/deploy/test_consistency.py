"""The deployment artifacts speak of the Conduit this repository builds: every CONDUIT_*
variable they set is a setting, every command line they run is a `conduit` command, every
health check asks a path Conduit answers with 200, and the ingress routes every path the
API serves (and not /metrics). A renamed setting, command or route fails here."""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from conduit.entrypoints.api import create_app
from conduit.entrypoints.cli.main import app as conduit_cli
from conduit.settings import Settings
from tests.deploy.support import (
    COMPOSE,
    COMPOSE_ENV_EXAMPLE,
    CONDUIT_IMAGE,
    DOCKERFILE,
    KUBERNETES,
    ROOT,
    conduit_services,
    dockerfile_exec_form,
    dockerfile_instructions,
    manifest,
    pod_containers,
)

SETTING = re.compile(r"\bCONDUIT_[A-Z0-9_]+\b")
LOCAL_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/[^'\"\s]*)")
API_PORT = 8000


def deployment_files() -> list[Path]:
    deploy = ROOT / "deploy"
    files = [DOCKERFILE, COMPOSE, COMPOSE_ENV_EXAMPLE]
    files += sorted(p for p in deploy.rglob("*") if p.suffix in (".yaml", ".yml", ".conf"))
    return files


def test_every_conduit_variable_the_artifacts_set_is_a_setting() -> None:
    settings = {f"CONDUIT_{name.upper()}" for name in Settings.model_fields}
    used: dict[str, set[str]] = {}
    for path in deployment_files():
        for name in SETTING.findall(path.read_text(encoding="utf-8")):
            used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert "CONDUIT_DATABASE_URL" in used
    assert "CONDUIT_SECRET_KEY" in used
    unknown = {name: sorted(files) for name, files in used.items() if name not in settings}
    assert not unknown, f"not settings of Conduit: {unknown}"


def command_lines() -> Iterator[tuple[str, list[str]]]:
    """(where, arguments after `conduit`) of every Conduit process the artifacts start."""
    default = dockerfile_exec_form("CMD")
    yield "Dockerfile CMD", default
    for name, service in conduit_services().items():
        yield f"compose.yaml {name}", [str(arg) for arg in service.get("command", default)]
    for workload, container in pod_containers():
        assert container["image"] == CONDUIT_IMAGE, f"{workload} runs {container['image']}"
        yield f"kubernetes {workload}", [str(arg) for arg in container.get("args", default)]


def _help(arguments: list[str]) -> int:
    """`conduit ARGUMENTS --help`: 0 when each word and option is one the command has."""
    result = CliRunner().invoke(conduit_cli, [*arguments, "--help"])
    return result.exit_code


def test_every_command_line_is_a_conduit_command() -> None:
    assert dockerfile_exec_form("ENTRYPOINT") == ["conduit"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["conduit"] == "conduit.entrypoints.cli.main:app"
    seen = {}
    for where, arguments in command_lines():
        seen[where] = arguments
        assert _help(arguments) == 0, f"{where}: `conduit {' '.join(arguments)}` is no command"
    assert {"serve", "worker", "db"} <= {arguments[0] for arguments in seen.values()}
    # The check tells a wrong word or option from a right one.
    assert _help(["serve", "--hots", "0.0.0.0"]) != 0
    assert _help(["db", "upgarde"]) != 0


def _probes() -> Iterator[tuple[str, int, str]]:
    """(where, port, path) of every health check of a Conduit process."""
    for keyword, instruction in dockerfile_instructions():
        if keyword == "HEALTHCHECK":
            for port, path in LOCAL_URL.findall(instruction):
                yield "Dockerfile HEALTHCHECK", int(port), path
    for name, service in conduit_services().items():
        test = " ".join(str(part) for part in service.get("healthcheck", {}).get("test", []))
        for port, path in LOCAL_URL.findall(test):
            yield f"compose.yaml {name}", int(port), path
    for workload, container in pod_containers():
        ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe := container.get(kind):
                port = probe["httpGet"]["port"]
                yield (
                    f"kubernetes {workload} {kind}",
                    ports.get(port, port),
                    probe["httpGet"]["path"],
                )


@pytest.fixture
def served_app(tmp_path: Path) -> FastAPI:
    """The app as production builds it (its routes), on a SQLite file of its own."""
    settings = Settings(
        environment="production",
        secret_key=secrets.token_urlsafe(48),
        cors_origins=["https://app.example.com"],
        data_dir=tmp_path,
        log_level="WARNING",
    )
    return create_app(settings)


async def test_every_health_check_asks_a_path_conduit_answers_with_200(
    served_app: FastAPI,
) -> None:
    probes = list(_probes())
    api_paths = {path for _where, port, path in probes if port == API_PORT}
    assert {"/health/live", "/health/ready"} <= api_paths, probes
    # The worker serves its metrics on a port of its own (CONDUIT_METRICS_PORT, see
    # test_wiring.py); every other check is of the API's port.
    assert {path for _where, port, path in probes if port != API_PORT} <= {"/metrics"}, probes
    transport = httpx.ASGITransport(app=served_app)
    async with (
        served_app.router.lifespan_context(served_app),
        httpx.AsyncClient(transport=transport, base_url="http://conduit.test") as client,
    ):
        for path in sorted(api_paths):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
            assert (await client.get(path + "-not")).status_code == 404


def _served_prefixes(app: FastAPI) -> set[str]:
    """The first segment of every path the app serves (/api, /health, /openapi.json...)."""
    paths: set[str] = set()
    for route in app.routes:
        if path := getattr(route, "path", None):
            paths.add(path)
            continue
        # An included router (live updates, GraphQL): its prefix and its own routes.
        included: Any = route
        prefix = included.include_context.prefix
        paths |= {prefix + sub.path for sub in included.original_router.routes}
    return {"/" + path.strip("/").split("/")[0] for path in paths}


def _routed(path: str, rules: list[dict[str, Any]]) -> bool:
    for rule in rules:
        if rule["pathType"] == "Exact" and path == rule["path"]:
            return True
        if rule["pathType"] == "Prefix" and (path + "/").startswith(rule["path"].rstrip("/") + "/"):
            return True
    return False


def test_the_ingress_routes_every_path_the_api_serves_but_metrics(served_app: FastAPI) -> None:
    ingress = manifest("Ingress", "conduit")
    rules = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    prefixes = _served_prefixes(served_app)
    assert {"/api", "/health", "/docs", "/graphql", "/media"} <= prefixes, prefixes
    # /metrics is Prometheus's, scraped from inside the cluster, never through the ingress.
    missing = sorted(p for p in prefixes - {"/metrics"} if not _routed(p, rules))
    assert not missing, f"served by Conduit, not routed by {KUBERNETES / 'ingress.yaml'}: {missing}"
    assert not _routed("/metrics", rules)
    assert {rule["backend"]["service"]["name"] for rule in rules} == {"conduit-api"}
