"""What `python -m bot stats` reads: questions per day, servers seen, daily posts by status."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import NamedTuple

from bot.store.database import Database


class DayAsks(NamedTuple):
    """Questions asked on one UTC day (`YYYY-MM-DD`), and how many of them were answered."""

    day: str
    asked: int
    answered: int


class StatsStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def since(self, days: int) -> str:
        """The ISO time `days` days before the database's clock says it is now."""
        start = self.db.clock() - timedelta(days=days)
        return start.astimezone(UTC).isoformat(timespec="seconds")

    async def asks_per_day(self, since: str) -> list[DayAsks]:
        async with self.db.conn.execute(
            "SELECT substr(asked_at, 1, 10), count(*), count(answered) FROM asks "
            "WHERE asked_at >= ? AND kind = 'ask' GROUP BY 1 ORDER BY 1",
            (since,),
        ) as cursor:
            return [DayAsks(*row) for row in await cursor.fetchall()]

    async def servers(self) -> int:
        """Servers that asked, have a schedule or own a topic (ever)."""
        async with self.db.conn.execute(
            "SELECT count(*) FROM (SELECT guild_id FROM asks UNION SELECT guild_id FROM "
            "briefing_schedules UNION SELECT guild_id FROM sections WHERE guild_id IS NOT NULL) "
            "AS seen"
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    async def posts_by_status(self, since: str) -> dict[str, int]:
        """Daily posts claimed since `since`, counted by status (sent, failed, skipped...)."""
        async with self.db.conn.execute(
            "SELECT status, count(*) FROM briefing_posts WHERE claimed_at >= ? GROUP BY status",
            (since,),
        ) as cursor:
            return {status: count for status, count in await cursor.fetchall()}

    async def unanswered(self, since: str) -> list[str]:
        """Every server's unanswered questions asked since `since`, oldest first."""
        async with self.db.conn.execute(
            "SELECT question FROM asks WHERE answered IS NULL AND asked_at >= ? AND kind = 'ask' "
            "ORDER BY asked_at, id",
            (since,),
        ) as cursor:
            return [row[0] for row in await cursor.fetchall()]
