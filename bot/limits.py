"""Counting what a server does over time: at most so many events in any window, per id.

Kept in memory by id (never by a Discord object), and an id whose events have all expired is
dropped, so the table holds only the servers active in the last window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

# After this many additions, every key is swept for expired events (amortised cleanup).
SWEEP_EVERY = 1000


class SlidingWindow:
    """At most `limit` events per key in any `seconds`, on the injected `clock` (seconds)."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self._events: dict[int, deque[float]] = {}
        self._added = 0

    def _current(self, key: int, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.seconds:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after(self, key: int) -> float:
        """Seconds until `key` may act again; 0 if it may now."""
        now = self.clock()
        events = self._current(key, now)
        if events is None or len(events) < self.limit:
            return 0.0
        return max(0.0, events[-self.limit] + self.seconds - now)

    def add(self, key: int) -> None:
        now = self.clock()
        self._events.setdefault(key, deque()).append(now)
        self._added += 1
        if self._added % SWEEP_EVERY == 0:
            for other in list(self._events):
                self._current(other, now)

    def __len__(self) -> int:
        """How many keys are held (for tests: expired ones must not stay)."""
        return len(self._events)
