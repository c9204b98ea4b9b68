"""End to end: the "Explain this" message command and its Share here button, through the real
discord.py client and the fake Discord (message-command payloads with resolved messages)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.cogs.context import READ_LIMIT
from bot.service import BriefingService
from bot.ui.share import SHARE_RATE
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.server import USER_INSTALL

CHANNEL_MESSAGE = 4
EPHEMERAL = 1 << 6
NO_MENTIONS = {"parse": []}
COMMAND = "Explain this"
CEDING = "Would Ukraine cede territory for peace?"
HEADLINE = "Zelensky: Ukraine will not give up land for a peace deal"
PRIVATE_TEXT = "my neighbour Olga says the talks are doomed, what does NATO say?"


def components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row.get("components", [])]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [str(c.get("custom_id")) for c in components(message)]


async def asked(service: BriefingService) -> list[Any]:
    """Every row of the asks log (written in batches: flushed first)."""
    await service.asks.flush()
    return list(await service.db.conn.execute_fetchall("SELECT * FROM asks"))


async def test_the_command_is_synced_as_a_message_command_for_every_install(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            command = fake.command(COMMAND, type=3)
    assert command is not None
    assert command["description"] == ""
    assert sorted(command["integration_types"]) == [0, 1]
    assert sorted(command["contexts"]) == [0, 1, 2]
    assert "options" not in command
    assert fake.identifies[0]["intents"] == 1  # guilds only: no Message Content intent


async def test_a_plain_message_gets_a_private_card_with_share_here_and_nothing_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            with caplog.at_level(logging.DEBUG, logger="bot"):
                ix = await fake.send_message_command(
                    guild.id, name=COMMAND, content=f"{HEADLINE} @everyone"
                )
                response = await ix.wait_response()
            rows = await asked(bot.service)
    assert response["type"] == CHANNEL_MESSAGE
    data = response["data"]
    assert int(data["flags"]) & EPHEMERAL
    assert data["embeds"][0]["title"] == CEDING
    assert data["allowed_mentions"] == NO_MENTIONS
    ids = custom_ids(data)
    section_id = data["embeds"] and next(i for i in ids if i.startswith("bb:share:"))
    assert section_id.startswith(f"bb:share:{guild.id}:")
    # Someone else's message: no learning-loop buttons, no Follow, no asks log, no log line.
    assert not [i for i in ids if i.startswith(("bb:fb:", "bb:follow"))]
    assert rows == []
    assert not [r for r in caplog.records if "Zelensky" in r.getMessage()]


async def test_share_here_posts_the_card_for_everyone(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            ix = await fake.send_message_command(guild.id, name=COMMAND, content=HEADLINE)
            data = (await ix.wait_response())["data"]
            share = next(i for i in custom_ids(data) if i.startswith("bb:share:"))
            click = await fake.click_component(ix, share)
            shared = (await click.wait_response())["data"]
            rows = await asked(bot.service)
    assert click.response is not None and click.response["type"] == CHANNEL_MESSAGE
    assert not int(shared.get("flags") or 0) & EPHEMERAL
    assert shared["embeds"][0]["title"] == CEDING
    assert shared["embeds"][0]["author"]["name"].startswith("Shared by ")
    assert shared["allowed_mentions"] == NO_MENTIONS
    assert not [i for i in custom_ids(shared) if i.startswith(("bb:fb:", "bb:share:"))]
    public = [
        m
        for m in fake.channel_messages(guild.text_channel_id, include_interactions=True)
        if m["author"]["id"] == str(fake.bot_user_id) and not int(m["flags"]) & EPHEMERAL
    ]
    assert [m["embeds"][0]["title"] for m in public] == [CEDING]
    assert rows == []


async def test_a_link_preview_alone_is_read_from_its_title_and_description(tmp_path: Path) -> None:
    preview = {
        "type": "link",
        "url": "https://example.org/news/berlin",
        "title": "Envoys meet in Berlin",
        "description": "The Berlin talks on a ceasefire resume with US and European envoys.",
    }
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ix = await fake.send_message_command(
                guild.id, name=COMMAND, content="", embeds=[preview]
            )
            data = (await ix.wait_response())["data"]
    assert ix.payload["data"]["resolved"]["messages"][str(ix.payload["data"]["target_id"])]
    assert int(data["flags"]) & EPHEMERAL
    assert data["embeds"][0]["title"] == "What are the Berlin talks?"


async def test_an_empty_message_gets_a_polite_private_word(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            ix = await fake.send_message_command(guild.id, name=COMMAND, content="   ")
            data = (await ix.wait_response())["data"]
            rows = await asked(bot.service)
    assert int(data["flags"]) & EPHEMERAL
    assert "no text in this message" in data["content"]
    assert "Traceback" not in data["content"]
    assert not data.get("embeds")
    assert rows == []


async def test_no_confident_section_gets_the_honest_no_briefing_and_records_nothing(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            ix = await fake.send_message_command(
                guild.id, name=COMMAND, content="lovely sourdough recipe with rye flour"
            )
            data = (await ix.wait_response())["data"]
            rows = await asked(bot.service)
            topic = next(i for i in custom_ids(data) if i.startswith("bb:topic:"))
            opened = await fake.click_component(ix, topic)
            card = (await opened.wait_response())["data"]
    assert int(data["flags"]) & EPHEMERAL
    assert data["content"].startswith("I don't have a briefing on what this message is about")
    assert "moderators" not in data["content"]  # nothing was noted for them
    assert "sourdough" not in data["content"]  # someone else's words are not echoed
    # The closest topics open their card; the button carries no question record.
    assert topic.count(":") == 3
    assert card["embeds"] and int(card["flags"]) & EPHEMERAL
    assert rows == []


async def test_only_the_first_300_characters_are_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    searched: list[str] = []
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            real_ask = bot.service.ask

            async def spy(question: str, *args: Any, **kwargs: Any) -> Any:
                searched.append(question)
                return await real_ask(question, *args, **kwargs)

            monkeypatch.setattr(bot.service, "ask", spy)
            long_text = f"{HEADLINE}. " + "and so on and on " * 200
            ix = await fake.send_message_command(guild.id, name=COMMAND, content=long_text)
            data = (await ix.wait_response())["data"]
    assert data["embeds"][0]["title"] == CEDING
    assert len(searched) == 1 and len(searched[0]) <= READ_LIMIT
    assert searched[0].startswith(HEADLINE)


async def test_a_share_button_crafted_into_another_servers_message_is_refused(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        other = fake.add_guild(name="Elsewhere")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ix = await fake.send_message_command(guild.id, name=COMMAND, content=HEADLINE)
            share = next(i for i in custom_ids((await ix.wait_response())["data"]) if "share" in i)
            there = await fake.send_message_command(other.id, name=COMMAND, content=HEADLINE)
            await there.wait_response()
            stored = fake.messages[there.original_message_id]
            for row in stored["components"]:
                for item in row["components"]:
                    if item["custom_id"].startswith("bb:share:"):
                        item["custom_id"] = share
            foreign = await fake.click_component(there, share)
            refused = (await foreign.wait_response())["data"]
    assert int(refused["flags"]) & EPHEMERAL
    assert "another server" in refused["content"]
    posted = fake.channel_messages(other.text_channel_id, include_interactions=True)
    assert not [
        m
        for m in posted
        if m["author"]["id"] == str(fake.bot_user_id) and not int(m["flags"]) & EPHEMERAL
    ]


async def test_in_a_dm_through_a_members_own_install_the_card_can_be_shared(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        member = int(fake.add_user(None, "reader")["id"])
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            ix = await fake.send_message_command(
                None, user_id=member, name=COMMAND, content=HEADLINE, install=USER_INSTALL
            )
            data = (await ix.wait_response())["data"]
            share = next(i for i in custom_ids(data) if i.startswith("bb:share:"))
            click = await fake.click_component(ix, share)
            shared = (await click.wait_response())["data"]
            rows = await asked(bot.service)
    assert ix.payload["authorizing_integration_owners"] == {"1": str(member)}
    assert "member" not in ix.payload and ix.payload["context"] == 1
    assert int(data["flags"]) & EPHEMERAL
    assert share == f"bb:share:0:{share.rsplit(':', 1)[1]}"
    assert not int(shared.get("flags") or 0) & EPHEMERAL
    assert shared["embeds"][0]["title"] == CEDING
    assert rows == []


async def test_where_discord_allows_no_public_reply_there_is_no_share_button(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        outside = fake.add_guild(name="No Briefbot here", installed=False)
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            # @everyone's default permissions there include Use External Apps; this channel's
            # member lacks it.
            ix = await fake.send_message_command(
                outside.id,
                name=COMMAND,
                content=HEADLINE,
                install=USER_INSTALL,
                member_permissions=0,
            )
            data = (await ix.wait_response())["data"]
    assert int(data["flags"]) & EPHEMERAL
    assert data["embeds"][0]["title"] == CEDING
    assert custom_ids(data) == []  # no Share here, no related menu that would be refused


async def test_share_here_still_works_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db):
            ix = await fake.send_message_command(guild.id, name=COMMAND, content=HEADLINE)
            data = (await ix.wait_response())["data"]
        share = next(i for i in custom_ids(data) if i.startswith("bb:share:"))
        async with running_bot(fake, db):
            click = await fake.click_component(ix, share)
            shared = (await click.wait_response())["data"]
    assert not int(shared.get("flags") or 0) & EPHEMERAL
    assert shared["embeds"][0]["title"] == CEDING


async def test_a_dms_share_button_crafted_into_a_servers_message_is_refused(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        member = int(fake.add_user(None, "reader")["id"])
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ix = await fake.send_message_command(
                None, user_id=member, name=COMMAND, content=HEADLINE, install=USER_INSTALL
            )
            dm_share = next(
                i for i in custom_ids((await ix.wait_response())["data"]) if "share" in i
            )
            there = await fake.send_message_command(guild.id, name=COMMAND, content=HEADLINE)
            await there.wait_response()
            stored = fake.messages[there.original_message_id]
            for row in stored["components"]:
                for item in row["components"]:
                    if item["custom_id"].startswith("bb:share:"):
                        item["custom_id"] = dm_share
            foreign = await fake.click_component(there, dm_share)
            refused = (await foreign.wait_response())["data"]
    assert dm_share.startswith("bb:share:0:")
    assert "another server" in refused["content"] and int(refused["flags"]) & EPHEMERAL


async def test_share_here_clicked_again_and_again_posts_no_more_than_explain_this_may(
    tmp_path: Path,
) -> None:
    """Each click posts a public card: like /ask and Explain this, five in any 30 seconds per
    member per place, then the member is told to wait (privately) and nothing is posted."""
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ix = await fake.send_message_command(guild.id, name=COMMAND, content=HEADLINE)
            data = (await ix.wait_response())["data"]
            share = next(i for i in custom_ids(data) if i.startswith("bb:share:"))
            answers = []
            for _ in range(SHARE_RATE + 1):
                click = await fake.click_component(ix, share)
                answers.append((await click.wait_response())["data"])
    assert all(not int(a.get("flags") or 0) & EPHEMERAL for a in answers[:SHARE_RATE])
    last = answers[-1]
    assert int(last["flags"]) & EPHEMERAL and "second" in last["content"]
    public = [
        m
        for m in fake.channel_messages(guild.text_channel_id, include_interactions=True)
        if m["author"]["id"] == str(fake.bot_user_id) and not int(m["flags"]) & EPHEMERAL
    ]
    assert len(public) == SHARE_RATE
