"""When an answer is deferred to stay inside Discord's 3 seconds, and the turns answers take."""

from __future__ import annotations

import asyncio
import gc

import pytest

from bot.deadline import Deadline, Pace

NOW = 1_000_000.0


def clock() -> float:
    return NOW


class Recorder:
    """A deferral that records itself, optionally held until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = asyncio.Event()
        self.done = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def defer(self) -> None:
        self.calls += 1
        self.started.set()
        await self.release.wait()
        self.done.set()


async def answer(value: str = "card") -> str:
    return value


async def test_an_answer_ready_within_the_budget_is_not_deferred() -> None:
    deadline = Deadline(defer_by=1.5, clock=clock)
    recorder = Recorder()
    assert await deadline.run(NOW - 1.0, answer(), recorder.defer) == "card"
    assert recorder.calls == 0
    assert deadline.in_progress == 0


async def test_an_answer_not_ready_by_the_budget_is_deferred_then_returned() -> None:
    deadline = Deadline(defer_by=1.5, clock=clock)
    recorder = Recorder()

    async def slow() -> str:
        await recorder.done.wait()  # ready only once the deferral went out
        return "late card"

    # Created 1.45 s ago: 0.05 s of the budget are left.
    assert await deadline.run(NOW - 1.45, slow(), recorder.defer) == "late card"
    assert recorder.calls == 1


async def test_an_interaction_already_past_its_budget_is_deferred_at_once() -> None:
    deadline = Deadline(defer_by=1.5, clock=clock)
    recorder = Recorder()
    seen = []

    async def work() -> str:
        seen.append(recorder.calls)
        return "card"

    await deadline.run(NOW - 2.0, work(), recorder.defer)
    assert recorder.calls == 1 and recorder.done.is_set()
    assert seen == [0]  # the work did not wait for the deferral's answer to start


async def test_the_deferral_has_finished_before_the_answer_is_handed_back() -> None:
    deadline = Deadline(defer_by=0.0, clock=clock)
    recorder = Recorder()
    recorder.release.clear()
    run = asyncio.create_task(deadline.run(NOW, answer(), recorder.defer))
    await asyncio.wait_for(recorder.started.wait(), 5)
    assert not run.done()  # the answer is ready, but the deferral has not come back
    recorder.release.set()
    assert await asyncio.wait_for(run, 5) == "card"


async def test_a_clock_behind_discords_counts_the_creation_as_now() -> None:
    deadline = Deadline(defer_by=1.5, clock=clock)
    assert deadline.budget(NOW + 30.0) == 1.5
    assert deadline.budget(NOW - 0.5) == pytest.approx(1.0)


def test_the_answers_ahead_predict_a_miss_from_the_measured_pace() -> None:
    deadline = Deadline(defer_by=1.5, limit=8, clock=clock)
    assert not deadline.predicts_late(1.5, ahead=10_000)  # nothing measured: no prediction
    deadline.pace.seconds = 0.5
    assert not deadline.predicts_late(1.5, ahead=7)  # one round of answers: 0.5 s
    assert not deadline.predicts_late(1.5, ahead=15)  # two rounds: 1 s
    assert deadline.predicts_late(1.5, ahead=16)  # three rounds: 1.5 s, no time left to defer
    assert deadline.predicts_late(0.4, ahead=0)  # even alone it needs 0.5 s
    assert deadline.predicts_late(0.0, ahead=0)


def test_the_pace_follows_the_recent_answers() -> None:
    pace = Pace(weight=0.5)
    pace.add(1.0)
    assert pace.seconds == 0.5
    for _ in range(20):
        pace.add(0.01)
    assert pace.seconds == pytest.approx(0.01, abs=1e-4)


async def test_a_queue_predicted_to_miss_defers_the_newcomer_at_once() -> None:
    deadline = Deadline(defer_by=1.5, limit=1, clock=clock)
    deadline.pace.seconds = 1.0
    gate, holding = asyncio.Event(), asyncio.Event()
    first = Recorder()

    async def held() -> str:
        holding.set()
        await gate.wait()
        return "first"

    running = asyncio.create_task(deadline.run(NOW, held(), first.defer))
    await asyncio.wait_for(holding.wait(), 5)
    second = Recorder()
    queued = asyncio.create_task(deadline.run(NOW, answer("second"), second.defer))
    # One answer ahead at 1 s each, one place: ready in 2 s, past the 1.5 s budget.
    await asyncio.wait_for(second.started.wait(), 5)
    assert first.calls == 0
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(running, queued), 5) == ["first", "second"]


async def test_at_most_limit_answers_at_once_in_arrival_order() -> None:
    deadline = Deadline(defer_by=60.0, limit=2, clock=clock)
    gates = [asyncio.Event() for _ in range(5)]
    turns = [asyncio.Event() for _ in range(5)]
    started: list[int] = []

    async def work(i: int) -> int:
        started.append(i)
        turns[i].set()
        await gates[i].wait()
        return i

    recorder = Recorder()
    runs = [asyncio.create_task(deadline.run(NOW, work(i), recorder.defer)) for i in range(5)]
    await asyncio.wait_for(turns[1].wait(), 5)
    assert started == [0, 1]
    assert deadline.in_progress == 5
    gates[1].set()
    await asyncio.wait_for(turns[2].wait(), 5)
    assert started == [0, 1, 2]
    for gate in gates:
        gate.set()
    assert await asyncio.wait_for(asyncio.gather(*runs), 5) == [0, 1, 2, 3, 4]
    assert recorder.calls == 0
    assert deadline.in_progress == 0


async def test_cancelled_while_waiting_its_work_is_closed_and_its_deferral_cancelled(
    recwarn: pytest.WarningsRecorder,
) -> None:
    deadline = Deadline(defer_by=0.0, limit=1, clock=clock)
    gate = asyncio.Event()

    async def held() -> str:
        await gate.wait()
        return "first"

    holder = asyncio.create_task(deadline.run(NOW, held(), Recorder().defer))
    waiting_defer = Recorder()
    waiting_defer.release.clear()
    waiting = asyncio.create_task(deadline.run(NOW, answer(), waiting_defer.defer))
    await asyncio.wait_for(waiting_defer.started.wait(), 5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not waiting_defer.done.is_set()
    assert deadline.in_progress == 1
    gate.set()
    assert await asyncio.wait_for(holder, 5) == "first"
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]
