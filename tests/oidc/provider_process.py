"""A real OpenID Connect provider for the tests: ``oidc-provider`` under Node.js, on a free port.

``tests/oidc/provider/`` holds the package (pinned by its package-lock.json) and the script;
``npm ci`` runs there once when node_modules is missing. Without node or npm the tests fail
in CI (CI=true) and are skipped with the reason on a developer's machine, as for the
database servers (tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _unreachable
from tests.ports import free_port

__all__ = ["free_port"]

FOLDER = Path(__file__).parent / "provider"
CLIENT_ID = "conduit-test"
CLIENT_SECRET = "conduit-test-secret-0123456789-abcdefghij"
APP_BASE = "http://conduit.test/api"
START_TIMEOUT_SECONDS = 30


def ensure_node_modules() -> str:
    """The path of ``node``, once ``npm ci`` has installed the pinned oidc-provider."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unreachable("Node.js", FileNotFoundError("node and npm are needed for the OIDC tests"))
        raise AssertionError("unreachable")
    if not (FOLDER / "node_modules" / "oidc-provider").is_dir():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=FOLDER,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            _unreachable("npm ci (oidc-provider)", RuntimeError(done.stderr[-2000:]))
    return node


class OidcProviderProcess:
    """One provider with one confidential client and the given accounts."""

    def __init__(
        self,
        accounts: dict[str, dict[str, Any]],
        *,
        redirect_uris: list[str],
        claims_in_id_token: bool = True,
        iss_parameter: bool = True,
    ) -> None:
        self.port = free_port()
        self.accounts = accounts
        self.redirect_uris = redirect_uris
        self.claims_in_id_token = claims_in_id_token
        self.iss_parameter = iss_parameter
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"conduit-oidc-provider-{self.port}.log"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        node = ensure_node_modules()
        config = {
            "port": self.port,
            "client": {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": self.redirect_uris,
            },
            "accounts": self.accounts,
            "claims_in_id_token": self.claims_in_id_token,
            "iss_parameter": self.iss_parameter,
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [node, str(FOLDER / "provider.mjs"), json.dumps(config)],
                cwd=FOLDER,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.log.read_text(errors="replace")[-2000:]
                pytest.fail(f"oidc-provider exited: {output}", pytrace=False)
            try:
                answer = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"oidc-provider did not start within {START_TIMEOUT_SECONDS} s", pytrace=False)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def tamper_next_id_token(self, mode: str) -> None:
        """Alter the id_token of the next token response (payload, signature or none)."""
        answer = httpx.post(f"{self.issuer}/test/tamper", params={"mode": mode}, timeout=5)
        assert answer.status_code == 204, answer.text
