"""Deleting one server's data: everything of that server, nothing of any other."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime
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
# Every table holding a server's rows by its guild_id, on both backends.
KNOWN_GUILD_TABLES = {
    "asks",
    "autoanswer_channels",
    "autoanswer_replies",
    "briefing_posts",
    "briefing_rotation",
    "briefing_schedules",
    "follow_sends",
    "follows",
    "guild_removals",
    "guild_settings",
    "kb_drafts",
    "outdated_flags",
    "review_items",
    "sections",
    "signals",
    "topic_additions",
}


@pytest.fixture
async def sqlite_db(tmp_path: Path, clock: Callable[[], datetime]) -> AsyncIterator[Database]:
    """SQLite only: for its full-text index, a table PostgreSQL does not have."""
    opened = await SqliteDatabase.open(tmp_path / "db.sqlite3", clock=clock)
    yield opened
    await opened.close()


async def rows(db: Database, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    async with db.conn.execute(sql, args) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def columns(db: Database, table: str) -> list[tuple[str, str]]:
    """A table's columns a row can be given, with their declared types."""
    if db.dialect.name == "sqlite":
        return [
            (n, t) for n, t in await rows(db, "SELECT name, type FROM pragma_table_info(?)", table)
        ]
    return [
        (str(n), str(t))
        for n, t in await rows(
            db,
            "SELECT column_name::text, data_type::text FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ? AND is_generated = 'NEVER' "
            "ORDER BY ordinal_position",
            table,
        )
    ]


@asynccontextmanager
async def unchecked(db: Database) -> AsyncIterator[None]:
    """Rows go in whatever their values: no CHECK constraint, no foreign key looked at."""
    if db.dialect.name == "sqlite":
        await db.conn.execute("PRAGMA ignore_check_constraints = ON")
        await db.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            yield
        finally:
            await db.conn.execute("PRAGMA ignore_check_constraints = OFF")
            await db.conn.execute("PRAGMA foreign_keys = ON")
        return
    # PostgreSQL cannot ignore them: they go, from this test's own throwaway database.
    constraints = await rows(
        db,
        "SELECT conrelid::regclass::text, conname::text FROM pg_constraint "
        "WHERE contype IN ('c', 'f') AND connamespace = current_schema()::regnamespace",
    )
    async with db.transaction() as conn:
        for table, name in constraints:
            await conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    yield


def value(table: str, kind: str, serial: int) -> object:
    """A value of the column's type, different in every row."""
    kind = kind.upper()
    if "INT" in kind:
        return serial
    if kind in ("REAL", "DOUBLE PRECISION"):
        return float(serial)
    if kind == "JSONB":
        return json.dumps(f"{table}-{serial}")
    return f"{table}-{serial}"


async def fill_generically(db: Database, table: str, guilds: list[int]) -> None:
    """Three rows per server (one where guild_id alone is the key) in any table with a guild_id
    column, whatever its other columns."""
    given = await columns(db, table)
    names = ", ".join(f'"{name}"' for name, _ in given)
    marks = ", ".join("?" for _ in given)
    # Names from the schema, never from input.
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING'  # noqa: S608
    serial = 0
    async with unchecked(db), db.transaction() as conn:
        for guild in guilds:
            for _ in range(3):
                serial += 1
                values = [
                    guild if name == "guild_id" else value(table, kind, serial)
                    for name, kind in given
                ]
                await conn.execute(insert, values)


async def guild_rows(db: Database, table: str) -> dict[int, int]:
    counted = await rows(
        db,
        f'SELECT guild_id, count(*) FROM "{table}" GROUP BY guild_id',  # noqa: S608
    )
    return {guild: count for guild, count in counted if guild is not None}


async def test_every_table_with_a_guild_id_is_purged_for_that_server_only(db: Database) -> None:
    tables = await guild_tables(db.conn, db.dialect)
    # The ones known today; a table a later migration adds is found the same way.
    assert KNOWN_GUILD_TABLES <= set(tables)
    assert tables == sorted(tables)
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


async def test_purge_removes_the_aliases_and_revisions_of_that_servers_sections_only(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        for guild in [None, *GUILDS]:  # None: a curated section, no server's
            async with conn.execute(
                "INSERT INTO sections (guild_id, slug, title, body, updated) "
                "VALUES (?, ?, 'Title', 'Body.', '2026-01-01') RETURNING id",
                (guild, f"topic-{guild}"),
            ) as cursor:
                row = await cursor.fetchone()
            section = int(row[0])
            await conn.execute(
                "INSERT INTO section_aliases (section_id, position, alias) VALUES (?, 0, ?)",
                (section, f"alias {guild}"),
            )
            await conn.executemany(
                "INSERT INTO revisions (section_id, number, author, created_at, action, snapshot) "
                "VALUES (?, ?, 'mod', '2026-01-01', 'updated', '{}')",
                [(section, 1), (section, 2)],
            )

    deleted = await GuildData(db).purge(VICTIM)

    assert deleted == {"sections": 1, "section_aliases": 1, "revisions": 2}
    left = await rows(
        db,
        "SELECT s.guild_id, count(DISTINCT a.position), count(DISTINCT r.number) "
        "FROM sections AS s JOIN section_aliases AS a ON a.section_id = s.id "
        "JOIN revisions AS r ON r.section_id = s.id "
        "GROUP BY s.guild_id ORDER BY coalesce(s.guild_id, 0)",
    )
    kept = sorted(g for g in GUILDS if g != VICTIM)
    assert left == [(None, 1, 2)] + [(g, 1, 2) for g in kept]


async def test_purge_removes_sections_aliases_revisions_and_index_rows_of_that_server(
    sqlite_db: Database,
) -> None:
    db = sqlite_db  # SQLite only: it looks into the FTS5 index (PostgreSQL indexes a column)
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
