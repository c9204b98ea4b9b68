"""The fake's rules for message commands and user installs: command registration (installs and
contexts, context menus per scope), the payloads of each install and context, the drivers'
refusal to send what Discord would not offer, Use External Apps, and the follow-up cap."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.fakediscord import FakeDiscord, run_client
from tests.fakediscord.limits import command_errors, error_paths, single_command_errors
from tests.fakediscord.payloads import Perm
from tests.fakediscord.server import (
    CONTEXT_BOT_DM,
    CONTEXT_PRIVATE_CHANNEL,
    GUILD_INSTALL,
    USER_INSTALL,
)

T = 15.0
EPHEMERAL = 1 << 6


def paths(errors: Mapping[str, Any]) -> set[str]:
    return {line.split(":")[0] for line in error_paths(errors)}


def message_command(name: str = "Explain this", **fields: Any) -> dict[str, Any]:
    return {"type": 3, "name": name, **fields}


# ---------------------------------------------------------------------------
# registration (pure validators)


def test_installs_and_contexts_take_known_distinct_values_only() -> None:
    ok = message_command(integration_types=[0, 1], contexts=[0, 1, 2])
    assert single_command_errors(ok) == {}
    assert single_command_errors(message_command(integration_types=None, contexts=None)) == {}
    bad = message_command(integration_types=[0, 2], contexts=[0, 0, 3])
    assert paths(single_command_errors(bad)) == {"integration_types.1", "contexts", "contexts.2"}
    assert paths(single_command_errors(message_command(contexts=[]))) == {"contexts"}
    assert paths(single_command_errors(message_command(integration_types=[True]))) == {
        "integration_types.0"
    }


def test_a_guilds_commands_may_not_claim_a_user_install_or_a_dm() -> None:
    user = message_command(integration_types=[0, 1])
    dm = message_command("Explain that", contexts=[0, 1])
    assert command_errors([user, dm]) == {}
    assert paths(command_errors([user, dm], guild_scoped=True)) == {
        "0.integration_types",
        "1.contexts",
    }
    assert (
        command_errors([message_command(integration_types=[0], contexts=[0])], guild_scoped=True)
        == {}
    )


def test_five_message_commands_per_scope_and_a_sixth_is_refused() -> None:
    five = [message_command(f"Menu {i}") for i in range(5)]
    assert command_errors(five) == {}
    assert paths(command_errors([*five, message_command("Menu 5")])) == {"5"}
    # User commands (type 2) count apart from message commands.
    users = [{"type": 2, "name": f"User {i}"} for i in range(5)]
    assert command_errors([*five, *users]) == {}


# ---------------------------------------------------------------------------
# payloads of each install and context (no bot needed to build them)


def build(fake: FakeDiscord, guild_id: int | None, **kw: Any) -> dict[str, Any]:
    kw.setdefault("channel_id", None)
    kw.setdefault("user_id", None)
    kw.setdefault("member_permissions", None)
    return fake._interaction_payload(
        2,
        {"id": "1", "name": "ask", "type": 1},
        guild_id=guild_id,
        roles=None,
        locale="en-US",
        **kw,
    )


async def test_payloads_name_the_install_and_the_context() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="With the app")
        outside = fake.add_guild(name="Without", installed=False)
        member = int(fake.add_user(None, "reader")["id"])
        assert outside.id not in fake.guilds and fake.bot_user_id not in outside.members

        server = build(fake, guild.id)
        assert server["authorizing_integration_owners"] == {"0": str(guild.id)}
        assert server["context"] == 0 and "member" in server

        bot_dm = build(fake, None, user_id=member)
        assert bot_dm["authorizing_integration_owners"] == {"0": "0"}
        assert bot_dm["context"] == CONTEXT_BOT_DM and "member" not in bot_dm

        mine = build(fake, None, user_id=member, install=USER_INSTALL)
        assert mine["authorizing_integration_owners"] == {"1": str(member)}
        assert "member" not in mine and mine["user"]["id"] == str(member)

        group = build(
            fake, None, user_id=member, install=USER_INSTALL, context=CONTEXT_PRIVATE_CHANNEL
        )
        assert group["context"] == CONTEXT_PRIVATE_CHANNEL
        assert group["channel"]["type"] in (1, 3) and group["channel_id"] != mine["channel_id"]
        assert int(group["app_permissions"]) == int(
            Perm.ATTACH_FILES | Perm.EMBED_LINKS | Perm.MENTION_EVERYONE
        )

        there = build(fake, outside.id, user_id=member, install=USER_INSTALL)
        assert there["authorizing_integration_owners"] == {"1": str(member)}
        assert there["context"] == 0 and there["member"]["user"]["id"] == str(member)
        both = build(fake, guild.id, user_id=member, install=USER_INSTALL)
        assert both["authorizing_integration_owners"] == {"0": str(guild.id), "1": str(member)}

        with pytest.raises(LookupError, match="not installed"):
            build(fake, outside.id, install=GUILD_INSTALL)
        with pytest.raises(ValueError, match="user install"):
            build(fake, None, user_id=member, context=CONTEXT_PRIVATE_CHANNEL)


async def test_use_external_apps_decides_whether_answers_are_forced_ephemeral() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="With the app")
        outside = fake.add_guild(name="Without", installed=False)
        allowed = int(Perm.VIEW_CHANNEL | Perm.USE_EXTERNAL_APPS)
        assert not fake.forced_ephemeral(
            build(fake, outside.id, install=USER_INSTALL, member_permissions=allowed)
        )
        assert fake.forced_ephemeral(
            build(fake, outside.id, install=USER_INSTALL, member_permissions=allowed & ~(1 << 50))
        )
        # The server's own install of the app is not an external app there.
        assert not fake.forced_ephemeral(build(fake, guild.id, member_permissions=0))


# ---------------------------------------------------------------------------
# the drivers, the forced flag and the follow-up cap, with a real discord.py client


class UserAppBot(discord.Client):
    """/many sends `n` follow-ups; /kb-like /admin is for servers only; a message command."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents(guilds=True), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.errors: list[discord.HTTPException] = []
        self.n = 5

        everywhere = {
            "allowed_installs": app_commands.AppInstallationType(guild=True, user=True),
            "allowed_contexts": app_commands.AppCommandContext(
                guild=True, dm_channel=True, private_channel=True
            ),
        }

        async def many(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            try:
                for i in range(self.n):
                    await interaction.followup.send(f"part {i}")
            except discord.HTTPException as exc:
                self.errors.append(exc)

        async def admin(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("ok")

        async def read(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(message.content or "-", ephemeral=True)

        many_command = app_commands.Command(name="many", description="m", callback=many)
        many_command.allowed_installs = everywhere["allowed_installs"]
        many_command.allowed_contexts = everywhere["allowed_contexts"]
        self.tree.add_command(many_command)
        guild_only = app_commands.Command(name="admin", description="a", callback=admin)
        guild_only.allowed_contexts = app_commands.AppCommandContext(guild=True)
        self.tree.add_command(guild_only)
        self.tree.add_command(
            app_commands.ContextMenu(name="Read this", callback=read, **everywhere)
        )

    async def setup_hook(self) -> None:
        await self.tree.sync()


async def test_drivers_refuse_what_discord_would_not_offer_and_cap_follow_ups() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="With the app")
        outside = fake.add_guild(name="Without", installed=False)
        member = int(fake.add_user(None, "reader")["id"])
        async with asyncio.timeout(T), run_client(fake, UserAppBot()) as bot:
            with pytest.raises(LookupError, match="not offered in context 1"):
                await fake.send_slash(None, user_id=member, name="admin")
            with pytest.raises(LookupError, match="not available to installs"):
                await fake.send_slash(outside.id, name="admin", install=USER_INSTALL)

            # A message command carries the whole message, content included.
            read = await fake.send_message_command(
                outside.id,
                name="Read this",
                content="the text",
                install=USER_INSTALL,
                member_permissions=int(Perm.VIEW_CHANNEL),
            )
            answer = (await read.wait_response())["data"]
            target = read.payload["data"]["target_id"]
            assert read.payload["data"]["resolved"]["messages"][target]["content"] == "the text"
            assert answer["content"] == "the text"

            # Five follow-ups through a user install are fine, and without Use External Apps
            # Discord makes them ephemeral whatever the app asked.
            five = await fake.send_slash(
                outside.id,
                name="many",
                install=USER_INSTALL,
                member_permissions=int(Perm.VIEW_CHANNEL),
            )
            await five.wait_followups(5, T)
            assert all(int(m["flags"]) & EPHEMERAL for m in five.followups)
            assert bot.errors == []

            # A sixth is refused for a user install, not for the server's own.
            bot.n = 6
            with fake.expect_invalid() as refused:
                six = await fake.send_slash(None, user_id=member, name="many", install=USER_INSTALL)
                await fake.wait_for(lambda: len(bot.errors) == 1, T)
            assert len(six.followups) == 5 and len(refused) == 1
            server = await fake.send_slash(guild.id, name="many")
            await server.wait_followups(6, T)
            assert len(bot.errors) == 1
