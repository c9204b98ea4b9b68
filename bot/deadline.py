"""Answering within Discord's 3 seconds: the answers in progress, and when one must be deferred.

Discord refuses an interaction's first reply 3 seconds after it created the interaction. A
deferral ("thinking…") buys 15 minutes but costs a second request (the follow-up), so it is
sent only for an answer at risk: one not ready `defer_by` seconds after the interaction was
created (Discord's time, read from its id), or one that the answers queued ahead of it will
predictably keep past that point. The rest of the 3 seconds is left for the deferral's own trip
to Discord and for a clock that is not quite Discord's.

At most `limit` answers are computed at once; the others wait their turn in arrival order, so
a burst answers its first interactions first instead of finishing them all late together.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# An answer not sent this many seconds after Discord created the interaction is deferred.
DEFER_BY = 1.5
# Answers computed at once; the rest wait in arrival order.
WORK_LIMIT = 8
# How quickly the measured time per answer follows a change (weight of the newest answer).
PACE_WEIGHT = 0.2


class Pace:
    """How long an answer holds its place (seconds), averaged over the recent answers."""

    def __init__(self, weight: float = PACE_WEIGHT) -> None:
        self.weight = weight
        self.seconds = 0.0  # nothing measured yet: no prediction defers anything

    def add(self, seconds: float) -> None:
        self.seconds += self.weight * (seconds - self.seconds)


class Deadline:
    """The answers in progress in one bot, and when each must be deferred.

    `clock` is wall-clock seconds (as interaction ids carry Discord's); the waiting itself is
    on the event loop's clock.
    """

    def __init__(
        self,
        *,
        defer_by: float = DEFER_BY,
        limit: int = WORK_LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.defer_by = defer_by
        self.limit = limit
        self.clock = clock
        self.pace = Pace()
        self.in_progress = 0  # computing an answer or waiting for a turn to
        self._turns = asyncio.Semaphore(limit)

    def budget(self, created_at: float) -> float:
        """Seconds left before an interaction created at `created_at` must be deferred.

        A creation time ahead of this clock (a clock behind Discord's) counts as now.
        """
        age = max(0.0, self.clock() - created_at)
        return self.defer_by - age

    def predicts_late(self, budget: float, ahead: int) -> bool:
        """Whether, with `ahead` answers before it, an answer cannot be ready within `budget`.

        The answers ahead are computed `limit` at a time, each taking about `pace` seconds.
        """
        rounds = math.floor(ahead / self.limit) + 1
        return budget <= 0 or rounds * self.pace.seconds >= budget

    async def run(
        self,
        created_at: float,
        work: Awaitable[T],
        defer: Callable[[], Coroutine[Any, Any, None]],
    ) -> T:
        """Await `work` in its turn; `defer()` runs once it is at risk, and has finished before
        this returns (so the caller's reply becomes the follow-up).

        `work` runs in the caller's task (cancelling the caller cancels it; never started, it
        is closed). `defer` must not raise for a refused deferral: the work goes on regardless.
        """
        loop = asyncio.get_running_loop()
        deferring: asyncio.Task[None] | None = None

        def start_deferring() -> None:
            nonlocal deferring
            deferring = loop.create_task(defer(), name="briefbot-defer")

        budget = self.budget(created_at)
        timer: asyncio.TimerHandle | None = None
        if self.predicts_late(budget, self.in_progress):
            start_deferring()
        else:
            timer = loop.call_later(budget, start_deferring)
        self.in_progress += 1
        started = cancelled = False
        try:
            async with self._turns:
                started = True
                began = loop.time()
                result = await work
                self.pace.add(loop.time() - began)
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self.in_progress -= 1
            if timer is not None:
                timer.cancel()
            if not started and inspect.iscoroutine(work):
                work.close()  # cancelled while waiting for its turn
            if deferring is not None:
                if cancelled:
                    deferring.cancel()
                else:
                    # An error reply, like the answer, must come after the deferral.
                    await deferring
        return result
