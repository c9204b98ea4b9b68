"""End to end: /ask, /explain and /topics through a member's own install (a DM with the bot, a
group DM, a server without Briefbot), and the command sync that offers it.

The payloads are Discord's for a user install: `authorizing_integration_owners` naming the
member alone, no `member` outside a server, `context` 0, 1 or 2, and `app_permissions` of an
app that is no member there (tests/fakediscord/server.py `_interaction_payload`).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.sections import (
    MAX_BODY,
    MAX_SOURCE_TITLE,
    MAX_SOURCES,
    MAX_TITLE,
    MAX_URL,
    Section,
    SectionContent,
    Source,
)
from bot.service import BriefingService
from bot.ui.cards import section_cards
from tests.bot.cogs.test_kb import NEW_TOPIC, open_form, submit
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.limits import LIMITS
from tests.fakediscord.payloads import Perm
from tests.fakediscord.server import CONTEXT_PRIVATE_CHANNEL, USER_INSTALL

CHANNEL_MESSAGE = 4
EPHEMERAL = 1 << 6
NO_MENTIONS = {"parse": []}
BERLIN = "What are the Berlin talks?"
MEMBER = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.USE_APPLICATION_COMMANDS)


def components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row.get("components", [])]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [str(c.get("custom_id")) for c in components(message)]


async def asked(service: BriefingService) -> list[Any]:
    await service.asks.flush()
    return list(await service.db.conn.execute_fetchall("SELECT * FROM asks"))


def own_flags(fake: FakeDiscord, ix: Any) -> int:
    """The flags Briefbot itself asked for in its reply (Discord may force more)."""
    body = next(
        r.json
        for r in fake.requests
        if r.path.endswith(f"/interactions/{ix.id}/{ix.token}/callback")
    )
    return int(((body or {}).get("data") or {}).get("flags") or 0)


async def test_member_commands_are_global_for_both_installs_and_kb_stays_in_servers(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            commands = {c["name"]: c for c in fake.commands.get(None, {}).values()}
    for name in ("ask", "explain", "topics", "Explain this"):
        assert sorted(commands[name]["integration_types"]) == [0, 1], name
        assert sorted(commands[name]["contexts"]) == [0, 1, 2], name
    for name in ("kb", "briefing", "follows"):
        assert commands[name]["integration_types"] == [0], name
        assert commands[name]["contexts"] == [0], name
    # As Briefbot sent them: without `integration_types` Discord offers a command to every
    # install the app is configured for (the README has User Install ticked), which the fake
    # would store as a server install.
    [synced] = [r.json for r in fake.requests_matching("PUT", r"^/applications/\d+/commands$")]
    sent = {c["name"]: c for c in synced}
    for name in ("kb", "briefing", "follows"):
        assert sent[name].get("integration_types") == [0], name
        assert sent[name].get("contexts") == [0], name


async def test_kb_and_briefing_are_not_offered_in_a_dm_or_to_a_users_install(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        outside = fake.add_guild(name="Elsewhere", installed=False)
        member = int(fake.add_user(None, "reader")["id"])
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            for name in ("kb", "briefing"):
                with pytest.raises(LookupError, match="not offered"):
                    await fake.send_slash(None, user_id=member, name=name, subcommand="show")
                with pytest.raises(LookupError, match="not available to installs"):
                    await fake.send_slash(
                        outside.id, name=name, subcommand="show", install=USER_INSTALL
                    )
            # In a server that installed Briefbot, nothing changed.
            shown = await fake.send_slash(guild.id, name="briefing", subcommand="show")
            assert (await shown.wait_response())["type"] == CHANNEL_MESSAGE


async def test_ask_in_a_dm_answers_publicly_from_the_curated_pack_and_records_nothing(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        member = int(fake.add_user(None, "reader")["id"])
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            # A server's own topic stays in that server.
            opened, modal = await open_form(fake, guild.id, "add")
            await submit(fake, opened, modal, NEW_TOPIC)
            ix = await fake.send_slash(
                None,
                user_id=member,
                name="ask",
                options={"question": "what are the berlin talks"},
                install=USER_INSTALL,
            )
            data = (await ix.wait_response())["data"]
            own = await fake.send_slash(
                None,
                user_id=member,
                name="ask",
                options={"question": "black sea grain deal"},
                install=USER_INSTALL,
            )
            missed = (await own.wait_response())["data"]
            menu = next(c for c in components(data) if c["custom_id"].startswith("bb:related:"))
            chosen = await fake.click_component(
                ix, menu["custom_id"], values=[menu["options"][0]["value"]]
            )
            related = (await chosen.wait_response())["data"]
            rows = await asked(bot.service)
    assert ix.payload["authorizing_integration_owners"] == {"1": str(member)}
    assert "member" not in ix.payload and ix.payload["context"] == 1
    assert not int(data.get("flags") or 0) & EPHEMERAL
    assert data["embeds"][0]["title"] == BERLIN
    assert data["allowed_mentions"] == NO_MENTIONS
    # No learning-loop buttons (nothing recorded to attach them to), no Follow.
    assert [i.split(":")[1] for i in custom_ids(data)] == ["related"]
    assert menu["custom_id"].startswith("bb:related:0:")
    assert related["embeds"][0]["title"] == menu["options"][0]["label"]
    assert int(missed["flags"]) & EPHEMERAL
    assert missed["content"].startswith("I don't have a briefing on that yet.")
    assert "moderators" not in missed["content"]
    assert all(":" in i and i.split(":")[2] == "0" for i in custom_ids(missed))
    # Only the server's own /kb add touched the store; the DM's questions were not logged.
    assert rows == []


async def test_in_a_server_without_briefbot_the_reply_follows_use_external_apps(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        outside = fake.add_guild(name="No Briefbot here", installed=False)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            allowed = await fake.send_slash(
                outside.id,
                name="ask",
                options={"question": "what are the berlin talks"},
                install=USER_INSTALL,
                member_permissions=MEMBER | int(Perm.USE_EXTERNAL_APPS),
            )
            public = (await allowed.wait_response())["data"]
            denied = await fake.send_slash(
                outside.id,
                name="ask",
                options={"question": "what are the berlin talks"},
                install=USER_INSTALL,
                member_permissions=MEMBER,
            )
            private = (await denied.wait_response())["data"]
            rows = await asked(bot.service)
    assert allowed.payload["authorizing_integration_owners"] == {"1": str(allowed.user_id)}
    assert not int(public.get("flags") or 0) & EPHEMERAL
    assert public["embeds"][0]["title"] == BERLIN
    # Buttons there would carry no server while the click carries the guild: none are sent.
    assert components(public) == []
    assert own_flags(fake, denied) & EPHEMERAL  # Briefbot asked for it, not only Discord
    assert private["embeds"][0]["title"] == BERLIN
    assert rows == []


async def test_a_server_that_installed_briefbot_keeps_its_own_answers_and_records(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            opened, modal = await open_form(fake, guild.id, "add")
            await submit(fake, opened, modal, NEW_TOPIC)
            # The member installed Briefbot too: the server's install still answers here.
            ix = await fake.send_slash(
                guild.id,
                name="ask",
                options={"question": "black sea grain deal"},
                install=USER_INSTALL,
            )
            data = (await ix.wait_response())["data"]
            rows = await asked(bot.service)
    assert set(ix.payload["authorizing_integration_owners"]) == {"0", "1"}
    assert data["embeds"][0]["title"] == NEW_TOPIC["title"]
    assert any(i.startswith(f"bb:fb:{guild.id}:") for i in custom_ids(data))
    assert len(rows) == 1


async def test_explain_and_topics_in_a_group_dm_and_a_server_without_briefbot(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        outside = fake.add_guild(name="No Briefbot here", installed=False)
        member = int(fake.add_user(None, "reader")["id"])
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            opened, modal = await open_form(fake, guild.id, "add")
            await submit(fake, opened, modal, NEW_TOPIC)
            choices = await fake.send_autocomplete(
                None,
                user_id=member,
                name="explain",
                options={"topic": "grain"},
                focused="topic",
                install=USER_INSTALL,
                context=CONTEXT_PRIVATE_CHANNEL,
            )
            await choices.wait_response()
            explained = await fake.send_slash(
                None,
                user_id=member,
                name="explain",
                options={"topic": "berlin-talks"},
                install=USER_INSTALL,
                context=CONTEXT_PRIVATE_CHANNEL,
            )
            card = (await explained.wait_response())["data"]
            listed = await fake.send_slash(
                outside.id,
                name="topics",
                install=USER_INSTALL,
                member_permissions=MEMBER | int(Perm.USE_EXTERNAL_APPS),
            )
            topics = (await listed.wait_response())["data"]
            rows = await asked(bot.service)
    assert explained.payload["context"] == CONTEXT_PRIVATE_CHANNEL
    assert "guild_id" not in explained.payload and "member" not in explained.payload
    assert all("grain" not in str(c["name"]).lower() for c in choices.choices or [])
    assert not int(card.get("flags") or 0) & EPHEMERAL
    assert card["embeds"][0]["title"] == BERLIN
    description = topics["embeds"][0]["description"]
    assert BERLIN.replace("?", "") in description.replace("\\", "")
    assert "grain" not in description.lower()
    assert components(topics) == []
    assert rows == []


async def test_the_development_server_gets_server_only_copies_and_the_log_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Dev")
        with caplog.at_level(logging.INFO, logger="bot.client"):
            async with running_bot(fake, tmp_path / "db.sqlite3", dev_guild=guild.id) as bot:
                ix = await fake.send_slash(
                    guild.id, name="ask", options={"question": "what are the berlin talks"}
                )
                assert (await ix.wait_response())["data"]["embeds"][0]["title"] == BERLIN
                member = int(fake.add_user(None, "reader")["id"])
                with pytest.raises(LookupError):
                    await fake.send_slash(
                        None,
                        user_id=member,
                        name="ask",
                        options={"question": "berlin"},
                        install=USER_INSTALL,
                    )
                # The global definitions keep both installs for a later global sync.
                ask = next(c for c in bot.tree.get_commands() if c.name == "ask")
                assert ask.allowed_installs is not None and ask.allowed_installs.user
    synced = {c["name"]: c for c in fake.commands.get(guild.id, {}).values()}
    assert set(synced) >= {"ask", "explain", "topics", "Explain this", "kb", "briefing"}
    for command in synced.values():
        assert command["integration_types"] in (None, [0])
        assert command["contexts"] in (None, [0])
    said = [r.getMessage() for r in caplog.records if "user install" in r.getMessage()]
    assert said and "Explain this" in said[0] and "BRIEFBOT_DEV_GUILD" in said[0]


def test_the_longest_section_fits_discords_follow_up_cap_for_user_installs() -> None:
    """A user-installed app may send 5 follow-ups per interaction; a deferred card is all
    follow-ups, so every section a topic may hold must fit in 5 messages (it takes 3)."""
    url = "https://example.org/" + "a" * (MAX_URL - len("https://example.org/"))
    content = SectionContent(
        slug="longest",
        title="T" * MAX_TITLE,
        body=("word " * MAX_BODY)[:MAX_BODY],
        updated=date(2026, 11, 1),
        position=1,
        sources=tuple(Source("S" * MAX_SOURCE_TITLE, url) for _ in range(MAX_SOURCES)),
    )
    section = Section(id=1, guild_id=None, content=content, status="active", revision=1)
    assert len(section_cards(section)) <= LIMITS.install.user_install_followups
