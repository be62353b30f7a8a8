"""The chart of bench/feed_fanout.py (docs/scaling-feed-fanout.svg), drawn by hand as
bench/report.py draws bench/chart.svg: no plotting library. Two log-log panels: the work of
one operation against follows, and the work per feed read served against how often the
feed is read per published article, with the crossings marked.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable

from feed_fanout_model import (
    DELIVERY_BUDGET_S,
    MEASURED,
    SEEDED,
    STRATEGIES,
    Shape,
    UnitCosts,
    break_even_reads_per_article,
    feed_read_us,
    followees_where_timeline_reads_cheaper,
    followers_within_budget,
    publish_us,
    work_per_feed_read_us,
)

Line = tuple[str, str, list[tuple[float, float]], str]  # label, colour, points, dash

COLOURS = {"read, today": "#d9534f", "read, bounded": "#e8a33a", "write": "#5b8def"}


def _panel(
    top: int,
    title: str,
    x_label: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    lines: list[Line],
    marks: list[tuple[float, float, str]],
) -> list[str]:
    left, width, height = 80, 560, 230
    lx = (math.log10(x_range[0]), math.log10(x_range[1]))
    ly = (math.log10(y_range[0]), math.log10(y_range[1]))

    def at(x: float, y: float) -> tuple[float, float]:
        px = left + width * (math.log10(x) - lx[0]) / (lx[1] - lx[0])
        py = top + height - height * (math.log10(y) - ly[0]) / (ly[1] - ly[0])
        return px, py

    parts = [
        f'<text x="{left}" y="{top - 10}" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#f7f7f7"/>',
    ]
    for power in range(math.ceil(lx[0]), math.floor(lx[1]) + 1):
        x, _ = at(10.0**power, y_range[0])
        parts.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + height + 14}" text-anchor="middle">'
            f"{_tick(10.0**power)}</text>"
        )
    for power in range(math.ceil(ly[0]), math.floor(ly[1]) + 1):
        _, y = at(x_range[0], 10.0**power)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_time_tick(10.0**power)}</text>"
        )
    parts.append(
        f'<text x="{left + width / 2}" y="{top + height + 32}" text-anchor="middle">'
        f"{html.escape(x_label)}</text>"
    )
    for n, (label, colour, points, dash) in enumerate(lines):
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in points))
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dashing}/>'
        )
        ly_text = top + 16 + 16 * n
        parts.append(
            f'<line x1="{left + 10}" y1="{ly_text - 4}" x2="{left + 34}" '
            f'y2="{ly_text - 4}" stroke="{colour}" stroke-width="2"{dashing}/>'
        )
        parts.append(f'<text x="{left + 40}" y="{ly_text}">{html.escape(label)}</text>')
    for x, y, label in marks:
        px, py = at(x, y)
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="#222"/>')
        parts.append(f'<text x="{px + 6:.1f}" y="{py - 6:.1f}">{html.escape(label)}</text>')
    return parts


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def _time_tick(value_us: float) -> str:
    for unit, size in (("s", 1e6), ("ms", 1e3)):
        if value_us >= size:
            return f"{value_us / size:g} {unit}"
    return f"{value_us:g} µs"


def _series(
    fn: Callable[[float], float], low: float, high: float, steps: int = 60
) -> list[tuple[float, float]]:
    """``steps + 1`` points of ``fn``, evenly spaced on a log scale from low to high."""
    return [(x, fn(x)) for x in (low * (high / low) ** (i / steps) for i in range(steps + 1))]


def chart_svg(shape: Shape = SEEDED, c: UnitCosts = MEASURED) -> str:
    a = shape.articles_per_user
    budget_us = DELIVERY_BUDGET_S * 1e6
    limit = followers_within_budget(c)
    by_follows: list[Line] = [
        (
            f"feed read ({name}), x = authors followed",
            COLOURS[name],
            _series(lambda k, s=name: feed_read_us(s, k, a, c), 1, 1e4),
            "",
        )
        for name in STRATEGIES
    ]
    by_follows.append(
        (
            "publish (write), x = followers; on read it adds nothing",
            COLOURS["write"],
            _series(lambda f: publish_us("write", f, c), 1, 1e7),
            "6 4",
        )
    )
    by_follows.append(
        (
            f"delivery budget, {DELIVERY_BUDGET_S:g} s",
            "#888",
            [(1, budget_us), (1e7, budget_us)],
            "2 3",
        )
    )
    marks_a = [
        (limit, publish_us("write", limit, c), f"{limit:,} followers"),
        (
            shape.follows_per_user,
            feed_read_us("read, today", shape.follows_per_user, a, c),
            "seeded: 20 follows",
        ),
        (shape.users - 1, publish_us("write", shape.users - 1, c), "seeded top author"),
    ]
    crossing = followees_where_timeline_reads_cheaper("read, today", shape, c)
    marks_a.append((crossing, feed_read_us("write", crossing, a, c), f"{crossing:.1f}"))
    reads: list[Line] = [
        (
            name,
            COLOURS[name],
            _series(lambda r, s=name: work_per_feed_read_us(s, shape, c, r), 0.01, 1000),
            "",
        )
        for name in STRATEGIES
    ]
    mix = shape.feed_reads_per_article
    marks_b = [
        (
            break_even_reads_per_article(name, shape, c),
            feed_read_us(name, shape.follows_per_user, a, c),
            f"{break_even_reads_per_article(name, shape, c):.2f}",
        )
        for name in STRATEGIES[:2]
    ]
    marks_b.append((mix, work_per_feed_read_us("write", shape, c), f"load-test mix {mix:.2f}"))
    width, height = 680, 690
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        '<text x="12" y="22" font-size="15" font-weight="bold">Feed cost: fan-out on read '
        "(today, bounded) or on write</text>",
        '<text x="12" y="40" fill="#444">PostgreSQL work per operation (bench/feed_fanout.py,'
        f" unit costs measured); {a:g} articles per author</text>",
        *_panel(
            80,
            "The work of one operation against follows",
            "follows (log)",
            (1, 1e7),
            (10, 1e9),
            by_follows,
            marks_a,
        ),
        *_panel(
            410,
            "Work per feed read served, seeded shape (20 follows, 10 articles each)",
            "feed reads per published article (log)",
            (0.01, 1000),
            (100, 1e6),
            reads,
            marks_b,
        ),
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
