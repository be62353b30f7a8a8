"""Idle load per instance: the statements an idle ``conduit serve`` sends PostgreSQL.

Starts a private PostgreSQL (``pg_stat_statements`` preloaded) on a free port, migrates a
database, then for each mode runs N idle ``conduit serve`` instances (embedded bus: each
runs the relay and the access-rules keeper) and, after a settling pause, counts every
statement they send for ``--seconds`` (``pg_stat_statements``, the utility statements
BEGIN / ROLLBACK included). Modes:

- ``polling``: CONDUIT_WAKEUPS_ENABLED=false, the relay every 0.5 s and the keeper every
  1 s, as Conduit always did (or, with ``--before-source DIR``, the code of another
  checkout, e.g. the main branch, run as is);
- ``wake-ups``: the default, LISTEN/NOTIFY and a 30 s safety poll.

Prints, per mode, the calls per second per instance and the statements behind them::

    uv run --frozen python bench/idle_queries.py [--instances 3] [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_support import conduit_servers  # noqa: E402
from tests.pg_cluster import PrivatePostgres  # noqa: E402

from conduit import migrations  # noqa: E402

SECRET = "idle-bench-secret-0123456789-abcdefghijkl"
SETTLE_SECONDS = 8.0


@dataclass
class Measured:
    mode: str
    instances: int
    seconds: float
    calls: int
    statements: list[tuple[int, str]]

    @property
    def per_instance_per_second(self) -> float:
        return self.calls / self.seconds / self.instances


def environment(url: str, data_dir: Path, *, wakeups: bool, source: Path | None) -> dict[str, str]:
    env = {
        "CONDUIT_DATABASE_URL": url,
        "CONDUIT_SECRET_KEY": SECRET,
        "CONDUIT_ENVIRONMENT": "test",
        "CONDUIT_DATA_DIR": str(data_dir),
        "CONDUIT_AUTO_MIGRATE": "false",
        "CONDUIT_LOG_LEVEL": "WARNING",
        "CONDUIT_LOG_JSON": "true",
        "CONDUIT_DB_POOL_SIZE": "5",
        "CONDUIT_WAKEUPS_ENABLED": "true" if wakeups else "false",
    }
    if source is not None:
        env["PYTHONPATH"] = str(source / "src")
    return env


def measure(
    server: PrivatePostgres,
    url: str,
    folder: Path,
    *,
    mode: str,
    instances: int,
    seconds: float,
    wakeups: bool,
    source: Path | None = None,
) -> Measured:
    logs = [folder / f"{mode}-{n}.log" for n in range(instances)]
    env = environment(url, folder, wakeups=wakeups, source=source)
    with conduit_servers(env, logs):
        time.sleep(SETTLE_SECONDS)  # start-up's own queries done
        server.execute("SELECT pg_stat_statements_reset()")
        time.sleep(seconds)
        rows = server.execute(
            "SELECT calls, query FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'conduit') "
            "ORDER BY calls DESC"
        )
    statements = [(int(calls), " ".join(str(query).split())) for calls, query in rows]  # type: ignore[call-overload]
    return Measured(mode, instances, seconds, sum(c for c, _ in statements), statements)


def report(results: list[Measured]) -> None:
    print()
    print("| mode | instances | seconds | statements | per instance per second |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for result in results:
        print(
            f"| {result.mode} | {result.instances} | {result.seconds:.0f} | {result.calls} "
            f"| {result.per_instance_per_second:.3f} |"
        )
    for result in results:
        print(f"\n{result.mode}: the statements (calls in {result.seconds:.0f} s, all instances)")
        for calls, query in result.statements:
            print(f"  {calls:6d}  {query[:110]}")
    if len(results) == 2 and results[1].calls:
        ratio = results[0].calls / results[1].calls
        print(f"\n{results[0].mode} / {results[1].mode}: {ratio:.1f}x the statements")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--before-source",
        type=Path,
        default=None,
        help="a checkout whose src/ runs the polling mode (default: this code, wake-ups off)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="conduit-idle-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)
        server = PrivatePostgres(folder / "postgres").init(
            shared_preload_libraries="'pg_stat_statements'",
            **{"pg_stat_statements.track_utility": "on"},
        )
        server.start()
        try:
            server.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            server.execute("CREATE DATABASE conduit")
            url = server.url("conduit")
            migrations.upgrade(url)
            common = {"instances": args.instances, "seconds": args.seconds}
            results = [
                measure(
                    server,
                    url,
                    folder,
                    mode="polling",
                    wakeups=False,
                    source=args.before_source,
                    **common,  # type: ignore[arg-type]
                ),
                measure(server, url, folder, mode="wake-ups", wakeups=True, **common),  # type: ignore[arg-type]
            ]
        finally:
            server.stop("immediate")
    report(results)


if __name__ == "__main__":
    main()
