"""The page links of a long list: the first, the last and a window around the current page."""

from __future__ import annotations

import datetime as dt

from conduit.web.templating import long_date, page_numbers


def test_a_short_list_links_every_page() -> None:
    assert page_numbers(1, 1) == [1]
    assert page_numbers(2, 5) == [1, 2, 3, 4, 5]


def test_a_long_list_links_a_window_and_both_ends() -> None:
    assert page_numbers(1, 1000) == [1, 2, 3, 4, None, 1000]
    assert page_numbers(500, 1000) == [1, None, 497, 498, 499, 500, 501, 502, 503, None, 1000]
    assert page_numbers(1000, 1000) == [1, None, 997, 998, 999, 1000]
    assert page_numbers(5, 9) == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_dates_read_in_english_whatever_the_locale() -> None:
    assert long_date(dt.datetime(2026, 1, 20, tzinfo=dt.UTC)) == "January 20, 2026"
    assert long_date(dt.datetime(2026, 12, 7, tzinfo=dt.UTC)) == "December 7, 2026"
