"""What the deployment tests share: the artifacts, read once (the Dockerfile's instructions,
compose.yaml, the Kubernetes manifests), the Conduit command lines they hold, and the
external tools they are checked with (skipped where a tool is missing on a developer's
machine, a failure in CI)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from tests.processes import program

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
COMPOSE_ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
KUBERNETES = ROOT / "deploy" / "kubernetes"
NGINX_CONF = ROOT / "deploy" / "nginx" / "conduit.conf"
PROMETHEUS_CONF = ROOT / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA = ROOT / "deploy" / "grafana"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CONDUIT_IMAGE = "conduit"  # the image's name in compose.yaml and the manifests

# An instruction of the Dockerfile: its keyword and its text, continuation lines joined.
_INSTRUCTION = re.compile(r"^([A-Z]+)\s+(.*)$")


def tool(name: str) -> str:
    """The path of an external program: the project's venv first, then PATH. Missing: the
    test is skipped with the reason on a developer's machine and fails in CI."""
    return program(name, how_to_get="docs/operating/deploy.md says how to get it")


def run(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A command run to its end, its output kept (never raises on a non-zero exit)."""
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(KEYWORD, text) of each instruction, comments dropped, continuations joined."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions = []
    for text in logical:
        match = _INSTRUCTION.match(text)
        assert match, f"not an instruction: {text}"
        instructions.append((match.group(1), match.group(2)))
    return instructions


def dockerfile_exec_form(keyword: str) -> list[str]:
    """The JSON (exec) form of the last ENTRYPOINT or CMD."""
    texts = [text for name, text in dockerfile_instructions() if name == keyword]
    assert texts, f"the Dockerfile has no {keyword}"
    value = json.loads(texts[-1])
    assert isinstance(value, list), f"{keyword} is not in exec form"
    return [str(item) for item in value]


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def compose_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose()["services"]
    return services


def conduit_services() -> dict[str, dict[str, Any]]:
    """The compose services that run Conduit's image."""
    return {
        name: service
        for name, service in compose_services().items()
        if str(service.get("image", "")).split(":")[0] == CONDUIT_IMAGE
    }


def api_services() -> list[str]:
    """The compose services that run `conduit serve` (the image's default command)."""
    return sorted(name for name, svc in conduit_services().items() if "command" not in svc)


def manifest_files() -> list[Path]:
    """Every Kubernetes manifest (the kustomization aside)."""
    return sorted(path for path in KUBERNETES.glob("*.yaml") if path.name != "kustomization.yaml")


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                yield path, document


def manifest(kind: str, name: str) -> dict[str, Any]:
    for _path, document in manifests():
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise AssertionError(f"no {kind} named {name} in {KUBERNETES}")


def pod_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    """(workload name, container) of every Deployment and Job."""
    for _path, document in manifests():
        if document["kind"] in ("Deployment", "Job"):
            for container in document["spec"]["template"]["spec"]["containers"]:
                yield document["metadata"]["name"], container
