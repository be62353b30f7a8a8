"""The chart at the top of bench/README.md shows a full, dated run whose report is committed.

A quick run (3 s per endpoint, small seed) once stood there while the README quoted full
runs; these checks keep the picture, its title and the committed figures in agreement.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _chart_text() -> str:
    return (BENCH / "chart.svg").read_text(encoding="utf-8")


def _run_of_chart() -> dict[str, object]:
    title = re.search(r"full run of (\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}) UTC", _chart_text())
    assert title, "chart.svg is not titled as a full run with its date"
    year, month, day, hour, minute = title.groups()
    runs = sorted((BENCH / "runs").glob(f"{year}{month}{day}T{hour}{minute}*Z.json"))
    assert runs, f"no report of the {year}-{month}-{day} {hour}:{minute} run in bench/runs/"
    report: dict[str, object] = json.loads(runs[0].read_text(encoding="utf-8"))
    return report


def test_the_chart_is_a_full_run_with_its_report_committed() -> None:
    settings = _run_of_chart()["settings"]
    assert isinstance(settings, dict)
    assert settings["quick"] is False
    assert settings["duration_seconds"] >= 10
    assert settings["seed"]["articles"] >= 10_000


def test_the_chart_shows_the_ratios_of_that_run() -> None:
    ratios = _run_of_chart()["ratios"]
    assert isinstance(ratios, dict)
    shown = [float(value) for value in re.findall(r"ratio (\d+\.\d+)", _chart_text())]
    assert shown == [round(value, 2) for value in ratios.values()]
