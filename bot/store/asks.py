"""The log of questions asked in each server (for the gaps report and statistics)."""

from __future__ import annotations

import asyncio

from bot.store.database import Database

MAX_LOGGED_QUESTION = 300
# Old questions are deleted this many at a time, one short transaction each, so pruning a
# large backlog never holds the writer (and every moderator's save) for long.
PRUNE_BATCH = 5000
# The gaps report groups at most this many of the newest unanswered questions in its window.
MAX_GAP_QUESTIONS = 2000


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

    async def unanswered(
        self, guild_id: int, since: str, limit: int = MAX_GAP_QUESTIONS
    ) -> list[str]:
        """The newest `limit` unanswered questions asked since `since`, oldest of them first."""
        async with self.db.conn.execute(
            "SELECT question FROM asks WHERE guild_id = ? AND answered IS NULL AND asked_at >= ? "
            "ORDER BY asked_at DESC, id DESC LIMIT ?",
            (guild_id, since, limit),
        ) as cursor:
            newest_first = [row[0] for row in await cursor.fetchall()]
        return newest_first[::-1]

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
