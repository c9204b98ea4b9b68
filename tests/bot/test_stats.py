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
from bot.store.learning import LearningStore
from bot.store.stats import StatsStore
from tests.clock import Clock

NOW = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)
QUIET_LOOP = {
    "helpful": 0,
    "not_what_i_asked": 0,
    "outdated": 0,
    "picked_after_no_answer": 0,
    "taught": 0,
    "dismissed": 0,
}


@pytest.fixture
def moving_clock() -> Clock:
    return Clock(NOW)


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
        "answered_share_per_week": {"2026-W48": 0.25},
        "learning": QUIET_LOOP,
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


async def test_the_learning_loop_and_the_share_per_week_are_counted(
    stats_service: BriefingService, moving_clock: Clock
) -> None:
    asks, loop = AskLog(stats_service.db), LearningStore(stats_service.db)

    async def at(moment: datetime, questions: list[tuple[str, str | None]]) -> None:
        moving_clock.now = moment
        for question, slug in questions:
            await asks.record(1, question, slug, 0.9 if slug else None)
        await asks.flush()

    # Before the 14 days: neither the question nor the signals count.
    await at(NOW - timedelta(days=20), [("too old", None)])
    await loop.signal(1, 99, 10, "helpful", "too old", "us-role")
    await loop.seen(1, "old", "unanswered", "too old", None, 1)
    await loop.settle(1, "old", "dismissed")
    # ISO week 47: half answered; week 48: a quarter. Topics opened by name are no questions.
    await at(
        datetime(2026, 11, 18, 12, 0, tzinfo=UTC),
        [("berlin talks", "berlin-talks"), ("a", None), ("b", None), ("us role", "us-role")],
    )
    await at(
        datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        [("nato", "nato-purpose"), ("c", None), ("d", None), ("e", None)],
    )
    for slug in ("berlin-talks", "us-role", "nato-purpose"):
        await asks.record(1, slug, slug, 1.0, ref=5, kind="explain")
    await asks.record(2, "a topic nobody has", None, None, kind="explain")
    await asks.flush()
    await loop.signal(1, 1, 10, "helpful", "berlin talks", "berlin-talks")
    await loop.signal(1, 1, 10, "helpful", "berlin talks", "berlin-talks")  # once per member
    await loop.signal(2, 1, 10, "helpful", "berlin talks", "berlin-talks")
    await loop.signal(1, 2, 11, "wrong", "us role", "us-role", "nato-purpose")
    await loop.signal(1, 3, 12, "pick", "a", None, "nato-purpose")
    moving_clock.now += timedelta(minutes=1)  # after the pack's import
    await loop.flag_outdated(1, "us-role", 10)
    await loop.flag_outdated(2, "us-role", 10)
    await loop.flag_outdated(2, "us-role", 10)  # once per member
    for guild, key, how in ((1, "k1", "taught"), (1, "k2", "dismissed"), (2, "k1", "dismissed")):
        await loop.seen(guild, key, "unanswered", "c", None, 1)
        await loop.settle(guild, key, how)  # type: ignore[arg-type]
    await loop.seen(1, "k3", "unanswered", "d", None, 1)  # seen, not settled
    await loop.add(1, "us-role", "taught", "c", author="a", author_id=1)
    moving_clock.now = NOW
    report = await collect(stats_service, days=14)
    assert report["asks_per_day"] == {"2026-11-18": 4, "2026-11-25": 4}
    assert (report["asks"], report["answered_share"]) == (8, 0.375)
    assert report["answered_share_per_week"] == {"2026-W47": 0.5, "2026-W48": 0.25}
    assert {g["question"] for g in report["top_gaps"]} == {"a", "b", "c", "d", "e"}
    assert report["learning"] == {
        "helpful": 2,
        "not_what_i_asked": 1,
        "outdated": 2,
        "picked_after_no_answer": 1,
        "taught": 1,
        "dismissed": 2,
    }
    lines = render(report).splitlines()
    assert lines[lines.index("Answered per week:") + 1 :][:2] == [
        "  2026-W47: 50%",
        "  2026-W48: 25%",
    ]
    assert "Review: 1 items taught, 2 dismissed" in lines
    longer = await collect(stats_service, days=30)
    assert longer["answered_share_per_week"] == {"2026-W45": 0.0, "2026-W47": 0.5, "2026-W48": 0.25}
    assert longer["learning"]["helpful"] == 3 and longer["learning"]["dismissed"] == 3


def test_render_prints_every_figure() -> None:
    report = {
        "days": 7,
        "sections": 10,
        "servers": 3,
        "asks_per_day": {"2026-11-26": 3, "2026-11-27": 1},
        "asks": 4,
        "answered_share": 0.25,
        "top_gaps": [{"question": "where is the cafeteria", "count": 2}],
        "answered_share_per_week": {"2026-W47": 0.5, "2026-W48": 0.75},
        "learning": {
            "helpful": 6,
            "not_what_i_asked": 5,
            "outdated": 4,
            "picked_after_no_answer": 3,
            "taught": 2,
            "dismissed": 1,
        },
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
            "Answered per week:",
            "  2026-W47: 50%",
            "  2026-W48: 75%",
            "Members' signals: 6 helpful, 5 not what I asked, 4 outdated, 3 topics picked after "
            "no answer",
            "Review: 2 items taught, 1 dismissed",
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
        "answered_share_per_week": {},
        "learning": QUIET_LOOP,
        "daily_posts": {"sent": 0, "failed": 0, "skipped": 0},
    }
    assert render(report) == (
        "Sections: 10\nServers: 0\nAsks in the last 30 days: 0\nTop gaps: none\n"
        "Answered per week: no questions\n"
        "Members' signals: 0 helpful, 0 not what I asked, 0 outdated, 0 topics picked after "
        "no answer\n"
        "Review: 0 items taught, 0 dismissed\n"
        "Daily posts: 0 sent, 0 failed, 0 skipped"
    )


async def record_now(db_path: Path, knowledge_dir: Path) -> tuple[str, str]:
    """Two questions asked just now in one server; returns today's UTC date and ISO week."""
    now = datetime.now(UTC)
    service = await BriefingService.open(db_path, knowledge_dir, clock=lambda: now)
    try:
        asks = AskLog(service.db)
        await asks.record(5, "berlin talks", "berlin-talks", 0.9)
        await asks.record(5, "lost and found", None, None)
        await asks.flush()  # the ask log is written in batches
    finally:
        await service.close()
    year, week, _ = now.isocalendar()
    return now.date().isoformat(), f"{year}-W{week:02d}"


def test_the_command_prints_what_was_asked(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    knowledge_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db_path = tmp_path / "db.sqlite3"
    today, week = asyncio.run(record_now(db_path, knowledge_dir))
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
        "Answered per week:",
        f"  {week}: 50%",
        "Members' signals: 0 helpful, 0 not what I asked, 0 outdated, 0 topics picked after "
        "no answer",
        "Review: 0 items taught, 0 dismissed",
        "Daily posts: 0 sent, 0 failed, 0 skipped",
    ]
    assert main(["stats", "--json", "--days", "30"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["days"] == 30 and report["asks_per_day"] == {today: 2}
    assert report["top_gaps"] == [{"question": "lost and found", "count": 1}]
    assert report["answered_share_per_week"] == {week: 0.5}
    assert report["learning"] == QUIET_LOOP
