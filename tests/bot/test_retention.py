"""Retention: questions kept for the configured days, a removed server's data for 30 days."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.client import Briefbot
from bot.editing import Author, Editor
from bot.retention import REMOVED_GUILD_DAYS, Retention, RetentionReport
from bot.service import BriefingService
from bot.store.asks import AskLog
from bot.store.database import Database
from bot.store.guilds import GuildData
from bot.store.learning import LearningStore
from bot.store.moderation import ModerationStore
from tests.clock import Clock
from tests.discord_support import KNOWLEDGE, running_bot
from tests.fakediscord import FakeDiscord

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def service_location(database_location: str) -> str:
    """The `service` fixture's database: SQLite, then PostgreSQL."""
    return database_location


async def questions(db: Database) -> list[str]:
    async with db.conn.execute("SELECT question FROM asks ORDER BY id") as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def test_questions_older_than_the_retention_are_deleted(db: Database, clock: Clock) -> None:
    asks = AskLog(db)
    await asks.record(1, "old", None, None)
    clock.advance(days=5)
    await asks.record(1, "newer", None, None)
    await asks.flush()  # the ask log is written in batches
    retention = Retention(db, ask_days=90)
    clock.advance(days=85, seconds=-1)
    assert (await retention.run_once()).asks_deleted == 0
    clock.advance(seconds=2)
    assert (await retention.run_once()).asks_deleted == 1
    assert await questions(db) == ["newer"]
    clock.advance(days=30)
    await Retention(db, ask_days=7).run_once()
    assert await questions(db) == []


async def learning_rows(db: Database) -> dict[str, list[tuple[int, str]]]:
    """Each learning table's rows, as (server, what the row is about)."""
    found = {}
    for table, about in (
        ("signals", "question"),
        ("outdated_flags", "slug"),
        ("review_items", "key"),
        ("topic_additions", "detail"),
    ):
        # Names from the list above, never from input.
        sql = f"SELECT guild_id, {about} FROM {table} ORDER BY 1, 2"  # noqa: S608
        async with db.conn.execute(sql) as cursor:
            found[table] = [(int(r[0]), str(r[1])) for r in await cursor.fetchall()]
    return found


async def test_members_signals_are_pruned_with_the_questions(db: Database, clock: Clock) -> None:
    asks, learning = AskLog(db), LearningStore(db)

    async def signals(guild: int, question: str) -> None:
        await asks.record(guild, question, "us-role", 0.5, ref=guild)
        await learning.signal(guild, guild, 10, "helpful", question, "us-role")
        await learning.signal(guild, guild, 10, "wrong", question, "us-role", None)
        await learning.flag_outdated(guild, question, 10)
        await learning.seen(guild, question, "misanswered", question, "us-role", 1)

    await signals(1, "old")
    await learning.seen(1, "dismissed", "unanswered", "old", None, 1)
    await learning.settle(1, "dismissed", "dismissed")
    await learning.add(1, "us-role", "taught", "old", author="a", author_id=1)
    clock.advance(days=5)
    await signals(2, "newer")
    await asks.flush()  # the ask log is written in batches
    retention = Retention(db, ask_days=90)
    clock.advance(days=85, seconds=-1)
    report = await retention.run_once()
    assert (report.asks_deleted, report.signals_deleted) == (0, 0)
    clock.advance(seconds=2)
    report = await retention.run_once()
    assert (report.asks_deleted, report.signals_deleted) == (1, 4)  # 2 signals, a flag, an item
    assert await questions(db) == ["newer"]
    assert await learning_rows(db) == {
        "signals": [(2, "newer"), (2, "newer")],
        "outdated_flags": [(2, "newer")],
        # A settled item stays (it says when the item comes back), and so does what was taught.
        "review_items": [(1, "dismissed"), (2, "newer")],
        "topic_additions": [(1, "old")],
    }
    clock.advance(days=30)
    await Retention(db, ask_days=7).run_once()
    rows = await learning_rows(db)
    assert (rows["signals"], rows["outdated_flags"]) == ([], [])
    assert rows["review_items"] == [(1, "dismissed")]


async def test_a_removed_servers_signals_and_teachings_are_purged_with_it(
    db: Database, clock: Clock
) -> None:
    learning = LearningStore(db)
    for guild in (1, 2):
        await learning.signal(guild, 5, 10, "helpful", f"question {guild}", "us-role")
        await learning.flag_outdated(guild, "us-role", 10)
        await learning.seen(guild, f"key {guild}", "unanswered", f"question {guild}", None, 1)
        await learning.settle(guild, f"key {guild}", "taught")
        await learning.add(guild, "us-role", "taught", f"question {guild}", author="a", author_id=1)
    retention = Retention(db)
    await retention.guilds.mark_removed(1)
    clock.advance(days=REMOVED_GUILD_DAYS, seconds=1)
    report = await retention.run_once()
    assert report.guilds_purged == [1] and report.signals_deleted == 0
    assert await learning_rows(db) == {
        "signals": [(2, "question 2")],
        "outdated_flags": [(2, "us-role")],
        "review_items": [(2, "key 2")],
        "topic_additions": [(2, "question 2")],
    }


async def test_expired_drafts_are_deleted_without_waiting_for_another_draft(
    db: Database, clock: Clock
) -> None:
    drafts = ModerationStore(db)
    old = await drafts.keep_draft(1, 10, None, None, {"title": "old"})
    clock.advance(days=10)
    newer = await drafts.keep_draft(2, 20, None, None, {"title": "newer"})
    retention = Retention(db)
    clock.advance(days=20, seconds=-1)
    assert (await retention.run_once()).drafts_deleted == 0
    clock.advance(seconds=2)
    assert (await retention.run_once()).drafts_deleted == 1
    async with db.conn.execute("SELECT id FROM kb_drafts ORDER BY id") as cursor:
        assert [row[0] for row in await cursor.fetchall()] == [newer]
    assert old != newer


async def test_a_removed_server_is_purged_after_30_days_unless_the_bot_came_back(
    db: Database, clock: Clock
) -> None:
    moderation = ModerationStore(db)
    for guild in (1, 2, 3):
        await moderation.update(guild, mod_role_id=guild * 10)
    retention = Retention(db, is_member=lambda guild: guild == 3)
    for guild in (1, 2, 3):
        await retention.guilds.mark_removed(guild)
    clock.advance(days=10)
    await retention.guilds.cancel_removal(2)  # added back within the 30 days
    clock.advance(days=REMOVED_GUILD_DAYS - 10, seconds=-1)
    assert (await retention.run_once()).guilds_purged == []
    clock.advance(seconds=2)
    report = await retention.run_once()
    assert report.guilds_purged == [1]
    assert report.guilds_kept == [3]  # it is in the server again, though no event said so
    assert [(await moderation.settings(g)).mod_role_id for g in (1, 2, 3)] == [None, 20, 30]
    assert await retention.guilds.removed_at(1) is None
    assert await retention.guilds.removed_at(3) is None


async def test_the_loop_runs_at_once_and_stops_when_told(db: Database, clock: Clock) -> None:
    await AskLog(db).record(1, "ancient", None, None)
    clock.advance(days=400)
    ran = asyncio.Event()

    class Watched(Retention):
        async def run_once(self) -> RetentionReport:
            report = await super().run_once()
            ran.set()
            return report

    stop = asyncio.Event()
    task = asyncio.create_task(Watched(db).run(stop, every=3600))
    async with asyncio.timeout(5):
        await ran.wait()
        assert await questions(db) == []
        stop.set()
        await task


async def test_the_bot_records_a_removal_not_an_outage_and_forgets_it_when_added_back(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        outage, removed = fake.add_guild(name="Outage"), fake.add_guild(name="Removed")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            guilds = bot.retention.guilds
            marked: asyncio.Queue[int] = asyncio.Queue()
            cancelled: asyncio.Queue[tuple[int, bool]] = asyncio.Queue()
            mark, cancel = guilds.mark_removed, guilds.cancel_removal

            async def mark_and_tell(guild_id: int) -> None:
                await mark(guild_id)
                marked.put_nowait(guild_id)

            async def cancel_and_tell(guild_id: int) -> bool:
                pending = await cancel(guild_id)
                cancelled.put_nowait((guild_id, pending))
                return pending

            guilds.mark_removed = mark_and_tell  # type: ignore[method-assign]
            guilds.cancel_removal = cancel_and_tell  # type: ignore[method-assign]
            async with asyncio.timeout(10):
                unavailable = asyncio.ensure_future(bot.wait_for("guild_unavailable"))
                fake.dispatch_event(
                    "GUILD_DELETE",
                    {"id": str(outage.id), "unavailable": True},
                    guild_id=outage.id,
                )
                await unavailable
                fake.remove_guild(removed.id)
                assert await marked.get() == removed.id  # the outage was never marked
                assert await guilds.removed_at(outage.id) is None
                assert await guilds.removed_at(removed.id) == bot.service.db.now()

                fake.add_guild(guild_id=removed.id, name="Removed")
                assert await cancelled.get() == (removed.id, True)
                assert await guilds.removed_at(removed.id) is None


GRAIN, GRAIN_SLUG = "What is the grain corridor?", "what-is-the-grain-corridor"
EVERY_WAY = {"ask", "explain", "topics"}


async def add_grain_topic(service: BriefingService, guild_id: int) -> None:
    form = {"title": GRAIN, "aliases": "", "body": "Ships carry grain.", "sources": ""}
    await Editor(service).save(
        guild_id, Author(7, "mod"), form, slug=None, opened=None, today=START.date()
    )


async def answered(service: BriefingService, guild_id: int) -> set[str]:
    """How a server is told about the grain corridor: asked, named (/explain), in /topics."""
    ways = set()
    if (await service.ask("grain corridor", guild_id, record=False)).section is not None:
        ways.add("ask")
    if service.topic(guild_id, GRAIN_SLUG) is not None:
        ways.add("explain")
    if any(s.slug == GRAIN_SLUG for s in service.topics(guild_id)):
        ways.add("topics")
    return ways


async def test_a_process_purges_only_the_removed_servers_it_serves(
    db: Database, clock: Clock
) -> None:
    moderation = ModerationStore(db)
    for guild in (1, 2):
        await moderation.update(guild, mod_role_id=guild * 10)
    # This process serves server 1 only; server 2 is another shard process's to judge.
    retention = Retention(db, owns=lambda guild: guild == 1)
    for guild in (1, 2):
        await retention.guilds.mark_removed(guild)
    clock.advance(days=REMOVED_GUILD_DAYS + 1)
    report = await retention.run_once()
    assert (report.guilds_purged, report.guilds_kept) == ([1], [])
    assert [(await moderation.settings(g)).mod_role_id for g in (1, 2)] == [None, 20]
    assert await retention.guilds.removed_at(2) is not None  # still pending, for its owner


async def test_a_purge_reloads_the_catalog_so_the_servers_topics_are_no_longer_answered(
    service: BriefingService, clock: Clock
) -> None:
    await add_grain_topic(service, 1)
    assert await answered(service, 1) == EVERY_WAY
    retention = Retention(service.db, reload=service.reload)
    await retention.guilds.mark_removed(1)
    clock.advance(days=REMOVED_GUILD_DAYS + 1)
    assert (await retention.run_once()).guilds_purged == [1]
    assert await answered(service, 1) == set()


async def test_the_loop_waits_for_ready_and_stops_if_told_before(
    db: Database, clock: Clock
) -> None:
    asks = AskLog(db)
    await asks.record(1, "ancient", None, None)
    await asks.flush()  # the ask log is written in batches
    clock.advance(days=400)
    never_ready = asyncio.Event()
    waiting = asyncio.Event()

    async def ready() -> None:
        waiting.set()
        await never_ready.wait()

    stop = asyncio.Event()
    task = asyncio.create_task(Retention(db).run(stop, every=3600, ready=ready))
    async with asyncio.timeout(5):
        await waiting.wait()
        assert await questions(db) == ["ancient"]  # nothing ran before ready
        stop.set()
        await task  # a bot closed before it connected does not hang here
    assert await questions(db) == ["ancient"]


async def test_a_server_added_back_while_the_bot_was_offline_keeps_its_data(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        back = fake.add_guild(name="Back")  # re-invited while the bot was offline
        gone = back.id + 1  # never came back
        service = await BriefingService.open(db_path, KNOWLEDGE, clock=clock)
        try:
            for guild in (back.id, gone):
                await add_grain_topic(service, guild)
                await GuildData(service.db).mark_removed(guild)
        finally:
            await service.close()
        clock.advance(days=REMOVED_GUILD_DAYS + 1)

        # READY is held until retention either waits for it or has run without it.
        waiting, first_run = asyncio.Event(), asyncio.Event()
        reports: list[RetentionReport] = []
        wait_until_ready, run_once = Briefbot.wait_until_ready, Retention.run_once
        identify = fake.gateway._identify

        async def watched_wait(bot: Briefbot) -> None:
            waiting.set()
            await wait_until_ready(bot)

        async def watched_run(retention: Retention) -> RetentionReport:
            reports.append(await run_once(retention))
            first_run.set()
            return reports[-1]

        async def identify_later(conn: Any, data: Any) -> None:
            either = [asyncio.ensure_future(e.wait()) for e in (waiting, first_run)]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            for pending in either:
                pending.cancel()
            await identify(conn, data)

        monkeypatch.setattr(Briefbot, "wait_until_ready", watched_wait)
        monkeypatch.setattr(Retention, "run_once", watched_run)
        monkeypatch.setattr(fake.gateway, "_identify", identify_later)
        async with running_bot(fake, db_path, clock=clock) as bot:
            async with asyncio.timeout(10):
                await first_run.wait()
            assert reports[0].guilds_purged == [gone]
            assert await answered(bot.service, back.id) == EVERY_WAY
            assert await answered(bot.service, gone) == set()  # in this process, at once
            assert await bot.retention.guilds.removed_at(back.id) is None
            ix = await fake.send_slash(back.id, name="ask", options={"question": "grain corridor"})
            assert (await ix.wait_response())["data"]["embeds"][0]["title"] == GRAIN
