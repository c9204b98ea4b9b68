"""The PostgreSQL schema (bot/store/postgres): its migrations, and that it holds SQLite's.

The schema tests are the basis of `db copy`: every table, column, key and index that the SQLite
migrations make must exist in PostgreSQL under the same name, with a type that holds the same
values, so that one fails here as soon as a SQLite migration adds one the PostgreSQL schema
lacks. They run against the server tests/postgres.py provides (skipped without one, except
under CI).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from pathlib import Path
from typing import Any, NamedTuple

import asyncpg
import pytest

from bot.errors import StorageError
from bot.store.database import Migration, SqliteDatabase
from bot.store.postgres import schema
from bot.store.postgres.schema import migrate, migrations, schema_version
from bot.store.sections import fts_aliases
from tests.postgres import PostgresServer

# SQLite tables PostgreSQL replaces with something of its own, and with what.
REPLACED = {"sections_fts": "sections.search, a generated weighted tsvector"}
# Tables and columns PostgreSQL alone has; a copy leaves them to the database.
POSTGRES_ONLY_TABLES = {"schema_version"}  # what PRAGMA user_version is in SQLite
POSTGRES_ONLY_COLUMNS = {("sections", "search_aliases"), ("sections", "search")}
# The PostgreSQL types that hold what a column of each SQLite type holds.
HOLDS = {"INTEGER": {"bigint", "integer"}, "TEXT": {"text", "jsonb"}, "REAL": {"double precision"}}
# ts_rank_cd's weights, in its order {D, C, B, A}, are SQLite's bm25(sections_fts, 6.0, 3.0, 1.0)
# scaled to title (A) 1: aliases (B) 1/2, body (C) 1/6.
SEARCH = """
    SELECT slug, ts_rank_cd('{0, 0.1667, 0.5, 1}', search, query) AS rank
    FROM sections, plainto_tsquery('english', $1) AS query
    WHERE guild_id IS NULL AND search @@ query
    ORDER BY rank DESC, slug
"""


class Column(NamedTuple):
    name: str
    type: str
    not_null: bool
    identity: bool
    json: bool


class Index(NamedTuple):
    table: str
    unique: bool
    partial: bool
    columns: tuple[str | None, ...]  # None: an expression


class Schema(NamedTuple):
    tables: dict[str, list[Column]]
    indexes: dict[str, Index]  # named indexes: CREATE INDEX, not keys
    primary_keys: dict[str, tuple[str, ...]]
    unique_keys: dict[str, set[tuple[str | None, ...]]]  # primary keys and UNIQUE, per table


async def sqlite_schema(path: Path) -> Schema:
    """The schema a fresh SQLite database gets from bot/store/migrations."""
    db = await SqliteDatabase.open(path)
    await db.close()
    conn = sqlite3.connect(path)
    try:
        kinds = dict(conn.execute("SELECT name, type FROM pragma_table_list WHERE schema = 'main'"))
        virtual = {name for name, kind in kinds.items() if kind == "virtual"}
        assert virtual == set(REPLACED), f"FTS or other virtual tables changed: {virtual}"
        names = sorted(n for n, k in kinds.items() if k == "table" and not n.startswith("sqlite_"))
        tables: dict[str, list[Column]] = {}
        primary_keys: dict[str, tuple[str, ...]] = {}
        unique_keys: dict[str, set[tuple[str | None, ...]]] = {}
        indexes: dict[str, Index] = {}
        for table in names:
            (sql,) = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
            ).fetchone()
            info = conn.execute(
                'SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid', (table,)
            ).fetchall()
            keyed = sorted((pk, name) for name, _, _, pk in info if pk)
            primary_keys[table] = tuple(name for _, name in keyed)
            rowid_id = (
                primary_keys[table] == ("id",)
                and dict((n, t) for n, t, _, _ in info)["id"].upper() == "INTEGER"
            )
            tables[table] = [
                Column(
                    name,
                    kind.upper(),
                    bool(not_null) or bool(pk),  # a key's column is never NULL in practice
                    rowid_id and name == "id",
                    f"json_valid({name})" in sql,
                )
                for name, kind, not_null, pk in info
            ]
            unique_keys[table] = {primary_keys[table]}
            for index, unique, origin, partial in conn.execute(
                'SELECT name, "unique", origin, partial FROM pragma_index_list(?)', (table,)
            ):
                columns = tuple(
                    row[0]
                    for row in conn.execute(
                        "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (index,)
                    )
                )
                if unique:
                    unique_keys[table].add(columns)
                if origin == "c":
                    indexes[index] = Index(table, bool(unique), bool(partial), columns)
        return Schema(tables, indexes, primary_keys, unique_keys)
    finally:
        conn.close()


async def postgres_schema(conn: Any) -> Schema:
    """The schema of the `public` schema of a PostgreSQL database."""
    tables: dict[str, list[Column]] = {}
    for row in await conn.fetch(
        """
        SELECT table_name, column_name, data_type, is_nullable = 'NO' AS not_null,
               is_identity = 'YES' AS identity
        FROM information_schema.columns
        WHERE table_schema = 'public'
        ORDER BY table_name, ordinal_position
        """
    ):
        tables.setdefault(row["table_name"], []).append(
            Column(
                row["column_name"],
                row["data_type"],
                row["not_null"],
                row["identity"],
                row["data_type"] == "jsonb",
            )
        )
    indexes: dict[str, Index] = {}
    primary_keys: dict[str, tuple[str, ...]] = {}
    unique_keys: dict[str, set[tuple[str | None, ...]]] = {}
    for row in await conn.fetch(
        """
        SELECT i.relname AS name, t.relname AS table, x.indisunique AS unique,
               x.indisprimary AS primary, x.indpred IS NOT NULL AS partial,
               EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) AS key,
               array(
                   SELECT a.attname
                   FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
                   LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                   ORDER BY k.n
               ) AS columns
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace s ON s.oid = t.relnamespace
        WHERE s.nspname = 'public'
        """
    ):
        columns = tuple(row["columns"])
        if row["primary"]:
            primary_keys[row["table"]] = columns
        if row["unique"]:
            unique_keys.setdefault(row["table"], set()).add(columns)
        if not row["key"]:
            indexes[row["name"]] = Index(row["table"], row["unique"], row["partial"], columns)
    return Schema(tables, indexes, primary_keys, unique_keys)


@pytest.fixture
async def pg(postgres_db: Any) -> Any:
    """A fresh database with the PostgreSQL schema applied."""
    await migrate(postgres_db)
    return postgres_db


async def add_section(
    conn: Any,
    slug: str,
    title: str,
    body: str,
    *,
    guild_id: int | None = None,
    aliases: tuple[str, ...] = (),
) -> int:
    # As the store writes a section: `search_aliases` with it (tests/bot/store/test_sections.py).
    section_id: int = await conn.fetchval(
        "INSERT INTO sections (guild_id, slug, title, body, updated, search_aliases) "
        "VALUES ($1, $2, $3, $4, '2026-11-28', $5) RETURNING id",
        guild_id,
        slug,
        title,
        body,
        fts_aliases(aliases, ()),
    )
    await conn.executemany(
        "INSERT INTO section_aliases (section_id, position, alias) VALUES ($1, $2, $3)",
        [(section_id, position, alias) for position, alias in enumerate(aliases)],
    )
    return section_id


# --- the migrations ------------------------------------------------------------------------


def test_packaged_migrations_are_numbered_without_gaps():
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "001_initial.sql"
    assert all(re.fullmatch(r"\d{3}_[a-z0-9_]+\.sql", m.name) for m in found)


async def test_migrations_apply_on_a_fresh_database_and_again_change_nothing(postgres_db):
    latest = len(migrations())
    assert await schema_version(postgres_db) == 0
    assert await migrate(postgres_db) == (0, latest)
    assert await schema_version(postgres_db) == latest
    applied = await postgres_schema(postgres_db)
    assert await migrate(postgres_db) == (latest, latest)
    assert await postgres_schema(postgres_db) == applied
    assert await postgres_db.fetchval("SELECT count(*) FROM schema_version") == 1


async def test_a_failing_migration_is_rolled_back_whole(postgres_db):
    first = migrations()[0]
    broken = Migration(2, "002_broken.sql", "CREATE TABLE half (x int);\nSELECT nothing FROM half;")
    with pytest.raises(asyncpg.UndefinedColumnError):
        await migrate(postgres_db, [first, broken])
    assert await schema_version(postgres_db) == 1
    assert await postgres_db.fetchval("SELECT to_regclass('half')") is None
    assert await postgres_db.fetchval("SELECT to_regclass('sections')") is not None


async def test_a_database_newer_than_the_code_is_refused(pg):
    latest = len(migrations())
    with pytest.raises(StorageError, match=f"schema version {latest}, newer"):
        await migrate(pg, migrations()[:-1])
    assert await schema_version(pg) == latest


async def test_processes_migrating_at_once_apply_each_migration_once(
    postgres_db, postgres_server: PostgresServer
):
    name = await postgres_db.fetchval("SELECT current_database()")
    others = [await asyncpg.connect(postgres_server.dsn, database=name) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in [postgres_db, *others]))
    finally:
        for other in others:
            await other.close()
    latest = len(migrations())
    # Each ended up current, without an error: a migration applied twice would have failed
    # (CREATE TABLE of a table that exists). One of them found the database empty.
    assert [after for _, after in results] == [latest] * 4
    assert [before for before, _ in results].count(0) == 1
    assert await schema_version(postgres_db) == latest


def test_the_lock_key_is_a_postgres_bigint():
    assert 0 < schema.MIGRATION_LOCK < 2**63


# --- the same schema as SQLite's -------------------------------------------------------------


async def test_every_sqlite_table_and_column_exists_in_postgres(pg, tmp_path):
    lite = await sqlite_schema(tmp_path / "db.sqlite3")
    post = await postgres_schema(pg)
    missing_tables = sorted(set(lite.tables) - set(post.tables))
    assert not missing_tables, f"tables the PostgreSQL schema lacks: {missing_tables}"
    assert set(post.tables) - set(lite.tables) == POSTGRES_ONLY_TABLES
    for table, columns in lite.tables.items():
        theirs = {c.name: c for c in post.tables[table]}
        missing = [c.name for c in columns if c.name not in theirs]
        assert not missing, f"columns of {table} the PostgreSQL schema lacks: {missing}"
        extra = {(table, name) for name in theirs} - {(table, c.name) for c in columns}
        assert extra <= POSTGRES_ONLY_COLUMNS, f"PostgreSQL-only columns not declared: {extra}"
        shared = [name for name in theirs if (table, name) not in POSTGRES_ONLY_COLUMNS]
        assert shared == [c.name for c in columns], f"{table}: the columns' order differs"
        for column in columns:
            other = theirs[column.name]
            where = f"{table}.{column.name}"
            assert other.type in HOLDS[column.type], f"{where}: {other.type} for {column.type}"
            assert other.json == column.json, f"{where}: jsonb exactly where SQLite has JSON"
            assert other.not_null == column.not_null, f"{where}: NOT NULL differs"
            assert other.identity == column.identity, f"{where}: an identity column or not"


async def test_every_sqlite_key_and_index_exists_in_postgres(pg, tmp_path):
    lite = await sqlite_schema(tmp_path / "db.sqlite3")
    post = await postgres_schema(pg)
    assert {t: k for t, k in post.primary_keys.items() if t in lite.tables} == lite.primary_keys
    for table, keys in lite.unique_keys.items():
        assert keys == post.unique_keys.get(table, set()), f"{table}: unique keys differ"
    missing = sorted(set(lite.indexes) - set(post.indexes))
    assert not missing, f"indexes the PostgreSQL schema lacks: {missing}"
    for name, index in lite.indexes.items():
        assert post.indexes[name] == index, f"index {name} differs"
    assert set(post.indexes) - set(lite.indexes) == {"sections_search"}


async def test_ids_come_from_identity_columns(pg):
    first = await add_section(pg, "a", "A", "a")
    second = await add_section(pg, "b", "B", "b")
    assert second > first
    # A copy keeps its rows' ids (BY DEFAULT, not ALWAYS).
    assert await add_section_with_id(pg, 1000) == 1000


async def add_section_with_id(conn: Any, section_id: int) -> int:
    inserted: int = await conn.fetchval(
        "INSERT INTO sections (id, slug, title, body, updated) "
        "VALUES ($1, 'kept', 'Kept', 'Kept', '2026-11-28') RETURNING id",
        section_id,
    )
    return inserted


# --- the database enforces the keys --------------------------------------------------------


async def test_one_curated_section_per_slug_whatever_its_case(pg):
    await add_section(pg, "nato-purpose", "What NATO is for", "A defensive alliance.")
    with pytest.raises(asyncpg.UniqueViolationError, match="sections_scope_slug"):
        await add_section(pg, "NATO-Purpose", "Another", "Another body.")
    # A server's own copy of the topic is another scope, and one per server too.
    await add_section(pg, "nato-purpose", "Ours", "Our text.", guild_id=42)
    await add_section(pg, "nato-purpose", "Theirs", "Their text.", guild_id=43)
    with pytest.raises(asyncpg.UniqueViolationError, match="sections_scope_slug"):
        await add_section(pg, "Nato-purpose", "Again", "Again.", guild_id=42)


async def test_the_daily_claim_refuses_a_second_claim(pg):
    claim = (
        "INSERT INTO briefing_posts (guild_id, local_date, slug, nonce, status, claimed_at) "
        "VALUES ($1, $2, 'nato-purpose', $3, 'claimed', '2026-11-28T09:00:00+00:00')"
    )
    await pg.execute(claim, 42, "2026-11-28", "first")
    with pytest.raises(asyncpg.UniqueViolationError):
        await pg.execute(claim, 42, "2026-11-28", "second")
    await pg.execute(claim, 42, "2026-11-29", "next day")
    await pg.execute(claim, 43, "2026-11-28", "another server")
    assert (
        await pg.fetchval(
            "SELECT nonce FROM briefing_posts WHERE guild_id = 42 AND local_date = '2026-11-28'"
        )
        == "first"
    )


async def test_checks_refuse_what_sqlite_refuses(pg):
    with pytest.raises(asyncpg.CheckViolationError):
        await pg.execute(
            "INSERT INTO briefing_schedules (guild_id, local_time, timezone, next_due_utc, "
            "next_local_date, updated_at) VALUES (1, '9:30', 'UTC', 'x', 'y', 'z')"
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await add_section(pg, "", "Empty slug", "Body.")
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await pg.execute(
            "INSERT INTO kb_drafts (guild_id, user_id, fields, created_at) "
            "VALUES (1, 2, $1, 'now')",
            "{not json",
        )


# --- full-text search over the curated pack -------------------------------------------------


async def test_a_title_word_ranks_above_an_alias_and_above_a_body_word(pg):
    await add_section(pg, "in-body", "Security guarantees", "A ceasefire would come first.")
    await add_section(pg, "in-title", "Ceasefire lines", "Where the front would freeze.")
    await add_section(
        pg, "in-alias", "Peace talks", "Who meets in Berlin.", aliases=("ceasefire talks",)
    )
    await add_section(pg, "unrelated", "NATO's purpose", "A defensive alliance.")
    found = await pg.fetch(SEARCH, "ceasefires")  # stemmed, like FTS5's porter tokenizer
    assert [row["slug"] for row in found] == ["in-title", "in-alias", "in-body"]
    ranks = [row["rank"] for row in found]
    assert ranks[0] > ranks[1] > ranks[2] > 0


async def test_servers_own_sections_are_not_in_the_index(pg):
    await add_section(pg, "curated", "Ceasefire lines", "Curated.")
    await add_section(pg, "ours", "Ceasefire here", "A server's own.", guild_id=42)
    assert [row["slug"] for row in await pg.fetch(SEARCH, "ceasefire")] == ["curated"]
    # Not by the query's scope alone: a server's row has no search vector at all.
    assert await pg.fetchval("SELECT count(*) FROM sections WHERE search IS NOT NULL") == 1


async def test_the_vector_follows_search_aliases_and_nothing_else_writes_it(pg):
    section = await add_section(pg, "talks", "Peace talks", "Who meets.", aliases=("truce",))
    assert [row["slug"] for row in await pg.fetch(SEARCH, "truce")] == ["talks"]
    await pg.execute(
        "UPDATE sections SET search_aliases = 'armistice ; ceasefire lines' WHERE id = $1", section
    )
    assert await pg.fetch(SEARCH, "truce") == []
    assert [row["slug"] for row in await pg.fetch(SEARCH, "armistice")] == ["talks"]
    # The store writes the column with the section: the aliases table alone changes nothing.
    await pg.execute("DELETE FROM section_aliases WHERE section_id = $1", section)
    assert [row["slug"] for row in await pg.fetch(SEARCH, "armistice")] == ["talks"]
    assert await pg.fetchval("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal") == 0


async def test_the_curated_search_can_use_the_partial_gin_index(pg):
    for n in range(50):
        await add_section(pg, f"topic-{n}", f"Topic {n}", "Body text.")
    await pg.execute("ANALYZE sections")
    async with pg.transaction():
        await pg.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(
            row[0] for row in await pg.fetch("EXPLAIN " + SEARCH.replace("$1", "'ceasefire'"))
        )
    assert "sections_search" in plan, plan


# --- the throwaway cluster itself -----------------------------------------------------------


async def test_the_throwaway_cluster_listens_on_its_socket_only(postgres_db, postgres_server):
    if not postgres_server.throwaway:
        pytest.skip(f"the tests use {postgres_server.description}, not a throwaway cluster")
    assert await postgres_db.fetchval("SHOW listen_addresses") == ""
    assert await postgres_db.fetchval("SELECT inet_server_addr()") is None  # a Unix socket
