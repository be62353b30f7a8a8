"""The soak run's report: memory and latency per window, their drift, a chart.

Drift compares the first and the last full window (the ramp-up and the unfinished last
window are left out) and fits a least-squares slope over every full window, and over the
second half alone (growth that only warm-up explains flattens there; a leak does not).
The chart is SVG written directly: the server's RSS above, p50/p95 below, per window.
"""

from __future__ import annotations

import csv
import html
import json
import math
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

EDGE_WINDOWS = 3


@dataclass(frozen=True)
class Window:
    """One window of the run: the HTTP requests that ended in it, the server's RSS at its
    end (MB), its CPU time spent in it (s)."""

    start: int
    minute: float  # since the first full window started
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    rss_mb: float
    cpu_s: float
    warmup: bool  # in the first minute: shown, left out of the drift


def read_windows(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as source:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(source)]


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, value) points; 0 with fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def drift(windows: list[Window], field: str) -> dict[str, float]:
    """First and last: the median of the first and of the last few windows (up to 3, a
    quarter of them at most), so that one noisy window on a shared machine is not read as
    a drift; the slopes: over every window, and over the second half alone."""
    values = [(w.minute, float(getattr(w, field))) for w in windows]
    half = values[len(values) // 2 :]
    edge = max(1, min(EDGE_WINDOWS, len(values) // 4))
    first = statistics.median(v for _, v in values[:edge])
    last = statistics.median(v for _, v in values[-edge:])
    return {
        "first": round(first, 2),
        "last": round(last, 2),
        "change": round(last - first, 2),
        "change_percent": round(100 * (last - first) / first, 1) if first else 0.0,
        "slope_per_minute": round(slope_per_minute(values), 3),
        "slope_per_minute_second_half": round(slope_per_minute(half), 3),
    }


def summary(windows: list[Window]) -> dict[str, Any]:
    """The drift of every measure over the windows past the warm-up."""
    steady = [w for w in windows if not w.warmup] or windows
    return {field: drift(steady, field) for field in ("rss_mb", "p50", "p95", "p99", "rps")}


def cpu_ms_per_request(windows: list[Window]) -> float:
    """The server's CPU milliseconds per HTTP request over the windows past the warm-up."""
    steady = [w for w in windows if not w.warmup] or windows
    return 1000 * sum(w.cpu_s for w in steady) / max(1, sum(w.requests for w in steady))


def _polyline(points: list[tuple[float, float]], colour: str) -> str:
    shown = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline points="{shown}" fill="none" stroke="{colour}" stroke-width="2"/>'


def _panel(
    top: float, series: dict[str, tuple[str, list[float]]], minutes: list[float], unit: str
) -> list[str]:
    """One chart panel at height ``top``: each series (label → colour, values) as a line."""
    left, width, height = 70, 620, 170
    peak = max([v for _, values in series.values() for v in values] + [1.0]) * 1.15
    span = max(minutes[-1], 1e-9) if minutes else 1.0
    parts = [f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#f7f7f7"/>']
    for step in range(5):
        value = peak * step / 4
        y = top + height - height * step / 4
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.0f}</text>')
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#ddd"/>'
        )
    parts.append(
        f'<text x="14" y="{top + height / 2:.0f}" transform="rotate(-90 14 {top + height / 2:.0f})"'
        f' text-anchor="middle">{html.escape(unit)}</text>'
    )
    every = max(1, math.ceil(span / 10))
    for minute in range(0, math.floor(span) + 1, every):
        x = left + width * minute / span
        parts.append(
            f'<text x="{x:.1f}" y="{top + height + 14}" text-anchor="middle">{minute}</text>'
        )
    for n, (label, (colour, values)) in enumerate(series.items()):
        points = [
            (left + width * m / span, top + height - height * v / peak)
            for m, v in zip(minutes, values, strict=True)
        ]
        parts.append(_polyline(points, colour))
        x = left + 10 + 110 * n
        parts.append(f'<rect x="{x}" y="{top + 8}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{top + 17}">{html.escape(label)}</text>')
    return parts


def chart_svg(windows: list[Window], title: str) -> str:
    minutes = [w.minute for w in windows]
    width, height = 720, 480
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="22" font-size="15" font-weight="bold">{html.escape(title)}</text>',
        *_panel(40, {"server RSS": ("#5b8def", [w.rss_mb for w in windows])}, minutes, "MB"),
        *_panel(
            240,
            {
                "p50": ("#3aa655", [w.p50 for w in windows]),
                "p95": ("#e8833a", [w.p95 for w in windows]),
            },
            minutes,
            "ms",
        ),
        f'<text x="380" y="{height - 10}" text-anchor="middle">minutes into the run '
        f"(one point per window)</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


def markdown(report: dict[str, Any], chart_name: str) -> str:
    drift_rows = [
        "| measure | first windows | last windows | change | slope /min | slope /min, 2nd half |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    labels = {
        "rss_mb": "server RSS (MB)",
        "p50": "p50 (ms)",
        "p95": "p95 (ms)",
        "p99": "p99 (ms)",
        "rps": "requests/s",
    }
    for key, label in labels.items():
        d = report["drift"][key]
        drift_rows.append(
            f"| {label} | {d['first']} | {d['last']} | {d['change']:+} ({d['change_percent']:+}%) "
            f"| {d['slope_per_minute']:+} | {d['slope_per_minute_second_half']:+} |"
        )
    window_rows = [
        "| minute | requests | failures | req/s | p50 ms | p95 ms | p99 ms | RSS MB | CPU s |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for w in report["windows"]:
        minute = f"{w['minute']:.1f}" + (" (warm-up)" if w["warmup"] else "")
        window_rows.append(
            f"| {minute} | {w['requests']} | {w['failures']} | {w['rps']:.1f} "
            f"| {w['p50']:.0f} | {w['p95']:.0f} | {w['p99']:.0f} | {w['rss_mb']:.1f} "
            f"| {w['cpu_s']:.1f} |"
        )
    run = report["run"]
    return "\n".join(
        [
            f"# Soak run {report['name']}",
            "",
            f"{run['duration_seconds']} s of the mix (loadtest/locustfile.py), {run['users']} "
            f"users, against one `conduit serve` on PostgreSQL (production mode); "
            f"{run['window_seconds']} s windows. Locust exit code {run['locust_exit_code']}; "
            f"server RSS before the load {run['rss_before_mb']} MB"
            + (
                f", server CPU {run['cpu_ms_per_http_request']} ms per HTTP request after "
                "the first minute"
                if "cpu_ms_per_http_request" in run
                else ""
            )
            + ". Commit "
            f"`{run['commit'][:10]}`, {run['cpus']} CPUs.",
            "",
            f"![server RSS and latency per window]({chart_name})",
            "",
            "## Drift",
            "",
            "After the first minute (its windows still hold the ramp-up): the median of the "
            "first and of the last three windows, and the least-squares slope per minute over "
            "every window and over the second half alone.",
            "",
            *drift_rows,
            "",
            "## Windows",
            "",
            *window_rows,
            "",
        ]
    )


def write(folder: Path, name: str, report: dict[str, Any], windows: list[Window]) -> Path:
    """``soak-<name>.json``, ``.md`` and ``.svg`` in ``folder``; the Markdown's path."""
    base = folder / f"soak-{name}"
    report = {**report, "windows": [asdict(w) for w in windows]}
    base.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    chart = base.with_suffix(".svg")
    chart.write_text(chart_svg(windows, f"Conduit soak run {name}"), encoding="utf-8")
    page = base.with_suffix(".md")
    page.write_text(markdown(report, chart.name), encoding="utf-8")
    return page


def rerender(path: Path) -> Path:
    """Write a report's Markdown and chart again from its JSON, the drift recomputed."""
    saved = json.loads(path.read_text(encoding="utf-8"))
    windows = [Window(**window) for window in saved.pop("windows")]
    saved["drift"] = summary(windows)
    saved["run"]["cpu_ms_per_http_request"] = round(cpu_ms_per_request(windows), 2)
    return write(path.parent, saved["name"], saved, windows)


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(rerender(Path(argument)))
