"""The asks log: what the gaps report reads, and old questions deleted in bounded batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.store.asks import AskLog
from bot.store.database import Database

START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path, clock: Clock) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "db.sqlite3", clock=clock)
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
