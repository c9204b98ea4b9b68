"""Help channels: members' new messages and forum posts, answered when Briefbot is confident.

Thin: a message becomes an `Incoming`, the domain (`bot.autoanswer`) decides and claims, the UI
renders the reply. Messages reach this listener only with BRIEFBOT_MESSAGE_CONTENT=true, from
every server; all but the help channels' are dropped in memory, before any read or write.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord.ext import commands

from bot.autoanswer import Incoming
from bot.ui.autoanswer import REPLY_TASK, reply_parts
from bot.ui.host import Host, as_host

log = logging.getLogger(__name__)

# Message types a member writes (docs: Message Types): DEFAULT and REPLY. Joins, pins, boosts
# and the like are Discord's own notices, never questions.
MEMBER_MESSAGES = (discord.MessageType.default, discord.MessageType.reply)


def incoming(message: discord.Message) -> Incoming | None:
    """The message as the help channels see it, or None outside a server."""
    if message.guild is None or message.type not in MEMBER_MESSAGES:
        return None
    channel = message.channel
    thread = channel if isinstance(channel, discord.Thread) else None
    starts_post = thread is not None and thread.id == message.id
    text = f"{thread.name}\n{message.content}" if thread and starts_post else message.content
    return Incoming(
        guild_id=message.guild.id,
        channel_id=channel.id,
        message_id=message.id,
        parent_id=thread.parent_id if thread else None,
        # A webhook's message is no member's, and Briefbot never answers itself.
        author_is_bot=message.author.bot or message.webhook_id is not None,
        text=text,
    )


class AutoanswerCog(commands.Cog):
    def __init__(self, bot: Host) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        await self.bot.autoanswer.load()

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.bot.autoanswer.reload_guild(guild.id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.bot.autoanswer.forget(guild.id)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        found = incoming(message)
        if found is None or self.bot.closing or not self.bot.autoanswer.watched(found):
            return
        # In a task of its own name: shutdown waits for it as for an interaction (its message
        # is claimed before the reply goes out), not for every server's messages dropped above.
        await asyncio.create_task(self._answer(message, found), name=REPLY_TASK)

    async def _answer(self, message: discord.Message, found: Incoming) -> None:
        try:
            section = await self.bot.autoanswer.reply_for(found)
            if section is None:
                return
            await message.reply(
                **reply_parts(section, found.guild_id, message.author.id), mention_author=False
            )
            log.info(
                "help channel reply sent",
                extra={"guild": found.guild_id, "channel": found.channel_id, "topic": section.slug},
            )
        except discord.HTTPException as exc:
            # A permission removed since the setting, or the message deleted meanwhile: the
            # claim stays, so the message is not tried again.
            log.warning(
                "help channel reply in server %s channel %s failed (HTTP %s, code %s)",
                found.guild_id,
                found.channel_id,
                exc.status,
                exc.code,
            )
        except Exception:
            log.exception("help channel reply in server %s failed", found.guild_id)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(AutoanswerCog(as_host(bot)))
