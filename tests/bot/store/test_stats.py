"""The statistics store: the same figures from either backend, counted over every server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.store.asks import AskLog
from bot.store.database import Database
from bot.store.stats import DayAsks, StatsStore
from tests.clock import Clock

NOW = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)
GUILDS = (1001, 1002, 1003, 1004)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


async def add_post(db: Database, guild_id: int, local_date: str, status: str, at: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO briefing_posts (guild_id, local_date, nonce, status, claimed_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (guild_id, local_date, f"n-{guild_id}-{local_date}", status, at),
        )


async def test_questions_per_day_count_every_server_and_only_asked_ones(
    db: Database, clock: Clock
) -> None:
    asks, stats = AskLog(db), StatsStore(db)
    clock.now = NOW - timedelta(days=8)
    await asks.record(GUILDS[0], "before the window", None, None)
    for day in (2, 1, 0):
        clock.now = NOW - timedelta(days=day)
        for n, guild in enumerate(GUILDS[: 4 - day]):
            answered = "us-role" if n % 2 == 0 else None
            await asks.record(guild, f"question {day} {n}", answered, 0.9 if answered else None)
        await asks.record(GUILDS[0], f"explain {day}", "us-role", None, kind="explain")
    await asks.flush()
    since = stats.since(7)
    assert since == (NOW - timedelta(days=7)).isoformat(timespec="seconds")
    assert await stats.asks_per_day(since) == [
        DayAsks("2026-11-26", 2, 1),
        DayAsks("2026-11-27", 3, 2),
        DayAsks("2026-11-28", 4, 2),
    ]
    # A day with no answered question counts 0, not nothing.
    clock.now = NOW + timedelta(days=1)
    await asks.record(GUILDS[1], "nobody knew", None, None)
    await asks.flush()
    assert (await stats.asks_per_day(since))[-1] == DayAsks("2026-11-29", 1, 0)
    clock.now = NOW - timedelta(seconds=1)
    await asks.record(GUILDS[2], "just before", None, None)
    await asks.flush()
    assert await stats.asks_per_day(NOW.isoformat(timespec="seconds")) == [
        DayAsks("2026-11-28", 4, 2),  # the one asked a second before is left out
        DayAsks("2026-11-29", 1, 0),
    ]


async def test_servers_counts_each_server_once_whatever_it_left_behind(db: Database) -> None:
    asks, stats = AskLog(db), StatsStore(db)
    assert await stats.servers() == 0
    await asks.record(GUILDS[0], "q", None, None)
    await asks.record(GUILDS[0], "q again", None, None)
    await asks.record(GUILDS[1], "q", None, None)
    await asks.flush()
    async with db.transaction() as conn:
        for guild in (GUILDS[1], GUILDS[2]):
            await conn.execute(
                "INSERT INTO briefing_schedules (guild_id, local_time, timezone, next_due_utc, "
                "next_local_date, updated_at) VALUES (?, '09:00', 'UTC', ?, ?, ?)",
                (guild, NOW.isoformat(), "2026-11-29", NOW.isoformat()),
            )
        for guild, slug in ((None, "curated"), (GUILDS[3], "own"), (GUILDS[0], "own")):
            await conn.execute(
                "INSERT INTO sections (guild_id, slug, title, body, updated) "
                "VALUES (?, ?, 'Title', 'Body.', '2026-01-01')",
                (guild, slug),
            )
    assert await stats.servers() == 4  # a curated topic is no server's


async def test_posts_by_status_since(db: Database) -> None:
    stats = StatsStore(db)
    old = (NOW - timedelta(days=9)).isoformat(timespec="seconds")
    recent = (NOW - timedelta(days=1)).isoformat(timespec="seconds")
    await add_post(db, GUILDS[0], "2026-11-19", "sent", old)
    for guild, status in zip(GUILDS, ("sent", "sent", "failed", "skipped"), strict=True):
        await add_post(db, guild, "2026-11-27", status, recent)
    await add_post(db, GUILDS[0], "2026-11-28", "claimed", NOW.isoformat(timespec="seconds"))
    assert await stats.posts_by_status(stats.since(7)) == {
        "sent": 2,
        "failed": 1,
        "skipped": 1,
        "claimed": 1,
    }
    assert await stats.posts_by_status(NOW.isoformat(timespec="seconds")) == {"claimed": 1}


async def test_unanswered_lists_every_servers_asked_questions_oldest_first(
    db: Database, clock: Clock
) -> None:
    asks, stats = AskLog(db), StatsStore(db)
    clock.now = NOW - timedelta(days=8)
    await asks.record(GUILDS[0], "too old", None, None)
    clock.now = NOW - timedelta(hours=1)
    for guild in reversed(GUILDS):  # the same second: in the order they were asked
        await asks.record(guild, f"from {guild}", None, None)
    clock.now = NOW
    await asks.record(GUILDS[0], "answered", "us-role", 0.9)
    await asks.record(GUILDS[1], "opened by name", None, None, kind="explain")
    await asks.record(GUILDS[2], "latest", None, None)
    await asks.flush()
    assert await stats.unanswered(stats.since(7)) == [
        *(f"from {guild}" for guild in reversed(GUILDS)),
        "latest",
    ]
