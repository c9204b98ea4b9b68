"""End to end: help channels through the real discord.py client and the fake Discord.

`/kb autoanswer` checks the intent and Briefbot's permissions before saving; members' messages
(MESSAGE_CREATE, which the fake sends only with the guild messages intent and fills only with
Message Content) get at most one reply, only in the channels turned on, only when confident;
forum posts are answered in their thread; **Not helpful** deletes a reply for the member it
answered or a moderator, after a restart too; nothing reaches the asks log or another server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.autoanswer import MAX_CHANNELS
from tests.bot.cogs.test_kb import MEMBER, components, kb
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord, Perm

EPHEMERAL = 1 << 6
# The Developer Portal's "Message Content Intent" toggle, for an app in under 100 servers.
MESSAGE_CONTENT_ENABLED = 1 << 19
GUILD_MESSAGES = 1 << 9
MESSAGE_CONTENT = 1 << 15
QUESTION = "can someone explain what the berlin talks are actually about?"
CHATTER = "anyone been to berlin? flights are cheap in march"
BERLIN = "What are the Berlin talks?"
MODERATE = int(MEMBER | Perm.MANAGE_MESSAGES)


def reading_fake() -> FakeDiscord:
    return FakeDiscord(application_flags=MESSAGE_CONTENT_ENABLED)


def channel_named(guild: Any, name: str) -> int:
    return next(c.id for c in guild.channels.values() if c.name == name)


async def autoanswer(fake: FakeDiscord, guild_id: int, channel: int, **kw: Any) -> dict[str, Any]:
    ix = await kb(fake, guild_id, "autoanswer", channel=channel, **kw)
    data = (await ix.wait_response())["data"]
    assert int(data["flags"]) & EPHEMERAL, data
    return data


def bot_messages(fake: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    return [m for m in fake.channel_messages(channel) if int(m["author"]["id"]) == fake.bot_user_id]


async def replies(fake: FakeDiscord, channel: int, n: int) -> list[dict[str, Any]]:
    """Wait for the bot's `n`th message in `channel`, then for every message handler to end, so
    that no reply can still be on its way; return the bot's messages there."""
    await fake._wait_until(
        lambda: len(bot_messages(fake, channel)) >= n,
        5.0,
        lambda: f"channel {channel}: wanted {n} replies, have {bot_messages(fake, channel)}",
    )
    await settled()
    return bot_messages(fake, channel)


async def settled() -> None:
    """Every on_message handler discord.py started has finished."""
    running = [t for t in asyncio.all_tasks() if t.get_name() == "discord.py: on_message"]
    await asyncio.gather(*running)


async def barrier(fake: FakeDiscord, guild_id: int) -> None:
    """Every event sent before now has reached the bot and been handled: an interaction sent
    after them on the same gateway is answered, then the message handlers are waited for."""
    ix = await fake.send_slash(guild_id, name="topics")
    await ix.wait_response()
    await settled()


def answers(fake: FakeDiscord, channel: int) -> list[dict[str, Any]]:
    """The bot's replies in a channel (its messages answering another)."""
    return [m for m in bot_messages(fake, channel) if m.get("message_reference")]


def reply_titles(messages: list[dict[str, Any]]) -> list[str]:
    return [m["embeds"][0]["title"] for m in messages]


async def asks_logged(bot: Any) -> int:
    async with bot.service.db.conn.execute("SELECT count(*) FROM asks") as cursor:
        row = await cursor.fetchone()
    return int(row[0])


async def test_without_the_intent_the_command_says_what_to_enable_and_saves_nothing(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(channels=("general", "help"))
        help_channel = channel_named(guild, "help")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            assert fake.identifies[-1]["intents"] == discord.Intents(guilds=True).value
            data = await autoanswer(fake, guild.id, help_channel)
            assert "Message Content Intent" in data["content"]
            assert "BRIEFBOT_MESSAGE_CONTENT=true" in data["content"]
            assert "Nothing was saved" in data["content"]
            assert await bot.autoanswer.channels(guild.id) == []
            # Turning a channel off needs no intent, and says it was not on.
            data = await autoanswer(fake, guild.id, help_channel, enabled=False)
            assert "nothing changed" in data["content"]


async def test_the_portal_must_enable_message_content_first(tmp_path: Path) -> None:
    """Asking for the privileged intent the portal has not enabled is gateway close 4014: the
    bot stops starting, as `python -m bot run` reports it (exit 2)."""
    async with FakeDiscord() as fake:
        fake.add_guild()
        try:
            async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True):
                raise AssertionError("the bot connected with a disallowed intent")
        except discord.PrivilegedIntentsRequired:
            pass
        assert fake.identifies[-1]["intents"] & MESSAGE_CONTENT


async def test_a_question_in_a_help_channel_gets_one_reply_and_chatter_none(
    tmp_path: Path,
) -> None:
    async with reading_fake() as fake:
        guild = fake.add_guild(channels=("general", "help", "random"))
        help_channel, random = channel_named(guild, "help"), channel_named(guild, "random")
        member = guild.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True) as bot:
            intents = fake.identifies[-1]["intents"]
            assert intents & GUILD_MESSAGES and intents & MESSAGE_CONTENT
            data = await autoanswer(fake, guild.id, help_channel)
            assert "new messages" in data["content"] and f"<#{help_channel}>" in data["content"]
            assert await bot.autoanswer.channels(guild.id) == [help_channel]
            shown = await fake.send_slash(guild.id, name="briefing", subcommand="show")
            fields = (await shown.wait_response())["data"]["embeds"][0].get("fields", [])
            assert any(f"<#{help_channel}>" in f["value"] for f in fields)

            fake.post_user_message(help_channel, CHATTER, user_id=member.id)
            fake.post_user_message(random, QUESTION, user_id=member.id)  # not a help channel
            asked = fake.post_user_message(help_channel, QUESTION, user_id=member.id)
            [reply] = await replies(fake, help_channel, 1)
            assert bot_messages(fake, random) == []

            assert reply_titles([reply]) == [BERLIN]
            assert reply["message_reference"]["message_id"] == asked["id"]
            # No ping: not the member it answers, nobody else.
            assert reply["allowed_mentions"]["parse"] == []
            assert reply["allowed_mentions"].get("replied_user") is False
            assert reply["mentions"] == []
            [button] = components(reply)
            assert button["label"] == "Not helpful"
            assert button["custom_id"] == f"bb:aa:nothelpful:{guild.id}:{member.id}"

            # The same message again (a replayed event) gets no second reply.
            fake.dispatch_event(
                "MESSAGE_CREATE",
                dict(fake._wire_message(fake.messages[int(asked["id"])]), guild_id=str(guild.id)),
                guild_id=guild.id,
            )
            fake.post_user_message(help_channel, "what does putin actually want", member.id)
            assert len(await replies(fake, help_channel, 2)) == 2
            # Channel messages are members' own text: nothing reaches the asks log.
            await bot.service.asks.flush()
            assert await asks_logged(bot) == 0


async def test_bots_webhooks_and_itself_are_never_answered(tmp_path: Path) -> None:
    async with reading_fake() as fake:
        guild = fake.add_guild(channels=("general", "help"))
        help_channel = channel_named(guild, "help")
        other_bot = fake.add_user(username="otherbot", bot=True)
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True):
            await autoanswer(fake, guild.id, help_channel)
            fake.post_user_message(help_channel, QUESTION, user_id=int(other_bot["id"]))
            fake.post_user_message(help_channel, QUESTION, user_id=fake.bot_user_id)
            # A webhook's message (an integration posting news) is no member's question.
            posted = fake.post_user_message(guild.text_channel_id, QUESTION)
            webhook = dict(
                fake._wire_message(fake.messages[int(posted["id"])]),
                id=str(fake.new_id()),
                channel_id=str(help_channel),
                guild_id=str(guild.id),
                webhook_id=str(fake.new_id()),
            )
            fake.dispatch_event("MESSAGE_CREATE", webhook, guild_id=guild.id)
            await barrier(fake, guild.id)
            assert answers(fake, help_channel) == []


async def test_a_forum_post_is_answered_in_its_thread_once(tmp_path: Path) -> None:
    async with reading_fake() as fake:
        guild = fake.add_guild()
        forum = guild.add_channel("ask-here", type=15)
        member = guild.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True) as bot:
            data = await autoanswer(fake, guild.id, forum.id)
            assert "new posts" in data["content"]
            thread, first = fake.post_forum_post(
                forum.id,
                "Berlin talks",
                "why are they all meeting in berlin? what is the point",
                member.id,
            )
            [reply] = await replies(fake, thread.id, 1)
            assert reply_titles([reply]) == [BERLIN]
            assert reply["message_reference"]["message_id"] == first["id"]
            # Later messages in the post are its discussion, not new posts.
            fake.post_user_message(thread.id, QUESTION, user_id=member.id)
            again, _ = fake.post_forum_post(
                forum.id, "Putin", "what does putin actually want from a deal", member.id
            )
            await replies(fake, again.id, 1)
            assert len(bot_messages(fake, thread.id)) == 1
            assert await bot.autoanswer.channels(guild.id) == [forum.id]


async def test_the_setting_checks_briefbots_permissions_and_names_what_is_missing(
    tmp_path: Path,
) -> None:
    async with reading_fake() as fake:
        guild = fake.add_guild(channels=("general", "help"))
        help_channel = channel_named(guild, "help")
        forum = guild.add_channel("ask-here", type=15)
        guild.set_bot_channel_permissions(help_channel, deny=Perm.READ_MESSAGE_HISTORY)
        guild.set_bot_channel_permissions(forum.id, deny=Perm.SEND_MESSAGES_IN_THREADS)
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True) as bot:
            data = await autoanswer(fake, guild.id, help_channel)
            assert "**Read Message History**" in data["content"]
            assert "nothing was saved" in data["content"]
            data = await autoanswer(fake, guild.id, forum.id)
            assert "I need **Send Messages in Threads** there" in data["content"]
            assert await bot.autoanswer.channels(guild.id) == []
            # Discord offers only text and forum channels for the option (the fake too).
            voice = guild.add_channel("voice", type=2)
            with pytest.raises(LookupError, match="not in"):
                await kb(fake, guild.id, "autoanswer", channel=voice.id)
            # Without Manage Server nothing changes either.
            ix = await kb(fake, guild.id, "autoanswer", perms=MEMBER, channel=help_channel)
            assert "Manage Server" in (await ix.wait_response())["data"]["content"]
            guild.clear_overwrite(help_channel, fake.bot_user_id)
            await autoanswer(fake, guild.id, help_channel)
            assert await bot.autoanswer.channels(guild.id) == [help_channel]
            # A question asked before it was turned off is answered; after, it is not.
            fake.post_user_message(help_channel, QUESTION)
            await replies(fake, help_channel, 1)
            data = await autoanswer(fake, guild.id, help_channel, enabled=False)
            assert "no longer" in data["content"]
            fake.post_user_message(help_channel, "how is russia going to react to all this?")
            await barrier(fake, guild.id)
            assert len(answers(fake, help_channel)) == 1


async def test_not_helpful_deletes_the_reply_for_the_asker_or_a_moderator_only(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    async with reading_fake() as fake:
        guild = fake.add_guild(channels=("general", "help"))
        help_channel = channel_named(guild, "help")
        asker, bystander = guild.add_member(), guild.add_member()
        async with running_bot(fake, db, message_content=True):
            await autoanswer(fake, guild.id, help_channel)
            fake.post_user_message(help_channel, QUESTION, user_id=asker.id)
            fake.post_user_message(help_channel, "what does putin actually want", bystander.id)
            first, second = await replies(fake, help_channel, 2)
        # After a restart the buttons still work: they carry the server and the asker.
        async with running_bot(fake, db, message_content=True):
            button = components(first)[0]["custom_id"]
            refused = await fake.click_component(
                int(first["id"]), button, user_id=bystander.id, member_permissions=MEMBER
            )
            data = (await refused.wait_response())["data"]
            assert int(data["flags"]) & EPHEMERAL and "Only the member" in data["content"]
            assert fake.message(int(first["id"])) is not None
            assert not fake.message(int(first["id"])).get("_deleted")

            removed = await fake.click_component(
                int(first["id"]), button, user_id=asker.id, member_permissions=MEMBER
            )
            await removed.wait_followups(1)
            assert "Removed" in removed.followups[0]["content"]
            assert [m["id"] for m in bot_messages(fake, help_channel)] == [second["id"]]

            by_moderator = await fake.click_component(
                int(second["id"]),
                components(second)[0]["custom_id"],
                user_id=asker.id,
                member_permissions=MODERATE,
            )
            await by_moderator.wait_followups(1)
            assert bot_messages(fake, help_channel) == []


async def test_servers_keep_their_help_channels_to_themselves(tmp_path: Path) -> None:
    async with reading_fake() as fake:
        a = fake.add_guild(name="A", channels=("general", "help"))
        b = fake.add_guild(name="B", channels=("general", "help"))
        a_help, b_help = channel_named(a, "help"), channel_named(b, "help")
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True) as bot:
            await autoanswer(fake, a.id, a_help)
            fake.post_user_message(b_help, QUESTION)
            fake.post_user_message(a_help, QUESTION)
            await replies(fake, a_help, 1)
            await barrier(fake, b.id)
            assert bot_messages(fake, b_help) == []
            assert await bot.autoanswer.channels(b.id) == []
            # B's channel of the same name stays B's: turning it on there leaves A as it was.
            await autoanswer(fake, b.id, b_help)
            assert await bot.autoanswer.channels(a.id) == [a_help]
            assert await bot.autoanswer.channels(b.id) == [b_help]


async def test_a_server_holds_at_most_its_cap_of_help_channels(tmp_path: Path) -> None:
    async with reading_fake() as fake:
        guild = fake.add_guild()
        channels = [guild.add_channel(f"help-{n}").id for n in range(MAX_CHANNELS + 1)]
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True) as bot:
            for channel in channels[:MAX_CHANNELS]:
                await bot.autoanswer.enable(
                    guild.id,
                    channel,
                    "text",
                    1,
                    channel_name=f"<#{channel}>",
                    granted=(
                        "view_channel",
                        "send_messages",
                        "embed_links",
                        "read_message_history",
                    ),
                )
            data = await autoanswer(fake, guild.id, channels[-1])
            assert f"already answers in {MAX_CHANNELS} channels" in data["content"]
            assert len(await bot.autoanswer.channels(guild.id)) == MAX_CHANNELS


async def test_a_message_mentioning_briefbot_outside_help_channels_is_neither_read_nor_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the intent every server's messages arrive. One that starts with Briefbot's mention
    is no prefix command (Briefbot has none): discord.py's command handling must not take its
    first word for one and log it ("Command \\"…\\" is not found", with a traceback)."""
    async with reading_fake() as fake:
        guild = fake.add_guild(channels=("general", "random"))
        random = channel_named(guild, "random")
        member = guild.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True):
            caplog.clear()
            fake.post_user_message(
                random, f"<@{fake.bot_user_id}> confidentialword about my day", user_id=member.id
            )
            await barrier(fake, guild.id)
            assert bot_messages(fake, random) == []
        assert "confidentialword" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= 40]


async def test_a_reply_in_flight_when_the_bot_stops_is_still_sent(tmp_path: Path) -> None:
    """Its message is claimed before the reply goes out: shutdown waits for it as for an
    interaction in flight, or the message would never be answered."""
    async with reading_fake() as fake:
        guild = fake.add_guild(channels=("general", "help"))
        help_channel = channel_named(guild, "help")
        member = guild.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3", message_content=True) as bot:
            await autoanswer(fake, guild.id, help_channel)
            deciding = bot.autoanswer.reply_for
            started, release = asyncio.Event(), asyncio.Event()

            async def held(message: Any) -> Any:
                started.set()
                await release.wait()  # the reply is in flight until shutdown has begun
                return await deciding(message)

            bot.autoanswer.reply_for = held  # type: ignore[method-assign]
            fake.post_user_message(help_channel, QUESTION, user_id=member.id)
            async with asyncio.timeout(5):
                await started.wait()
                closing = asyncio.create_task(bot.close())
                await asyncio.sleep(0)  # one step of the loop: close() runs to its first wait
                assert bot.closing
                release.set()
                await closing
        assert reply_titles(answers(fake, help_channel)) == [BERLIN]
