"""`db copy`: every row of one database into another, empty one, SQLite or PostgreSQL either way.

What moves is named here: `COPIED` lists every table whose rows are the bot's data, in an order
that satisfies the foreign keys, each with the primary key it is read by; `NOT_COPIED` lists the
tables that are not rows to move (a search index rebuilt from the copied sections, the migration
bookkeeping), and `DERIVED_COLUMNS` the columns the target derives itself. A table in neither
list stops the copy before anything is written (tests/bot/store/test_copy.py fails first, when a
migration adds one).

The copy is one transaction on the target: refused there when any copied table holds a row,
rolled back whole on any error. The source is read inside a write transaction of its own, so
no writer changes it halfway and the copy is one moment's state (a bot still running on it waits,
or on SQLite gives up after its busy timeout: stop the bot first). Rows are read a batch at a
time by their primary key (keyset), so memory stays bounded whatever the size; every row keeps
its id, and PostgreSQL's identity sequences are moved past the largest id copied.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.errors import StorageError
from bot.store.database import Connection, Database
from bot.store.sections import fts_aliases

# Rows read (and written) per trip.
BATCH_ROWS = 1000


class Table(NamedTuple):
    """A table copied row by row, and its primary key (what batches are read in order of)."""

    name: str
    key: tuple[str, ...]


# Every table holding the bot's data, parents before the tables that point at them.
COPIED: tuple[Table, ...] = (
    Table("sections", ("id",)),
    Table("section_aliases", ("section_id", "position")),
    Table("revisions", ("id",)),
    Table("meta", ("key",)),
    Table("asks", ("id",)),
    Table("briefing_schedules", ("guild_id",)),
    Table("briefing_rotation", ("guild_id", "slug")),
    Table("briefing_posts", ("guild_id", "local_date")),
    Table("guild_settings", ("guild_id",)),
    Table("kb_drafts", ("id",)),
    Table("guild_removals", ("guild_id",)),
    Table("signals", ("id",)),
    Table("outdated_flags", ("guild_id", "slug", "user_id")),
    Table("topic_additions", ("id",)),
    Table("review_items", ("guild_id", "key")),
    Table("follows", ("id",)),
    Table("follow_sends", ("id",)),
    Table("autoanswer_channels", ("guild_id", "channel_id")),
    Table("autoanswer_replies", ("guild_id", "message_id")),
)

_FTS = "SQLite's full-text index of the curated sections, rebuilt from the copied sections"
# Tables of either backend that hold no rows to copy, and why.
NOT_COPIED: dict[str, str] = {
    "sections_fts": _FTS,
    # FTS5's shadow tables, its storage of that index.
    "sections_fts_data": _FTS,
    "sections_fts_idx": _FTS,
    "sections_fts_content": _FTS,
    "sections_fts_docsize": _FTS,
    "sections_fts_config": _FTS,
    "schema_version": "PostgreSQL's migration version (SQLite's is PRAGMA user_version)",
}
# Columns the target computes itself (PostgreSQL's full-text search), never copied.
DERIVED_COLUMNS: dict[tuple[str, str], str] = {
    ("sections", "search_aliases"): "set from the copied aliases and tags",
    ("sections", "search"): "generated from title, search_aliases and body",
}

# The catalog, as each backend spells it (the one `?` is a table's name).
_TABLES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    "postgresql": (
        "SELECT table_name::text FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
    ),
}
_COLUMNS = {
    "sqlite": "SELECT name FROM pragma_table_info(?) ORDER BY cid",
    "postgresql": (
        "SELECT column_name::text FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position"
    ),
}

# The sections search data is derived from, a batch after the id bound to the first `?`:
# every one (PostgreSQL's search_aliases), or the curated, active ones (SQLite's FTS5 rows).
_SECTIONS = (
    "SELECT id, guild_id, status, title, body, tags FROM sections WHERE id > ? ORDER BY id LIMIT ?"
)
_INDEXED = (
    "SELECT id, guild_id, status, title, body, tags FROM sections WHERE id > ? "
    "AND guild_id IS NULL AND status = 'active' ORDER BY id LIMIT ?"
)


class CopyRefused(StorageError):
    """The copy cannot be made as asked; nothing was written. The message says why."""


@dataclass(slots=True)
class CopyReport:
    """Rows copied per table, in copy order, and how many curated sections were indexed."""

    rows: dict[str, int] = field(default_factory=dict)
    indexed: int = 0

    @property
    def total(self) -> int:
        return sum(self.rows.values())


async def table_names(db: Database) -> set[str]:
    """Every table the database holds (SQLite's own sqlite_* tables aside)."""
    async with db.conn.execute(_TABLES[db.dialect.name]) as cursor:
        return {str(row[0]) for row in await cursor.fetchall()}


async def column_names(db: Database, table: str) -> list[str]:
    """The columns of `table` in their order, derived ones left out."""
    async with db.conn.execute(_COLUMNS[db.dialect.name], (table,)) as cursor:
        names = [str(row[0]) for row in await cursor.fetchall()]
    return [name for name in names if (table, name) not in DERIVED_COLUMNS]


async def copy_database(
    source: Database, target: Database, *, batch: int = BATCH_ROWS
) -> CopyReport:
    """Copy every row of `source` into the empty `target`, in one transaction on the target."""
    if await source.same_as(target):
        raise CopyRefused(f"SOURCE and TARGET are the same database ({source.location}).")
    plan = await _plan(source, target)
    report = CopyReport()
    async with target.transaction() as writing:
        for table in COPIED:
            if await _holds_rows(writing, table.name):
                raise CopyRefused(
                    f"The target {target.location} is not empty: its table {table.name} holds "
                    "rows. db copy writes only into an empty database (a new SQLite file or a "
                    "new PostgreSQL database); nothing was written."
                )
        async with source.transaction() as reading:
            for table in COPIED:
                try:
                    report.rows[table.name] = await _copy_table(
                        reading, writing, table, plan[table.name], batch
                    )
                except _database_errors() as exc:
                    raise StorageError(
                        f"Copying the table {table.name} into {target.location} failed: "
                        f"{str(exc).rstrip('.')}. Nothing was written."
                    ) from exc
        report.indexed = await _derive_search(target, writing, batch)
        if target.dialect.name == "postgresql":
            await _move_sequences(writing)
    return report


def _database_errors() -> tuple[type[Exception], ...]:
    """What either driver raises when the database refuses a statement."""
    errors: list[type[Exception]] = [sqlite3.Error]
    try:
        import asyncpg
    except ImportError:  # the optional `postgres` extra: then no PostgreSQL was opened
        return tuple(errors)
    errors.append(asyncpg.PostgresError)
    return tuple(errors)


async def _plan(source: Database, target: Database) -> dict[str, list[str]]:
    """The columns to copy per table: the target's, each of which the source must have too.

    Refuses (before anything is written) a table neither list knows, in either database, a
    copied table missing from one, and a source column the target lacks."""
    copied = {table.name for table in COPIED}
    plan: dict[str, list[str]] = {}
    for db, role in ((source, "source"), (target, "target")):
        present = await table_names(db)
        unknown = sorted(present - copied - NOT_COPIED.keys())
        if unknown:
            raise CopyRefused(
                f"The {role} {db.location} has a table db copy does not know: {unknown[0]}. "
                "Is one Briefbot newer than the other? Nothing was written."
            )
        missing = sorted(copied - present)
        if missing:
            raise CopyRefused(
                f"The {role} {db.location} has no table {missing[0]}: it is not a Briefbot "
                "database. Nothing was written."
            )
    for table in COPIED:
        wanted = await column_names(target, table.name)
        given = await column_names(source, table.name)
        extra = [name for name in given if name not in wanted]
        if extra:
            raise CopyRefused(
                f"The source's table {table.name} has a column the target lacks: {extra[0]}. "
                "Nothing was written."
            )
        plan[table.name] = [name for name in wanted if name in given]
    return plan


async def _holds_rows(conn: Connection, table: str) -> bool:
    # Table names come from COPIED, never from input.
    async with conn.execute(f"SELECT 1 FROM {table} LIMIT 1") as cursor:  # noqa: S608
        return await cursor.fetchone() is not None


def _names(columns: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)


async def _copy_table(
    reading: Connection, writing: Connection, table: Table, columns: Sequence[str], batch: int
) -> int:
    """Copy one table a batch at a time, in primary-key order; how many rows."""
    # The key's columns come first in what is read, so the last row read says where to go on.
    rest = [name for name in columns if name not in table.key]
    read = [*table.key, *rest]
    key = _names(table.key)
    select = f"SELECT {_names(read)} FROM {table.name}"  # noqa: S608 - names from the schema
    after = f" WHERE ({key}) > ({', '.join('?' * len(table.key))})"
    order = f" ORDER BY {key} LIMIT ?"
    insert = (
        f"INSERT INTO {table.name} ({_names(read)}) "  # noqa: S608 - names from the schema
        f"VALUES ({', '.join('?' * len(read))})"
    )
    copied = 0
    last: tuple[Any, ...] | None = None
    while True:
        sql, params = (
            (select + order, (batch,)) if last is None else (select + after + order, (*last, batch))
        )
        async with reading.execute(sql, params) as cursor:
            rows = [tuple(row) for row in await cursor.fetchall()]
        if not rows:
            return copied
        await write_batch(writing, insert, rows)
        copied += len(rows)
        last = rows[-1][: len(table.key)]
        if len(rows) < batch:
            return copied


async def write_batch(conn: Connection, insert: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert one batch of rows (a function of its own so a test can make one fail)."""
    await conn.executemany(insert, rows)


async def _derive_search(target: Database, conn: Connection, batch: int) -> int:
    """Derive the search data from the copied sections as `SectionStore._save_many` writes it:
    SQLite's FTS5 rows (title, `fts_aliases`, body) for the active curated sections; on
    PostgreSQL every section's `search_aliases` (the same `fts_aliases` text), from which the
    generated `search` column follows for curated ones. How many curated sections are now
    searchable (active)."""
    sqlite = target.dialect.name == "sqlite"
    select = _INDEXED if sqlite else _SECTIONS
    # The dialect's fragment is the store's own SQL; the ids are bound.
    listed = target.dialect.any_of("section_id")
    aliases_of = (
        f"SELECT section_id, alias FROM section_aliases WHERE {listed} "  # noqa: S608
        "ORDER BY section_id, position"
    )
    searchable = 0
    last = 0
    while True:
        async with conn.execute(select, (last, batch)) as cursor:
            sections = list(await cursor.fetchall())
        if not sections:
            return searchable
        ids = [int(row["id"]) for row in sections]
        aliases: dict[int, list[str]] = {section_id: [] for section_id in ids}
        async with conn.execute(aliases_of, (target.dialect.values(ids),)) as cursor:
            for row in await cursor.fetchall():
                aliases[int(row[0])].append(str(row[1]))
        texts = [
            (row["id"], row["title"], fts_aliases(aliases[row["id"]], json.loads(row["tags"])))
            for row in sections
        ]
        if sqlite:
            await conn.executemany(
                "INSERT INTO sections_fts (rowid, title, aliases, body) VALUES (?, ?, ?, ?)",
                [(*text, row["body"]) for text, row in zip(texts, sections, strict=True)],
            )
        else:
            await conn.executemany(
                "UPDATE sections SET search_aliases = ? WHERE id = ?",
                [(text[2], text[0]) for text in texts],
            )
        searchable += sum(
            1 for row in sections if row["guild_id"] is None and row["status"] == "active"
        )
        last = ids[-1]


async def _move_sequences(conn: Connection) -> None:
    """Move each identity sequence past the largest id copied, so new rows get new ids.

    setval is not undone by a rollback, so this runs last, when only the commit remains; an
    empty table's sequence is left at its start."""
    async with conn.execute(
        "SELECT table_name::text FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'"
    ) as cursor:
        tables = sorted(str(row[0]) for row in await cursor.fetchall())
    copied = {table.name for table in COPIED}
    for table in tables:
        if table not in copied:
            continue
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence(?, 'id'), max(id)) FROM {table} "  # noqa: S608
            "HAVING max(id) IS NOT NULL",
            (table,),
        )
