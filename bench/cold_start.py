"""Cold start of Conduit as an AWS Lambda function: from a fresh Python process to the
first answered invocation.

    uv run --frozen python bench/cold_start.py            # 7 runs, bytecode compiled
    uv run --frozen python bench/cold_start.py --runs 11 --no-bytecode

Each run starts a new interpreter that imports ``conduit.entrypoints.serverless``, reads its
``handler`` (the app built from the environment, as the runtime does in the init phase) and
invokes it with the recorded API Gateway event ``GET /api/articles``
(tests/serverless/events/http-api-v2-list-articles.json), then once more (warm). The
parent times from just before it starts the process to the moment the first answer is
back; the child times its phases. Production settings, on a PostgreSQL database of its own
(created, migrated, seeded with one article, dropped). ``--no-bytecode`` gives every run an
empty bytecode cache (``PYTHONPYCACHEPREFIX``): a package shipped without ``.pyc`` files.

Prints a table (each run and the median) and writes bench/results/cold-start-<time>.json.
Figures: docs/operating/serverless.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadtest.server import PostgresDatabase, conduit, migrate  # noqa: E402

EVENT = ROOT / "tests" / "serverless" / "events" / "http-api-v2-list-articles.json"
ORIGIN = "https://app.example.com"
PHASES = ("interpreter", "import", "build", "first", "total", "warm")

CHILD = """
import json, sys, time
started = time.time()
begun = time.perf_counter()
from conduit.entrypoints import serverless
imported = time.perf_counter()
handler = serverless.handler
built = time.perf_counter()
event = json.load(open(sys.argv[1]))
answer = handler(event, None)
answered = time.perf_counter()
first_at = time.time()
again = handler(event, None)
warm = time.perf_counter() - answered
assert answer["statusCode"] == again["statusCode"] == 200, answer
print(json.dumps({
    "started_at": started, "first_at": first_at,
    "import": imported - begun, "build": built - imported, "first": answered - built,
    "warm": warm,
}))
"""


def environment(database_url: str, folder: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CONDUIT_")}
    env.update(
        CONDUIT_ENVIRONMENT="production",
        CONDUIT_DATABASE_URL=database_url,
        CONDUIT_SECRET_KEY=secrets.token_urlsafe(48),
        CONDUIT_CORS_ORIGINS=json.dumps([ORIGIN]),
        CONDUIT_DATA_DIR=folder,
        CONDUIT_LOG_LEVEL="WARNING",
        CONDUIT_LOG_JSON="true",
    )
    return env


def seed_one_article(env: dict[str, str]) -> None:
    subprocess.run(
        conduit(
            *("seed", "--users", "1", "--articles", "1", "--tags", "1"),
            *("--favorites", "0", "--follows", "0", "--comments", "0"),
        ),
        env=env,
        check=True,
        capture_output=True,
    )


def one_run(env: dict[str, str], *, bytecode: bool) -> dict[str, float]:
    run_env = dict(env)
    with tempfile.TemporaryDirectory(prefix="conduit-pycache-") as cache:
        if not bytecode:
            run_env["PYTHONPYCACHEPREFIX"] = cache
        spawned = time.time()
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(EVENT)],
            env=run_env,
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the function failed:\n{done.stderr[-3000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "interpreter": child["started_at"] - spawned,
        "import": child["import"],
        "build": child["build"],
        "first": child["first"],
        "total": child["first_at"] - spawned,
        "warm": child["warm"],
    }


def table(runs: list[dict[str, float]]) -> str:
    lines = [
        "| run | interpreter | import | build | first request | total to first answer | warm |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for n, run in enumerate(runs, start=1):
        lines.append(f"| {n} | " + " | ".join(f"{run[p] * 1000:.0f}" for p in PHASES) + " |")
    median = {phase: statistics.median(run[phase] for run in runs) for phase in PHASES}
    lines.append("| median | " + " | ".join(f"{median[p] * 1000:.0f}" for p in PHASES) + " |")
    return "\n".join(lines) + "\n\n(milliseconds)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-bytecode", action="store_true", help="compile every module anew")
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    database = PostgresDatabase(f"conduit_bench_cold_{stamp.lower()}")
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="conduit-cold-") as folder:
        env = environment(database.create(), folder)
        try:
            migrate(env)
            seed_one_article(env)
            for n in range(args.runs):
                runs.append(one_run(env, bytecode=not args.no_bytecode))
                print(f"run {n + 1}: {runs[-1]['total'] * 1000:.0f} ms", flush=True)
        finally:
            database.drop()
    print(table(runs))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    report = {
        "started": stamp,
        "bytecode": not args.no_bytecode,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "runs": runs,
        "median": {phase: statistics.median(run[phase] for run in runs) for phase in PHASES},
    }
    (results / f"cold-start-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
