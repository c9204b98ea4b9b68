"""The gaps report in a process of its own, so the bot's answers never wait for it.

Grouping 100,000 unanswered questions takes the better part of a second of Python. In a thread
it shares the bot's interpreter (one thread runs at a time) and its one database connection
(one query at a time), so `/ask` in every other server waits behind it. In a worker process it
shares neither: the worker opens its own read-only connection to the database file, reads the
server's counts, groups them and sends back only what the report shows (the most asked groups
and the totals), one JSON line per report over a pipe.

`GapsWorker` owns that process: started on the first report and kept for the next, one report
at a time (a few wait their turn, more are refused politely), stopped by `close`, and killed
when a report is cancelled or overdue (its late reply would answer the next report). It starts
with a bare environment, so the bot's token and settings never reach it. A database in memory
cannot be read by another process: then `GapsWorker.database_file` is None and the caller
groups in a thread.

The worker side is `main`, run as `python -m bot.gaps_worker`: it answers each request line
until its input closes (so it also ends when the bot dies).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, closing
from pathlib import Path
from typing import Any

from bot.errors import LimitReached
from bot.gaps import Gap, GapsReport, report_gaps
from bot.store.asks import read_unanswered_counts
from bot.store.database import connect_read_only

log = logging.getLogger(__name__)

# -- the worker process --
WORKER_MODULE = "bot.gaps_worker"
# The environment the worker starts with: what Python and SQLite need to run, nothing else.
WORKER_ENVIRONMENT = (
    "PATH",
    "PYTHONPATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "SQLITE_TMPDIR",
    "SYSTEMROOT",
)
# The worker's scheduling priority, lowered by this (Unix nice): answers come first. A report
# runs at full speed on a core the bot leaves free; where they meet, the bot's threads preempt
# it at once rather than waiting out its time slice (which cost /ask milliseconds at p99).
WORKER_NICENESS = 10
READ_PAGE = 5_000  # texts the worker reads per query: its connection is its own
REPLY_LIMIT = 1 << 20  # the longest reply line read back (20 groups take a few KB)

# -- taking turns --
# Reports waiting for the running one; one more is refused. One, so that a report that waits
# (two reports' time, ~1 s) still answers within Discord's 3 seconds.
MAX_WAITING = 1
REPORT_TIMEOUT_S = 30.0  # a report still running after this fails, and the worker is killed
STOP_GRACE_S = 2.0  # on close, the worker may finish the report in hand this long
BUSY = (
    "Briefbot is preparing other servers' gaps reports right now; please try again in a "
    "few seconds."
)


class GapsWorkerFailed(RuntimeError):
    """The worker process stopped or answered with an error (logged as unexpected)."""


def worker_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """What the worker starts with: only the WORKER_ENVIRONMENT variables that are set."""
    return {name: environ[name] for name in WORKER_ENVIRONMENT if name in environ}


class GapsWorker:
    """The gaps report's worker process, started on first use (see the module's docstring)."""

    def __init__(
        self, *, max_waiting: int = MAX_WAITING, timeout: float = REPORT_TIMEOUT_S
    ) -> None:
        self.max_waiting = max_waiting
        self.timeout = timeout
        self._process: asyncio.subprocess.Process | None = None
        self._turn = asyncio.Lock()
        self._waiting = 0
        self._closed = False

    @staticmethod
    def database_file(path: str) -> str | None:
        """The database file the worker is to read, absolute (the same file whatever the
        worker's folder); None for a database in memory, which only the bot can read."""
        if path == ":memory:" or not Path(path).is_file():
            return None
        return str(Path(path).absolute())

    @property
    def pid(self) -> int | None:
        """The worker process's id while one runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def waiting(self) -> int:
        """Reports waiting for their turn."""
        return self._waiting

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One report at a time in this process (`report` takes it; a report made otherwise,
        in a thread, too); LimitReached when MAX_WAITING already wait."""
        if self._turn.locked() and self._waiting >= self.max_waiting:
            raise LimitReached(BUSY)
        self._waiting += 1
        try:
            await self._turn.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._turn.release()

    async def report(self, path: str, guild_id: int, since: str, top: int) -> GapsReport:
        """The server's gaps since `since` (ISO time), read from the file at `path` (see
        `database_file`) and grouped in the worker, in its `turn()`. The worker sees what is
        committed: the caller flushes the ask log first."""
        async with self.turn():
            return await self._report(path, guild_id, since, top)

    async def _report(self, path: str, guild_id: int, since: str, top: int) -> GapsReport:
        if self._closed:
            raise GapsWorkerFailed("the gaps worker is closed")
        process = await self._started()
        assert process.stdin is not None and process.stdout is not None
        request = {"path": path, "guild": guild_id, "since": since, "top": top}
        try:
            async with asyncio.timeout(self.timeout):
                process.stdin.write(json.dumps(request).encode() + b"\n")
                await process.stdin.drain()
                line = await process.stdout.readline()
        except BaseException:
            # Cancelled or overdue: the reply still to come would answer the next report.
            await self._stop(process, kill=True)
            raise
        if not line:
            await self._stop(process, kill=True)
            raise GapsWorkerFailed(f"the gaps worker stopped (exit status {process.returncode})")
        return decode(json.loads(line))

    async def close(self) -> None:
        """Stop the worker: its input closes, it finishes the report in hand (STOP_GRACE_S at
        most) and exits. A later report fails."""
        self._closed = True
        if self._process is not None:
            await self._stop(self._process, kill=False)

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is not None and self._process.returncode is None:
            return self._process
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=worker_environment(),
            limit=REPLY_LIMIT,
        )
        log.info("started the gaps report's worker process (pid %d)", self._process.pid)
        return self._process

    async def _stop(self, process: asyncio.subprocess.Process, *, kill: bool) -> None:
        if self._process is process:
            self._process = None
        if process.returncode is None:
            if kill:
                process.kill()
            elif process.stdin is not None:
                process.stdin.close()  # end of input: it exits after the report in hand
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await process.wait()
        except TimeoutError:
            log.warning("the gaps worker (pid %d) did not stop in time; killed", process.pid)
            process.kill()
            await process.wait()


# -- the wire: one JSON line per request and per reply --


def encode(report: GapsReport) -> dict[str, Any]:
    return {
        "gaps": [[g.question, g.count, list(g.examples)] for g in report.gaps],
        "groups": report.groups,
        "asked": report.asked,
    }


def decode(reply: dict[str, Any]) -> GapsReport:
    if "error" in reply:
        raise GapsWorkerFailed(f"the gaps worker failed: {reply['error']}")
    gaps = tuple(
        Gap(question, count, tuple(examples)) for question, count, examples in reply["gaps"]
    )
    return GapsReport(gaps, reply["groups"], reply["asked"])


# -- the worker's side --


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """One report, read through a connection of its own and grouped with the interpreter to
    itself; an error is sent back (and raised in the bot) rather than ending the worker."""
    try:
        with closing(connect_read_only(request["path"])) as conn:
            asked = read_unanswered_counts(conn, request["guild"], request["since"], READ_PAGE)
        return encode(report_gaps(asked, request["top"], share_interpreter=False))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    """Answer each request line on standard input until it closes."""
    # Ctrl-C in a terminal reaches the whole process group: the bot decides when this ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # a stray print must not break a reply
    with replies:
        for line in sys.stdin:
            replies.write(json.dumps(answer(json.loads(line))) + "\n")
            replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
