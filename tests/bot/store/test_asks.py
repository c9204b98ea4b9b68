"""The asks log: what the gaps report reads, and old questions deleted in bounded batches."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store.asks import AskLog, read_unanswered_counts
from bot.store.database import Database, SqliteDatabase, connect_read_only
from tests.clock import Clock

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def sqlite_db(tmp_path: Path, clock: Clock) -> AsyncIterator[SqliteDatabase]:
    """SQLite only: for what another process reads from the database file."""
    opened = await SqliteDatabase.open(tmp_path / "db.sqlite3", clock=clock)
    yield opened
    await opened.close()


async def count(db: Database) -> int:
    async with db.conn.execute("SELECT count(*) FROM asks") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_prune_deletes_only_older_questions_in_batches(db: Database, clock: Clock) -> None:
    asks = AskLog(db)
    for day in range(10):
        clock.now = START + timedelta(days=day)
        for n in range(7):
            await asks.record(1 + n % 2, f"question {day} {n}", None, None)
    cutoff = (START + timedelta(days=4)).isoformat(timespec="seconds")
    await asks.flush()  # written now, so only the deletes are counted
    transactions = 0
    real = db.transaction

    def counting():  # type: ignore[no-untyped-def]
        nonlocal transactions
        transactions += 1
        return real()

    db.transaction = counting  # type: ignore[method-assign]
    assert await asks.prune(cutoff, batch=5) == 28
    assert transactions == 6  # 5+5+5+5+5+3: never one huge delete
    assert await count(db) == 42
    async with db.conn.execute("SELECT min(asked_at) FROM asks") as cursor:
        row = await cursor.fetchone()
    assert row is not None and row[0] == cutoff


async def test_gaps_read_the_newest_questions_only(db: Database, clock: Clock) -> None:
    asks = AskLog(db)
    for n in range(30):
        clock.now = START + timedelta(minutes=n)
        await asks.record(1, f"q{n}", None, None)
        await asks.record(2, f"other server {n}", None, None)
        await asks.record(1, f"answered {n}", "slug", 0.9)
    since = START.isoformat(timespec="seconds")
    assert await asks.unanswered(1, since, limit=5) == [f"q{n}" for n in range(25, 30)]
    assert len(await asks.unanswered(1, since)) == 30


async def test_unanswered_counts_cover_the_whole_window_a_page_at_a_time(
    db: Database, clock: Clock
) -> None:
    asks = AskLog(db)
    clock.now = START - timedelta(minutes=1)
    await asks.record(1, "asked before the window", None, None)
    for n in range(40):
        clock.now = START + timedelta(minutes=n)
        await asks.record(1, f"question {n % 7}", None, None)
        await asks.record(2, f"another server's question {n % 3}", None, None)
        await asks.record(1, "an answered question", "slug", 0.9)
    await asks.flush()  # written now, so only the reads are counted
    queries = 0
    real = db.conn.execute

    def counting(*args: object):  # type: ignore[no-untyped-def]
        nonlocal queries
        queries += 1
        return real(*args)  # type: ignore[arg-type]

    db.conn.execute = counting  # type: ignore[method-assign]
    found = await asks.unanswered_counts(1, START.isoformat(timespec="seconds"), page=3)
    assert queries == 3  # 3 + 3 + 1 texts: never the whole backlog in one query
    # Each text once, with how many times it was asked and the id of its first asking (the
    # first 2 ids are the one before the window and the other server's first question).
    assert found == [(f"question {n}", 6 if n < 5 else 5, 2 + 3 * n) for n in range(7)]


async def test_a_read_only_connection_of_its_own_counts_the_same_and_writes_nothing(
    sqlite_db: SqliteDatabase, clock: Clock
) -> None:
    db = sqlite_db  # SQLite only: the gaps worker process reads the SQLite file itself
    asks = AskLog(db)
    for n in range(40):
        clock.now = START + timedelta(minutes=n)
        await asks.record(1, f"question {n % 7}", None, None)
        await asks.record(2, f"another server's question {n % 3}", None, None)
    await asks.record(1, "an answered question", "slug", 0.9)
    since = START.isoformat(timespec="seconds")
    expected = await asks.unanswered_counts(1, since)  # flushes first
    with closing(connect_read_only(db.path)) as conn:
        assert read_unanswered_counts(conn, 1, since, page=3) == expected
        assert read_unanswered_counts(conn, 1, since) == expected
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM asks")
    assert len(expected) == 7 and await count(db) == 81


async def test_last_asked_finds_any_wording_case_aside_in_its_server_and_window(
    db: Database, clock: Clock
) -> None:
    asks = AskLog(db)
    clock.now = START - timedelta(days=1)
    await asks.record(1, "Where is the cafeteria?", None, None)  # before the window
    clock.now = START + timedelta(hours=1)
    await asks.record(1, "WHERE IS THE CAFETERIA?", "slug", 0.9)  # answered counts too
    clock.now = START + timedelta(hours=2)
    await asks.record(1, "cafeteria opening hours", None, None)
    clock.now = START + timedelta(hours=3)
    await asks.record(2, "where is the cafeteria?", None, None)  # another server
    await asks.record(1, "something else", None, None)
    since = START.isoformat(timespec="seconds")
    one_hour, two_hours = (
        (START + timedelta(hours=h)).isoformat(timespec="seconds") for h in (1, 2)
    )
    assert await asks.last_asked(1, ["where is the cafeteria?"], since) == one_hour
    wordings = ["Where is the cafeteria?", "Cafeteria Opening Hours", "never asked"]
    assert await asks.last_asked(1, wordings, since) == two_hours
    assert await asks.last_asked(1, ["never asked"], since) is None
    assert await asks.last_asked(1, [], since) is None
    assert await asks.last_asked(3, wordings, since) is None


async def test_unanswered_after_counts_exact_wordings_asked_later_unanswered(
    db: Database,
) -> None:
    asks = AskLog(db, flush_seconds=None)
    await asks.record(1, "where is the cafeteria", None, None)
    await asks.flush()
    async with db.conn.execute("SELECT max(id) FROM asks") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    settled = int(row[0])
    for question, answered, guild, kind in (
        ("where is the cafeteria", None, 1, "ask"),
        ("where is the cafeteria", None, 1, "ask"),
        ("Where is the cafeteria", None, 1, "ask"),  # another wording: exactly as logged
        ("cafeteria hours", None, 1, "ask"),
        ("cafeteria hours", "slug", 1, "ask"),  # answered
        ("cafeteria hours", None, 1, "explain"),  # opened by name, not asked
        ("cafeteria hours", None, 2, "ask"),  # another server
    ):
        await asks.record(guild, question, answered, None, kind=kind)  # type: ignore[arg-type]
    wordings = ["where is the cafeteria", "cafeteria hours"]
    assert await asks.unanswered_after(1, wordings, settled) == 3
    assert await asks.unanswered_after(1, wordings, 0) == 4  # the first asking too
    assert await asks.unanswered_after(1, ["Where is the cafeteria"], settled) == 1
    assert await asks.unanswered_after(1, [], settled) == 0
    assert await asks.unanswered_after(2, wordings, settled) == 1


# -- writing in batches off the answering path --


class Refused(Exception):
    """The database refused a write (a full disk, a lost connection)."""


class Transactions:
    """Counts the database's transactions and can make the next `failures` of them fail."""

    def __init__(self, db: Database, failures: int = 0) -> None:
        self.real = db.transaction
        self.count = 0
        self.failures = failures
        db.transaction = self  # type: ignore[method-assign]

    def __call__(self):  # type: ignore[no-untyped-def]
        self.count += 1
        if self.failures:
            self.failures -= 1
            raise Refused("disk I/O error")
        return self.real()


async def questions(db: Database) -> list[tuple[str, str]]:
    async with db.conn.execute("SELECT question, asked_at FROM asks ORDER BY id") as cursor:
        return [(row[0], row[1]) for row in await cursor.fetchall()]


async def test_record_only_queues_and_flush_writes_the_queue_in_one_transaction(
    db: Database, clock: Clock
) -> None:
    asks = AskLog(db, flush_seconds=None)
    transactions = Transactions(db)
    for n in range(5):
        clock.now = START + timedelta(seconds=n)
        await asks.record(1, f"q{n}", None, None)
    assert transactions.count == 0 and await count(db) == 0
    assert asks.queued == 5
    clock.now = START + timedelta(hours=1)
    assert await asks.flush() == 5
    assert transactions.count == 1 and asks.queued == 0
    # Each keeps the time it was asked, not the time it was written.
    assert await questions(db) == [
        (f"q{n}", (START + timedelta(seconds=n)).isoformat(timespec="seconds")) for n in range(5)
    ]
    assert await asks.flush() == 0 and transactions.count == 1  # nothing queued: no write
    await asks.close()


async def test_the_background_writer_writes_what_waited_then_ends(db: Database) -> None:
    asks = AskLog(db, flush_seconds=0)  # the interval is over at once
    transactions = Transactions(db)
    for n in range(4):
        await asks.record(1, f"q{n}", None, None)
    writer = asks.writer
    assert writer is not None
    await writer
    assert await count(db) == 4 and transactions.count == 1
    await asks.record(1, "later", None, None)
    assert asks.writer is not writer  # a new one for the next batch
    await asks.close()
    assert await count(db) == 5 and asks.writer is None


async def test_enough_waiting_questions_wake_the_writer_before_its_interval(
    db: Database,
) -> None:
    asks = AskLog(db, flush_seconds=None, flush_at=3)  # no interval: only the count writes
    await asks.record(1, "q0", None, None)
    await asks.record(1, "q1", None, None)
    writer = asks.writer
    assert writer is not None
    for _ in range(5):
        await asyncio.sleep(0)  # let it run: it waits
    assert not writer.done() and await count(db) == 0
    await asks.record(1, "q2", None, None)
    await writer
    assert await count(db) == 3 and asks.queued == 0


async def test_a_full_queue_is_written_by_the_record_that_finds_it_full(db: Database) -> None:
    asks = AskLog(db, flush_seconds=None, max_queued=3)
    for n in range(3):
        await asks.record(1, f"q{n}", None, None)
    assert await count(db) == 0
    await asks.record(1, "q3", None, None)
    assert await count(db) == 3 and asks.queued == 1  # nothing dropped, the queue bounded
    await asks.close()
    assert [q for q, _ in await questions(db)] == ["q0", "q1", "q2", "q3"]


async def test_close_writes_every_queued_question_and_later_ones_at_once(
    db: Database,
) -> None:
    asks = AskLog(db)  # the production interval: only close() can write these in time
    for n in range(250):  # more than FLUSH_AT: the writer is woken, whatever it has done
        await asks.record(n % 3, f"q{n}", None, None)
    await asks.close()
    assert await count(db) == 250 and asks.queued == 0 and asks.writer is None
    await asks.record(1, "after close", None, None)
    assert await count(db) == 251 and asks.writer is None


async def test_the_readers_see_questions_still_queued(db: Database) -> None:
    asks = AskLog(db, flush_seconds=None)
    await asks.record(1, "where is the cafeteria", None, None)
    await asks.record(1, "berlin talks", "berlin-talks", 0.9)
    since = START.isoformat(timespec="seconds")
    assert await asks.unanswered(1, since) == ["where is the cafeteria"]
    await asks.record(1, "where is the cafeteria", None, None)
    assert [(q, n) for q, n, _ in await asks.unanswered_counts(1, since)] == [
        ("where is the cafeteria", 2)
    ]
    later = (START + timedelta(days=1)).isoformat(timespec="seconds")
    await asks.record(1, "one more", None, None)
    assert await asks.prune(later) == 4  # queued ones are old enough to go too


async def test_a_refused_batch_stays_queued_in_order_and_flush_says_so(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    asks = AskLog(db, flush_seconds=None)
    transactions = Transactions(db, failures=1)
    await asks.record(1, "q0", None, None)
    await asks.record(1, "q1", None, None)
    with pytest.raises(Refused):
        await asks.flush()
    assert asks.queued == 2 and await count(db) == 0
    await asks.record(1, "q2", None, None)
    assert await asks.flush() == 3 and transactions.count == 2
    assert [q for q, _ in await questions(db)] == ["q0", "q1", "q2"]


async def test_the_writer_logs_a_refused_batch_once_retries_it_and_says_when_it_recovers(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    asks = AskLog(db, flush_seconds=0)
    transactions = Transactions(db, failures=3)
    with caplog.at_level(logging.WARNING, logger="bot.store.asks"):
        for n in range(3):
            await asks.record(1, f"q{n}", None, None)
        assert asks.writer is not None
        await asks.writer  # it retries until the database takes the batch
    assert transactions.count == 4
    assert [q for q, _ in await questions(db)] == ["q0", "q1", "q2"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "could not write 3 asked questions" in errors[0].getMessage()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "the ask log is written again"
    ]


async def test_a_full_queue_the_database_refuses_raises_instead_of_growing(
    db: Database,
) -> None:
    asks = AskLog(db, flush_seconds=None, max_queued=2)
    Transactions(db, failures=1)
    await asks.record(1, "q0", None, None)
    await asks.record(1, "q1", None, None)
    with pytest.raises(Refused):
        await asks.record(1, "q2", None, None)  # the caller hears of it: not lost silently
    assert asks.queued == 2
    await asks.close()
    assert [q for q, _ in await questions(db)] == ["q0", "q1"]


async def test_a_batch_another_flush_failed_to_write_is_left_to_the_writer(db: Database) -> None:
    asks = AskLog(db, flush_seconds=0)
    Transactions(db, failures=1)
    await asks.record(1, "q0", None, None)  # the writer starts while this flush is writing
    with pytest.raises(Refused):
        await asks.flush()
    assert asks.writer is not None
    await asks.writer
    assert [q for q, _ in await questions(db)] == ["q0"] and asks.queued == 0
