"""The real DiscordPoster through the fake Discord: what each failure does to the schedule."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import discord
import pytest

from bot.client import Briefbot
from bot.store.briefing import Post
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import FakeGuild
from tests.fakediscord.payloads import Perm

DUE = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
POSTS = r"^/channels/\d+/messages$"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


Rig = tuple[FakeDiscord, FakeGuild, Briefbot, Clock]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock(DUE - timedelta(hours=2))
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock) as bot:
            await bot.service.set_schedule(guild.id, guild.text_channel_id, "08:00", "UTC", clock())
            clock.now = DUE
            yield fake, guild, bot, clock


async def today(bot: Briefbot, guild: FakeGuild) -> Post:
    post = await bot.service.schedules.post(guild.id, date(2026, 11, 28))
    assert post is not None
    return post


async def paused_reason(bot: Briefbot, guild: FakeGuild) -> str:
    schedule = await bot.service.schedules.get(guild.id)
    assert schedule is not None
    return schedule.paused_reason or ""


async def test_403_pauses_the_server_and_names_the_permissions(rig: Rig) -> None:
    fake, guild, bot, _clock = rig
    guild.set_bot_channel_permissions(guild.text_channel_id, deny=int(Perm.SEND_MESSAGES))
    report = await bot.scheduler.tick()
    assert report.failed == 1
    assert "403" in await paused_reason(bot, guild)
    assert "Send Messages" in await paused_reason(bot, guild)
    assert (await today(bot, guild)).status == "failed"
    assert fake.channel_messages(guild.text_channel_id) == []


async def test_404_deleted_channel_pauses_the_server(rig: Rig) -> None:
    _fake, guild, bot, _clock = rig
    guild.delete_channel(guild.text_channel_id)
    await bot.scheduler.tick()
    assert "no longer exists (404)" in await paused_reason(bot, guild)
    assert (await today(bot, guild)).status == "failed"


async def test_a_channel_that_is_not_set_pauses_the_server(rig: Rig) -> None:
    _fake, guild, bot, _clock = rig
    schedule = await bot.service.schedules.get(guild.id)
    assert schedule is not None
    await bot.service.schedules.save(replace(schedule, channel_id=None))
    await bot.scheduler.tick()
    assert "no channel is set" in await paused_reason(bot, guild)


async def test_a_5xx_is_retried_looking_first_then_posted_once(rig: Rig) -> None:
    fake, guild, bot, clock = rig
    # 503 is not one discord.py retries itself (500, 502, 504 are, after sleeping).
    fake.inject_error("POST", POSTS, 503)
    report = await bot.scheduler.tick()
    post = await today(bot, guild)
    assert report.retried == 1 and post.status == "claimed" and post.attempts == 1
    assert "503" in (post.error or "") and await paused_reason(bot, guild) == ""
    clock.now += timedelta(seconds=30)
    await bot.scheduler.tick()
    post = await today(bot, guild)
    assert post.status == "sent" and post.recovery == "not in the channel; sent"
    assert len(fake.channel_messages(guild.text_channel_id)) == 1
    assert fake.requests_matching("GET", POSTS)  # it looked before sending again


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_network_error_is_retried_not_paused(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, guild, bot, clock = rig
    # Nothing listens there: the connection is refused, as when the network is down.
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{closed_port()}/api/v10")
    report = await bot.scheduler.tick()
    post = await today(bot, guild)
    assert report.retried == 1 and post.status == "claimed"
    assert "network error" in (post.error or "") and await paused_reason(bot, guild) == ""
    monkeypatch.undo()
    clock.now += timedelta(seconds=30)
    await bot.scheduler.tick()
    assert (await today(bot, guild)).status == "sent"
    assert len(fake.channel_messages(guild.text_channel_id)) == 1


# -- the daily post's discussion thread --

THREADS = r"^/channels/\d+/messages/\d+/threads$"


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


async def with_threads(bot: Briefbot, guild: FakeGuild) -> None:
    schedule = await bot.service.schedules.get(guild.id)
    assert schedule is not None
    await bot.service.schedules.save(replace(schedule, thread=True))


async def test_the_post_opens_one_public_thread_named_after_its_topic(rig: Rig) -> None:
    fake, guild, bot, clock = rig
    await with_threads(bot, guild)
    report = await bot.scheduler.tick()
    assert report.posted == 1 and report.threads == 1
    [message] = fake.channel_messages(guild.text_channel_id)
    [thread] = fake.threads_of(guild.text_channel_id)
    post = await today(bot, guild)
    section = await bot.service.load(bot.service.topic(guild.id, post.slug or ""))  # type: ignore[arg-type]
    assert thread["id"] == message["id"] and thread["type"] == 11
    assert thread["name"] == section.title and thread["owner_id"] == str(fake.bot_user_id)
    assert thread["thread_metadata"]["auto_archive_duration"] == 1440
    assert post.thread_state == "opened" and post.thread_id == int(thread["id"])
    # THREAD_CREATE reached the bot: discord.py knows the thread.
    discord_guild = bot.get_guild(guild.id)
    assert discord_guild is not None
    known = discord_guild.get_thread(int(thread["id"]))
    assert isinstance(known, discord.Thread) and known.parent_id == guild.text_channel_id
    clock.now += timedelta(hours=1)
    await bot.scheduler.tick()
    assert len(fake.requests_matching("POST", THREADS)) == 1


async def test_without_create_public_threads_the_post_stands_and_the_reason_is_kept(
    rig: Rig,
) -> None:
    fake, guild, bot, clock = rig
    await with_threads(bot, guild)
    guild.set_bot_channel_permissions(guild.text_channel_id, deny=int(Perm.CREATE_PUBLIC_THREADS))
    report = await bot.scheduler.tick()
    post = await today(bot, guild)
    assert report.posted == 1 and report.thread_failures == 1
    assert post.status == "sent" and post.thread_state == "failed"
    assert "Create Public Threads" in (post.thread_error or "") and "403" in (
        post.thread_error or ""
    )
    assert await paused_reason(bot, guild) == ""
    assert len(fake.channel_messages(guild.text_channel_id)) == 1
    assert fake.threads_of(guild.text_channel_id) == []
    clock.now += timedelta(hours=1)
    await bot.scheduler.tick()
    assert len(fake.requests_matching("POST", THREADS)) == 1  # a refusal is not retried
    assert len(fake.requests_matching("POST", POSTS)) == 1


async def test_a_thread_a_member_opened_first_counts_as_opened(rig: Rig) -> None:
    fake, guild, bot, _clock = rig
    await with_threads(bot, guild)
    member_was_quicker = fake.start_thread  # Discord lets a member open it from the message

    async def race(message: dict) -> None:
        member_was_quicker(
            guild.text_channel_id, int(message["id"]), "first!", user_id=guild.default_member_id
        )

    original = bot.service.schedules.record_message

    async def record_then_race(guild_id: int, local_date: date, message_id: int) -> None:
        await original(guild_id, local_date, message_id)
        await race(fake.message(message_id) or {})

    bot.service.schedules.record_message = record_then_race  # type: ignore[method-assign]
    report = await bot.scheduler.tick()
    [thread] = fake.threads_of(guild.text_channel_id)
    post = await today(bot, guild)
    assert report.threads == 1 and thread["name"] == "first!"
    assert post.thread_state == "opened" and post.thread_id == int(thread["id"])


async def test_a_crash_after_discord_opened_the_thread_does_not_open_a_second(
    rig: Rig,
) -> None:
    fake, guild, bot, clock = rig
    await with_threads(bot, guild)

    async def crash(*args: object) -> None:
        raise SimulatedCrash("died before the thread was recorded")

    bot.service.schedules.thread_opened = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(SimulatedCrash):
        await bot.scheduler.tick()
    assert len(fake.threads_of(guild.text_channel_id)) == 1
    assert (await today(bot, guild)).thread_state == "pending"
    del bot.service.schedules.thread_opened  # the restarted process records normally
    clock.now += timedelta(minutes=3)
    report = await bot.scheduler.tick()
    post = await today(bot, guild)
    assert report.threads == 1 and post.thread_state == "opened"
    assert post.thread_id == post.message_id  # Discord's one thread per message, read as opened
    assert len(fake.threads_of(guild.text_channel_id)) == 1
    assert len(fake.channel_messages(guild.text_channel_id)) == 1


async def test_a_thread_discord_failed_to_open_is_retried(rig: Rig) -> None:
    fake, guild, bot, clock = rig
    await with_threads(bot, guild)
    fake.inject_error("POST", THREADS, 503)
    await bot.scheduler.tick()
    post = await today(bot, guild)
    assert post.status == "sent" and post.thread_state == "pending"
    assert "503" in (post.thread_error or "")
    clock.now += timedelta(seconds=30)
    report = await bot.scheduler.tick()
    assert report.threads == 1 and (await today(bot, guild)).thread_state == "opened"
    assert len(fake.threads_of(guild.text_channel_id)) == 1
    assert len(fake.channel_messages(guild.text_channel_id)) == 1
