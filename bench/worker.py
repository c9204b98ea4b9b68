"""An asyncio event loop in a process of its own, driven by the benchmark through a pipe.

Discord is another machine: a benchmark that runs the fake Discord (or a bot) in its own
process keeps each side's work off the other's event loop and core. A `Worker` starts a fresh
interpreter (multiprocessing's "spawn"), enters a *host* there (an async context manager whose
value lives as long as the process: the fake Discord, a running bot) and then runs calls
`function(value, *args)` in it, one at a time. Functions and hosts are module-level, so they
travel by name; arguments and results are pickled, so they are plain data.

Everything is bounded: every call has a timeout, and the process stops by itself when the pipe
closes (the benchmark finished, failed or died); a process that does not is terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import traceback
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

START_TIMEOUT_S = 60.0  # importing discord.py, opening the database, logging in
STOP_TIMEOUT_S = 20.0  # closing the host (a bot's shutdown grace is 10 s) and exiting


class WorkerError(RuntimeError):
    """A worker's call raised (its traceback is the message), or the worker died."""


async def _readable(conn: Connection, within: float | None) -> None:
    """Wait, without blocking the event loop, until `conn` has something to read (or EOF)."""
    loop = asyncio.get_running_loop()
    if conn.poll():
        return
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        async with asyncio.timeout(within):
            await ready
    finally:
        loop.remove_reader(conn.fileno())


async def _serve(
    conn: Connection, host: Callable[..., AbstractAsyncContextManager[Any]], args: tuple[Any, ...]
) -> None:
    try:
        async with host(*args) as value:
            conn.send(("ok", None))
            while True:
                await _readable(conn, None)
                try:
                    message = conn.recv()
                except EOFError:
                    return  # the benchmark went away: close the host and exit
                if message is None:
                    return
                function, call_args = message
                try:
                    result = await function(value, *call_args)
                except Exception:
                    conn.send(("error", traceback.format_exc()))
                else:
                    conn.send(("ok", result))
    except Exception:
        with contextlib.suppress(OSError):
            conn.send(("error", traceback.format_exc()))


def _main(
    conn: Connection, host: Callable[..., AbstractAsyncContextManager[Any]], args: tuple[Any, ...]
) -> None:
    """The worker process: serve calls until told to stop or the pipe closes."""
    try:
        asyncio.run(_serve(conn, host, args))
    finally:
        conn.close()


class Worker(Generic[T]):
    """A process holding `host(*args)`'s value; `await worker.call(f, ...)` runs `f(value, ...)`."""

    def __init__(
        self,
        name: str,
        host: Callable[..., AbstractAsyncContextManager[T]],
        *args: Any,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        self.name = name
        self._host = host
        self._args = args
        self._start_timeout = start_timeout
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stuck = False  # a call timed out: the process is ended, not asked to stop

    @property
    def process(self) -> multiprocessing.process.BaseProcess | None:
        """The worker's process while it runs."""
        return self._process

    async def __aenter__(self) -> Worker[T]:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, nothing inherited
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_main, args=(theirs, self._host, self._args), name=self.name, daemon=True
        )
        process.start()
        theirs.close()
        self._conn, self._process = ours, process
        try:
            await self._answer(self._start_timeout)
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def call(
        self,
        function: Callable[..., Awaitable[R]],
        *args: Any,
        within: float,
    ) -> R:
        """Run `function(value, *args)` in the worker; its result, or WorkerError."""
        if self._conn is None:
            raise WorkerError(f"{self.name} is not running")
        self._conn.send((function, args))
        result: R = await self._answer(within)
        return result

    async def _answer(self, within: float) -> Any:
        assert self._conn is not None
        try:
            await _readable(self._conn, within)
        except TimeoutError:
            self._stuck = True
            raise WorkerError(f"{self.name} did not answer within {within:g} s") from None
        try:
            status, value = self._conn.recv()
        except EOFError:
            raise WorkerError(f"{self.name} exited") from None
        if status == "error":
            raise WorkerError(f"{self.name} failed:\n{value}")
        return value

    async def _stop(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
        if process is not None:
            loop = asyncio.get_running_loop()
            if not self._stuck:
                await loop.run_in_executor(None, process.join, STOP_TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                await loop.run_in_executor(None, process.join, 5.0)
            if process.is_alive():
                process.kill()
                await loop.run_in_executor(None, process.join, 5.0)
        if conn is not None:
            conn.close()
