"""``make loadtest``: the mix for a while, then the check of loadtest/thresholds.toml.

    python -m loadtest.run                          # a conduit serve it starts on SQLite
    python -m loadtest.run --host https://api.example.com
    python -m loadtest.run --database-url postgresql+asyncpg://postgres@127.0.0.1/conduit_lt

Without ``--host`` it starts a production-like ``conduit serve`` itself (production mode,
CORS origin set, the load generator trusted as proxy), on a fresh SQLite file, or on
``--database-url`` (migrated first); then locust, headless, with its CSV files in
``loadtest/results/loadtest-<timestamp>_*.csv``. Exits non-zero when locust saw a failure
or an error, or a threshold is broken.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

from loadtest import check
from loadtest.server import (
    ROOT,
    Server,
    free_port,
    locust_command,
    locust_environment,
    migrate,
    production_environment,
)

RESULTS = ROOT / "loadtest" / "results"


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", help="a running Conduit to load (default: start one)")
    parser.add_argument("--database-url", help="the database of the server it starts")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=5.0)
    parser.add_argument("--duration", default="60s", help="locust's -t: 60s, 10m, ...")
    parser.add_argument("--results", type=Path, default=RESULTS)
    return parser.parse_args(argv)


def run_locust(host: str, prefix: Path, args: argparse.Namespace) -> int:
    command = locust_command(
        host, prefix, users=args.users, spawn_rate=args.spawn_rate, duration=args.duration
    )
    print("$ " + " ".join(command[1:]), flush=True)
    return subprocess.run(command, env=locust_environment(), cwd=ROOT, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    prefix = args.results / f"loadtest-{stamp}"
    measured: list[str] = []  # the server's CPU time, when it is this process's to read
    if args.host:
        status = run_locust(args.host, prefix, args)
    else:
        with tempfile.TemporaryDirectory(prefix="conduit-loadtest-") as folder:
            database = args.database_url or f"sqlite+aiosqlite:///{folder}/conduit.db"
            env = production_environment(database, CONDUIT_DATA_DIR=folder)
            if args.database_url:
                migrate(env)
            server = Server(env, port=free_port(), log=Path(folder) / "serve.log", cwd=ROOT)
            try:
                server.wait_ready()
                print(f"conduit serve on {server.url} ({database.split('://')[0]})", flush=True)
                cpu_before = server.cpu_seconds()
                status = run_locust(server.url, prefix, args)
                measured = ["--server-cpu-seconds", f"{server.cpu_seconds() - cpu_before:.3f}"]
            finally:
                server.stop()
    if not Path(f"{prefix}_stats.csv").exists():
        print("locust wrote no statistics", file=sys.stderr)
        return status or 1
    verdict = check.main([str(prefix), *measured])
    return status or verdict


if __name__ == "__main__":
    sys.exit(main())
