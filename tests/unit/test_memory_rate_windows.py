"""The in-process rate-limit counters: the sliding window's arithmetic, one pass per count."""

from __future__ import annotations

from conduit.adapters.rate_limits import SWEEP_SECONDS, MemoryWindows, _quota, parse_rule


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_window_counts_up_to_its_limit_and_a_look_counts_nothing() -> None:
    clock = Clock(6000.0)  # the start of a window of 60 s
    windows = MemoryWindows(clock)
    for expected in (1, 2, 3):
        window = await windows.count("k", 3, 60, 1)
        assert (window.counted, window.current_count) == (True, expected)
    refused = await windows.count("k", 3, 60, 1)
    assert (refused.counted, refused.current_count) == (False, 3)
    looked = await windows.count("k", 3, 60, 0)
    assert (looked.counted, looked.current_count) == (False, 3)
    assert (await windows.count("other", 3, 60, 1)).counted  # callers apart


async def test_the_previous_window_weighs_by_its_overlap_with_the_last_minute() -> None:
    clock = Clock(6000.0)
    windows = MemoryWindows(clock)
    for _ in range(4):
        await windows.count("k", 4, 60, 1)
    clock.now = 6060.0 + 15  # a quarter into the next window: 3/4 of the 4 still count
    window = await windows.count("k", 4, 60, 1)
    assert window.counted, window
    assert (window.previous_count, window.current_count) == (4, 1)
    assert window.previous_ttl == 45.0
    quota = _quota(parse_rule("4/minute"), window, counting=True)
    assert quota.remaining == 0  # floor(4 * 45/60 + 1) = 4
    assert not (await windows.count("k", 4, 60, 1)).counted
    clock.now = 6060.0 + 60 + 30  # two windows on: nothing left of the first
    window = await windows.count("k", 4, 60, 1)
    assert (window.previous_count, window.current_count) == (1, 1)


async def test_finished_windows_are_swept() -> None:
    clock = Clock(6000.0)
    windows = MemoryWindows(clock)
    await windows.count("old", 5, 60, 1)
    clock.now += SWEEP_SECONDS + 120
    await windows.count("new", 5, 60, 1)
    assert list(windows._entries) == ["new"]


async def test_a_window_opens_at_the_callers_first_request_not_on_the_clocks_minute() -> None:
    """As on Redis: a burst that straddles a minute of the clock is one window's burst."""
    clock = Clock(6050.0)  # ten seconds before the clock's minute turns
    windows = MemoryWindows(clock)
    for _ in range(3):
        assert (await windows.count("k", 3, 60, 1)).counted
    clock.now = 6070.0  # the clock's minute has turned; the caller's window has not
    refused = await windows.count("k", 3, 60, 1)
    assert (refused.counted, refused.previous_count, refused.current_count) == (False, 0, 3)
    assert refused.current_ttl == 100.0  # kept two windows from the first request, as on Redis
    clock.now = 6050.0 + 60 + 20  # a third into the caller's next window: 2 of the 3 still weigh
    window = await windows.count("k", 3, 60, 1)
    assert (window.counted, window.previous_count, window.current_count) == (True, 3, 1)
    assert window.previous_ttl == 40.0


async def test_a_look_opens_no_window() -> None:
    clock = Clock(6000.0)
    windows = MemoryWindows(clock)
    await windows.count("k", 3, 60, 0)
    clock.now = 6059.0
    await windows.count("k", 3, 60, 1)
    clock.now = 6061.0  # within the window the count opened, not one the look would have
    assert (await windows.count("k", 3, 60, 1)).current_count == 2
