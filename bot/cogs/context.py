""" "Explain this": the message command that answers with the best section for a message.

The message arrives inside the interaction (Discord resolves it for the command), so no
Message Content intent is needed. It is someone else's text: it is read for the search and
dropped, never recorded (no asks log, no moderators' report, no log line), and the reply is
private, with a Share here button where Discord allows a public reply.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import BriefbotError
from bot.limits import Cooldown
from bot.scope import scope_of
from bot.text import clean, truncate
from bot.ui.host import Host, as_host
from bot.ui.share import reach_of, send_card, send_unrecorded_no_answer

COMMAND_NAME = "Explain this"
# What is read of a message for the search: its text, then its embeds' titles and
# descriptions (a link preview's headline and summary), at most this many characters. A
# headline and its first lines say what a message is about; more only adds noise and time.
READ_LIMIT = 300
# As /ask: five uses in any thirty seconds per member per place.
COOLDOWN_RATE = 5
COOLDOWN_SECONDS = 30.0

NOTHING_TO_READ = (
    "There is no text in this message for me to explain: no words, and no link preview "
    "with a title or description. Try `/ask` with your question."
)


def text_of(message: discord.Message) -> str:
    """What a message says, as a question for the search: its content, then each embed's
    title and description, joined and cut to READ_LIMIT characters (at a word)."""
    parts = [message.content]
    for embed in message.embeds:
        parts.extend((embed.title or "", embed.description or ""))
    return truncate(clean(" ".join(p for p in parts if p)), READ_LIMIT, ellipsis="")


class ExplainThisCog(commands.Cog):
    def __init__(self, bot: commands.Bot, host: Host) -> None:
        self.bot = bot
        self.host = host
        self.explaining = Cooldown(
            COOLDOWN_RATE, COOLDOWN_SECONDS, lambda: host.clock().timestamp()
        )
        self.menu = app_commands.ContextMenu(
            name=COMMAND_NAME,
            callback=self.explain_this,
            allowed_installs=app_commands.AppInstallationType(guild=True, user=True),
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=True, private_channel=True
            ),
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    async def explain_this(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        self.explaining.take((scope_of(interaction.guild_id), interaction.user.id))
        text = text_of(message)
        if not text:
            raise BriefbotError(NOTHING_TO_READ)
        reach = reach_of(interaction)
        answer = await self.host.run_within_deadline(
            interaction, self.host.service.ask(text, reach.viewer, record=False), ephemeral=True
        )
        if answer.section is None:
            await send_unrecorded_no_answer(interaction, reach, None, answer.suggestions)
            return
        await send_card(interaction, answer.section, reach, ephemeral=True, share=reach.public)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ExplainThisCog(bot, as_host(bot)))
