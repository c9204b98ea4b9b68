"""The log of questions asked in each server (for the gaps report and statistics)."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from typing import Concatenate, Literal, NamedTuple, ParamSpec, TypeVar

from bot.store.database import Database

log = logging.getLogger(__name__)

MAX_LOGGED_QUESTION = 300
# Old questions are deleted this many at a time, one short transaction each, so pruning a
# large backlog never holds the writer (and every moderator's save) for long.
PRUNE_BATCH = 5000
# `unanswered` lists at most this many of the newest unanswered questions in its window.
MAX_LISTED = 2000
# `unanswered_counts` reads this many distinct questions per query, so a server's large
# backlog never holds the connection (and every other server's reads) for long.
COUNTS_PAGE = 250
# A server's distinct unanswered questions since a time, with how many times and the first
# asking's id, in text order after a text: a page of them along the partial index on
# unanswered questions (migration 010). `{asks}` is the table, with SQLite's index hint.
_UNANSWERED_COUNTS = (
    "SELECT question, count(*), min(id) FROM {asks} "
    "WHERE guild_id = ? AND answered IS NULL AND question > ? AND asked_at >= ? "
    "GROUP BY question ORDER BY question LIMIT ?"
)
UNANSWERED_COUNTS = _UNANSWERED_COUNTS.format(asks="asks INDEXED BY asks_unanswered")


def _asks(db: Database, index: str) -> str:
    """The asks table read along `index` (see `Dialect.indexed`)."""
    return db.dialect.indexed("asks", index)


class Asked(NamedTuple):
    """One question's text, how many times it was asked, and its first asking's id (the
    order questions were asked in)."""

    question: str
    times: int
    first: int


# Writing the log: `record` only queues a question, and a background task writes the queue in
# one transaction FLUSH_SECONDS after the first question waiting, or as soon as FLUSH_AT wait.
FLUSH_SECONDS = 0.25
FLUSH_AT = 200
# At most this many questions wait in memory; a `record` that finds the queue full writes it
# itself (the member already has the answer), so no question is dropped.
MAX_QUEUED = 5000
INSERT_ASK = (
    "INSERT INTO asks (guild_id, question, answered, score, asked_at, ref, kind) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# One queued question: the `asks` row, in INSERT_ASK's order (asked_at is when it was asked).
QueuedAsk = tuple[int, str, str | None, float | None, str, int | None, str]
# What a logged row is: a question in the member's words, or a topic opened by name (/explain).
AskKind = Literal["ask", "explain"]

P = ParamSpec("P")
R = TypeVar("R")


def _after_flush(
    read: Callable[Concatenate[AskLog, P], Awaitable[R]],
) -> Callable[Concatenate[AskLog, P], Awaitable[R]]:
    """A reader of the log sees every question recorded before it: the queue is written first."""

    @functools.wraps(read)
    async def reading(asks: AskLog, /, *args: P.args, **kwargs: P.kwargs) -> R:
        await asks.flush()
        return await read(asks, *args, **kwargs)

    return reading


class AskLog:
    """The asks of every server. Writes are batched off the answering path: `record` queues,
    a background task writes (see FLUSH_SECONDS), `flush` writes now and `close` writes what
    is left. The readers here flush first; a reader elsewhere sees a question once flushed.

    A batch the database refuses stays queued, in order, and is retried on the next flush
    (the first failure is logged with its traceback, and so is the recovery); `flush` and
    `close` raise it, so nothing is lost without a word.
    """

    def __init__(
        self,
        db: Database,
        *,
        flush_seconds: float | None = FLUSH_SECONDS,
        flush_at: int = FLUSH_AT,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self.db = db
        self.flush_seconds = flush_seconds  # None: only FLUSH_AT (or `flush`) writes
        self.flush_at = flush_at
        self.max_queued = max_queued
        self._queue: list[QueuedAsk] = []
        self._writing: list[QueuedAsk] = []  # the batch being written now
        self._one_writer = asyncio.Lock()
        self._due = asyncio.Event()  # FLUSH_AT questions wait, or closing
        self._closed = False
        self._failing = False
        self.writer: asyncio.Task[None] | None = None  # the background task, while one runs

    @property
    def queued(self) -> int:
        """Questions recorded and not yet written (including a batch being written)."""
        return len(self._queue) + len(self._writing)

    async def record(
        self,
        guild_id: int,
        question: str,
        answered: str | None,
        score: float | None,
        *,
        ref: int | None = None,
        kind: AskKind = "ask",
    ) -> None:
        """Queue one question; it is written within `flush_seconds` (or by `flush`).

        `ref` finds it again from the answer card's buttons (the interaction's id)."""
        row = (
            guild_id,
            question[:MAX_LOGGED_QUESTION],
            answered,
            score,
            self.db.now(),
            ref,
            kind,
        )
        if self.queued >= self.max_queued:
            await self.flush()  # raises if the database refuses: then this one is not queued
        self._queue.append(row)
        if self._closed:
            await self.flush()
        elif len(self._queue) >= self.flush_at:
            self._due.set()
        if not self._closed and (self.writer is None or self.writer.done()):
            self.writer = asyncio.create_task(self._write_soon(), name="briefbot-ask-log")

    async def flush(self) -> int:
        """Write every queued question now, in one transaction; how many were written.

        If the database refuses, they stay queued (the next flush retries them) and the
        error is raised.
        """
        async with self._one_writer:
            if not self._queue:
                return 0
            self._writing, self._queue = self._queue, []
            count = len(self._writing)
            # Shielded: a flush cancelled mid-COMMIT must not queue again rows it wrote.
            await asyncio.shield(self._write())
            return count

    async def _write(self) -> None:
        batch = self._writing
        try:
            async with self.db.transaction() as conn:
                await conn.executemany(INSERT_ASK, batch)
        except BaseException:
            self._queue[:0] = batch  # kept, oldest first, for the next try
            raise
        finally:
            self._writing = []

    async def _write_soon(self) -> None:
        """The background writer: runs while questions are queued, then ends."""
        while self.queued:  # a batch another flush is writing may come back to the queue
            if len(self._queue) < self.flush_at and not self._closed:
                self._due.clear()
                try:
                    async with asyncio.timeout(self.flush_seconds):
                        await self._due.wait()
                except TimeoutError:
                    pass
            try:
                await self.flush()
            except Exception:
                if not self._failing:
                    log.exception("could not write %d asked questions; kept to retry", self.queued)
                self._failing = True
                if self._closed:
                    return  # close() tries once more and raises
            else:
                if self._failing:
                    log.warning("the ask log is written again")
                self._failing = False

    async def close(self) -> None:
        """Write every queued question and stop the background writer (before the database
        closes). Raises if the last write fails; a later `record` writes at once."""
        self._closed = True
        self._due.set()
        if self.writer is not None:
            await self.writer
            self.writer = None
        await self.flush()

    @_after_flush
    async def unanswered(self, guild_id: int, since: str, limit: int = MAX_LISTED) -> list[str]:
        """The newest `limit` unanswered questions asked since `since`, oldest of them first."""
        async with self.db.conn.execute(
            "SELECT question FROM asks WHERE guild_id = ? AND answered IS NULL AND asked_at >= ? "
            "ORDER BY asked_at DESC, id DESC LIMIT ?",
            (guild_id, since, limit),
        ) as cursor:
            newest_first = [row[0] for row in await cursor.fetchall()]
        return newest_first[::-1]

    @_after_flush
    async def unanswered_counts(
        self, guild_id: int, since: str, page: int = COUNTS_PAGE
    ) -> list[Asked]:
        """Every distinct unanswered question asked since `since`, with how many times, in
        text order: what the gaps report groups.

        Read `page` texts per query along the partial index on unanswered questions (migration
        010), so each query is short and other servers' reads run in between.
        """
        found: list[Asked] = []
        after = ""  # below every text: the first page starts at the beginning
        sql = _UNANSWERED_COUNTS.format(asks=_asks(self.db, "asks_unanswered"))
        while True:
            async with self.db.conn.execute(sql, (guild_id, after, since, page)) as cursor:
                rows = list(await cursor.fetchall())
            found.extend(Asked(question, times, first) for question, times, first in rows)
            if len(rows) < page:
                return found
            after = rows[-1][0]

    @_after_flush
    async def last_asked(self, guild_id: int, questions: Iterable[str], since: str) -> str | None:
        """When any of these wordings (case aside) was last asked since `since` (ISO time)."""
        # The wordings are lowered by the database, as the logged questions are: its lower()
        # and Python's disagree beyond ASCII.
        wordings = self.db.dialect.lowered()
        async with self.db.conn.execute(
            f"SELECT max(asked_at) FROM {_asks(self.db, 'asks_guild_time')} "  # noqa: S608
            f"WHERE guild_id = ? AND asked_at >= ? AND lower(question) IN ({wordings})",
            (guild_id, since, self.db.dialect.values(sorted(set(questions)))),
        ) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row is not None and row[0] is not None else None

    @_after_flush
    async def unanswered_after(self, guild_id: int, questions: Iterable[str], ask_id: int) -> int:
        """How many times any of these wordings (exactly as logged: questions are cleaned before
        they are) was asked, unanswered, after the ask `ask_id`."""
        async with self.db.conn.execute(
            f"SELECT count(*) FROM {_asks(self.db, 'asks_unanswered')} WHERE guild_id = ? "  # noqa: S608
            f"AND answered IS NULL AND {self.db.dialect.any_of('question')} AND id > ? "
            "AND kind = 'ask'",
            (guild_id, self.db.dialect.values(sorted(set(questions))), ask_id),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    @_after_flush
    async def prune(self, before: str, batch: int = PRUNE_BATCH) -> int:
        """Delete every question asked before `before` (ISO time), `batch` rows at a time."""
        total = 0
        while True:
            async with self.db.transaction() as conn:
                cursor = await conn.execute(
                    "DELETE FROM asks WHERE id IN (SELECT id FROM asks WHERE asked_at < ? LIMIT ?)",
                    (before, batch),
                )
                deleted = cursor.rowcount
            total += deleted
            if deleted < batch:
                return total
            await asyncio.sleep(0)  # let interactions in between batches


def read_unanswered_counts(
    conn: sqlite3.Connection, guild_id: int, since: str, page: int = COUNTS_PAGE
) -> list[Asked]:
    """`AskLog.unanswered_counts` on a plain sqlite3 connection of its own (the gaps report's
    worker process reads this way, off the bot's connection). Sees what was committed: the
    caller flushes the log first."""
    found: list[Asked] = []
    after = ""
    while True:
        rows = conn.execute(UNANSWERED_COUNTS, (guild_id, after, since, page)).fetchall()
        found.extend(Asked(question, times, first) for question, times, first in rows)
        if len(rows) < page:
            return found
        after = rows[-1][0]
