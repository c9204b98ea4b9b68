"""The log of questions asked in each server (for the gaps report and statistics)."""

from __future__ import annotations

from bot.store.database import Database

MAX_LOGGED_QUESTION = 300


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

    async def unanswered(self, guild_id: int, since: str) -> list[str]:
        async with self.db.conn.execute(
            "SELECT question FROM asks WHERE guild_id = ? AND answered IS NULL AND asked_at >= ? "
            "ORDER BY asked_at",
            (guild_id, since),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]
