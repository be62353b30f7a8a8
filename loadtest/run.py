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
import sys
import tempfile
from pathlib import Path

from loadtest import check
from loadtest.server import (
    ROOT,
    LocustRun,
    Server,
    free_port,
    locust_command,
    migrate,
    production_environment,
    run_locust,
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


def load(host: str, prefix: Path, args: argparse.Namespace, server: Server | None) -> LocustRun:
    command = locust_command(
        host, prefix, users=args.users, spawn_rate=args.spawn_rate, duration=args.duration
    )
    print("$ " + " ".join(command[1:]), flush=True)
    done = run_locust(command, prefix=prefix, users=args.users, server=server, timeout=3600 * 24)
    print(done.output[-20000:], flush=True)
    return done


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    prefix = args.results / f"loadtest-{stamp}"
    if args.host:
        done = load(args.host, prefix, args, None)
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
                done = load(server.url, prefix, args, server)
            finally:
                server.stop()
    if not Path(f"{prefix}_stats.csv").exists():
        print("locust wrote no statistics", file=sys.stderr)
        return done.returncode or 1
    measured = (
        []
        if done.cpu_ms_per_request is None
        else ["--cpu-ms-per-request", f"{done.cpu_ms_per_request:.3f}"]
    )
    verdict = check.main([str(prefix), *measured])
    return done.returncode or verdict


if __name__ == "__main__":
    sys.exit(main())
