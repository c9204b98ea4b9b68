"""End to end: /briefing set thread:…, the daily post's thread and /briefing show, through the
real client and the fake Discord (which refuses threads as Discord does)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.ui.reports import THREADS_OFF, THREADS_ON
from tests.clock import Clock
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.payloads import Perm

EPHEMERAL = 1 << 6
MODERATOR = int(Perm.MANAGE_GUILD | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
MEMBER = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


async def briefing(
    fake: FakeDiscord, guild_id: int, sub: str, perms: int = MODERATOR, **options: object
) -> dict:
    ix = await fake.send_slash(
        guild_id, name="briefing", subcommand=sub, options=options or None, member_permissions=perms
    )
    return (await ix.wait_response())["data"]


def fields(data: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}


async def test_set_with_threads_needs_create_public_threads_and_saves_nothing_without(
    tmp_path: Path,
) -> None:
    clock = Clock(START)
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        channel = guild.text_channel_id
        guild.set_bot_channel_permissions(channel, deny=int(Perm.CREATE_PUBLIC_THREADS))
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock) as bot:
            refused = await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="UTC", thread=True
            )
            assert int(refused["flags"]) & EPHEMERAL
            assert "Create Public Threads" in refused["content"]
            assert "Nothing was saved" in refused["content"]
            assert refused["allowed_mentions"] == {"parse": []}
            assert await bot.service.schedules.get(guild.id) is None

            # Without threads the same channel is fine, and show says threads are off.
            ok = await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="UTC"
            )
            assert ok["content"] == "The daily explainer is on."
            assert fields(ok)["Discussion threads"] == THREADS_OFF
            # Changing the time keeps threads off and asks for nothing more.
            again = await briefing(
                fake, guild.id, "set", channel=channel, time="09:00", timezone="UTC"
            )
            assert again["content"] == "The daily explainer is on."

            guild.set_bot_channel_permissions(channel, deny=0)
            on = await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="UTC", thread=True
            )
            assert fields(on)["Discussion threads"] == THREADS_ON
            schedule = await bot.service.schedules.get(guild.id)
            assert schedule is not None and schedule.thread is True

            # Later, with the permission gone, a change of time says so instead of saving.
            guild.set_bot_channel_permissions(channel, deny=int(Perm.CREATE_PUBLIC_THREADS))
            kept = await briefing(
                fake, guild.id, "set", channel=channel, time="10:00", timezone="UTC"
            )
            assert "Create Public Threads" in kept["content"]
            schedule = await bot.service.schedules.get(guild.id)
            assert schedule is not None and schedule.local_time == "08:00"
            assert fake.invalid_payloads == []


async def test_the_daily_post_opens_its_thread_and_show_says_why_when_it_cannot(
    tmp_path: Path,
) -> None:
    clock = Clock(START)
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        other = fake.add_guild(name="Other")  # threads off there: its post gets none
        channel = guild.text_channel_id
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock) as bot:
            await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="UTC", thread=True
            )
            await briefing(
                fake, other.id, "set", channel=other.text_channel_id, time="08:00", timezone="UTC"
            )
            clock.now = DUE
            report = await bot.scheduler.tick()
            assert report.posted == 2 and report.threads == 1
            [message] = fake.channel_messages(channel)
            [thread] = fake.threads_of(channel)
            assert thread["id"] == message["id"]
            assert thread["name"] == message["embeds"][0]["title"][:100]
            assert fake.threads_of(other.text_channel_id) == []
            shown = fields(await briefing(fake, guild.id, "show", perms=MEMBER))
            assert shown["Discussion threads"] == THREADS_ON
            assert fields(await briefing(fake, other.id, "show"))["Discussion threads"] == (
                THREADS_OFF
            )

            # The next day the permission is gone: the post is made, the thread is not, and
            # show says why (the live permission first, then the recorded reason).
            guild.set_bot_channel_permissions(channel, deny=int(Perm.CREATE_PUBLIC_THREADS))
            clock.now = DUE + timedelta(days=1)
            report = await bot.scheduler.tick()
            assert report.posted == 2 and report.thread_failures == 1
            assert len(fake.channel_messages(channel)) == 2
            assert len(fake.threads_of(channel)) == 1
            shown = fields(await briefing(fake, guild.id, "show", perms=MEMBER))
            assert "lacks Create Public Threads" in shown["Discussion threads"]
            assert "Paused" not in (await briefing(fake, guild.id, "show"))["embeds"][0].get(
                "description", ""
            )
            guild.set_bot_channel_permissions(channel, deny=0)
            shown = fields(await briefing(fake, guild.id, "show", perms=MEMBER))
            assert "The last one was not opened" in shown["Discussion threads"]
            assert "403" in shown["Discussion threads"]
            post = await bot.service.schedules.post(guild.id, date(2026, 11, 29))
            assert post is not None and post.status == "sent" and post.thread_state == "failed"
            assert fake.invalid_payloads == []


async def test_a_restart_after_the_post_before_its_thread_opens_exactly_one(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(START)
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        channel = guild.text_channel_id
        async with running_bot(fake, db, clock=clock) as bot:
            await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="UTC", thread=True
            )
            clock.now = DUE
            # Discord times the thread out this once: the process stops before trying again.
            fake.inject_error("POST", r"/threads$", 503)
            await bot.scheduler.tick()
            post = await bot.service.schedules.post(guild.id, DUE.date())
            assert post is not None and post.status == "sent" and post.thread_state == "pending"
        clock.now += timedelta(minutes=5)
        async with running_bot(fake, db, clock=clock) as bot:
            for _ in range(3):
                await bot.scheduler.tick()
                clock.now += timedelta(minutes=1)
            post = await bot.service.schedules.post(guild.id, DUE.date())
        assert len(fake.channel_messages(channel)) == 1
        assert len(fake.threads_of(channel)) == 1
        assert post is not None and post.thread_state == "opened"
