"""/briefing: the daily explainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui.replies import send_section

if TYPE_CHECKING:
    from bot.client import Briefbot


@app_commands.guild_only()
class BriefingCog(commands.GroupCog, group_name="briefing", group_description="The daily explainer"):
    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="now", description="Post today's explainer in this channel")
    async def now(self, interaction: discord.Interaction) -> None:
        today = self.bot.today()
        section = self.bot.service.explainer_for(interaction.guild_id, today)
        await send_section(
            interaction, section, header=f"Daily explainer — {today.isoformat()}"
        )


async def setup(bot: Briefbot) -> None:
    await bot.add_cog(BriefingCog(bot))
