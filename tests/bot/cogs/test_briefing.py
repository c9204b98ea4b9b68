"""End to end: /briefing commands and daily posts through the real client and the fake Discord."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.briefing import CLAIM_LEASE
from bot.client import Briefbot
from bot.ui.posting import FOUND, NONCE_ONLY
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.payloads import Perm

EPHEMERAL = 1 << 6
MODERATOR = int(Perm.MANAGE_GUILD | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
MEMBER = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)


class SimulatedCrash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def briefing(
    fake: FakeDiscord, guild_id: int, sub: str, perms: int = MODERATOR, **options: object
) -> dict:
    ix = await fake.send_slash(
        guild_id, name="briefing", subcommand=sub, options=options or None, member_permissions=perms
    )
    return (await ix.wait_response())["data"]


async def test_set_validates_before_saving_and_show_reports_the_schedule(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        channel = guild.text_channel_id
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock) as bot:
            bad_time = await briefing(
                fake, guild.id, "set", channel=channel, time="25:99", timezone="UTC"
            )
            assert int(bad_time["flags"]) & EPHEMERAL and "HH:MM" in bad_time["content"]
            bad_zone = await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="Mars/Base"
            )
            assert "Europe/Berlin" in bad_zone["content"]
            refused = await briefing(
                fake, guild.id, "set", perms=MEMBER, channel=channel, time="08:00", timezone="UTC"
            )
            assert "Manage Server" in refused["content"]
            assert await bot.service.schedules.get(guild.id) is None

            guild.set_bot_channel_permissions(channel, deny=int(Perm.EMBED_LINKS))
            missing = await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="UTC"
            )
            assert "Embed Links" in missing["content"] and "Nothing was saved" in missing["content"]
            assert await bot.service.schedules.get(guild.id) is None

            guild.set_bot_channel_permissions(channel, deny=0)
            ok = await briefing(
                fake, guild.id, "set", channel=channel, time="08:30", timezone="Europe/Berlin"
            )
            assert ok["content"] == "The daily explainer is on."
            shown = (await briefing(fake, guild.id, "show", perms=MEMBER))["embeds"][0]
            fields = {f["name"]: f["value"] for f in shown["fields"]}
            assert fields["Time"] == "08:30 Europe/Berlin"
            assert fields["Channel"] == f"<#{channel}>"
            assert "Sat 28 Nov 2026, 08:30" in fields["Next post"]
            due = int(datetime(2026, 11, 28, 7, 30, tzinfo=UTC).timestamp())
            assert f"<t:{due}:F>" in fields["Next post"]
            assert fields["Next topic"] == "What is NATO and what is it for?"

            paused = await briefing(fake, guild.id, "pause")
            assert paused["content"].startswith("Paused")
            shown = (await briefing(fake, guild.id, "show"))["embeds"][0]
            assert shown["description"] == "Paused: paused by a moderator"
            await briefing(fake, guild.id, "resume")
            picked = await briefing(fake, guild.id, "next", topic="berlin-talks")
            assert "What are the Berlin talks?" in picked["content"]
            off = await briefing(fake, guild.id, "off")
            assert off["content"] == "The daily explainer is off."
            assert await bot.service.schedules.get(guild.id) is None


async def test_deleted_channel_in_one_server_while_nine_others_post(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    async with FakeDiscord() as fake:
        guilds = [fake.add_guild(name=f"Server {i}", channels=("news", "chat")) for i in range(10)]
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock) as bot:
            for g in guilds:
                await bot.service.set_schedule(g.id, g.text_channel_id, "08:00", "UTC", clock())
            broken = guilds[4]
            news = broken.text_channel_id
            broken.delete_channel(news)
            clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
            report = await bot.scheduler.tick()
            await bot.scheduler.tick()
            counts = {
                g.id: len(fake.channel_messages(g.text_channel_id))
                for g in guilds
                if g is not broken
            }
            assert broken.text_channel_id != news  # /briefing show is asked from #chat
            status = await bot.service.schedule_status(broken.id)
            shown = (await briefing(fake, broken.id, "show"))["embeds"][0]
        assert (report.posted, report.failed) == (9, 1)
        assert set(counts.values()) == {1}
        assert status.schedule is not None and "404" in (status.schedule.paused_reason or "")
        assert "no longer exists" in shown["description"]
        message = fake.channel_messages(guilds[0].text_channel_id)[0]
        assert message["embeds"][0]["author"]["name"] == "Daily explainer — 2026-11-28"
        assert message["allowed_mentions"] == {"parse": []}


async def crash_after_the_send(bot: Briefbot) -> None:
    """One pass whose process dies right after Discord took the post, before Briefbot could
    record anything about it (not even the message id)."""
    store = bot.service.schedules

    async def die(*args: object, **kwargs: object) -> None:
        raise SimulatedCrash("killed after the send, before recording it")

    store.record_message = die  # type: ignore[method-assign]
    store.finish = die  # type: ignore[method-assign]
    with pytest.raises(SimulatedCrash):
        await bot.scheduler.tick()


async def test_crash_after_the_send_and_a_restart_an_hour_later_still_make_one_post(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        channel = guild.text_channel_id
        async with running_bot(fake, db, clock=clock) as bot:
            await bot.service.set_schedule(guild.id, channel, "08:00", "UTC", clock())
            fake.post_user_message(channel, "good morning")
            clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
            await crash_after_the_send(bot)
        [posted] = fake.channel_messages(channel)[1:]
        # An hour later: Discord has long forgotten the nonce.
        clock.now += timedelta(hours=1)
        fake.advance(3600)
        fake.post_user_message(channel, "anyone there?")
        async with running_bot(fake, db, clock=clock) as bot:
            await bot.scheduler.tick()
            await bot.scheduler.tick()
            post = await bot.service.schedules.post(guild.id, clock.now.date())
        assert [m["id"] for m in fake.channel_messages(channel) if m["author"].get("bot")] == [
            posted["id"]
        ]
        assert fake.nonce_dedupes == 0  # found by reading the channel, not saved by the nonce
        assert fake.requests_matching("GET", rf"^/channels/{channel}/messages$")
        assert post is not None and post.status == "sent"
        assert post.message_id == int(posted["id"]) and post.recovery == FOUND


async def test_without_read_message_history_the_nonce_is_the_fallback_and_show_says_so(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        channel = guild.text_channel_id
        guild.set_bot_channel_permissions(channel, deny=int(Perm.READ_MESSAGE_HISTORY))
        async with running_bot(fake, db, clock=clock) as bot:
            await bot.service.set_schedule(guild.id, channel, "08:00", "UTC", clock())
            shown = (await briefing(fake, guild.id, "show"))["embeds"][0]
            clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
            await crash_after_the_send(bot)
        fields = {f["name"]: f["value"] for f in shown["fields"]}
        assert "Read Message History" in fields["Exactly once"]
        # Restarted within Discord's nonce window (after the claim's lease ran out).
        clock.now += CLAIM_LEASE + timedelta(seconds=30)
        fake.advance((CLAIM_LEASE + timedelta(seconds=30)).total_seconds())
        async with running_bot(fake, db, clock=clock) as bot:
            await bot.scheduler.tick()
            post = await bot.service.schedules.post(guild.id, clock.now.date())
        assert len(fake.channel_messages(channel)) == 1
        assert fake.nonce_dedupes == 1
        assert post is not None and post.status == "sent" and post.recovery == NONCE_ONLY


async def test_briefing_now_once_per_channel_per_ten_minutes_unless_manage_server(
    tmp_path: Path,
) -> None:
    clock = Clock(datetime(2026, 11, 28, 8, 0, tzinfo=UTC))
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News", channels=("news", "chat"))
        news, chat = (c.id for c in guild.channels.values() if c.type == 0)
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock):

            async def now(channel: int, perms: int = MEMBER) -> dict:
                ix = await fake.send_slash(
                    guild.id,
                    channel,
                    name="briefing",
                    subcommand="now",
                    member_permissions=perms,
                )
                return (await ix.wait_response())["data"]

            assert (await now(news))["embeds"]
            clock.now += timedelta(minutes=4)
            refused = await now(news)
            assert int(refused["flags"]) & EPHEMERAL and not refused.get("embeds")
            assert "again in 6 minutes (at 08:10 UTC)" in refused["content"]
            assert (await now(chat))["embeds"]  # each channel has its own turn
            assert (await now(news, MODERATOR))["embeds"]  # Manage Server is not limited
            clock.now += timedelta(minutes=10)
            assert (await now(news))["embeds"]


async def test_a_thousand_servers_due_at_once_each_get_exactly_one_post_despite_429s(
    tmp_path: Path,
) -> None:
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    async with FakeDiscord() as fake:
        guilds = [fake.add_guild(name=f"S{i}") for i in range(1000)]
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock) as bot:
            for g in guilds:
                await bot.service.set_schedule(g.id, g.text_channel_id, "08:00", "UTC", clock())
            fake.inject_429("POST", r"^/channels/\d+/messages$", count=40, retry_after=0.05)
            clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
            report = await bot.scheduler.tick()
            again = await bot.scheduler.tick()
        counts = [len(fake.channel_messages(g.text_channel_id)) for g in guilds]
        limited = [
            r
            for r in fake.requests_matching("POST", r"^/channels/\d+/messages$")
            if r.status == 429 and r.fault == "429"  # the injected ones, not the fake's limiter
        ]
        by_limiter = [
            r
            for r in fake.requests_matching("POST", r"^/channels/\d+/messages$")
            if r.status == 429 and r.fault is None
        ]
        assert report.posted == 1000 and again.posted == 0
        assert counts == [1] * 1000
        assert len(limited) == 40
        # 1,000 posts meet Discord's global 50 a second: the fake's limiter refused some, and
        # discord.py waited them out (every server still has exactly one post).
        assert by_limiter
