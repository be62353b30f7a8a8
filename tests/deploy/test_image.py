"""Conduit's image, built from the Dockerfile and run for real with podman.

No container registry is needed: the base is made from Debian's packages by
deploy/offline-base-image.sh (debootstrap; cached as a local image whose tag is a hash of
the recipe, made again only when it is missing) and passed as the Dockerfile's BASE_IMAGE.
The build reaches PyPI through the host's network, with the host's certificate bundle as
the build secret. Then the image migrates a database of its own on the test PostgreSQL
(`db upgrade`, the migration service's command), serves on a read-only root file system
(as the Kubernetes manifests run it) until /health/ready answers 200, takes a sign-up, and
is checked to run as its non-root user, its own health check passing.

Without podman (or debootstrap, while the base image is missing) the test is skipped with
the reason on a developer's machine; in CI it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import PG_ADMIN, _admin_engine, _unreachable
from tests.deploy.support import ROOT, dockerfile_exec_form, run, tool
from tests.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(1800)]

IMAGE = "localhost/conduit:test"
BASE_SCRIPT = ROOT / "deploy" / "offline-base-image.sh"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
USER_ID = "10001"
# podman's default limits for a container (1,048,576 open files, the host's process limit)
# can be above what a sandboxed host lets it set; these fit anywhere and are ample.
LIMITS = ["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=8192:8192"]


def _runtime() -> list[str]:
    """runc when installed: crun, podman's default on Debian, cannot start a container where
    the cgroups are in hybrid mode (v1 controllers beside a v2 tree); runc can."""
    runc = shutil.which("runc")
    return ["--runtime", runc] if runc else []


def _podman(*args: str, timeout: float = 120) -> str:
    done = run(tool("podman"), *_runtime(), *args, timeout=timeout)
    assert done.returncode == 0, f"podman {' '.join(args)}\n{done.stdout}{done.stderr}"
    return done.stdout.strip()


def _base_image() -> str:
    """The offline base's tag, made by the script when it is missing (needs debootstrap)."""
    made = run("bash", str(BASE_SCRIPT), timeout=1200)
    if made.returncode != 0 and shutil.which("debootstrap") is None:
        tool("debootstrap")  # skipped, or failed in CI, with the reason
    assert made.returncode == 0, made.stderr[-5000:]
    return made.stdout.strip().splitlines()[-1]


# A made-up commit, so that the test sees the build argument and not a git lookup.
GIT_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def image() -> str:
    podman = tool("podman")
    base = _base_image()
    options = ["--format", "docker", "--network", "host", *LIMITS, *_runtime()]
    if os.path.exists(CA_BUNDLE):
        options += ["--secret", f"id=ca-certificates,src={CA_BUNDLE}"]
    started = time.monotonic()
    done = run(podman, "build", *options, "--build-arg", f"BASE_IMAGE={base}",
               "--build-arg", f"GIT_SHA={GIT_SHA}", "--tag", IMAGE, str(ROOT),
               timeout=1500)  # fmt: skip
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    print(f"\n{IMAGE} built from {base} in {time.monotonic() - started:.0f} s")
    return IMAGE


def _inspect(image: str) -> dict[str, Any]:
    inspected: dict[str, Any] = json.loads(_podman("image", "inspect", image))[0]
    return inspected


def _health_check(image: str) -> list[str]:
    """The HEALTHCHECK's command, kept only in the docker format (an OCI image drops it)."""
    test: list[str] = _inspect(image)["Healthcheck"]["Test"]
    return test


def test_the_image_starts_conduit_as_its_own_user_with_a_health_check(image: str) -> None:
    config = _inspect(image)["Config"]
    assert config["User"] == f"{USER_ID}:{USER_ID}"
    assert config["Entrypoint"] == dockerfile_exec_form("ENTRYPOINT") == ["conduit"]
    assert config["Cmd"] == dockerfile_exec_form("CMD")
    assert "8000/tcp" in config["ExposedPorts"]
    assert "/health/live" in " ".join(_health_check(image))


@pytest.fixture
def database() -> Iterator[str]:
    name = f"conduit_image_{uuid.uuid4().hex[:8]}"
    try:
        with _admin_engine(PG_ADMIN).connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _unreachable("postgresql", exc)
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        with _admin_engine(PG_ADMIN).connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _environment(database_url: str) -> list[str]:
    settings = {
        "CONDUIT_ENVIRONMENT": "production",
        "CONDUIT_SECRET_KEY": secrets.token_urlsafe(48),
        "CONDUIT_DATABASE_URL": database_url,
        "CONDUIT_CORS_ORIGINS": '["https://app.example.com"]',
    }
    return [flag for name, value in settings.items() for flag in ("--env", f"{name}={value}")]


def _wait_ready(base: str, container: str) -> httpx.Response:
    deadline = time.monotonic() + 90
    while True:
        try:
            response = httpx.get(f"{base}/health/ready", timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        state = _podman("container", "inspect", "--format", "{{.State.Status}}", container)
        if state != "running" or time.monotonic() > deadline:
            logs = run(tool("podman"), "logs", container)
            pytest.fail(f"not ready ({state}):\n{logs.stdout}{logs.stderr}", pytrace=False)
        time.sleep(0.5)


def test_the_image_migrates_then_serves_ready_as_a_non_root_user(image: str, database: str) -> None:
    environment = _environment(database)
    # The host's network: the test PostgreSQL listens on this machine's loopback.
    common = ["--network", "host", *LIMITS, "--no-healthcheck", *environment]
    migrated = _podman("run", "--rm", *common, image, "db", "upgrade", timeout=300)
    assert "head" in migrated.lower(), migrated

    port = free_port()
    container = f"conduit-test-{uuid.uuid4().hex[:8]}"
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    # As the Kubernetes manifests run it: nothing written but /tmp.
    _podman("run", "--detach", "--name", container, "--read-only", "--tmpfs", "/tmp",
            *common, image, *serve)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        ready = _wait_ready(base, container)
        assert ready.json()["database"] == "postgresql", ready.text

        # The commit it was built from, though the image holds no .git (the build argument).
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200, metrics.text
        assert f'git_sha="{GIT_SHA}"' in metrics.text

        user = {"username": "imaged", "email": "imaged@conduit.test", "password": "password123"}
        signed_up = httpx.post(f"{base}/api/users", json={"user": user}, timeout=30)
        assert signed_up.status_code == 201, signed_up.text

        # The server process itself (PID 1) and anything run beside it: the image's user.
        status = _podman("exec", container, "cat", "/proc/1/status")
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        assert uids == [USER_ID] * 4, status
        assert _podman("exec", container, "id", "-u") == USER_ID

        # The image's own health check, as its HEALTHCHECK runs it, at this test's port.
        check = [part.replace(":8000/", f":{port}/") for part in _health_check(image)]
        assert check[0] == "CMD", check
        _podman("exec", container, *check[1:])
    finally:
        run(tool("podman"), *_runtime(), "rm", "--force", container, timeout=60)
