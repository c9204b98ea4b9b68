"""Privileged intents and what MESSAGE_CREATE carries, as strict as Discord.

- A privileged intent (Message Content, Server Members, Presence) asked for in IDENTIFY without
  its toggle in the Developer Portal (the application flag) closes the gateway with 4014
  (docs: events/gateway, Privileged Intents).
- MESSAGE_CREATE reaches a session only with the guild messages intent, and carries the text only
  with Message Content (docs: events/gateway, Message Content Intent).
"""

from __future__ import annotations

import asyncio

import discord
import pytest

from tests.fakediscord import FakeDiscord, run_client

MESSAGE_CONTENT_LIMITED = 1 << 19
MEMBERS_LIMITED = 1 << 15


class Listener(discord.Client):
    def __init__(self, intents: discord.Intents) -> None:
        super().__init__(intents=intents, guild_ready_timeout=0.05)
        self.seen: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_message(self, message: discord.Message) -> None:
        await self.seen.put(message)


READING = discord.Intents(guilds=True, guild_messages=True, message_content=True)


async def test_a_privileged_intent_the_portal_has_not_enabled_closes_with_4014() -> None:
    async with FakeDiscord(application_flags=MEMBERS_LIMITED) as fake:
        fake.add_guild()
        with pytest.raises(discord.PrivilegedIntentsRequired):
            async with run_client(fake, Listener(READING)):
                pass
        with pytest.raises(discord.PrivilegedIntentsRequired):
            async with run_client(fake, Listener(discord.Intents(guilds=True, presences=True))):
                pass


async def test_message_content_needs_the_intent_and_the_portal() -> None:
    async with FakeDiscord(application_flags=MESSAGE_CONTENT_LIMITED) as fake:
        guild = fake.add_guild()
        async with run_client(fake, Listener(READING)) as client:
            fake.post_user_message(guild.text_channel_id, "what are the berlin talks?")
            seen = await asyncio.wait_for(client.seen.get(), 5)
            assert seen.content == "what are the berlin talks?"
        blind = Listener(discord.Intents(guilds=True, guild_messages=True))
        async with run_client(fake, blind) as client:
            fake.post_user_message(guild.text_channel_id, "what are the berlin talks?")
            seen = await asyncio.wait_for(client.seen.get(), 5)
            assert seen.content == ""
