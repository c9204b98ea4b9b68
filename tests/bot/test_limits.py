"""The sliding window behind the per-server edit limit and the per-member cooldown: counts,
waits and forgets."""

from __future__ import annotations

import pytest

from bot.limits import AskingTooQuickly, Cooldown, SlidingWindow

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


def test_a_member_is_refused_past_the_cooldown_with_the_seconds_to_wait() -> None:
    now = [0.0]
    cooldown = Cooldown(5, 30.0, lambda: now[0])
    member, other = (1, 100), (2, 100)  # (server, user): the same user in another server
    for _ in range(5):
        cooldown.take(member)
        now[0] += 1.0
    with pytest.raises(AskingTooQuickly) as refused:
        cooldown.take(member)
    assert refused.value.retry_after == 25.0  # the first use, at 0, expires at 30
    assert "please wait 25 seconds" in str(refused.value)
    cooldown.take(other)  # another server's member is not held back
    now[0] = 29.5
    with pytest.raises(AskingTooQuickly, match="please wait 1 second and"):
        cooldown.take(member)  # half a second rounds up, and a refusal does not count
    now[0] = 30.0
    cooldown.take(member)


def test_members_whose_uses_expired_are_forgotten() -> None:
    now = [0.0]
    cooldown = Cooldown(5, 30.0, lambda: now[0])
    for user in range(KEYS):
        cooldown.take((1, user))
    assert len(cooldown) == KEYS
    now[0] = 31.0
    cooldown.take((1, -1))
    assert len(cooldown) == 1
