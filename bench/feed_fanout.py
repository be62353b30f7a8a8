"""Feed cost against follower count: fan-out on read (Conduit's feed today) or on write.

A model, not a load test: each strategy's database work for one feed read and one publish
is counted in index descents, index entries, heap rows and written rows, at the shape of
the seeded data (``conduit seed`` as ``make bench`` runs it: 1,000 users, 10,000 articles,
20,000 follows, so 20 follows and 10 articles per user), with followers skewed as on real
sites (Zipf, exponent 1). The unit costs were measured once on PostgreSQL 15
(``--measure``); the rest is arithmetic, so the figures of docs/scaling.md come back
identical from every run (``make scaling-simulation``).

The three strategies:

- ``read, today``: the statement ``articles/repository.py`` builds for the feed. PostgreSQL
  reads every article of every followed author (an index scan per author, each row from the
  heap), keeps the newest 20, and counts them all again for ``articlesCount``.
- ``read, bounded``: the same on read, but only the newest 20 index entries per followed
  author are merged (a LATERAL subquery per author), and only the page's 20 rows are read.
- ``write``: a timeline table (reader, article); a publish inserts one row per follower (as
  the notifications consumer already does for new articles), a follow copies the followee's
  articles in and an unfollow takes them out; a feed read is one index range of 20 rows.

Run: ``python bench/feed_fanout.py`` prints the tables and writes docs/scaling-feed-fanout.svg
(drawn by ``bench/feed_fanout_chart.py``);
``--measure`` measures the unit costs on a scratch PostgreSQL database (dropped afterwards)
and checks the model against the three feed reads run on data of the seeded shape
(``bench/feed_fanout_measure.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from feed_fanout_model import (  # bench/ is on sys.path
    DELIVERY_BUDGET_S,
    MEASURED,
    SEEDED,
    STRATEGIES,
    SVG,
    Shape,
    UnitCosts,
    break_even_reads_per_article,
    feed_read_us,
    follow_us,
    followees_where_timeline_reads_cheaper,
    followers_within_budget,
    publish_us,
    users_when_top_author_passes_budget,
    work_per_feed_read_us,
    zipf_followers,
)


def _us(value: float) -> str:
    return f"{value / 1000:,.2f} ms" if value >= 1000 else f"{value:,.0f} µs"


def _seconds(value_us: float) -> str:
    return f"{value_us / 1e6:,.2f} s" if value_us >= 1e6 else _us(value_us)


def strategy_table(shape: Shape = SEEDED, c: UnitCosts = MEASURED) -> str:
    k, a = shape.follows_per_user, shape.articles_per_user
    rows = [
        "| strategy | feed read | publish, 20 followers | follow or unfollow "
        f"| per feed read served ({shape.feed_reads_per_article:.2f} reads per article) |",
        "|---|--:|--:|--:|--:|",
    ]
    for name in STRATEGIES:
        rows.append(
            f"| {name} | {_us(feed_read_us(name, k, a, c))} | {_us(publish_us(name, k, c))} "
            f"| {_us(follow_us(name, a, c))} | {_us(work_per_feed_read_us(name, shape, c))} |"
        )
    return "\n".join(rows)


def scale_table(c: UnitCosts = MEASURED) -> str:
    rows = [
        "| users (20 follows each) | top author's followers | 99th percentile | median "
        "| top 1 % hold | top author's publish, fan-out on write |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for users in (1_000, 100_000, 10_000_000):
        follows = 20 * users
        spread = zipf_followers(users, follows)
        top = spread.of_rank(1)
        over = " (over budget)" if top > followers_within_budget(c) else ""
        rows.append(
            f"| {users:,} | {top:,.0f} | {spread.of_rank(users / 100):,.0f} "
            f"| {spread.of_rank(users / 2):,.1f} | {spread.top_share(0.01, follows):.0%} "
            f"| {_seconds(publish_us('write', top, c))}{over} |"
        )
    return "\n".join(rows)


def key_figures(shape: Shape = SEEDED, c: UnitCosts = MEASURED) -> dict[str, float]:
    return {
        "timeline_cheaper_above_today": followees_where_timeline_reads_cheaper(
            "read, today", shape, c
        ),
        "timeline_cheaper_above_bounded": followees_where_timeline_reads_cheaper(
            "read, bounded", shape, c
        ),
        "break_even_vs_today": break_even_reads_per_article("read, today", shape, c),
        "break_even_vs_bounded": break_even_reads_per_article("read, bounded", shape, c),
        "followers_within_budget": followers_within_budget(c),
        "users_when_top_author_passes_budget": users_when_top_author_passes_budget(c),
        "seeded_top_publish_ms": publish_us("write", shape.users - 1, c) / 1000,
    }


def figures_text(shape: Shape = SEEDED, c: UnitCosts = MEASURED) -> str:
    f = key_figures(shape, c)
    return "\n".join(
        [
            f"- A feed read from a timeline costs less than today's read for readers following "
            f"more than {f['timeline_cheaper_above_today']:.1f} authors, less than a bounded "
            f"read above {f['timeline_cheaper_above_bounded']:.1f}.",
            f"- Fan-out on write does less work than today's read above "
            f"{f['break_even_vs_today']:.2f} feed reads per published article, and less than "
            f"a bounded read above {f['break_even_vs_bounded']:.2f}.",
            f"- One publish reaches at most {f['followers_within_budget']:,.0f} followers within "
            f"{DELIVERY_BUDGET_S:g} s; the seeded data's most followed author (999) takes "
            f"{f['seeded_top_publish_ms']:.1f} ms; with Zipf followers and 20 follows each, "
            f"the most followed author passes the budget from "
            f"{f['users_when_top_author_passes_budget']:,.0f} users on.",
        ]
    )


def report() -> str:
    return "\n\n".join([strategy_table(), scale_table(), figures_text()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--measure",
        metavar="ADMIN_URL",
        nargs="?",
        const="postgresql://postgres@127.0.0.1:5432/postgres",
        help="measure the unit costs on a scratch database instead",
    )
    parser.add_argument("--svg", type=Path, default=SVG, help=f"where the chart goes ({SVG})")
    args = parser.parse_args(argv)
    if args.measure:
        from feed_fanout_measure import measure  # needs PostgreSQL; bench/ is on sys.path

        for line in asyncio.run(measure(args.measure, SEEDED, MEASURED)):
            print(line)
        return 0
    from feed_fanout_chart import chart_svg  # bench/ is on sys.path

    print(report())
    args.svg.write_text(chart_svg(), encoding="utf-8")
    print(f"\nchart written to {args.svg}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
