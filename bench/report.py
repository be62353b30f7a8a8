"""The report of a run: the tables on stdout and the facts the JSON file records."""

from __future__ import annotations

import contextlib
import html
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import BAR, ENDPOINTS, ENDPOINTS_BY_KEY, READER, ROOT, Result, Run


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
        "² half the hand-written ceiling measured for Conduit's peers (its target), "
        "for information.",
    ]
    if any(ENDPOINTS_BY_KEY[key].write for key in conduit):
        lines.append(
            "Writes: every request is valid and unique, and what they wrote is deleted "
            "afterwards; POST+DELETE favorite alternates favoriting and unfavoriting 600 "
            "articles; POST /api/users hashes a password (argon2id) and runs with a "
            f"{ENDPOINTS_BY_KEY['register'].timeout:g} s wrk timeout."
        )
    return "\n".join(lines)


def markdown(rows: list[list[str]]) -> list[str]:
    """Rows (the first is the header) as a Markdown table: the first column left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
        if n == 0:
            rules = ["-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)]
            lines.append("|" + "|".join(rules) + "|")
    return lines


def _rps(result: Result | None) -> str:
    return f"{result.rps:,.0f}" if result else ""


def _ratio(top: Result | None, bottom: Result | None) -> str:
    return f"{top.rps / bottom.rps:.2f}" if top and bottom and bottom.rps else ""


def _beside(
    run: Run,
    base: dict[str, Result],
    variant: dict[str, Result],
    *,
    base_name: str,
    variant_name: str,
) -> list[list[str]]:
    """Rows of a variant of Conduit beside a base run: rps, ratio, CPU, latency, errors."""
    rows = [
        [
            "endpoint",
            f"{base_name} req/s",
            f"{variant_name} req/s",
            f"{variant_name} / {base_name}",
            f"{base_name} CPU ms/req",
            f"{variant_name} CPU ms/req",
            f"{variant_name} p50 ms",
            f"{variant_name} p99 ms",
            f"{variant_name} errors",
        ]
    ]
    for endpoint in ENDPOINTS:
        result = variant.get(endpoint.key)
        if result is None:
            continue
        other = base.get(endpoint.key)
        rows.append(
            [
                endpoint.short_label(run.fixtures),
                _rps(other),
                _rps(result),
                _ratio(result, other),
                _cpu(other.server_cpu_ms) if other else "",
                _cpu(result.server_cpu_ms),
                _ms(result.latency_us["p50"]),
                _ms(result.latency_us["p99"]),
                str(result.non_2xx + result.socket_errors),
            ]
        )
    return rows


def workers_table(run: Run, one: dict[str, Result], two: dict[str, Result]) -> str:
    """``--workers 2`` on both cores beside the one worker of the main run."""
    rows = _beside(run, one, two, base_name="1 worker", variant_name="2 workers")
    rows[0][2] += " ³"
    cores = f"{run.args.server_cpu},{run.args.wrk_cpu}"
    return "\n".join(
        [
            *markdown(rows),
            f"³ conduit serve --workers 2 pinned to cores {cores} (taskset -c {cores}): the "
            f"server has both cores, and wrk (core {run.args.wrk_cpu}) shares one with it; "
            f"1 worker is the main run, on core {run.args.server_cpu} alone. CPU counts the "
            "workers too.",
        ]
    )


def sqlite_table(run: Run, postgres: dict[str, Result], sqlite: dict[str, Result]) -> str:
    """Conduit on an SQLite file beside Conduit on PostgreSQL, same seed sizes."""
    rows = _beside(run, postgres, sqlite, base_name="PostgreSQL", variant_name="SQLite")
    readers = os.environ.get("CONDUIT_SQLITE_READERS", "4, the default")
    return "\n".join(
        [
            *markdown(rows),
            "SQLite: conduit serve on a new SQLite file (CONDUIT_DATABASE_URL=sqlite+aiosqlite:"
            f"///…/bench.db, CONDUIT_SQLITE_READERS {readers}), seeded with the same sizes, "
            f"same core and connections; its own fixtures (same choice rule).",
        ]
    )


def servers_line(run: Run) -> str:
    """Start-up time and resident memory of each server the run started."""
    parts = []
    for name, facts in run.servers.items():
        bits = []
        if "startup_seconds" in facts:
            bits.append(f"ready in {facts['startup_seconds']:.1f} s")
        if "rss_mib" in facts:
            bits.append(f"{facts['rss_mib']:,.0f} MiB resident after its load")
        parts.append(f"{name}: {', '.join(bits)}")
    return "Servers (VmRSS summed over the process and its children): " + "; ".join(parts) + "."


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def chart_svg(
    run: Run, conduit: dict[str, Result], reference: dict[str, Result], *, title: str
) -> str:
    """A horizontal bar chart of requests/s per endpoint: Conduit, and the ceiling beside it
    (with Conduit's share of it) where the reference server has the endpoint."""
    keys = [e.key for e in ENDPOINTS if e.key in conduit] or ["list"]
    top = max([conduit[k].rps for k in keys] + [r.rps for r in reference.values()] + [1.0])
    longest = max(len(ENDPOINTS_BY_KEY[k].short_label(run.fixtures)) for k in keys)
    label_w, bar_w, row_h, bar_h, head = 20 + 7 * longest, 440, 46, 16, 64
    width = label_w + bar_w + 110
    height = head + row_h * len(keys) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="22" font-size="15" font-weight="bold">{_escape(title)}</text>',
        f'<text x="12" y="42" fill="#444">requests/s, {run.args.connections} connections, '
        f"{run.args.duration:g} s per endpoint; ratio = Conduit / ceiling</text>",
        f'<rect x="{label_w}" y="50" width="10" height="10" fill="#5b8def"/>',
        f'<text x="{label_w + 14}" y="59">Conduit</text>',
        f'<rect x="{label_w + 80}" y="50" width="10" height="10" fill="#b0b0b0"/>',
        f'<text x="{label_w + 94}" y="59">ceiling (reference server)</text>',
    ]
    for n, key in enumerate(keys):
        endpoint = ENDPOINTS_BY_KEY[key]
        y = head + n * row_h
        result, ref = conduit[key], reference.get(key)
        label = _escape(endpoint.short_label(run.fixtures))
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h - 3}" text-anchor="end">{label}</text>'
        )
        length = bar_w * result.rps / top
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="#5b8def"/>'
        )
        parts.append(
            f'<text x="{label_w + length + 4:.1f}" y="{y + bar_h - 3}">{result.rps:,.0f}</text>'
        )
        if ref is not None:
            ref_length = bar_w * ref.rps / top
            ratio = f"  ratio {result.rps / ref.rps:.2f}" if ref.rps else ""
            parts.append(
                f'<rect x="{label_w}" y="{y + bar_h + 2}" width="{ref_length:.1f}" '
                f'height="{bar_h}" fill="#b0b0b0"/>'
            )
            parts.append(
                f'<text x="{label_w + ref_length + 4:.1f}" y="{y + 2 * bar_h - 1}" fill="#444">'
                f"{ref.rps:,.0f}{_escape(ratio)}</text>"
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


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
