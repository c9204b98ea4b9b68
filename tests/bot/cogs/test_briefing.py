"""End to end: /briefing commands and daily posts through the real client and the fake Discord."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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
            assert await bot.service.briefing.get(guild.id) is None

            guild.set_bot_channel_permissions(channel, deny=int(Perm.EMBED_LINKS))
            missing = await briefing(
                fake, guild.id, "set", channel=channel, time="08:00", timezone="UTC"
            )
            assert "Embed Links" in missing["content"] and "Nothing was saved" in missing["content"]
            assert await bot.service.briefing.get(guild.id) is None

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
            assert await bot.service.briefing.get(guild.id) is None


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


async def test_crash_after_the_send_before_it_was_recorded_does_not_post_twice(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(datetime(2026, 11, 28, 6, 0, tzinfo=UTC))
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db, clock=clock) as bot:
            await bot.service.set_schedule(guild.id, guild.text_channel_id, "08:00", "UTC", clock())
            clock.now = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
            real_finish = bot.service.briefing.finish

            async def crash_before_recording(*args: object, **kwargs: object) -> None:
                raise SimulatedCrash("killed after the send, before recording it")

            bot.service.briefing.finish = crash_before_recording  # type: ignore[method-assign]
            try:
                await bot.scheduler.tick()
            except SimulatedCrash:
                pass
            bot.service.briefing.finish = real_finish  # type: ignore[method-assign]
        assert len(fake.channel_messages(guild.text_channel_id)) == 1
        async with running_bot(fake, db, clock=clock) as bot:
            clock.now += timedelta(minutes=1)
            await bot.scheduler.tick()
            post = await bot.service.briefing.post(guild.id, clock.now.date())
        assert len(fake.channel_messages(guild.text_channel_id)) == 1
        assert fake.nonce_dedupes == 1
        assert post is not None and post.status == "sent"


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
            if r.status == 429
        ]
        assert report.posted == 1000 and again.posted == 0
        assert counts == [1] * 1000
        assert len(limited) == 40
