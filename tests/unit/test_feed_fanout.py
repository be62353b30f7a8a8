"""The feed fan-out model of docs/scaling.md (bench/feed_fanout.py): the properties its
conclusions rest on, and the figures and chart the document shows, which must be what the
script computes today (so that neither the model nor the document drifts alone)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there; the chart imports it
    spec.loader.exec_module(module)
    return module


_load("feed_fanout_model")  # what the others import
model = _load("feed_fanout")
chart = _load("feed_fanout_chart")
C = model.MEASURED
SEEDED = model.SEEDED


@pytest.mark.parametrize("followers", [1, 20, 999, 100_000])
def test_a_publish_fanned_out_on_write_costs_one_row_per_follower(followers: int) -> None:
    one_more = model.publish_us("write", followers + 1, C) - model.publish_us("write", followers, C)
    assert one_more == pytest.approx(C.fanout_row_us)
    doubled = model.publish_us("write", 2 * followers, C) - model.publish_us("write", 0, C)
    assert doubled == pytest.approx(2 * (model.publish_us("write", followers, C) - C.descent_us))


@pytest.mark.parametrize("strategy", ["read, today", "read, bounded"])
def test_on_read_a_publish_and_a_follow_add_nothing(strategy: str) -> None:
    assert model.publish_us(strategy, 1_000_000, C) == 0
    assert model.follow_us(strategy, 1_000, C) == 0


def test_on_read_a_feed_read_grows_with_the_authors_followed_and_on_write_far_less() -> None:
    a = SEEDED.articles_per_user
    for strategy in ("read, today", "read, bounded"):
        growth = model.feed_read_us(strategy, 200, a, C) - model.feed_read_us(strategy, 20, a, C)
        timeline = model.feed_read_us("write", 200, a, C) - model.feed_read_us("write", 20, a, C)
        assert growth > 2 * timeline > 0  # the timeline's growth is only the count


def test_at_the_seeded_shape_todays_read_costs_most_and_the_timeline_least() -> None:
    k, a = SEEDED.follows_per_user, SEEDED.articles_per_user
    today, bounded, write = (model.feed_read_us(s, k, a, C) for s in model.STRATEGIES)
    assert today > bounded > write


@pytest.mark.parametrize("against", ["read, today", "read, bounded"])
def test_the_break_even_in_feed_reads_per_article_is_where_the_costs_cross(against: str) -> None:
    crossing = model.break_even_reads_per_article(against, SEEDED, C)
    on_read = model.work_per_feed_read_us(against, SEEDED, C, crossing)
    assert model.work_per_feed_read_us("write", SEEDED, C, crossing) == pytest.approx(on_read)
    assert model.work_per_feed_read_us("write", SEEDED, C, crossing * 0.9) > on_read
    assert model.work_per_feed_read_us("write", SEEDED, C, crossing * 1.1) < on_read
    # The load-test mix reads the feed more often than either break-even.
    assert SEEDED.feed_reads_per_article > crossing


@pytest.mark.parametrize("against", ["read, today", "read, bounded"])
def test_a_timeline_read_is_cheaper_only_past_a_few_authors_followed(against: str) -> None:
    k = model.followees_where_timeline_reads_cheaper(against, SEEDED, C)
    a = SEEDED.articles_per_user
    assert 1 < k < SEEDED.follows_per_user
    assert model.feed_read_us("write", k * 0.9, a, C) > model.feed_read_us(against, k * 0.9, a, C)
    assert model.feed_read_us("write", k * 1.1, a, C) < model.feed_read_us(against, k * 1.1, a, C)


def test_the_delivery_budget_holds_up_to_the_follower_count_given_and_not_beyond() -> None:
    most = model.followers_within_budget(C)
    budget_us = model.DELIVERY_BUDGET_S * 1e6
    assert model.publish_us("write", most, C) <= budget_us < model.publish_us("write", most + 1, C)
    # The seeded data's most followed author is far within it.
    assert model.publish_us("write", SEEDED.users - 1, C) < budget_us / 10


@pytest.mark.parametrize("users", [1_000, 100_000, 10_000_000])
def test_the_skewed_followers_add_up_to_the_follows_and_nobody_beyond_everyone(
    users: int,
) -> None:
    follows = 20 * users
    spread = model.zipf_followers(users, follows)
    assert spread.of_rank(1) <= users - 1
    assert spread.top_share(1.0, follows) == pytest.approx(1.0, rel=1e-6)
    assert 0 < spread.top_share(0.01, follows) < spread.top_share(0.1, follows) < 1
    assert spread.of_rank(users / 2) < 20 < spread.of_rank(users / 100)


def test_the_feed_reads_per_article_come_from_the_load_test_mix() -> None:
    """Shape.feed_reads_per_article is derived from loadtest/'s weights and waits."""
    readers = _classes(ROOT / "loadtest/readers.py")
    writers = _classes(ROOT / "loadtest/writers.py")
    weights = _assignments(ROOT / "loadtest/locustfile.py")
    signed_in = readers["SignedInReader"]
    writer = writers["Writer"]
    reader_wait = signed_in.wait or readers["Reader"].wait
    assert reader_wait is not None
    assert writer.wait is not None
    feeds = signed_in.tasks["feed"] / sum(signed_in.tasks.values()) / reader_wait
    articles = writer.tasks["write_article"] / sum(writer.tasks.values()) / writer.wait
    follows = writer.tasks["follow_and_unfollow"] / sum(writer.tasks.values()) / writer.wait
    ratio = (weights["SignedInReader"] * feeds) / (weights["Writer"] * articles)
    assert SEEDED.feed_reads_per_article == pytest.approx(ratio)
    assert SEEDED.follow_pairs_per_article == pytest.approx(follows / articles)


def test_the_document_shows_what_the_script_computes() -> None:
    text = (ROOT / "docs/scaling.md").read_text(encoding="utf-8")
    begin, end = (
        "<!-- bench/feed_fanout.py output -->",
        "<!-- end of bench/feed_fanout.py output -->",
    )
    assert begin in text
    assert end in text
    shown = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert shown == model.report().strip(), "run `make scaling-simulation` and paste its tables"


def test_the_chart_is_the_one_the_script_draws() -> None:
    committed = (ROOT / "docs/scaling-feed-fanout.svg").read_text(encoding="utf-8")
    assert committed == chart.chart_svg(), "run `make scaling-simulation` to redraw it"
    assert "scaling-feed-fanout.svg" in (ROOT / "docs/scaling.md").read_text(encoding="utf-8")


class _Locust:
    def __init__(self) -> None:
        self.tasks: dict[str, int] = {}
        self.wait: float | None = None


def _classes(path: Path) -> dict[str, _Locust]:
    """Per class: its @task weights, and the mean of its between(a, b) wait."""
    found: dict[str, _Locust] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not isinstance(node, ast.ClassDef):
            continue
        locust = found.setdefault(node.name, _Locust())
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                for decorator in item.decorator_list:
                    if (
                        isinstance(decorator, ast.Call)
                        and getattr(decorator.func, "id", "") == "task"
                    ):
                        locust.tasks[item.name] = ast.literal_eval(decorator.args[0])
            elif isinstance(item, ast.Assign) and getattr(item.targets[0], "id", "") == "wait_time":
                assert isinstance(item.value, ast.Call)
                low, high = (ast.literal_eval(arg) for arg in item.value.args)
                locust.wait = (low + high) / 2
    return found


def _assignments(path: Path) -> dict[str, int]:
    """``Class.weight = n`` lines."""
    weights: dict[str, int] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
            target = node.targets[0]
            if target.attr == "weight" and isinstance(target.value, ast.Name):
                weights[target.value.id] = ast.literal_eval(node.value)
    return weights
