"""slug_for (article URLs) and iso (timestamps in replies)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from conduit.articles.service import slug_for
from conduit.core.formatting import iso

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("How to train your dragon", "how-to-train-your-dragon"),
        ("  Hello,   World!  ", "hello-world"),
        ("Ünïcødé Façade", "unicode-facade"),
        ("Привет мир", "privet-mir"),
        ("Straße & Co.", "strasse-co"),
        ("日本語", "ri-ben-yu"),
        ("C++ in 2026: what's new?", "c-in-2026-what-s-new"),
        ("Emoji 🚀 inside", "emoji-inside"),
    ],
)
def test_slug_transliterates_and_hyphenates(title: str, slug: str) -> None:
    assert slug_for(title) == slug


@pytest.mark.parametrize("title", ["🚀", "🚀🔥✨", "!!!", "   ", "", "—", "\u200b"])
def test_title_without_letters_gets_the_article_slug(title: str) -> None:
    assert slug_for(title) == "article"


def test_suffix_is_appended() -> None:
    assert slug_for("Same title", suffix="1a2b3c4d") == "same-title-1a2b3c4d"
    assert slug_for("🚀", suffix="1a2b3c4d") == "article-1a2b3c4d"


def test_long_titles_are_cut_at_a_word_boundary() -> None:
    title = " ".join(["word"] * 100)
    slug = slug_for(title)
    assert len(slug) <= 200
    assert SLUG.match(slug)
    assert slug.endswith("word")
    assert len(slug_for(title, suffix="deadbeef")) <= 209


def test_iso_has_milliseconds_and_z() -> None:
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678_901)
    assert iso(moment) == "2026-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    ("microsecond", "millis"), [(0, "000"), (999, "000"), (1_000, "001"), (999_999, "999")]
)
def test_iso_truncates_to_milliseconds(microsecond: int, millis: str) -> None:
    moment = dt.datetime(2026, 12, 31, 23, 59, 59, microsecond)
    assert iso(moment) == f"2026-12-31T23:59:59.{millis}Z"


def test_iso_writes_an_aware_moment_in_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    moment = dt.datetime(2026, 1, 1, 0, 30, 0, 250_000, tzinfo=paris)
    assert iso(moment) == "2025-12-31T23:30:00.250Z"


def test_iso_parses_back() -> None:
    moment = dt.datetime(2026, 6, 7, 8, 9, 10, 123_000)
    parsed = dt.datetime.fromisoformat(iso(moment).replace("Z", "+00:00"))
    assert parsed == moment.replace(tzinfo=dt.UTC)
