"""The report of a run: the tables on stdout and the facts the JSON file records."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import BAR, ENDPOINTS, READER, ROOT, Result, Run


def _ms(microseconds: float) -> str:
    return f"{microseconds / 1000:.1f}"


def _cpu(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def table(run: Run, conduit: dict[str, Result], reference: dict[str, Result]) -> str:
    header = [
        "endpoint",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "socket errors",
        "CPU ms/req ¹",
        "PG ms/req ¹",
        "reference req/s",
        "conduit/ref",
        "bar ²",
    ]
    rows = [header]
    for endpoint in ENDPOINTS:
        result = conduit.get(endpoint.key)
        if result is None:
            continue
        ref = reference.get(endpoint.key)
        bar = BAR.get(endpoint.key)
        rows.append(
            [
                endpoint.short_label(run.fixtures),
                f"{result.rps:,.0f}",
                _ms(result.latency_us["p50"]),
                _ms(result.latency_us["p99"]),
                str(result.non_2xx),
                str(result.socket_errors),
                _cpu(result.server_cpu_ms),
                _cpu(result.db_cpu_ms),
                f"{ref.rps:,.0f}" if ref else "",
                f"{result.rps / ref.rps:.2f}" if ref and ref.rps else "",
                "" if bar is None else f"{bar:,} {'ok' if result.rps >= bar else 'below'}",
            ]
        )
    for key, ref in reference.items():
        endpoint = next(e for e in ENDPOINTS if e.key == key)
        rows.append(
            [
                f"{endpoint.short_label(run.fixtures)} [reference]",
                f"{ref.rps:,.0f}",
                _ms(ref.latency_us["p50"]),
                _ms(ref.latency_us["p99"]),
                str(ref.non_2xx),
                str(ref.socket_errors),
                _cpu(ref.server_cpu_ms),
                _cpu(ref.db_cpu_ms),
                "",
                "",
                "",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            rules = ["-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)]
            lines.append("|" + "|".join(rules) + "|")
    fixtures = run.fixtures
    lines += [
        "",
        f":slug = {fixtures['slug']}, :username = {fixtures['author']}; signed in as {READER}.",
        "¹ CPU time per request of the server process and of its PostgreSQL backends "
        "(steadier than requests/s on a busy machine).",
        "² half the hand-written ceiling of /work/shared/PERFORMANCE.md (Conduit's target), "
        "for information.",
    ]
    return "\n".join(lines)


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        completed = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return completed.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "load_average_end": [round(n, 2) for n in os.getloadavg()],
    }
