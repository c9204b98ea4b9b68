"""The SQLite connection: pragmas, migrations, transactions, backup and unusable paths."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from bot.errors import StorageError
from bot.store import database
from bot.store.database import Database, SqliteDatabase, migrations

MIGRATION_FILES = sorted(
    (Path(database.__file__).parent / "migrations").glob("*.sql"), key=lambda p: p.name
)


async def scalar(db: Database, sql: str) -> object:
    async with db.conn.execute(sql) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


@pytest.fixture
async def connections(monkeypatch) -> AsyncIterator[list[aiosqlite.Connection]]:
    """Every aiosqlite connection Database.open makes; any left open is closed afterwards, so a
    leak shows in the test that caused it and not as a thread error in a later one."""
    made: list[aiosqlite.Connection] = []
    real_connect = aiosqlite.connect

    def recording_connect(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        made.append(connection)
        return connection

    monkeypatch.setattr(database.aiosqlite, "connect", recording_connect)
    yield made
    for connection in made:
        await connection.close()


def future_database(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATION_FILES) + 5}")
    return path


@pytest.fixture
async def db(tmp_path, clock):
    opened = await SqliteDatabase.open(tmp_path / "db.sqlite3", clock=clock)
    yield opened
    await opened.close()


async def test_every_migration_file_is_applied(db):
    assert MIGRATION_FILES, "no migration files found"
    assert await db.schema_version() == len(MIGRATION_FILES)
    assert db.latest_version == len(MIGRATION_FILES)
    assert [m.name for m in migrations()] == [p.name for p in MIGRATION_FILES]
    tables = {
        row[0]
        for row in await db.conn.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
        )
    }
    assert {"sections", "section_aliases", "revisions", "sections_fts", "meta", "asks"} <= tables


async def test_file_database_uses_wal_and_foreign_keys(db):
    assert str(await scalar(db, "PRAGMA journal_mode")).lower() == "wal"
    assert await scalar(db, "PRAGMA foreign_keys") == 1


async def test_memory_database_has_foreign_keys_and_schema():
    memory = await SqliteDatabase.open(":memory:")
    try:
        assert await scalar(memory, "PRAGMA foreign_keys") == 1
        assert await memory.schema_version() == len(MIGRATION_FILES)
    finally:
        await memory.close()


async def test_migrate_again_is_a_no_op(db):
    latest = len(MIGRATION_FILES)
    assert await db.migrate() == (latest, latest)


async def test_open_without_migrating_then_migrate_reports_versions(tmp_path):
    plain = await SqliteDatabase.open(tmp_path / "fresh.sqlite3", migrate=False)
    try:
        assert await plain.schema_version() == 0
        assert await plain.migrate() == (0, len(MIGRATION_FILES))
    finally:
        await plain.close()


async def test_reopening_keeps_the_data(tmp_path):
    path = tmp_path / "db.sqlite3"
    first = await SqliteDatabase.open(path)
    async with first.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    await first.close()
    second = await SqliteDatabase.open(path)
    try:
        assert await scalar(second, "SELECT value FROM meta WHERE key = 'k'") == "v"
    finally:
        await second.close()


async def test_transaction_rolls_back_on_error(db):
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            raise RuntimeError("boom")
    assert await scalar(db, "SELECT count(*) FROM meta") == 0
    assert not db.conn.in_transaction
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('k2', 'v2')")
    assert await scalar(db, "SELECT count(*) FROM meta") == 1


async def test_now_uses_the_injected_clock(db, now):
    assert db.now() == now.isoformat(timespec="seconds")


async def test_backup_to_a_file_is_a_usable_copy(db, tmp_path):
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
    target = await db.backup(tmp_path / "copy.sqlite3")
    assert target == tmp_path / "copy.sqlite3"
    assert not list(tmp_path.glob("*.partial"))
    copy = await SqliteDatabase.open(target)
    try:
        assert await scalar(copy, "SELECT value FROM meta WHERE key = 'k'") == "v"
        assert await copy.schema_version() == len(MIGRATION_FILES)
    finally:
        await copy.close()


async def test_backup_into_a_folder_names_the_file_by_the_clock(db, tmp_path, now):
    folder = tmp_path / "backups"
    folder.mkdir()
    target = await db.backup(folder)
    assert target.parent == folder
    assert target.name == f"briefbot-{now.strftime('%Y%m%dT%H%M%SZ')}.sqlite3"
    assert target.is_file()


async def test_backup_into_a_missing_folder_is_refused(db, tmp_path):
    missing = tmp_path / "missing" / "copy.sqlite3"
    with pytest.raises(StorageError, match=str(missing.parent)):
        await db.backup(missing)


async def test_corrupt_file_raises_storage_error_naming_the_path(tmp_path):
    path = tmp_path / "corrupt.sqlite3"
    path.write_bytes(b"this is not an SQLite database\n" * 200)
    with pytest.raises(StorageError) as caught:
        await SqliteDatabase.open(path)
    assert str(path) in str(caught.value)


async def test_directory_as_database_path_raises_storage_error(tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(StorageError) as caught:
        await SqliteDatabase.open(folder)
    assert str(folder) in str(caught.value)


async def test_path_inside_a_regular_file_raises_storage_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("I am a file", encoding="utf-8")
    with pytest.raises(StorageError) as caught:
        await SqliteDatabase.open(blocker / "db.sqlite3")
    assert str(blocker) in str(caught.value)


async def test_schema_newer_than_the_code_is_refused(tmp_path, connections):
    path = future_database(tmp_path / "future.sqlite3")
    with pytest.raises(StorageError) as caught:
        await SqliteDatabase.open(path)
    assert str(path) in str(caught.value)
    assert "newer" in str(caught.value)


async def test_refused_database_leaves_no_connection_open(tmp_path, connections):
    with pytest.raises(StorageError):
        await SqliteDatabase.open(future_database(tmp_path / "future.sqlite3"))
    assert len(connections) == 1
    with pytest.raises(ValueError, match="no active connection"):
        await connections[0].execute("SELECT 1")


async def test_a_database_that_cannot_grow_refuses_the_write_and_the_next_one_works(db):
    """A full disk, simulated by a page limit: nothing partial is kept and writing resumes."""
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('before', 'kept')")
    pages = int(await scalar(db, "PRAGMA page_count"))
    await db.conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StorageError, match="full"):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('small', 'row')")
            await conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                ((f"big{n}", "x" * 2000) for n in range(500)),
            )
    assert not db.conn.in_transaction
    await db.conn.execute("PRAGMA max_page_count = 1073741823")
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('after', 'written')")
    assert await scalar(db, "SELECT group_concat(key) FROM meta") == "after,before"


async def test_a_failed_commit_rolls_back_so_the_next_write_works(db):
    """COMMIT itself fails (here a deferred constraint; a full disk fails the same way)."""
    await db.conn.execute(
        "CREATE TABLE child (parent TEXT REFERENCES meta (key) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('partial', 'row')")
            await conn.execute("INSERT INTO child (parent) VALUES ('missing')")
    assert not db.conn.in_transaction
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO meta (key, value) VALUES ('after', 'written')")
    assert await scalar(db, "SELECT group_concat(key) FROM meta") == "after"
    assert await scalar(db, "SELECT count(*) FROM child") == 0
