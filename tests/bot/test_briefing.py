"""The daily explainer's scheduler, driven by an injected clock: exact post counts per server."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiosqlite
import pytest

from bot.briefing import (
    CLAIM_LEASE,
    RETRY_CAP,
    THREAD_ATTEMPTS,
    THREAD_NAME_LIMIT,
    ChannelCooldown,
    OnCooldown,
    PostFailed,
    Scheduler,
    ThreadFailed,
    due_at,
    first_due,
    next_section,
    parse_time,
    parse_zone,
    thread_name,
)
from bot.errors import BriefbotError
from bot.sections import Section
from bot.service import BriefingService
from bot.store.briefing import BriefingStore, Schedule
from tests.discord_support import KNOWLEDGE

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set_local(self, zone: ZoneInfo, *args: int) -> None:
        self.now = datetime(*args, tzinfo=zone).astimezone(UTC)  # type: ignore[misc]


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


@dataclass
class RecordingPoster:
    """Stands in for Discord: records posts; can fail per server or crash mid-way."""

    posts: list[tuple[int, date | str, str, str]] = field(default_factory=list)
    fail: dict[int, PostFailed] = field(default_factory=dict)
    crash: bool = False

    async def post(self, schedule: Schedule, section: Section, header: str, nonce: str) -> int:
        if self.crash:
            raise SimulatedCrash("simulated crash before the send")
        if schedule.guild_id in self.fail:
            raise self.fail[schedule.guild_id]
        self.posts.append((schedule.guild_id, header, section.slug, nonce))
        return len(self.posts)

    def count(self, guild_id: int) -> int:
        return sum(1 for p in self.posts if p[0] == guild_id)


async def open_service(db: Path, clock: Clock) -> BriefingService:
    return await BriefingService.open(db, KNOWLEDGE, clock=clock)


def scheduler(service: BriefingService, poster: RecordingPoster, clock: Clock) -> Scheduler:
    return Scheduler(service.schedules, service, poster, clock)


@dataclass
class Rig:
    """One process's scheduler on a fresh database, its clock at 06:00 UTC on 2026-11-28."""

    clock: Clock
    service: BriefingService
    poster: RecordingPoster
    run: Scheduler


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock(START)
    service = await open_service(tmp_path / "db.sqlite3", clock)
    poster = RecordingPoster()
    try:
        yield Rig(clock, service, poster, scheduler(service, poster, clock))
    finally:
        await service.close()


# -- pure parts --


def test_parse_time_and_zone_explain_the_expected_form() -> None:
    assert parse_time("8:05") == time(8, 5)
    assert parse_time("18.30") == time(18, 30)
    for bad in ("25:00", "8", "noon", "08:60", ""):
        with pytest.raises(BriefbotError, match="HH:MM"):
            parse_time(bad)
    assert parse_zone("europe/berlin").key == "Europe/Berlin"
    with pytest.raises(BriefbotError, match="Europe/Berlin"):
        parse_zone("Mars/Olympus")


def test_spring_forward_time_moves_to_the_first_valid_minute() -> None:
    # 2026-03-29: Berlin jumps from 02:00 to 03:00; 02:30 does not exist.
    assert due_at(date(2026, 3, 29), time(2, 30), BERLIN) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    # 2026-03-08: New York jumps from 02:00 to 03:00.
    assert due_at(date(2026, 3, 8), time(2, 30), NEW_YORK) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_fall_back_time_is_taken_at_its_first_occurrence() -> None:
    # 2026-10-25: Berlin's 02:30 happens at 00:30 and 01:30 UTC.
    assert due_at(date(2026, 10, 25), time(2, 30), BERLIN) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    # 2026-11-01: New York's 01:30 happens at 05:30 and 06:30 UTC.
    assert due_at(date(2026, 11, 1), time(1, 30), NEW_YORK) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )


def test_first_due_is_today_if_still_ahead_else_tomorrow() -> None:
    now = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    assert first_due(now, time(9, 0), BERLIN) == (
        date(2026, 11, 28),
        datetime(2026, 11, 28, 8, 0, tzinfo=UTC),
    )
    assert first_due(now, time(8, 0), BERLIN)[0] == date(2026, 11, 29)


async def test_rotation_shows_every_section_before_repeating(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    topics = [s.slug for s in service.topics(1)]
    for day in range(len(topics) + 2):
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC) + timedelta(days=day)
        await run.tick()
    slugs = [p[2] for p in poster.posts]
    assert slugs[: len(topics)] == topics
    assert slugs[len(topics) :] == topics[:2]


def test_next_section_lets_new_sections_join_and_removed_ones_drop(tmp_path: Path) -> None:
    def fake(slug: str, position: int) -> Section:
        from bot.sections import SectionContent

        return Section(0, None, SectionContent(slug, slug, "b", position=position), "active", 1)

    a, b, c = fake("a", 1), fake("b", 2), fake("c", 3)
    assert next_section([a, b, c], {"a"}, None) == (b, False)
    assert next_section([a, c], {"a"}, None) == (c, False)  # b removed: skipped
    assert next_section([a, b, c], {"a", "b", "c"}, None) == (a, True)  # all shown: new cycle
    assert next_section([a, b, c], {"a"}, "c") == (c, False)  # moderator's pick
    assert next_section([], set(), None) is None


# -- exactly once --


async def test_posts_once_at_the_set_minute(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:30", "Europe/Berlin", clock())
    clock.set_local(BERLIN, 2026, 11, 28, 8, 29)
    await run.tick()
    assert poster.count(1) == 0
    clock.set_local(BERLIN, 2026, 11, 28, 8, 30)
    await run.tick()
    assert poster.count(1) == 1
    for minute in (30, 31, 59):
        clock.set_local(BERLIN, 2026, 11, 28, 9, minute)
        await run.tick()
    assert poster.count(1) == 1
    assert poster.posts[0][1] == "Daily explainer — 2026-11-28"
    clock.set_local(BERLIN, 2026, 11, 29, 8, 30)
    await run.tick()
    assert poster.count(1) == 2


@dataclass
class SlowPoster(RecordingPoster):
    """Holds each send until `width` are in flight at once, and notes the most seen."""

    width: int = 4
    in_flight: int = 0
    most_in_flight: int = 0
    most_tasks: int = 0
    full: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, schedule: Schedule, section: Section, header: str, nonce: str) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.most_tasks = max(self.most_tasks, len(asyncio.all_tasks()))
        if self.in_flight >= self.width:
            self.full.set()
        try:
            await asyncio.wait_for(self.full.wait(), timeout=5)  # fails, not hangs, if never
            return await super().post(schedule, section, header, nonce)
        finally:
            self.in_flight -= 1


async def test_a_pass_over_many_servers_holds_a_bounded_number_of_tasks(tmp_path: Path) -> None:
    clock = Clock(START)
    service = await open_service(tmp_path / "db.sqlite3", clock)
    poster = SlowPoster()
    try:
        for guild in range(1, 61):
            await service.set_schedule(guild, 1000 + guild, "08:00", "UTC", clock())
        run = Scheduler(service.schedules, service, poster, clock, concurrency=4)
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        before = len(asyncio.all_tasks())
        reports = await asyncio.gather(run.tick(), run.tick())  # two passes overlap
        assert sum(r.posted for r in reports) == 60
        assert {g: poster.count(g) for g in range(1, 61)} == dict.fromkeys(range(1, 61), 1)
        assert poster.most_in_flight == 4
        # Two passes of four workers, and the wait_for of each held send: not one per server.
        assert poster.most_tasks <= before + 2 + 2 * 4 + 4
    finally:
        await service.close()


async def test_a_scheduler_needs_at_least_one_worker(rig: Rig) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Scheduler(rig.service.schedules, rig.service, rig.poster, rig.clock, concurrency=0)


@pytest.mark.parametrize("restart_at_minute", [-1, 0, 1])
async def test_restart_around_the_due_time_posts_exactly_once(
    tmp_path: Path, restart_at_minute: int
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    poster = RecordingPoster()
    service = await open_service(db, clock)
    await service.set_schedule(1, 10, "08:30", "Europe/Berlin", clock())
    due = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    # The first process runs up to the restart minute, ticking as it goes.
    run = scheduler(service, poster, clock)
    for minute in range(-3, restart_at_minute + 1):
        clock.now = due + timedelta(minutes=minute)
        if restart_at_minute == 1 and minute >= 0:
            break  # down over the due minute itself
        await run.tick()
    await service.close()
    # A new process starts and ticks at start-up, then every poll for a while.
    service = await open_service(db, clock)
    try:
        run = scheduler(service, poster, clock)
        for minute in range(restart_at_minute, restart_at_minute + 5):
            clock.now = due + timedelta(minutes=minute)
            await run.tick()
        assert poster.count(1) == 1
    finally:
        await service.close()


async def test_crash_between_claim_and_send_posts_once_after_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    poster = RecordingPoster(crash=True)
    service = await open_service(db, clock)
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    with pytest.raises(SimulatedCrash):
        await scheduler(service, poster, clock).tick()
    assert (await service.schedules.post(1, date(2026, 11, 28))).status == "claimed"  # type: ignore[union-attr]
    await service.close()

    poster.crash = False
    service = await open_service(db, clock)
    try:
        clock.now += timedelta(minutes=1)
        run = scheduler(service, poster, clock)
        await run.tick()
        assert poster.count(1) == 0  # the claim's lease: another process may still be sending
        clock.now += CLAIM_LEASE
        await run.tick()
        await run.tick()
        assert poster.count(1) == 1
        post = await service.schedules.post(1, date(2026, 11, 28))
        assert post is not None and post.status == "sent" and post.nonce == poster.posts[0][3]
    finally:
        await service.close()


async def test_downtime_over_a_whole_day_skips_it_and_logs(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    # Down from before the 28th's post until the 29th at 07:00, before that day's post.
    clock.now = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
    with caplog.at_level(logging.WARNING):
        await run.tick()
    assert poster.count(1) == 0
    assert "missed while offline" in caplog.text
    assert (await service.schedules.post(1, date(2026, 11, 28))).status == "skipped"  # type: ignore[union-attr]
    clock.now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    await run.tick()
    assert [p[1] for p in poster.posts] == ["Daily explainer — 2026-11-29"]


async def test_downtime_into_the_next_day_past_its_time_posts_only_that_day(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    clock.now = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # the 29th's post was missed today
    await run.tick()
    await run.tick()
    assert [p[1] for p in poster.posts] == ["Daily explainer — 2026-11-29"]


@pytest.mark.parametrize(
    ("zone", "at", "days"),
    [
        ("Europe/Berlin", "02:30", (date(2026, 3, 29), date(2026, 10, 25))),
        ("America/New_York", "02:30", (date(2026, 3, 8), date(2026, 11, 1))),
        ("America/New_York", "01:30", (date(2026, 3, 8), date(2026, 11, 1))),
    ],
)
async def test_daylight_saving_days_post_exactly_once(
    tmp_path: Path, zone: str, at: str, days: tuple[date, ...]
) -> None:
    tz = ZoneInfo(zone)
    for day in days:
        start = datetime.combine(day - timedelta(days=1), time(12, 0), tzinfo=tz).astimezone(UTC)
        clock = Clock(start)
        db = tmp_path / f"{day}.sqlite3"
        service = await open_service(db, clock)
        poster = RecordingPoster()
        try:
            await service.set_schedule(1, 10, at, zone, clock())
            run = scheduler(service, poster, clock)
            # Poll every 10 minutes for two days around the change.
            for step in range(0, 48 * 6):
                clock.now = start + timedelta(minutes=10 * step)
                await run.tick()
            per_day = Counter(p[1] for p in poster.posts)
            assert per_day == {
                f"Daily explainer — {day.isoformat()}": 1,
                f"Daily explainer — {(day + timedelta(days=1)).isoformat()}": 1,
            }, (zone, at, day)
        finally:
            await service.close()


async def test_one_server_failing_pauses_only_that_server(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    poster.fail[3] = PostFailed("The channel no longer exists (404)", permanent=True)
    for guild in range(1, 11):
        await service.set_schedule(guild, 100 + guild, "08:00", "UTC", clock())
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    report = await run.tick()
    assert (report.posted, report.failed) == (9, 1)
    assert {g: poster.count(g) for g in range(1, 11)} == {g: int(g != 3) for g in range(1, 11)}
    status = await service.schedule_status(3)
    assert status.schedule is not None and "404" in (status.schedule.paused_reason or "")
    clock.now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    await run.tick()
    assert poster.count(3) == 0 and poster.count(4) == 2


async def test_transient_errors_are_retried_with_backoff_within_the_day(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    poster.fail[1] = PostFailed("Discord error 503", permanent=False)
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    await run.tick()
    clock.now += timedelta(seconds=10)  # before the first retry is due
    await run.tick()
    clock.now += timedelta(seconds=30)
    await run.tick()  # second failure, longer wait
    post = await service.schedules.post(1, date(2026, 11, 28))
    assert post is not None and post.attempts == 2 and post.status == "claimed"
    del poster.fail[1]
    clock.now += timedelta(seconds=59)
    await run.tick()
    assert poster.count(1) == 0
    clock.now += timedelta(seconds=2)
    await run.tick()
    await run.tick()
    assert poster.count(1) == 1


async def test_next_topic_override_and_now_preview_do_not_disturb_the_rotation(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    first = (await service.next_explainer(1)).slug
    assert (await service.next_explainer(1)).slug == first  # previewing changes nothing
    await service.choose_next_topic(1, "berlin-talks")
    assert (await service.next_explainer(1)).slug == "berlin-talks"
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    await run.tick()
    assert poster.posts[-1][2] == "berlin-talks"
    assert (await service.next_explainer(1)).slug == first


async def test_pause_resume_and_off(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    await service.pause_schedule(1)
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    await run.tick()
    assert poster.count(1) == 0
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    status = await service.resume_schedule(1, clock())
    assert status.next_local == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    await run.tick()
    assert poster.count(1) == 0  # days missed while paused are not sent
    assert await service.stop_schedule(1) is True
    with pytest.raises(BriefbotError, match="/briefing set"):
        await service.pause_schedule(1)


# -- commands and the scheduler's advance: one transaction each, neither undoes the other --


def scheduler_commits_first(service: BriefingService, run: Scheduler) -> None:
    """Before the next write transaction (a command's), a scheduler pass runs and commits.

    A command that read the schedule before its transaction would now write a stale copy
    over the pass's advance; one that reads inside its transaction sees it.
    """
    real = service.db.transaction

    @asynccontextmanager
    async def transaction() -> AsyncIterator[aiosqlite.Connection]:
        service.db.transaction = real  # type: ignore[method-assign]
        await run.tick()
        async with real() as conn:
            yield conn

    service.db.transaction = transaction  # type: ignore[method-assign]


def command_during_the_pass(service: BriefingService, command: Awaitable[object]) -> None:
    """The command runs (and commits) after the pass read the due schedules, before its claim."""
    real = service.schedules.shown

    async def shown(guild_id: int) -> set[str]:
        service.schedules.shown = real  # type: ignore[method-assign]
        await command
        return await real(guild_id)

    service.schedules.shown = shown  # type: ignore[method-assign]


COMMANDS = ("pause", "resume", "next", "set")


async def run_command(service: BriefingService, name: str, now: datetime) -> None:
    if name == "pause":
        await service.pause_schedule(1)
    elif name == "resume":
        await service.resume_schedule(1, now)
    elif name == "next":
        await service.choose_next_topic(1, "us-role")
    else:
        await service.set_schedule(1, 10, "09:00", "UTC", now)


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_pass_committing_between_a_commands_read_and_write_is_kept(
    rig: Rig, command: str
) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    await service.choose_next_topic(1, "berlin-talks")
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    scheduler_commits_first(service, run)
    await run_command(service, command, clock())
    assert [p[2] for p in poster.posts] == ["berlin-talks"]  # the pass posted the pick
    schedule = await service.schedules.get(1)
    assert schedule is not None
    # The advance stands: today is done, the pick was used up (unless `next` chose another).
    assert schedule.next_local_date == date(2026, 11, 29)
    assert schedule.next_topic == ("us-role" if command == "next" else None)
    assert (schedule.paused_reason is not None) == (command == "pause")
    assert schedule.local_time == ("09:00" if command == "set" else "08:00")
    for hour in (9, 10):
        clock.now = datetime(2026, 11, 28, hour, 0, tzinfo=UTC)
        await run.tick()
    clock.now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    await run.tick()
    later = [p[2] for p in poster.posts[1:]]
    assert "berlin-talks" not in later
    assert len(later) == (0 if command == "pause" else 1)


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_command_committing_during_a_pass_is_not_undone_by_its_claim(
    rig: Rig, command: str
) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    command_during_the_pass(service, run_command(service, command, clock()))
    await run.tick()
    schedule = await service.schedules.get(1)
    assert schedule is not None
    if command == "pause":
        assert poster.posts == [] and schedule.paused_reason is not None
    elif command == "set":
        # The new time applies today: today's post has not been made.
        assert poster.posts == []
        assert (schedule.local_time, schedule.next_local_date) == ("09:00", date(2026, 11, 28))
    elif command == "next":
        assert schedule.next_topic == "us-role"
    for minutes in range(1, 26 * 60, 30):  # polls through the rest of the day and the next
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC) + timedelta(minutes=minutes)
        await run.tick()
    per_day = Counter(p[1] for p in poster.posts)
    if command == "pause":
        assert per_day == {}
        return
    assert per_day == {"Daily explainer — 2026-11-28": 1, "Daily explainer — 2026-11-29": 1}
    if command == "next":
        assert poster.posts[0][2] == "us-role"


async def test_a_changed_time_never_makes_a_second_post_on_a_day(rig: Rig) -> None:
    clock, service, poster, run = rig.clock, rig.service, rig.poster, rig.run
    await service.set_schedule(1, 10, "08:00", "UTC", clock())
    clock.now = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    status = await service.set_schedule(1, 10, "07:30", "UTC", clock())
    assert status.next_local == datetime(2026, 11, 28, 7, 30, tzinfo=UTC)  # same day
    clock.now = datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    await run.tick()
    assert poster.count(1) == 1
    clock.now = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    status = await service.set_schedule(1, 10, "18:00", "UTC", clock())
    # Today's post was made: the new time starts tomorrow, and show says so.
    assert status.next_local == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    await service.pause_schedule(1)
    status = await service.resume_schedule(1, clock())
    assert status.next_local == datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    clock.now = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)
    await run.tick()
    clock.now = datetime(2026, 11, 29, 18, 0, tzinfo=UTC)
    await run.tick()
    assert [p[1] for p in poster.posts] == [
        "Daily explainer — 2026-11-28",
        "Daily explainer — 2026-11-29",
    ]


# -- two processes on one database (overlapping shard settings): still one post --


@dataclass
class HeldPoster(RecordingPoster):
    """The first send waits until released, as a slow send to Discord would."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def post(self, schedule: Schedule, section: Section, header: str, nonce: str) -> int:
        if not self.entered.is_set():
            self.entered.set()
            await asyncio.wait_for(self.release.wait(), timeout=5)
        return await super().post(schedule, section, header, nonce)


async def test_two_processes_owning_the_same_server_post_once(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(START)
    first, second = await open_service(db, clock), await open_service(db, clock)
    poster = HeldPoster()
    try:
        await first.set_schedule(1, 10, "08:00", "UTC", clock())
        a, b = scheduler(first, poster, clock), scheduler(second, poster, clock)
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        sending = asyncio.create_task(a.tick())
        await asyncio.wait_for(poster.entered.wait(), timeout=5)
        # The other process polls while the first is still sending its claimed post.
        for seconds in (0, 30, 60):
            clock.now = datetime(2026, 11, 28, 8, 0, seconds % 60, tzinfo=UTC) + timedelta(
                minutes=seconds // 60
            )
            await b.tick()
        poster.release.set()
        await sending
        await asyncio.gather(a.tick(), b.tick())
        assert poster.count(1) == 1
    finally:
        await first.close()
        await second.close()


async def test_a_crashed_claim_is_taken_over_by_one_process_only(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(START)
    crashing = await open_service(db, clock)
    await crashing.set_schedule(1, 10, "08:00", "UTC", clock())
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    with pytest.raises(SimulatedCrash):
        await scheduler(crashing, RecordingPoster(crash=True), clock).tick()
    await crashing.close()
    first, second = await open_service(db, clock), await open_service(db, clock)
    poster = RecordingPoster()
    try:
        clock.now += CLAIM_LEASE + timedelta(minutes=1)
        await asyncio.gather(
            scheduler(first, poster, clock).tick(), scheduler(second, poster, clock).tick()
        )
        assert poster.count(1) == 1
    finally:
        await first.close()
        await second.close()


# -- /briefing now: once per channel per 10 minutes --


def test_the_now_cooldown_is_per_channel_names_the_time_and_expires() -> None:
    clock = Clock(datetime(2026, 11, 28, 8, 0, tzinfo=UTC))
    cooldown = ChannelCooldown(clock)
    cooldown.take(100)
    cooldown.take(200)  # another channel has its own turn
    clock.now += timedelta(minutes=3)
    with pytest.raises(OnCooldown, match=r"again in 7 minutes \(at 08:10 UTC\)"):
        cooldown.take(100)
    cooldown.take(100, exempt=True)  # Manage Server: never refused, restarts the period
    clock.now += timedelta(minutes=9, seconds=59)
    with pytest.raises(OnCooldown, match="in 1 minute "):
        cooldown.take(100)
    clock.now += timedelta(seconds=1)
    cooldown.take(100)
    # Entries are keyed by id and dropped once expired: no growth with the number of channels.
    for channel in range(1000, 2000):
        clock.now += timedelta(seconds=1)
        cooldown.take(channel)
    assert len(cooldown) <= 601


# -- a discussion thread on each daily post (opt-in) --


@dataclass
class ThreadingPoster(RecordingPoster):
    """Discord's side with threads: records each thread asked for, and what the store said
    about the post at that moment; can refuse, fail for a while, or crash."""

    store: BriefingStore | None = None
    threads: list[tuple[int, int, int, str]] = field(default_factory=list)
    seen_status: list[str] = field(default_factory=list)
    thread_fail: ThreadFailed | None = None
    thread_fails_left: int = 0
    crash_in_thread: bool = False

    async def open_thread(self, guild_id: int, channel_id: int, message_id: int, name: str) -> int:
        if self.store is not None:
            post = await self.store.post(guild_id, date(2026, 11, 28))
            self.seen_status.append(post.status if post else "none")
        if self.crash_in_thread:
            raise SimulatedCrash("simulated crash before the thread was opened")
        if self.thread_fail is not None and self.thread_fails_left:
            self.thread_fails_left -= 1
            raise self.thread_fail
        self.threads.append((guild_id, channel_id, message_id, name))
        return 9000 + message_id


async def threaded(
    db: Path, clock: Clock, poster: ThreadingPoster
) -> tuple[BriefingService, Scheduler]:
    service = await open_service(db, clock)
    poster.store = service.schedules
    return service, scheduler(service, poster, clock)


def test_a_thread_name_is_one_line_within_discords_100_characters() -> None:
    assert thread_name("What  NATO's\nArticle 5 says") == "What NATO's Article 5 says"
    long = thread_name("Security guarantees " * 10)
    assert len(long) <= THREAD_NAME_LIMIT == 100 and long.endswith("…")
    assert thread_name("x" * 100) == "x" * 100
    assert thread_name("   ") == "Daily explainer"


async def test_the_thread_opens_once_and_only_after_the_post_is_recorded(tmp_path: Path) -> None:
    clock = Clock(START)
    poster = ThreadingPoster()
    service, run = await threaded(tmp_path / "db.sqlite3", clock, poster)
    try:
        await service.set_schedule(1, 10, "08:00", "UTC", clock(), thread=True)
        await service.set_schedule(2, 20, "08:00", "UTC", clock())  # threads off by default
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        report = await run.tick()
        assert report.posted == 2 and report.threads == 1
        assert poster.seen_status == ["sent"]
        [(guild, channel, message, name)] = poster.threads
        post = await service.schedules.post(1, date(2026, 11, 28))
        assert post is not None and (guild, channel, message) == (1, 10, post.message_id)
        section = await service.load(service.topic(1, post.slug or ""))  # type: ignore[arg-type]
        assert name == thread_name(section.title)
        assert post.thread_state == "opened" and post.thread_id == 9000 + message
        other = await service.schedules.post(2, date(2026, 11, 28))
        assert other is not None and other.thread_state is None
        for minutes in (1, 5, 30):
            clock.now = datetime(2026, 11, 28, 8, minutes, tzinfo=UTC)
            await run.tick()
        assert len(poster.threads) == 1 and poster.count(1) == 1
    finally:
        await service.close()


async def test_a_refused_thread_never_fails_or_repeats_the_post(tmp_path: Path) -> None:
    clock = Clock(START)
    poster = ThreadingPoster(
        thread_fail=ThreadFailed("no Create Public Threads", permanent=True), thread_fails_left=9
    )
    service, run = await threaded(tmp_path / "db.sqlite3", clock, poster)
    try:
        await service.set_schedule(1, 10, "08:00", "UTC", clock(), thread=True)
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        report = await run.tick()
        assert (report.posted, report.threads, report.thread_failures) == (1, 0, 1)
        for minutes in (1, 10, 59):
            clock.now = datetime(2026, 11, 28, 8, minutes, tzinfo=UTC)
            await run.tick()
        post = await service.schedules.post(1, date(2026, 11, 28))
        assert post is not None and post.status == "sent" and poster.count(1) == 1
        assert post.thread_state == "failed" and post.thread_error == "no Create Public Threads"
        assert poster.thread_fails_left == 8  # asked once: a refusal is not retried
        schedule = await service.schedules.get(1)
        assert schedule is not None and schedule.paused_reason is None
        status = await service.schedule_status(1)
        assert status.last_post is not None and status.last_post.thread_error is not None
    finally:
        await service.close()


async def test_a_thread_discord_failed_is_retried_then_given_up(tmp_path: Path) -> None:
    clock = Clock(START)
    poster = ThreadingPoster(
        thread_fail=ThreadFailed("Discord error 503", permanent=False), thread_fails_left=1
    )
    service, run = await threaded(tmp_path / "db.sqlite3", clock, poster)
    try:
        await service.set_schedule(1, 10, "08:00", "UTC", clock(), thread=True)
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        await run.tick()
        post = await service.schedules.post(1, date(2026, 11, 28))
        assert post is not None and post.thread_state == "pending" and post.thread_attempts == 1
        clock.now += timedelta(seconds=29)
        await run.tick()
        assert poster.threads == []  # not before its backoff
        clock.now += timedelta(seconds=1)
        report = await run.tick()
        assert report.threads == 1 and len(poster.threads) == 1 and poster.count(1) == 1

        poster.thread_fails_left = 99
        await service.set_schedule(1, 10, "08:00", "UTC", clock())
        clock.now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
        for _ in range(THREAD_ATTEMPTS + 2):
            await run.tick()
            clock.now += RETRY_CAP
        post = await service.schedules.post(1, date(2026, 11, 29))
        assert post is not None and post.status == "sent" and post.thread_state == "failed"
        assert poster.thread_fails_left == 99 - THREAD_ATTEMPTS and poster.count(1) == 2
    finally:
        await service.close()


async def test_a_crash_before_the_thread_opened_opens_it_once_after_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(START)
    poster = ThreadingPoster(crash_in_thread=True)
    service, run = await threaded(db, clock, poster)
    await service.set_schedule(1, 10, "08:00", "UTC", clock(), thread=True)
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    with pytest.raises(SimulatedCrash):
        await run.tick()
    post = await service.schedules.post(1, date(2026, 11, 28))
    assert post is not None and post.status == "sent" and post.thread_state == "pending"
    await service.close()

    poster.crash_in_thread = False
    first, run_first = await threaded(db, clock, poster)
    second, run_second = await threaded(db, clock, poster)
    try:
        clock.now += timedelta(minutes=1)
        await run_first.tick()
        assert poster.threads == []  # the lease: the crashed process may still be opening it
        clock.now += CLAIM_LEASE
        await asyncio.gather(run_first.tick(), run_second.tick())
        await run_first.tick()
        assert len(poster.threads) == 1 and poster.count(1) == 1
        post = await first.schedules.post(1, date(2026, 11, 28))
        assert post is not None and post.thread_state == "opened"
    finally:
        await first.close()
        await second.close()


async def test_a_post_retried_after_a_crash_gets_exactly_one_thread(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(START)
    poster = ThreadingPoster(crash=True)
    service, run = await threaded(db, clock, poster)
    await service.set_schedule(1, 10, "08:00", "UTC", clock(), thread=True)
    clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    with pytest.raises(SimulatedCrash):
        await run.tick()
    post = await service.schedules.post(1, date(2026, 11, 28))
    assert post is not None and post.status == "claimed" and post.thread_state is None
    await service.close()

    poster.crash = False
    service, run = await threaded(db, clock, poster)
    try:
        clock.now += CLAIM_LEASE + timedelta(minutes=1)
        for _ in range(3):
            await run.tick()
            clock.now += CLAIM_LEASE
        assert poster.count(1) == 1 and len(poster.threads) == 1
        assert poster.seen_status == ["sent"]
    finally:
        await service.close()


async def test_threads_turned_off_before_a_pending_one_opened_are_not_opened(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(START)
    poster = ThreadingPoster(crash_in_thread=True)
    service, run = await threaded(db, clock, poster)
    try:
        await service.set_schedule(1, 10, "08:00", "UTC", clock(), thread=True)
        clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
        with pytest.raises(SimulatedCrash):
            await run.tick()
        poster.crash_in_thread = False
        await service.set_schedule(1, 10, "08:00", "UTC", clock(), thread=False)
        clock.now += CLAIM_LEASE + timedelta(minutes=1)
        await run.tick()
        post = await service.schedules.post(1, date(2026, 11, 28))
        assert poster.threads == [] and post is not None and post.thread_state == "failed"
    finally:
        await service.close()


async def test_a_poster_without_threads_posts_without_asking_for_one(rig: Rig) -> None:
    await rig.service.set_schedule(1, 10, "08:00", "UTC", rig.clock(), thread=True)
    rig.clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    report = await rig.run.tick()
    post = await rig.service.schedules.post(1, date(2026, 11, 28))
    assert report.posted == 1 and post is not None and post.thread_state is None


async def test_set_keeps_the_thread_choice_unless_given(rig: Rig) -> None:
    await rig.service.set_schedule(1, 10, "08:00", "UTC", rig.clock(), thread=True)
    await rig.service.set_schedule(1, 11, "09:00", "UTC", rig.clock())
    assert (await rig.service.schedules.get(1)).thread is True  # type: ignore[union-attr]
    await rig.service.set_schedule(1, 11, "09:00", "UTC", rig.clock(), thread=False)
    assert (await rig.service.schedules.get(1)).thread is False  # type: ignore[union-attr]
