"""The log of questions asked in each server (for the gaps report and statistics)."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from bot.store.database import Database

MAX_LOGGED_QUESTION = 300
# Old questions are deleted this many at a time, one short transaction each, so pruning a
# large backlog never holds the writer (and every moderator's save) for long.
PRUNE_BATCH = 5000
# `unanswered` lists at most this many of the newest unanswered questions in its window.
MAX_LISTED = 2000
# `unanswered_counts` reads this many distinct questions per query, so a server's large
# backlog never holds the connection (and every other server's reads) for long.
COUNTS_PAGE = 5000


class Asked(NamedTuple):
    """One question's text, how many times it was asked, and its first asking's id (the
    order questions were asked in)."""

    question: str
    times: int
    first: int


class AskLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(
        self, guild_id: int, question: str, answered: str | None, score: float | None
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO asks (guild_id, question, answered, score, asked_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (guild_id, question[:MAX_LOGGED_QUESTION], answered, score, self.db.now()),
            )

    async def unanswered(self, guild_id: int, since: str, limit: int = MAX_LISTED) -> list[str]:
        """The newest `limit` unanswered questions asked since `since`, oldest of them first."""
        async with self.db.conn.execute(
            "SELECT question FROM asks WHERE guild_id = ? AND answered IS NULL AND asked_at >= ? "
            "ORDER BY asked_at DESC, id DESC LIMIT ?",
            (guild_id, since, limit),
        ) as cursor:
            newest_first = [row[0] for row in await cursor.fetchall()]
        return newest_first[::-1]

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
        while True:
            async with self.db.conn.execute(
                "SELECT question, count(*), min(id) FROM asks INDEXED BY asks_unanswered "
                "WHERE guild_id = ? AND answered IS NULL AND question > ? AND asked_at >= ? "
                "GROUP BY question ORDER BY question LIMIT ?",
                (guild_id, after, since, page),
            ) as cursor:
                rows = list(await cursor.fetchall())
            found.extend(Asked(question, times, first) for question, times, first in rows)
            if len(rows) < page:
                return found
            after = rows[-1][0]

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
