"""Deleting one server's data: everything of that server, nothing of any other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.sections import SectionContent
from bot.store.asks import AskLog
from bot.store.database import Database, SqliteDatabase
from bot.store.guilds import GuildData, guild_tables
from bot.store.moderation import ModerationStore
from bot.store.sections import SectionStore

GUILDS = list(range(1001, 1026))
VICTIM = 1013


@pytest.fixture
async def db(tmp_path: Path, clock) -> AsyncIterator[Database]:
    opened = await SqliteDatabase.open(tmp_path / "db.sqlite3", clock=clock)
    yield opened
    await opened.close()


async def rows(db: Database, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    async with db.conn.execute(sql, args) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def fill_generically(db: Database, table: str, guilds: list[int]) -> None:
    """Three rows per server in any table with a guild_id column, whatever its other columns."""
    columns = await rows(db, "SELECT name, type, pk FROM pragma_table_info(?)", table)
    names = [name for name, _, _ in columns]
    serial = 0
    await db.conn.execute("PRAGMA ignore_check_constraints = ON")
    await db.conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for guild in guilds:
            for _ in range(3 if not any(pk and n == "guild_id" for n, _, pk in columns) else 1):
                serial += 1
                values = [
                    guild
                    if name == "guild_id"
                    else serial
                    if "INT" in kind.upper() or kind.upper() == "REAL"
                    else f"{table}-{serial}"
                    for name, kind, _ in columns
                ]
                marks = ", ".join("?" for _ in names)
                await db.conn.execute(
                    f'INSERT OR IGNORE INTO "{table}" ({", ".join(names)}) VALUES ({marks})',  # noqa: S608
                    values,
                )
    finally:
        await db.conn.execute("PRAGMA ignore_check_constraints = OFF")
        await db.conn.execute("PRAGMA foreign_keys = ON")


async def guild_rows(db: Database, table: str) -> dict[int, int]:
    counted = await rows(
        db,
        f'SELECT guild_id, count(*) FROM "{table}" GROUP BY guild_id',  # noqa: S608
    )
    return {guild: count for guild, count in counted if guild is not None}


async def test_every_table_with_a_guild_id_is_purged_for_that_server_only(db: Database) -> None:
    tables = await guild_tables(db.conn)
    # The ones known today; a table a later migration adds is found the same way.
    assert {"asks", "sections", "guild_settings", "briefing_schedules", "guild_removals"} <= set(
        tables
    )
    for table in tables:
        await fill_generically(db, table, GUILDS)
    before = {table: await guild_rows(db, table) for table in tables}
    assert all(VICTIM in counts for counts in before.values()), before

    await GuildData(db).purge(VICTIM)

    for table in tables:
        after = await guild_rows(db, table)
        assert VICTIM not in after, f"{table} still holds rows of the purged server"
        expected = {g: n for g, n in before[table].items() if g != VICTIM}
        assert after == expected, f"{table} lost rows of other servers"


async def test_a_table_added_later_is_purged_too(db: Database) -> None:
    await db.conn.execute("CREATE TABLE later_feature (guild_id INTEGER NOT NULL, note TEXT)")
    for guild in GUILDS:
        await db.conn.execute("INSERT INTO later_feature VALUES (?, 'x')", (guild,))
    deleted = await GuildData(db).purge(VICTIM)
    assert deleted == {"later_feature": 1}
    assert await guild_rows(db, "later_feature") == {g: 1 for g in GUILDS if g != VICTIM}


async def test_purge_removes_sections_aliases_revisions_and_index_rows_of_that_server(
    db: Database,
) -> None:
    sections, asks, moderation = SectionStore(db), AskLog(db), ModerationStore(db)
    for guild in GUILDS:
        content = SectionContent(
            slug=f"topic-{guild}",
            title=f"What is topic {guild}?",
            body=f"Body of zanzibarium {guild}.",
            aliases=(f"alias {guild}",),
            updated=date(2026, 1, 1),
        )
        saved = await sections.save_for_guild(
            guild, content, opened=None, author="mod", author_id=guild
        )
        await sections.save_for_guild(
            guild,
            content,
            opened=(saved.id, saved.revision),
            author="mod",
            author_id=guild,
        )
        await asks.record(guild, f"question from {guild}", None, None)
        await moderation.update(guild, mod_role_id=guild)
        await moderation.keep_draft(guild, 7, None, None, {"title": "draft"})
    await asks.flush()  # the ask log is written in batches
    victim = await sections.get(VICTIM, f"topic-{VICTIM}")
    assert victim is not None
    counts_before = {
        table: (await rows(db, f"SELECT count(*) FROM {table}"))[0][0]  # noqa: S608
        for table in ("sections", "section_aliases", "revisions", "sections_fts", "asks")
    }

    deleted = await GuildData(db).purge(VICTIM)

    assert deleted["sections"] == 1 and deleted["revisions"] == 2
    assert deleted["section_aliases"] == 1 and "sections_fts" not in deleted
    assert await sections.get(VICTIM, f"topic-{VICTIM}") is None
    assert not await rows(db, "SELECT 1 FROM revisions WHERE section_id = ?", victim.id)
    assert not await rows(db, "SELECT 1 FROM section_aliases WHERE section_id = ?", victim.id)
    assert not await rows(db, "SELECT 1 FROM sections_fts WHERE rowid = ?", victim.id)
    assert not await sections.fts(f'"zanzibarium {VICTIM}"', 5)
    assert len(await sections.server_sections(GUILDS)) == len(GUILDS) - 1
    for table, before in counts_before.items():
        after = (await rows(db, f"SELECT count(*) FROM {table}"))[0][0]  # noqa: S608
        # A server's sections are never in the full-text index (searched in memory instead).
        gone = {"revisions": 2, "sections_fts": 0}.get(table, 1)
        assert after == before - gone, table
    assert (await moderation.settings(VICTIM)).mod_role_id is None
    assert (await moderation.settings(VICTIM + 1)).mod_role_id == VICTIM + 1
    assert await sections.get(VICTIM + 1, f"topic-{VICTIM + 1}") is not None


async def test_a_removal_is_recorded_once_and_cancelled_when_the_bot_comes_back(
    db: Database,
) -> None:
    guilds = GuildData(db)
    assert not await guilds.cancel_removal(5)
    await guilds.mark_removed(5)
    first = await guilds.removed_at(5)
    await guilds.mark_removed(5)
    assert await guilds.removed_at(5) == first == db.now()
    assert await guilds.removed_before("9999") == [5]
    assert await guilds.cancel_removal(5)
    assert await guilds.removed_at(5) is None
