"""Rate limits of the fake, on a clock the tests can drive.

Discord counts requests in fixed windows: the first request opens a window of ``period`` seconds,
at most ``limit`` requests fit in it, and the next one gets 429 until the window ends. The fake
keeps one window per bot token for the global limit and one per bucket (route and major
parameter) for route limits; the numbers are in :data:`.limits.LIMITS` ``.rate``. Pure logic, no
I/O: the REST layer turns a :class:`Verdict` into headers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass
class Window:
    """A fixed window of ``limit`` requests per ``period`` seconds."""

    limit: int
    period: float
    start: float = float("-inf")
    used: int = 0

    def _roll(self, now: float) -> None:
        if now >= self.start + self.period:
            self.start = now
            self.used = 0

    def take(self, now: float) -> float | None:
        """Count one request; returns None, or the seconds to wait when the window is full."""
        self._roll(now)
        if self.used >= self.limit:
            return self.start + self.period - now
        self.used += 1
        return None

    def remaining(self, now: float) -> int:
        if now >= self.start + self.period:
            return self.limit
        return self.limit - self.used

    def reset_after(self, now: float) -> float:
        return max(0.0, self.start + self.period - now)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What one request met: a route bucket's state afterwards, or a 429."""

    limit: int
    remaining: int
    reset_after: float
    retry_after: float | None = None
    """Seconds to wait when refused (429); None when the request may proceed."""
    is_global: bool = False


class RateLimiter:
    """The global windows (per token) and the route windows (per bucket key)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._global: dict[str, Window] = {}
        self._routes: dict[str, Window] = {}

    def check(
        self, *, token: str | None, bucket: str, limit: int, period: float, global_limit: int
    ) -> Verdict:
        """Count a request against the global window of ``token`` (None = exempt) and then the
        route window ``bucket``; a refused request uses neither."""
        now = self.clock()
        route = self._routes.get(bucket)
        if route is None or (route.limit, route.period) != (limit, period):
            route = self._routes[bucket] = Window(limit, period)
        if token is not None:
            glob = self._global.setdefault(token, Window(global_limit, 1.0))
            wait = glob.take(now)
            if wait is not None:
                return Verdict(limit, route.remaining(now), route.reset_after(now), wait, True)
        wait = route.take(now)
        if wait is not None and token is not None:
            self._global[token].used -= 1  # a request refused by its bucket is not counted twice
        return Verdict(limit, route.remaining(now), route.reset_after(now), wait)

    def forget_expired(self) -> None:
        """Drop windows that have ended (a long run would otherwise keep one per channel)."""
        now = self.clock()
        for table in (self._global, self._routes):
            for key in [k for k, w in table.items() if now >= w.start + w.period]:
                del table[key]
