"""Counting what a member, a server or a channel does over time: at most so many uses in any
window, per id.

One limiter serves every such rule: /ask's and /explain's cooldown (so many questions per member
per server per window), /kb's edit rate (so many saves per server per window) and /briefing
now's cooldown (one post per channel per window). Uses are kept in memory by id (never by a
Discord object), and expire as soon as their window has passed, so the table holds only the ids
active in the last window, however many there are, and each use costs the same however many
that is.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Hashable

from bot.errors import BriefbotError


class SlidingWindow:
    """At most `limit` uses per key in any `seconds`, on the injected `clock` (seconds).

    Every use lasts the same `seconds`, so uses in the order they were added are also in the
    order they expire: each call drops the expired ones from the front of that queue, and a
    key whose uses have all expired is forgotten.
    """

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self._uses: dict[Hashable, deque[float]] = {}
        self._order: deque[tuple[float, Hashable]] = deque()

    def _expire(self, now: float) -> None:
        while self._order and self._order[0][0] <= now - self.seconds:
            _, key = self._order.popleft()
            self._current(key, now)

    def _current(self, key: Hashable, now: float) -> deque[float] | None:
        uses = self._uses.get(key)
        if uses is None:
            return None
        while uses and uses[0] <= now - self.seconds:
            uses.popleft()
        if not uses:
            del self._uses[key]
            return None
        return uses

    def free_at(self, key: Hashable) -> float:
        """The clock time from which `key` may act again (now if it may now)."""
        return self._free_at(key, self.clock())

    def _free_at(self, key: Hashable, now: float) -> float:
        self._expire(now)
        uses = self._current(key, now)
        if uses is None or len(uses) < self.limit:
            return now
        return uses[-self.limit] + self.seconds

    def retry_after(self, key: Hashable) -> float:
        """Seconds until `key` may act again; 0 if it may now."""
        now = self.clock()
        return max(0.0, self._free_at(key, now) - now)

    def add(self, key: Hashable) -> None:
        """Count one use by `key`, allowed or not (checking is the caller's `retry_after`)."""
        now = self.clock()
        self._expire(now)
        self._uses.setdefault(key, deque()).append(now)
        self._order.append((now, key))

    def undo(self, key: Hashable) -> None:
        """Take back `key`'s latest use (one that did not happen after all)."""
        uses = self._uses.get(key)
        if uses:
            uses.pop()
            if not uses:
                del self._uses[key]

    def __len__(self) -> int:
        """How many keys are held (for tests: expired ones must not stay)."""
        return len(self._uses)


class AskingTooQuickly(BriefbotError):
    """A member used a command more often than its cooldown allows; names the wait."""

    def __init__(self, retry_after: float) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            f"You're asking quickly: please wait {seconds} second{'s' if seconds != 1 else ''} "
            "and try again."
        )
        self.retry_after = retry_after


class Cooldown:
    """At most `limit` uses per key in any `seconds`; a refused use does not count."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float]) -> None:
        self.window = SlidingWindow(limit, seconds, clock)

    def __len__(self) -> int:
        return len(self.window)

    def take(self, key: Hashable) -> None:
        """Count one use by `key`, or raise AskingTooQuickly with the seconds to wait."""
        wait = self.window.retry_after(key)
        if wait > 0:
            raise AskingTooQuickly(wait)
        self.window.add(key)
