"""The programs tests run: finding one (or saying why the test cannot run), and stopping
one with a signal first, as an operator would, then a kill."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI


def stop(process: subprocess.Popen[Any], *, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Send ``sig`` and wait up to ``timeout`` seconds; kill it when it does not exit.

    A process that already exited is left as it is; its pipes are drained either way.
    """
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def program(name: str, *, how_to_get: str) -> str:
    """The path of an external program: the project's venv first, then PATH. Missing: the
    test is skipped with ``how_to_get`` on a developer's machine and fails in CI."""
    in_venv = Path(sys.executable).parent / name
    found = str(in_venv) if in_venv.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed ({how_to_get})"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found
