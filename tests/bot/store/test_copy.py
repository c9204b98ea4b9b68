"""`db copy` (bot/store/copy.py): every row from SQLite to PostgreSQL and back, nothing else.

A SQLite database is filled through the real service and stores (the curated pack, servers'
own topics and overrides, asks, schedules and posts, follows and their DMs, help channels,
learning signals, drafts...), copied to PostgreSQL, and from there to SQLite again (and to a
second PostgreSQL). Every copy must hold the same rows (JSON compared parsed), export the same
packs, give the same statistics and answer searches; a non-empty target is refused and a failed
copy leaves the target empty. The table test fails when a migration on either backend adds a
table the copy does not name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import filecmp
import json
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import stats
from bot.errors import StorageError
from bot.sections import SectionContent
from bot.service import BriefingService
from bot.store import copy
from bot.store.autoanswer import AutoanswerStore
from bot.store.backends import open_database
from bot.store.briefing import ThreadRequest
from bot.store.copy import COPIED, DERIVED_COLUMNS, NOT_COPIED, CopyRefused, copy_database
from bot.store.database import Database
from bot.store.follows import FollowStore
from bot.store.guilds import GuildData
from bot.store.moderation import ModerationStore
from bot.store.sections import fts_aliases

GUILDS = (111_111_111_111_111_111, 222_222_222_222_222_222, 333_333_333_333_333_333)
NOW = datetime.fromisoformat("2026-11-28T09:30:15+00:00")
# Small batches, so that every table of more than a few rows is read in several.
SMALL_BATCH = 7


def clock() -> datetime:
    return NOW


async def fill(location: str, knowledge: Path) -> None:
    """Realistic data in three servers, written through the service and the stores."""
    service = await BriefingService.open(location, knowledge, clock=clock)
    try:
        db = service.db
        follows, help_channels = FollowStore(db), AutoanswerStore(db)
        moderation, learning = ModerationStore(db), service.learning
        for n, guild in enumerate(GUILDS):
            await follows.add(guild, 500 + n, "berlin-talks", cap=25)
            await follows.add(guild, 600 + n, f"house-rules-{n}", cap=25)
        cursor = await follows.cursor()
        curated = await service.sections.get(None, "berlin-talks")
        assert curated is not None
        for n, guild in enumerate(GUILDS):
            own = SectionContent(
                slug=f"house-rules-{n}",
                title=f"What are the house rules of server {n}?",
                body=f"Be kind, stay on topic, and no spoilers in #general (server {n}).",
                aliases=("house rules", f"rules of server {n}"),
                tags=("server-rules", "moderation"),
                updated=date(2026, 11, 1 + n),
                position=100 + n,
            )
            saved = await service.sections.save_for_guild(
                guild, own, opened=None, author="Moderator#0001", author_id=9000 + n
            )
            await service.sections.save_for_guild(
                guild,
                dataclasses.replace(own, body=own.body + " Edited once."),
                opened=saved.version,
                author="Moderator#0001",
                author_id=9000 + n,
            )
            override = dataclasses.replace(
                curated.content,
                body=curated.content.body + f" As server {n} sees it.",
                aliases=(*curated.content.aliases, f"talks in server {n}"),
            )
            await service.sections.save_for_guild(
                guild, override, opened=curated.version, author="Editor", author_id=8000 + n
            )
            if n == 1:
                await service.sections.hide_for_guild(
                    guild, "us-role", author="Editor", author_id=8000 + n
                )
            for ref, question in enumerate(("berln talks", "how do I bake bread", "nato?")):
                answer = await service.ask(question, guild, record=False)
                await service.record(guild, answer, ref=10_000 * (n + 1) + ref)
            explained = await service.explain("nato-purpose", guild, record=False)
            await service.record(guild, explained, kind="explain")
            status = await service.set_schedule(
                guild, 7000 + n, "09:00", "Europe/Berlin", NOW, thread=n == 0
            )
            assert status.schedule is not None
            await learning.signal(guild, 10_000 * (n + 1), 42, "helpful", "berln talks", "x")
            await learning.signal(
                guild, 10_000 * (n + 1) + 1, 43, "pick", "how do I bake bread", None, "us-role"
            )
            await learning.flag_outdated(guild, "us-role", 44 + n)
            await learning.add(
                guild,
                "nato-purpose",
                "taught",
                f"what is nato for in server {n}",
                author="Moderator#0001",
                author_id=9000 + n,
            )
            await learning.seen(
                guild, "how do i bake bread", "unanswered", "how do I bake bread", None, 2
            )
            await learning.settle(guild, "how do i bake bread", "dismissed")
            await help_channels.enable(guild, 4000 + n, "forum" if n else "text", 9000, cap=5)
            await help_channels.claim(guild, 4000 + n, 1_234_567_890_123_456_789 + n)
            await moderation.update(guild, mod_role_id=3000 + n, log_channel_id=3100 + n)
            await moderation.keep_draft(
                guild,
                9000 + n,
                own.slug,
                saved.version,
                {"title": "A better title", "body": 'Ünïcode body, "quoted" text.'},
            )
        await service.asks.flush()  # the ask log is written in batches
        schedule = await service.schedules.get(GUILDS[0])
        assert schedule is not None
        claimed = await service.schedules.claim(
            schedule,
            date(2026, 11, 28),
            slug="nato-purpose",
            nonce="nonce-1",
            new_cycle=True,
            next_due=NOW + timedelta(days=1),
            next_local_date=date(2026, 11, 29),
            now=NOW,
            lease=timedelta(minutes=5),
        )
        assert claimed == "claimed"
        await service.schedules.finish(
            GUILDS[0],
            date(2026, 11, 28),
            "sent",
            now=NOW,
            message_id=5_555_555_555_555_555_555 % 2**63,
            thread=ThreadRequest(7000, "NATO: what is it for?", NOW + timedelta(minutes=5)),
        )
        last, changed = await follows.feed(cursor, 1000)
        assert changed, "the edits of followed topics owe DMs"
        await follows.enqueue(changed, last)
        await GuildData(db).mark_removed(GUILDS[2])
        await db.set_meta("command-sync", "0123abcd")
    finally:
        await service.close()


async def json_columns(db: Database) -> set[tuple[str, str]]:
    """The JSON columns (jsonb in PostgreSQL's schema; SQLite's are text checked by json_valid)."""
    async with db.conn.execute(
        "SELECT table_name::text, column_name::text FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type = 'jsonb'"
    ) as cursor:
        return {(str(row[0]), str(row[1])) for row in await cursor.fetchall()}


async def dump(db: Database, json_cols: set[tuple[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """Every copied table's rows (the columns both schemas have), JSON parsed, in key order."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in COPIED:
        columns = await copy.column_names(db, table.name)
        names = ", ".join(f'"{c}"' for c in columns)
        async with db.conn.execute(f"SELECT {names} FROM {table.name}") as cursor:  # noqa: S608
            rows = [dict(zip(columns, tuple(row), strict=True)) for row in await cursor.fetchall()]
        for row in rows:
            for column in columns:
                if (table.name, column) in json_cols and row[column] is not None:
                    row[column] = json.loads(row[column])
        rows.sort(key=lambda row: tuple(row[k] for k in table.key))
        tables[table.name] = rows
    return tables


async def fts_rows(db: Database) -> list[tuple[Any, ...]]:
    async with db.conn.execute(
        "SELECT rowid, title, aliases, body FROM sections_fts ORDER BY rowid"
    ) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def exports_and_stats(location: str, folder: Path) -> dict[str, Any]:
    """What `kb export` writes for the curated pack and each server, and `stats`' report."""
    service = await BriefingService.open(location, None, clock=clock)
    try:
        for guild in (None, *GUILDS):
            await service.export_pack(folder / str(guild), guild)
        return await stats.collect(service, days=30)
    finally:
        await service.close()


def same_folders(left: Path, right: Path) -> None:
    compared = filecmp.dircmp(left, right)
    assert not compared.left_only and not compared.right_only, (left, right)
    assert compared.common_files or compared.common_dirs
    for name in compared.common_files:
        assert (left / name).read_bytes() == (right / name).read_bytes(), name
    for name in compared.common_dirs:
        same_folders(left / name, right / name)


async def copied(source: str, target: str, *, batch: int = SMALL_BATCH) -> copy.CopyReport:
    reading = await open_database(source, clock=clock)
    writing = await open_database(target, clock=clock)
    try:
        return await copy_database(reading, writing, batch=batch)
    finally:
        await reading.close()
        await writing.close()


async def test_sqlite_to_postgresql_to_sqlite_keeps_every_row(
    tmp_path: Path, knowledge_dir: Path, postgres_urls: Callable[[], Awaitable[str]]
) -> None:
    first = str(tmp_path / "first.sqlite3")
    await fill(first, knowledge_dir)
    postgres, postgres_again = await postgres_urls(), await postgres_urls()
    back = str(tmp_path / "back.sqlite3")

    there = await copied(first, postgres)
    again = await copied(postgres, back)
    await copied(postgres, postgres_again)

    assert there.rows == again.rows
    assert there.total == sum(there.rows.values()) > 0
    assert [name for name in there.rows] == [table.name for table in COPIED]
    dbs = {loc: await open_database(loc, clock=clock) for loc in (first, postgres, back)}
    dbs[postgres_again] = await open_database(postgres_again, clock=clock)
    try:
        json_cols = await json_columns(dbs[postgres])
        assert ("revisions", "snapshot") in json_cols and ("kb_drafts", "fields") in json_cols
        original = await dump(dbs[first], json_cols)
        empty = [table for table, rows in original.items() if not rows]
        assert not empty, "the filling must reach every table"
        for location in (postgres, back, postgres_again):
            assert await dump(dbs[location], json_cols) == original, location
        for table in COPIED:
            assert there.rows[table.name] == len(original[table.name])
        # SQLite's full-text index is rebuilt exactly as the stores wrote it.
        assert await fts_rows(dbs[back]) == await fts_rows(dbs[first])
        assert again.indexed == len(await fts_rows(dbs[first])) > 0
    finally:
        for db in dbs.values():
            await db.close()

    reports = {
        loc: await exports_and_stats(loc, tmp_path / f"export-{n}")
        for n, loc in enumerate((first, postgres, back))
    }
    assert reports[postgres] == reports[first]
    assert reports[back] == reports[first]
    assert reports[first]["asks"] > 0
    for n in (1, 2):
        same_folders(tmp_path / "export-0", tmp_path / f"export-{n}")


async def test_the_postgresql_copy_searches_and_hands_out_new_ids(
    tmp_path: Path, knowledge_dir: Path, postgres_url: str
) -> None:
    first = str(tmp_path / "first.sqlite3")
    await fill(first, knowledge_dir)
    await copied(first, postgres_url, batch=copy.BATCH_ROWS)

    sqlite_db = await open_database(first, clock=clock)
    try:
        indexed = {row[0]: row[2] for row in await fts_rows(sqlite_db)}
    finally:
        await sqlite_db.close()
    db = await open_database(postgres_url, clock=clock)
    try:
        # search_aliases holds what the store writes: the FTS5 aliases text for every section.
        async with db.conn.execute(
            "SELECT s.id, s.guild_id, s.status, s.tags::text, s.search_aliases, "
            "coalesce((SELECT json_agg(alias ORDER BY position) FROM section_aliases "
            "WHERE section_id = s.id), '[]')::text FROM sections AS s"
        ) as cursor:
            sections = list(await cursor.fetchall())
        assert sections
        for section_id, guild, status, tags, search_aliases, aliases in sections:
            assert search_aliases == fts_aliases(json.loads(aliases), json.loads(tags))
            if guild is None and status == "active":
                assert search_aliases == indexed.pop(section_id)
        assert not indexed
        # The generated tsvector over title, aliases and tags, body is there for curated rows.
        async with db.conn.execute(
            "SELECT slug FROM sections, plainto_tsquery('english', ?) AS query "
            "WHERE guild_id IS NULL AND search @@ query ORDER BY slug",
            ("Berlin talks",),
        ) as cursor:
            assert "berlin-talks" in [row[0] for row in await cursor.fetchall()]
        async with db.conn.execute(
            "SELECT count(*) FROM sections WHERE guild_id IS NULL AND search IS NULL"
        ) as cursor:
            assert (await cursor.fetchone())[0] == 0
        # Every identity sequence stands past the largest id copied.
        for table in COPIED:
            if table.key != ("id",):
                continue
            async with db.transaction() as conn:
                async with conn.execute(
                    f"SELECT nextval(pg_get_serial_sequence(?, 'id')), "  # noqa: S608
                    f"(SELECT coalesce(max(id), 0) FROM {table.name})",
                    (table.name,),
                ) as cursor:
                    fresh, largest = await cursor.fetchone()
            assert fresh > largest, table.name
    finally:
        await db.close()

    service = await BriefingService.open(postgres_url, None, clock=clock)
    try:
        answer = await service.ask("berln talks", None, record=False)
        assert answer.section is not None and answer.section.slug == "berlin-talks"
        largest = max(s.id for s in await service.sections.all(statuses=("active", "hidden")))
        new = await service.sections.save_for_guild(
            GUILDS[0],
            SectionContent(
                slug="after-the-move",
                title="What changed after the move?",
                body="Nothing a member can see.",
                updated=date(2026, 11, 28),
            ),
            opened=None,
            author="Moderator#0001",
            author_id=9000,
        )
        assert new.id > largest
    finally:
        await service.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_target_that_is_not_empty_is_refused_and_left_alone(
    tmp_path: Path, knowledge_dir: Path, postgres_urls: Callable[[], Awaitable[str]], kind: str
) -> None:
    first = str(tmp_path / "first.sqlite3")
    await fill(first, knowledge_dir)
    target = str(tmp_path / "target.sqlite3") if kind == "sqlite" else await postgres_urls()
    db = await open_database(target, clock=clock)
    try:
        await ModerationStore(db).update(GUILDS[1], mod_role_id=1)
        json_cols = await json_columns(db) if kind == "postgresql" else set()
        before = await dump(db, json_cols)
    finally:
        await db.close()

    with pytest.raises(CopyRefused, match="not empty: its table guild_settings holds rows"):
        await copied(first, target)

    db = await open_database(target, clock=clock)
    try:
        assert await dump(db, json_cols) == before
    finally:
        await db.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_copy_failing_midway_leaves_the_target_empty(
    tmp_path: Path,
    knowledge_dir: Path,
    postgres_urls: Callable[[], Awaitable[str]],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    first = str(tmp_path / "first.sqlite3")
    await fill(first, knowledge_dir)
    target = str(tmp_path / "target.sqlite3") if kind == "sqlite" else await postgres_urls()
    sizes: list[int] = []
    real = copy.write_batch

    async def failing(conn: Any, insert: str, rows: Any) -> None:
        if insert.startswith("INSERT INTO asks"):
            raise OSError("the disk went away")
        await real(conn, insert, rows)
        sizes.append(len(rows))

    monkeypatch.setattr(copy, "write_batch", failing)
    with pytest.raises(OSError, match="the disk went away"):
        await copied(first, target)
    assert sum(sizes) > SMALL_BATCH, "sections and revisions were written before the failure"
    assert max(sizes) == SMALL_BATCH, "rows are read and written a batch at a time"

    db = await open_database(target, clock=clock)
    try:
        for table in COPIED:
            async with db.conn.execute(f"SELECT count(*) FROM {table.name}") as cursor:  # noqa: S608
                assert (await cursor.fetchone())[0] == 0, table.name
        if kind == "sqlite":
            assert await fts_rows(db) == []
    finally:
        await db.close()
    monkeypatch.undo()
    report = await copied(first, target)  # and it can be made again
    assert report.rows["asks"] > 0


async def test_the_copy_names_every_table_of_both_schemas(
    tmp_path: Path, postgres_url: str
) -> None:
    """Fails when a migration on either backend adds a table the copy does not know."""
    copied_names = {table.name for table in COPIED}
    assert len(copied_names) == len(COPIED)
    assert not copied_names & NOT_COPIED.keys()
    seen: set[str] = set()
    for location in (str(tmp_path / "fresh.sqlite3"), postgres_url):
        db = await open_database(location, clock=clock)
        try:
            tables = await copy.table_names(db)
            assert tables - NOT_COPIED.keys() == copied_names, location
            seen |= tables
            for table in COPIED:
                assert table.key == await primary_key(db, table.name), table.name
            columns = {
                (table.name, column)
                for table in COPIED
                for column in await raw_columns(db, table.name)
            }
            if db.dialect.name == "postgresql":
                assert set(DERIVED_COLUMNS) <= columns
        finally:
            await db.close()
    assert NOT_COPIED.keys() <= seen, "a table named as not copied exists nowhere"


async def primary_key(db: Database, table: str) -> tuple[str, ...]:
    if db.dialect.name == "sqlite":
        sql = "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk"
    else:
        sql = (
            "SELECT k.column_name::text FROM information_schema.table_constraints AS c "
            "JOIN information_schema.key_column_usage AS k "
            "ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema "
            "WHERE c.table_schema = current_schema() AND c.table_name = ? "
            "AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.ordinal_position"
        )
    async with db.conn.execute(sql, (table,)) as cursor:
        return tuple(str(row[0]) for row in await cursor.fetchall())


async def raw_columns(db: Database, table: str) -> list[str]:
    if db.dialect.name == "sqlite":
        sql = "SELECT name FROM pragma_table_info(?)"
    else:
        sql = (
            "SELECT column_name::text FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?"
        )
    async with db.conn.execute(sql, (table,)) as cursor:
        return [str(row[0]) for row in await cursor.fetchall()]


async def test_a_table_or_column_the_copy_does_not_know_stops_it_before_writing(
    tmp_path: Path,
) -> None:
    source, target = str(tmp_path / "source.sqlite3"), str(tmp_path / "target.sqlite3")
    db = await open_database(source, clock=clock)
    try:
        await db.set_meta("k", "v")
        async with db.transaction() as conn:
            await conn.execute("ALTER TABLE meta ADD COLUMN note TEXT")
    finally:
        await db.close()
    with pytest.raises(CopyRefused, match="table meta has a column the target lacks: note"):
        await copied(source, target)

    db = await open_database(source, clock=clock)
    try:
        async with db.transaction() as conn:
            await conn.execute("ALTER TABLE meta DROP COLUMN note")
            await conn.execute("CREATE TABLE later_feature (id INTEGER PRIMARY KEY)")
    finally:
        await db.close()
    with pytest.raises(CopyRefused, match="does not know: later_feature"):
        await copied(source, target)

    db = await open_database(target, clock=clock)
    try:
        async with db.conn.execute("SELECT count(*) FROM meta") as cursor:
            assert (await cursor.fetchone())[0] == 0
    finally:
        await db.close()


async def test_a_row_the_target_refuses_ends_the_copy_in_one_line_naming_the_table(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "source.sqlite3", str(tmp_path / "target.sqlite3")
    db = await open_database(source, clock=clock)
    await db.close()
    # A row SQLite's checks would refuse, written past them (as an older Briefbot might have).
    with closing(sqlite3.connect(source)) as conn, conn:
        conn.execute("PRAGMA ignore_check_constraints = ON")
        conn.execute(
            "INSERT INTO briefing_schedules (guild_id, local_time, timezone, next_due_utc, "
            "next_local_date, updated_at) VALUES (1, 'noon', 'UTC', 'x', 'y', 'z')"
        )
    with pytest.raises(StorageError, match=r"Copying the table briefing_schedules into .* failed"):
        await copied(str(source), target)
    db = await open_database(target, clock=clock)
    try:
        assert await dump(db, set()) == {table.name: [] for table in COPIED}
    finally:
        await db.close()


async def test_a_database_is_not_copied_onto_itself(tmp_path: Path) -> None:
    path = tmp_path / "same.sqlite3"
    with pytest.raises(CopyRefused, match="the same database"):
        await copied(str(path), str(tmp_path / "." / "same.sqlite3"))


async def test_a_postgresql_database_spelt_another_way_is_not_copied_onto_itself(
    postgres_url: str,
) -> None:
    """Without the check it would wait forever: the copy's target transaction holds the
    writers' lock the source's would then wait for, on one database."""
    with pytest.raises(CopyRefused, match="the same database"):
        await asyncio.wait_for(copied(postgres_url, postgres_url + "&application_name=x"), 30)
