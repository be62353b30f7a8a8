"""Figures locust does not keep: per scenario, and per time window.

Locust's own CSV (``<prefix>_stats.csv``) has one row per request name. This listener adds
two files beside it, written when locust quits (only with ``--csv``):

``<prefix>_scenarios.csv``
    one row per scenario (the ``scenario`` of each user's context: anonymous, signed-in,
    writer, live): requests, failures, requests/s over the run, p50/p95/p99/max in ms;
``<prefix>_windows.csv``
    one row per window of ``LOADTEST_WINDOW_SECONDS`` (default 30) of wall-clock time: the
    HTTP requests that ended in it, failures, requests/s, p50/p95/p99 (what ``make soak``
    charts beside the server's memory).

Percentiles are exact (nearest rank over every sample), not locust's rounded buckets.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
SCENARIO_COLUMNS = ["scenario", "requests", "failures", "rps", "p50", "p95", "p99", "max"]
WINDOW_COLUMNS = ["start", "requests", "failures", "rps", "p50", "p95", "p99"]


def percentile(ordered: list[float], share: float) -> float:
    """Nearest-rank percentile of sorted samples (0 without samples)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Samples:
    times_ms: list[float] = field(default_factory=list)
    failures: int = 0

    def add(self, response_time: float, failed: bool) -> None:
        self.times_ms.append(float(response_time))
        self.failures += int(failed)

    def summary(self, seconds: float) -> list[str]:
        ordered = sorted(self.times_ms)
        figures = [percentile(ordered, share) for share in (0.5, 0.95, 0.99)]
        rps = len(ordered) / seconds if seconds > 0 else 0.0
        return [
            str(len(ordered)),
            str(self.failures),
            f"{rps:.2f}",
            *(f"{figure:.1f}" for figure in figures),
        ]


class RunStats:
    """Collects every request event of the run (``on_request`` is locust's listener)."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self.scenarios: dict[str, Samples] = defaultdict(Samples)
        self.windows: dict[int, Samples] = defaultdict(Samples)
        self.first: float | None = None
        self.last = 0.0

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        now = time.time()
        self.first = now if self.first is None else self.first
        self.last = now
        failed = exception is not None
        scenario = (context or {}).get("scenario", "other")
        self.scenarios[scenario].add(response_time, failed)
        if request_type in HTTP_METHODS:
            window = int(now // self.window_seconds * self.window_seconds)
            self.windows[window].add(response_time, failed)

    def write(self, prefix: str) -> None:
        seconds = (self.last - self.first) if self.first is not None else 0.0
        with Path(f"{prefix}_scenarios.csv").open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(SCENARIO_COLUMNS)
            for scenario in sorted(self.scenarios):
                samples = self.scenarios[scenario]
                top = max(samples.times_ms, default=0.0)
                writer.writerow([scenario, *samples.summary(seconds), f"{top:.1f}"])
        with Path(f"{prefix}_windows.csv").open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(WINDOW_COLUMNS)
            for start in sorted(self.windows):
                samples = self.windows[start]
                writer.writerow([start, *samples.summary(self.window_seconds)])


def install(events: Any) -> RunStats:
    """Listen to every request of the run; write the two files when locust quits."""
    stats = RunStats(float(os.environ.get("LOADTEST_WINDOW_SECONDS", "30")))
    events.request.add_listener(stats.on_request)

    def write_files(environment: Any, **_: Any) -> None:
        prefix = getattr(environment.parsed_options, "csv_prefix", None)
        if prefix:
            stats.write(prefix)

    events.quitting.add_listener(write_files)
    return stats
