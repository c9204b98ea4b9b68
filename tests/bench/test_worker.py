"""bench.worker: a host's value lives in another process, calls reach it, errors come back,
and the process ends with the worker."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bench.worker import Worker, WorkerError


@asynccontextmanager
async def counter(start: int) -> AsyncIterator[list[int]]:
    yield [start]


@asynccontextmanager
async def refusing(reason: str) -> AsyncIterator[list[int]]:
    raise ValueError(reason)
    yield []  # pragma: no cover


async def add(state: list[int], amount: int) -> tuple[int, int]:
    state[0] += amount
    return state[0], os.getpid()


async def fail(state: list[int], message: str) -> None:
    raise RuntimeError(message)


async def never(state: list[int]) -> None:
    import asyncio

    await asyncio.Event().wait()


async def test_calls_run_in_another_process_on_state_that_lasts() -> None:
    async with Worker("counter", counter, 10) as worker:
        first, pid = await worker.call(add, 5, within=10)
        second, same_pid = await worker.call(add, 1, within=10)
        process = worker.process
        assert process is not None and process.is_alive()
    assert (first, second) == (15, 16)
    assert pid == same_pid != os.getpid()
    assert not process.is_alive()  # stopped with the worker


async def test_an_error_in_a_call_comes_back_with_its_traceback_and_the_worker_goes_on() -> None:
    async with Worker("counter", counter, 0) as worker:
        with pytest.raises(WorkerError, match="RuntimeError: out of cheese"):
            await worker.call(fail, "out of cheese", within=10)
        assert (await worker.call(add, 2, within=10))[0] == 2


async def test_a_host_that_cannot_start_is_reported() -> None:
    with pytest.raises(WorkerError, match="ValueError: no database"):
        async with Worker("refusing", refusing, "no database"):
            pass  # pragma: no cover


async def test_a_call_that_does_not_answer_in_time_raises() -> None:
    async with Worker("counter", counter, 0) as worker:
        with pytest.raises(WorkerError, match=r"did not answer within 0\.2 s"):
            await worker.call(never, within=0.2)
        process = worker.process
    assert process is not None and not process.is_alive()
