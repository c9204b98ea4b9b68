"""`python -m bot stats`: the numbers it reads through the store, and the lines it prints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.service import BriefingService
from bot.stats import collect, render
from bot.store.asks import AskLog
from bot.store.database import Database
from bot.store.stats import StatsStore

NOW = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def moving_clock() -> Clock:
    return Clock()


@pytest.fixture
async def stats_service(
    tmp_path: Path, knowledge_dir: Path, moving_clock: Clock
) -> AsyncIterator[BriefingService]:
    opened = await BriefingService.open(tmp_path / "db.sqlite3", knowledge_dir, clock=moving_clock)
    yield opened
    await opened.close()


async def add_post(db: Database, guild_id: int, local_date: str, status: str, at: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO briefing_posts (guild_id, local_date, nonce, status, claimed_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (guild_id, local_date, f"n-{guild_id}-{local_date}", status, at),
        )


async def fill(service: BriefingService, clock: Clock) -> None:
    """Questions over three days (one too old to count), and daily posts in four states."""
    asks = AskLog(service.db)
    clock.now = NOW - timedelta(days=8)
    await asks.record(9, "a question from before the window", None, None)
    clock.now = NOW - timedelta(days=2)
    await asks.record(1, "berlin talks", "berlin-talks", 0.9)
    await asks.record(1, "where is the cafeteria", None, None)
    await asks.record(2, "where is the cafeteria?", None, None)
    clock.now = NOW - timedelta(days=1)
    await asks.record(2, "parking permit", None, None)
    await asks.flush()  # the ask log is written in batches
    clock.now = NOW
    old = (NOW - timedelta(days=10)).isoformat(timespec="seconds")
    recent = (NOW - timedelta(days=1)).isoformat(timespec="seconds")
    await add_post(service.db, 1, "2026-11-17", "sent", old)
    await add_post(service.db, 1, "2026-11-27", "sent", recent)
    await add_post(service.db, 2, "2026-11-27", "failed", recent)
    await add_post(service.db, 3, "2026-11-27", "skipped", recent)
    await add_post(service.db, 4, "2026-11-27", "claimed", recent)


async def test_collect_counts_the_window_the_injected_clock_sets(
    stats_service: BriefingService, moving_clock: Clock
) -> None:
    await fill(stats_service, moving_clock)
    report = await collect(stats_service, days=7)
    assert report == {
        "days": 7,
        "sections": 10,
        "servers": 3,  # 1, 2 and 9 asked (ever); a daily post alone does not count a server
        "asks_per_day": {"2026-11-26": 3, "2026-11-27": 1},
        "asks": 4,
        "answered_share": 0.25,
        "top_gaps": [
            {"question": "where is the cafeteria", "count": 2},
            {"question": "parking permit", "count": 1},
        ],
        "daily_posts": {"sent": 1, "failed": 1, "skipped": 1},
    }


async def test_the_window_moves_with_the_clock(
    stats_service: BriefingService, moving_clock: Clock
) -> None:
    await fill(stats_service, moving_clock)
    moving_clock.now = NOW + timedelta(days=5, hours=12)  # the day-2 questions fall out
    report = await collect(stats_service, days=7)
    assert report["asks_per_day"] == {"2026-11-27": 1}
    assert report["answered_share"] == 0.0
    assert report["top_gaps"] == [{"question": "parking permit", "count": 1}]
    assert report["daily_posts"] == {"sent": 1, "failed": 1, "skipped": 1}
    moving_clock.now = NOW + timedelta(days=7)
    assert (await collect(stats_service, days=7))["daily_posts"] == {
        "sent": 0,
        "failed": 0,
        "skipped": 0,
    }
    longer = await collect(stats_service, days=30)
    assert longer["asks"] == 5 and longer["daily_posts"]["sent"] == 2


async def test_the_store_reads_each_figure(
    stats_service: BriefingService, moving_clock: Clock
) -> None:
    await fill(stats_service, moving_clock)
    stats = StatsStore(stats_service.db)
    since = stats.since(7)
    assert since == "2026-11-21T09:30:15+00:00"
    assert [tuple(d) for d in await stats.asks_per_day(since)] == [
        ("2026-11-26", 3, 1),
        ("2026-11-27", 1, 0),
    ]
    assert await stats.posts_by_status(since) == {
        "sent": 1,
        "failed": 1,
        "skipped": 1,
        "claimed": 1,
    }
    assert await stats.unanswered(since) == [
        "where is the cafeteria",
        "where is the cafeteria?",
        "parking permit",
    ]
    assert await stats.servers() == 3


def test_render_prints_every_figure() -> None:
    report = {
        "days": 7,
        "sections": 10,
        "servers": 3,
        "asks_per_day": {"2026-11-26": 3, "2026-11-27": 1},
        "asks": 4,
        "answered_share": 0.25,
        "top_gaps": [{"question": "where is the cafeteria", "count": 2}],
        "daily_posts": {"sent": 1, "failed": 0, "skipped": 2},
    }
    assert render(report) == "\n".join(
        [
            "Sections: 10",
            "Servers: 3",
            "Asks in the last 7 days: 4 (25% answered)",
            "  2026-11-26: 3",
            "  2026-11-27: 1",
            "Top gaps:",
            "  2x where is the cafeteria",
            "Daily posts: 1 sent, 0 failed, 2 skipped",
        ]
    )


def test_render_of_a_quiet_week() -> None:
    report = {
        "days": 30,
        "sections": 10,
        "servers": 0,
        "asks_per_day": {},
        "asks": 0,
        "answered_share": None,
        "top_gaps": [],
        "daily_posts": {"sent": 0, "failed": 0, "skipped": 0},
    }
    assert render(report) == (
        "Sections: 10\nServers: 0\nAsks in the last 30 days: 0\nTop gaps: none\n"
        "Daily posts: 0 sent, 0 failed, 0 skipped"
    )


async def record_now(db_path: Path, knowledge_dir: Path) -> str:
    """Two questions asked just now in one server; returns today's UTC date."""
    now = datetime.now(UTC)
    service = await BriefingService.open(db_path, knowledge_dir, clock=lambda: now)
    try:
        asks = AskLog(service.db)
        await asks.record(5, "berlin talks", "berlin-talks", 0.9)
        await asks.record(5, "lost and found", None, None)
        await asks.flush()  # the ask log is written in batches
    finally:
        await service.close()
    return now.date().isoformat()


def test_the_command_prints_what_was_asked(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    knowledge_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_path = tmp_path / "db.sqlite3"
    today = asyncio.run(record_now(db_path, knowledge_dir))
    clean_env.setenv("BRIEFBOT_DB", str(db_path))
    clean_env.setenv("BRIEFBOT_KNOWLEDGE", str(knowledge_dir))
    capsys.readouterr()
    assert main(["stats"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Sections: 10",
        "Servers: 1",
        "Asks in the last 7 days: 2 (50% answered)",
        f"  {today}: 2",
        "Top gaps:",
        "  1x lost and found",
        "Daily posts: 0 sent, 0 failed, 0 skipped",
    ]
    assert main(["stats", "--json", "--days", "30"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"] == 30 and report["asks_per_day"] == {today: 2}
    assert report["top_gaps"] == [{"question": "lost and found", "count": 1}]
