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
import math
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "docs" / "scaling-feed-fanout.svg"
PAGE = 20  # a feed page (the API's default limit)


@dataclass(frozen=True)
class UnitCosts:
    """Microseconds of PostgreSQL work per unit, measured by ``--measure``."""

    descent_us: float  # one index descent (an author's range, a primary-key lookup)
    entry_us: float  # one more index entry read in a range (index-only)
    heap_row_us: float  # one row read from the heap through an index (entry included)
    fanout_row_us: float  # one row of INSERT ... SELECT from follows (index upkeep, commit)


# Measured on 2026-12-07 on the 2-core machine of bench/README.md (PostgreSQL 15, the tables
# in shared buffers): each field the median of five ``--measure`` runs (each the median of 7
# statements), taken while other sessions' tests kept the load average at 10-16. The runs
# spread (descent 7.1-8.9 µs, entry 0.29-0.60, heap row 1.8-5.0, fanned-out row 11.3-16.2):
# the model's conclusions rest on their ratios, not on the absolute figures.
MEASURED = UnitCosts(descent_us=7.35, entry_us=0.54, heap_row_us=3.63, fanout_row_us=13.54)


@dataclass(frozen=True)
class Shape:
    """The data and the traffic the model is evaluated at."""

    users: int = 1_000
    articles: int = 10_000
    follows: int = 20_000
    zipf_exponent: float = 1.0
    # From the load-test mix (loadtest/locustfile.py): 25 signed-in readers with the feed as
    # 4 of 12 task weights, 2 s apart on average, against 10 writers with an article as 1 of
    # 7 weights and a follow + unfollow as another 1 of 7, 3 s apart: 4.17 feed reads/s
    # against 0.476 articles/s and 0.476 follow + unfollow pairs/s.
    feed_reads_per_article: float = (25 * 4 / 12 / 2) / (10 * 1 / 7 / 3)
    follow_pairs_per_article: float = 1.0

    @property
    def follows_per_user(self) -> float:
        return self.follows / self.users

    @property
    def articles_per_user(self) -> float:
        return self.articles / self.users


SEEDED = Shape()
DELIVERY_BUDGET_S = 1.0  # a new article in every follower's feed within a second
STRATEGIES = ("read, today", "read, bounded", "write")


def feed_read_us(strategy: str, followees: float, articles_each: float, c: UnitCosts) -> float:
    """Work of one feed page for a reader following ``followees`` authors."""
    k, matches = followees, followees * articles_each
    follows_lookup = 2 * c.descent_us + 2 * k * c.entry_us  # page and count each read them
    count = k * c.descent_us + matches * c.entry_us  # articlesCount: every match, index-only
    if strategy == "read, today":
        return follows_lookup + count + k * c.descent_us + matches * c.heap_row_us
    if strategy == "read, bounded":
        newest = min(matches, PAGE * k) * c.entry_us
        return follows_lookup + count + k * c.descent_us + newest + PAGE * c.heap_row_us
    if strategy == "write":
        timeline = c.descent_us + PAGE * c.entry_us + PAGE * (c.descent_us + c.heap_row_us)
        return timeline + c.descent_us + matches * c.entry_us  # the count: the reader's rows
    raise ValueError(strategy)


def publish_us(strategy: str, followers: float, c: UnitCosts) -> float:
    """What one new article adds for the feed (the article's own rows are the same in all)."""
    return c.descent_us + followers * c.fanout_row_us if strategy == "write" else 0.0


def follow_us(strategy: str, articles_each: float, c: UnitCosts) -> float:
    """What a follow (or an unfollow) adds: the followee's articles copied in (taken out)."""
    return c.descent_us + articles_each * c.fanout_row_us if strategy == "write" else 0.0


def work_per_feed_read_us(
    strategy: str, shape: Shape, c: UnitCosts, reads_per_article: float | None = None
) -> float:
    """A feed read plus its share of the publishes and follows that keep feeds current."""
    reads = shape.feed_reads_per_article if reads_per_article is None else reads_per_article
    k, a = shape.follows_per_user, shape.articles_per_user
    upkeep = publish_us(strategy, k, c) + 2 * shape.follow_pairs_per_article * follow_us(
        strategy, a, c
    )
    return feed_read_us(strategy, k, a, c) + upkeep / reads


def break_even_reads_per_article(against: str, shape: Shape, c: UnitCosts) -> float:
    """Feed reads per published article above which fan-out on write does less work."""
    k, a = shape.follows_per_user, shape.articles_per_user
    upkeep = publish_us("write", k, c) + 2 * shape.follow_pairs_per_article * follow_us(
        "write", a, c
    )
    return upkeep / (feed_read_us(against, k, a, c) - feed_read_us("write", k, a, c))


def followees_where_timeline_reads_cheaper(against: str, shape: Shape, c: UnitCosts) -> float:
    """The number of authors followed above which a feed read from a timeline costs less
    than one on read (below it the timeline's fixed page of lookups costs more)."""
    a = shape.articles_per_user
    low, high = 0.01, 1e6
    for _ in range(200):
        middle = math.sqrt(low * high)
        cheaper = feed_read_us("write", middle, a, c) < feed_read_us(against, middle, a, c)
        low, high = (low, middle) if cheaper else (middle, high)
    return high


def followers_within_budget(c: UnitCosts, budget_s: float = DELIVERY_BUDGET_S) -> int:
    """The most followers one publish can be fanned out to within the delivery budget."""
    return math.floor((budget_s * 1e6 - c.descent_us) / c.fanout_row_us)


def _harmonic(n: float) -> float:
    if n < 1:
        return 0.0
    if n <= 10_000:
        return math.fsum(1 / i for i in range(1, int(n) + 1))
    return math.log(n) + 0.5772156649015329 + 1 / (2 * n) - 1 / (12 * n * n)


@dataclass(frozen=True)
class Followers:
    """Zipf followers: the user of rank i has min(users - 1, scale / i ** 1) followers."""

    users: int
    scale: float

    def of_rank(self, rank: float) -> float:
        return min(self.users - 1, self.scale / rank)

    def top_share(self, fraction: float, follows: int) -> float:
        """Share of all follows held by the top ``fraction`` of users."""
        top = max(1, round(self.users * fraction))
        capped = min(top, math.floor(self.scale / (self.users - 1)))
        held = capped * (self.users - 1) + self.scale * (_harmonic(top) - _harmonic(capped))
        return held / follows


def zipf_followers(users: int, follows: int) -> Followers:
    """The scale that gives ``follows`` in all, nobody followed by more than everyone else."""
    cap = users - 1

    def total(scale: float) -> float:
        capped = min(users, math.floor(scale / cap))
        return capped * cap + scale * (_harmonic(users) - _harmonic(capped))

    low, high = 0.0, float(follows)
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if total(middle) < follows else (low, middle)
    return Followers(users, (low + high) / 2)


def users_when_top_author_passes_budget(c: UnitCosts, follows_each: int = 20) -> int:
    """The fewest users (with ``follows_each`` follows each, Zipf followers) at which the
    most followed author's publish no longer fits the delivery budget."""
    limit = followers_within_budget(c)
    low, high = 2, 10**9
    while low < high:
        middle = (low + high) // 2
        top = zipf_followers(middle, follows_each * middle).of_rank(1)
        low, high = (low, middle) if top > limit else (middle + 1, high)
    return low


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
