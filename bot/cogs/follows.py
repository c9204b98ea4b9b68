"""/follows: the topics a member follows in this server, each with an Unfollow button."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.scope import scope_of
from bot.ui.follow import follows_page
from bot.ui.host import Host, as_host


class FollowsCog(commands.Cog):
    def __init__(self, bot: Host) -> None:
        self.bot = bot

    # On the command: a plain Cog does not pass a class decorator on to its commands. Server-
    # installed only: without it, Discord offers a command to every install the app is
    # configured for, and User Install is (for /ask and Explain this).
    @app_commands.guild_only()
    @app_commands.allowed_installs(guilds=True, users=False)
    @app_commands.command(
        name="follows", description="The topics you follow here, to unfollow any of them"
    )
    async def follows(self, interaction: discord.Interaction) -> None:
        guild = scope_of(interaction.guild_id)
        followed = await self.bot.follows.of_member(guild, interaction.user.id)
        embed, view = follows_page(guild, followed)
        if view is None:
            await interaction.response.send_message(embed=embed, ephemeral=True)
            return
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(FollowsCog(as_host(bot)))
