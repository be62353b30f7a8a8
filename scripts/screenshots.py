"""Take the README's screenshots of the web app: docs/images/web-home.png (the home page,
signed in) and docs/images/web-console.png (the moderation console, signed in as an admin).

Starts ``conduit serve`` on SQLite in a temporary folder, fills it with ``conduit seed``
(a few users, articles, tags, favorites and comments), makes ``user1`` an admin with
``conduit users grant``, then opens both pages at 1280x800 in the system's Chromium
(tests/browser/flows/screenshots.mjs, Playwright pinned by that folder's lock file).

    python scripts/screenshots.py [--out docs/images] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ROOT / "tests" / "browser" / "flows"
CLI = [sys.executable, "-m", "conduit.entrypoints.cli"]
SEED = ["--users", "12", "--articles", "40", "--tags", "10", "--favorites", "120"]
SEED += ["--follows", "30", "--comments", "60", "--random-seed", "7"]
ADMIN = ("user1", "user1@conduit.example", "password123")  # as conduit seed makes them
START_TIMEOUT_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_live(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("conduit serve exited")
        try:
            with urllib.request.urlopen(f"{base}/health/live", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"conduit serve did not start within {START_TIMEOUT_SECONDS} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument(
        "--chromium", default=os.environ.get("CONDUIT_CHROMIUM", "/usr/bin/chromium")
    )
    options = parser.parse_args()
    node = shutil.which("node")
    if node is None:
        sys.exit("node is needed (Node.js 20)")
    if not (FLOWS / "node_modules" / "@playwright" / "test").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=FLOWS, check=True
        )
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONDUIT_")}
        env.update(
            CONDUIT_ENVIRONMENT="development", CONDUIT_DATA_DIR=data, CONDUIT_LOG_LEVEL="WARNING"
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env)
        try:
            wait_until_live(base, server)
            subprocess.run([*CLI, "seed", *SEED], env=env, check=True, stdout=subprocess.DEVNULL)
            subprocess.run([*CLI, "users", "grant", ADMIN[0], "admin"], env=env, check=True)
            subprocess.run(
                [
                    node,
                    "screenshots.mjs",
                    base,
                    str(options.out.resolve()),
                    ADMIN[1],
                    ADMIN[2],
                    options.chromium,
                ],
                cwd=FLOWS,
                check=True,
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"wrote {options.out / 'web-home.png'} and {options.out / 'web-console.png'}")


if __name__ == "__main__":
    main()
