"""PostgreSQL as the store's database (bot/store/postgres/database.py): the adapter that lets the
store modules' SQL run unchanged, the writers' turn-taking, and hearing other processes' commits.

Skipped without PostgreSQL, except under CI (tests/postgres.py).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import StorageError
from bot.store.backends import open_database
from bot.store.postgres.database import POOL_MAX, PostgresDatabase, numbered
from tests.postgres import PostgresServer, database_url

FIXED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def databases(
    postgres_url: str,
) -> AsyncIterator[Callable[[], Awaitable[PostgresDatabase]]]:
    """Open any number of connections (as separate processes would) to one database."""
    opened: list[PostgresDatabase] = []

    async def make() -> PostgresDatabase:
        db = await open_database(postgres_url, clock=lambda: FIXED)
        assert isinstance(db, PostgresDatabase)
        opened.append(db)
        return db

    yield make
    for db in opened:
        await db.close()


def test_placeholders_are_numbered_outside_quoted_text() -> None:
    assert numbered("SELECT ? , '?' , 'it''s ?', ?") == "SELECT $1 , '?' , 'it''s ?', $2"
    assert numbered("UPDATE t SET a = ? WHERE b = ?") == "UPDATE t SET a = $1 WHERE b = $2"
    assert numbered('SELECT "a?b", ? -- why?\n/* and? */ FROM t WHERE c = ?') == (
        'SELECT "a?b", $1 -- why?\n/* and? */ FROM t WHERE c = $2'
    )


async def test_reads_writes_and_row_counts_as_sqlite_reports_them(databases) -> None:
    db = await databases()
    assert await db.schema_version() == db.latest_version
    await db.set_meta("greeting", "hello")
    await db.set_meta("greeting", "hello again")
    assert await db.get_meta("greeting") == "hello again"
    assert await db.get_meta("missing") is None
    async with db.transaction() as conn:
        cursor = await conn.execute("DELETE FROM meta WHERE key = ?", ("greeting",))
        assert cursor.rowcount == 1
        cursor = await conn.execute("DELETE FROM meta WHERE key = ?", ("greeting",))
        assert cursor.rowcount == 0
        await conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)", [("a", "1"), ("b", "2"), ("c", "3")]
        )
    async with db.conn.execute("SELECT key, value FROM meta ORDER BY key") as cursor:
        assert await cursor.fetchone() == ("a", "1")
        assert [tuple(r) for r in await cursor.fetchmany(1)] == [("b", "2")]
        rest = await cursor.fetchall()
    assert [(r["key"], r[1]) for r in rest] == [("c", "3")]
    assert db.now() == "2026-12-01T09:00:00+00:00"


async def test_a_failed_transaction_writes_nothing(databases) -> None:
    db = await databases()
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("x", "1"))
            raise RuntimeError("boom")
    assert await db.get_meta("x") is None


async def test_writers_take_turns_so_a_read_check_write_holds(databases) -> None:
    """Two processes each read a counter and write it plus one, at once: with the writers'
    lock neither increment is lost (without it, both would read 0 and write 1)."""
    first, second = await databases(), await databases()
    await first.set_meta("counter", "0")
    inside = asyncio.Event()
    release = asyncio.Event()

    async def increment(db: PostgresDatabase, hold: bool) -> None:
        async with db.transaction() as conn:
            async with conn.execute("SELECT value FROM meta WHERE key = 'counter'") as cursor:
                row = await cursor.fetchone()
            if hold:
                inside.set()
                await release.wait()
            await conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'counter'", (str(int(row[0]) + 1),)
            )

    holder = asyncio.create_task(increment(first, hold=True))
    await inside.wait()
    waiter = asyncio.create_task(increment(second, hold=False))
    # The second writer is seen waiting for the writers' lock (without it, it never waits:
    # it reads 0 and writes 1, and this look times out).
    await asyncio.wait_for(_waiting_for_a_lock(first), timeout=10)
    assert not waiter.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), timeout=10)
    assert await first.get_meta("counter") == "2"


async def _waiting_for_a_lock(db: PostgresDatabase) -> None:
    """Until another session of this database waits for an advisory lock."""
    query = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
    )
    while True:
        async with db.conn.execute(query) as cursor:
            row = await cursor.fetchone()
        if row[0]:
            return
        await asyncio.sleep(0.01)  # a bounded poll (wait_for) of the server's own view


async def test_another_processes_commit_moves_data_version_and_its_own_does_not(
    databases,
) -> None:
    mine, theirs = await databases(), await databases()
    before = await mine.data_version()
    await mine.set_meta("own", "1")
    await theirs.set_meta("other", "1")
    await asyncio.wait_for(_moved(mine, before), timeout=5)
    # Notifications arrive in commit order: had its own commit counted, it would be 2 on.
    assert await mine.data_version() == before + 1


async def _moved(db: PostgresDatabase, before: int) -> None:
    """Look as the service's change follower looks (data_version is polled by design)."""
    while await db.data_version() == before:  # noqa: ASYNC110 - bounded by wait_for
        await asyncio.sleep(0.01)  # a bounded poll (wait_for) of the server's own view


async def test_a_lost_listening_connection_is_reopened_and_counts_as_a_change(
    databases,
) -> None:
    db = await databases()
    before = await db.data_version()
    listener = db._listener
    assert listener is not None
    listener.terminate()
    assert await db.data_version() == before + 1
    other = await databases()
    await other.set_meta("after", "1")
    await asyncio.wait_for(_moved(db, before + 1), timeout=5)


async def test_backup_explains_pg_dump_when_it_is_not_installed(
    databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await databases()
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump on it
    with pytest.raises(StorageError, match="pg_dump --format=custom"):
        await db.backup(tmp_path)
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a test's own folder


async def test_an_unreachable_server_is_a_clear_error_without_the_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://briefbot:sekrit@/briefbot?host={tmp_path}&port=1"
    with pytest.raises(StorageError) as caught:
        await open_database(url)
    assert "sekrit" not in str(caught.value)
    assert "Cannot connect to the PostgreSQL database" in str(caught.value)


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed here")
async def test_backup_runs_pg_dump_when_it_is_installed(databases, tmp_path: Path) -> None:
    db = await databases()
    await db.set_meta("kept", "in the dump")
    written = await db.backup(tmp_path)
    assert written.parent == tmp_path
    assert written.name == "briefbot-20261201T090000Z.pgdump"
    restore = ["pg_restore", "--list", str(written)]
    listed = await asyncio.to_thread(
        subprocess.run, restore, capture_output=True, text=True, check=True
    )
    listing = listed.stdout
    assert "TABLE DATA public meta" in listing
    assert not written.with_name(written.name + ".partial").exists()


async def test_many_writers_at_once_that_also_read_never_empty_the_pool(databases) -> None:
    """More concurrent write transactions than the pool has connections, each reading through
    `conn` (another connection) while it holds the writers' lock: all finish."""
    db = await databases()
    await db.set_meta("counter", "0")

    async def increment() -> None:
        async with db.transaction() as conn:
            value = await db.get_meta("counter")  # a read on a second pooled connection
            assert value is not None
            await conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'counter'", (str(int(value) + 1),)
            )

    await asyncio.wait_for(asyncio.gather(*(increment() for _ in range(3 * POOL_MAX))), 30)
    assert await db.get_meta("counter") == str(3 * POOL_MAX)


async def test_a_database_holding_other_tables_is_refused_untouched(
    postgres_db, postgres_server: PostgresServer
) -> None:
    """Not Briefbot's: its migrations would collide with (or fill) another program's tables."""
    await postgres_db.execute("CREATE TABLE sections (id int PRIMARY KEY, note text)")
    url = database_url(postgres_server, await postgres_db.fetchval("SELECT current_database()"))
    with pytest.raises(StorageError, match="not a Briefbot database"):
        await open_database(url)
    tables = await postgres_db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    )
    assert [t["table_name"] for t in tables] == ["sections"]


async def test_one_database_spelt_two_ways_is_the_same_and_another_is_not(
    postgres_url: str, postgres_urls
) -> None:
    first = await open_database(postgres_url)
    again = await open_database(postgres_url + "&application_name=briefbot-cli")
    other = await open_database(await postgres_urls())
    try:
        assert first.location != again.location
        assert await first.same_as(again)
        assert await again.same_as(first)
        assert not await first.same_as(other)
    finally:
        for db in (first, again, other):
            await db.close()
