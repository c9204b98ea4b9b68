"""The sliding window behind the per-server edit limit: counts, waits and forgets."""

from __future__ import annotations

from bot.limits import SlidingWindow

# Enough keys to show the table does not keep what expired.
KEYS = 1000


def test_a_key_may_act_limit_times_per_window_then_waits_for_the_oldest_to_expire() -> None:
    now = [1000.0]
    window = SlidingWindow(3, 600.0, lambda: now[0])
    for _ in range(3):
        assert window.retry_after(7) == 0
        window.add(7)
        now[0] += 100
    assert window.retry_after(7) == 300.0  # the first one, at 1000, expires at 1600
    assert window.retry_after(8) == 0  # another key is not held back
    now[0] = 1600.0
    assert window.retry_after(7) == 0


def test_keys_whose_events_expired_are_forgotten() -> None:
    now = [0.0]
    window = SlidingWindow(5, 60.0, lambda: now[0])
    for key in range(KEYS - 1):
        window.add(key)
    assert len(window) == KEYS - 1
    now[0] = 61.0
    window.add(-1)  # expired uses are dropped as soon as the window has passed
    assert len(window) == 1
