"""The clock tests inject instead of waiting: it says what the test set, and moves only when
the test moves it."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def iso(self) -> str:
        """Now as the store writes times (ISO, to the second)."""
        return self.now.isoformat(timespec="seconds")
