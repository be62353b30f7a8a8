"""The feed fan-out model of ``bench/feed_fanout.py``: the unit costs, the data's shape and
each strategy's work for a feed read, a publish and a follow (see that module's docstring).
``feed_fanout_chart.py`` and ``feed_fanout_measure.py`` read it too."""

from __future__ import annotations

import math
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
