"""Check a locust run against loadtest/thresholds.toml: no failure, every p95 within its
bound, every required request sent.

    python -m loadtest.check loadtest/results/ci      # the --csv prefix of the run

Prints one Markdown table (per request name: requests, requests/s, failures, p50/p95/p99,
the bound), one per scenario, the server's CPU time per request when the driver measured it
(``--cpu-ms-per-request``), and, when the run breaks a threshold, what it broke; exits 1
then. Used by ``make loadtest``, ``make soak`` and tests/loadtest/test_locust.py.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THRESHOLDS = Path(__file__).with_name("thresholds.toml")
AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class Row:
    """One line of locust's ``<prefix>_stats.csv`` (times in milliseconds)."""

    kind: str
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True)
class Bound:
    p95_ms: float
    failures: int


@dataclass(frozen=True)
class Thresholds:
    default: Bound
    by_name: dict[str, Bound]
    required: tuple[str, ...]
    # The server process's CPU time per HTTP request (ms), when the driver measured it.
    cpu_ms_per_request: float | None = None

    def bound(self, name: str) -> Bound:
        return self.by_name.get(name, self.default)


def _number(text: str) -> float:
    return 0.0 if text in ("", "N/A") else float(text)


def read_stats(prefix: str | Path) -> list[Row]:
    """Every row of ``<prefix>_stats.csv``, the ``Aggregated`` one last."""
    with Path(f"{prefix}_stats.csv").open(newline="") as source:
        return [
            Row(
                kind=line["Type"],
                name=line["Name"],
                requests=int(line["Request Count"]),
                failures=int(line["Failure Count"]),
                rps=_number(line["Requests/s"]),
                p50=_number(line["50%"]),
                p95=_number(line["95%"]),
                p99=_number(line["99%"]),
            )
            for line in csv.DictReader(source)
        ]


def _bound(entry: dict[str, Any], fallback: Bound) -> Bound:
    return Bound(
        p95_ms=float(entry.get("p95_ms", fallback.p95_ms)),
        failures=int(entry.get("failures", fallback.failures)),
    )


def load_thresholds(path: Path = THRESHOLDS) -> Thresholds:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    default = _bound(data.get("defaults", {}), Bound(p95_ms=1000.0, failures=0))
    cpu = data.get("server", {}).get("cpu_ms_per_request")
    return Thresholds(
        default=default,
        by_name={name: _bound(entry, default) for name, entry in data.get("requests", {}).items()},
        required=tuple(data.get("required", ())),
        cpu_ms_per_request=None if cpu is None else float(cpu),
    )


def problems(
    rows: list[Row], thresholds: Thresholds, *, cpu_ms_per_request: float | None = None
) -> list[str]:
    """What the run broke, one sentence each (empty: it holds). ``cpu_ms_per_request``: the
    server's CPU time per request, where the driver measured it (loadtest/server.py)."""
    found: list[str] = []
    bound = thresholds.cpu_ms_per_request
    if cpu_ms_per_request is not None and bound is not None and cpu_ms_per_request > bound:
        found.append(
            f"server: {cpu_ms_per_request:.2f} CPU ms per request over its bound of {bound:g}"
        )
    sent = {row.name for row in rows if row.requests > 0}
    for name in thresholds.required:
        if name not in sent:
            found.append(f"{name}: never sent (a scenario stopped sending it)")
    for row in rows:
        if row.name == AGGREGATED:
            continue
        bound = thresholds.bound(row.name)
        if row.failures > bound.failures:
            found.append(f"{row.name}: {row.failures} failed (allowed: {bound.failures})")
        if row.p95 > bound.p95_ms:
            found.append(f"{row.name}: p95 {row.p95:.0f} ms over its bound of {bound.p95_ms:.0f}")
    return found


def table(rows: list[Row], thresholds: Thresholds) -> str:
    lines = [
        "| request | requests | req/s | failures | p50 ms | p95 ms | p99 ms | p95 bound |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        bound = "" if row.name == AGGREGATED else f"{thresholds.bound(row.name).p95_ms:.0f}"
        lines.append(
            f"| {row.name} | {row.requests} | {row.rps:.1f} | {row.failures} | {row.p50:.0f} "
            f"| {row.p95:.0f} | {row.p99:.0f} | {bound} |"
        )
    return "\n".join(lines)


def scenario_table(prefix: str | Path) -> str:
    """``<prefix>_scenarios.csv`` (loadtest/stats.py) as a Markdown table; empty without it."""
    path = Path(f"{prefix}_scenarios.csv")
    if not path.exists():
        return ""
    with path.open(newline="") as source:
        lines = list(csv.reader(source))
    header, body = lines[0], lines[1:]
    rules = ["---", *("--:" for _ in header[1:])]
    return "\n".join("| " + " | ".join(line) + " |" for line in [header, rules, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prefix", help="the --csv prefix locust wrote its files with")
    parser.add_argument("--thresholds", type=Path, default=THRESHOLDS)
    parser.add_argument(
        "--cpu-ms-per-request", type=float, help="the server's, as the driver measured it"
    )
    args = parser.parse_args(argv)
    rows = read_stats(args.prefix)
    thresholds = load_thresholds(args.thresholds)
    print(table(rows, thresholds))
    scenarios = scenario_table(args.prefix)
    if scenarios:
        print("\nPer scenario (ms):\n" + scenarios)
    if args.cpu_ms_per_request is not None:
        print(f"\nServer CPU: {args.cpu_ms_per_request:.2f} ms per request (all users running)")
    found = problems(rows, thresholds, cpu_ms_per_request=args.cpu_ms_per_request)
    for problem in found:
        print(f"FAILED {problem}", file=sys.stderr)
    if not found:
        print(f"\nThe run holds every threshold of {args.thresholds}.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
