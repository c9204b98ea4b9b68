"""A server's data as a whole: when Briefbot was removed from it, and deleting all it stored."""

from __future__ import annotations

import logging

from bot.store.database import Connection, Database, Dialect

log = logging.getLogger(__name__)

# Every table with a guild_id column holds rows of one server and is purged by that column; it
# is read from the schema at purge time, so a table added by a later migration is not forgotten.
GUILD_COLUMN = "guild_id"
# Rows that belong to a server through its sections rather than by a guild_id of their own.
# (The full-text index holds curated sections only: a server's are searched in memory.)
_SECTION_ROWS = (
    "DELETE FROM section_aliases WHERE section_id IN (SELECT id FROM sections WHERE guild_id = ?)",
    "DELETE FROM revisions WHERE section_id IN (SELECT id FROM sections WHERE guild_id = ?)",
)


async def guild_tables(conn: Connection, dialect: Dialect) -> list[str]:
    """The tables that hold rows of one server, by their guild_id column, in name order."""
    async with conn.execute(dialect.tables_with_column, (GUILD_COLUMN,)) as cursor:
        return [str(row[0]) for row in await cursor.fetchall()]


class GuildData:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def mark_removed(self, guild_id: int) -> None:
        """Briefbot was removed from the server now (the first time counts if told twice)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO guild_removals (guild_id, removed_at) VALUES (?, ?) "
                "ON CONFLICT (guild_id) DO NOTHING",
                (guild_id, self.db.now()),
            )

    async def removed_at(self, guild_id: int) -> str | None:
        async with self.db.conn.execute(
            "SELECT removed_at FROM guild_removals WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def cancel_removal(self, guild_id: int) -> bool:
        """The bot is in the server (again): keep its data. True if a removal was pending."""
        if await self.removed_at(guild_id) is None:
            return False  # the common case at start-up: no write for every server
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM guild_removals WHERE guild_id = ?", (guild_id,))
        return True

    async def removed_before(self, cutoff: str) -> list[int]:
        """Servers Briefbot was removed from before `cutoff` (ISO time), oldest first."""
        async with self.db.conn.execute(
            "SELECT guild_id FROM guild_removals WHERE removed_at < ? ORDER BY removed_at",
            (cutoff,),
        ) as cursor:
            return [int(row[0]) for row in await cursor.fetchall()]

    async def purge(self, guild_id: int) -> dict[str, int]:
        """Delete everything stored for one server, in one transaction; rows deleted per table."""
        deleted: dict[str, int] = {}
        async with self.db.transaction() as conn:
            for sql in _SECTION_ROWS:
                cursor = await conn.execute(sql, (guild_id,))
                deleted[sql.split()[2]] = cursor.rowcount
            for table in await guild_tables(conn, self.db.dialect):
                # The name comes from the schema, never from input; the value is a parameter.
                cursor = await conn.execute(
                    f'DELETE FROM "{table}" WHERE guild_id = ?',  # noqa: S608
                    (guild_id,),
                )
                deleted[table] = cursor.rowcount
        log.info("purged the data of server %s", guild_id, extra={"deleted": deleted})
        return {table: count for table, count in deleted.items() if count > 0}
