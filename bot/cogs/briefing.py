"""/briefing: the daily explainer. Changing it needs Manage Server, checked on every use."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.briefing import ChannelCooldown, header_for
from bot.errors import NotAllowed
from bot.scope import scope_of
from bot.ui.checks import require_manage_guild
from bot.ui.choices import timezone_autocomplete, topic_autocomplete
from bot.ui.fit import TopicName
from bot.ui.host import Host, as_host
from bot.ui.reports import status_embed
from bot.ui.views import send_section

NEEDED = (
    ("View Channel", "view_channel"),
    ("Send Messages", "send_messages"),
    ("Embed Links", "embed_links"),
)
# Needed only with thread:True, to open a discussion thread on each daily post.
THREAD_NEEDED = ("Create Public Threads", "create_public_threads")


def _may(guild: discord.Guild | None, channel_id: int | None, flag: str) -> bool | None:
    """Whether Briefbot has permission `flag` in the posting channel (None: unknown channel)."""
    channel = guild.get_channel(channel_id) if guild and channel_id else None
    if guild is None or channel is None:
        return None
    return bool(getattr(channel.permissions_for(guild.me), flag))


def reads_history(guild: discord.Guild | None, channel_id: int | None) -> bool | None:
    """Whether Briefbot may read the posting channel's history (None: unknown channel)."""
    return _may(guild, channel_id, "read_message_history")


def opens_threads(guild: discord.Guild | None, channel_id: int | None) -> bool | None:
    """Whether Briefbot may open public threads in the posting channel (None: unknown)."""
    return _may(guild, channel_id, THREAD_NEEDED[1])


# Server-installed only: without it, Discord offers a command to every install the app is
# configured for, and User Install is (for /ask and Explain this).
@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
class BriefingCog(
    commands.GroupCog, group_name="briefing", group_description="The daily explainer"
):
    def __init__(self, bot: Host) -> None:
        self.bot = bot
        self.now_cooldown = ChannelCooldown(bot.clock)
        super().__init__()

    @app_commands.command(name="now", description="Post the next explainer in this channel now")
    async def now(self, interaction: discord.Interaction) -> None:
        guild_id = scope_of(interaction.guild_id)
        channel_id = interaction.channel_id or 0
        section = await self.bot.service.next_explainer(guild_id)
        schedule = await self.bot.service.schedule(guild_id)
        today = self.bot.local_today(schedule.timezone if schedule else None)
        with self.now_cooldown.turn(channel_id, exempt=interaction.permissions.manage_guild):
            await send_section(interaction, section, header=header_for(today))

    @app_commands.command(name="set", description="Turn the daily explainer on, or change it")
    @app_commands.describe(
        channel="Where to post",
        time="Local time, 24-hour HH:MM (e.g. 08:30)",
        timezone="IANA time zone, e.g. Europe/Berlin",
        thread="Open a public discussion thread on each daily post (needs Create Public Threads)",
    )
    @app_commands.autocomplete(timezone=timezone_autocomplete)
    @app_commands.default_permissions(manage_guild=True)
    async def set_(
        self,
        interaction: discord.Interaction,
        channel: app_commands.AppCommandChannel,
        time: app_commands.Range[str, 1, 10],
        timezone: app_commands.Range[str, 1, 64],
        thread: bool | None = None,
    ) -> None:
        require_manage_guild(interaction, "the daily explainer")
        guild = interaction.guild
        target = guild.get_channel(channel.id) if guild else None
        if guild is None or not isinstance(target, discord.TextChannel):
            raise NotAllowed("Choose a text channel of this server.")
        permissions = target.permissions_for(guild.me)
        missing = [name for name, flag in NEEDED if not getattr(permissions, flag)]
        if missing:
            raise NotAllowed(
                f"I can't post in {target.mention}: I'm missing {', '.join(missing)} there. "
                "Nothing was saved."
            )
        current = await self.bot.service.schedule(guild.id)
        threads = thread if thread is not None else bool(current and current.thread)
        if threads and not getattr(permissions, THREAD_NEEDED[1]):
            raise NotAllowed(
                f"I can't open threads in {target.mention}: I'm missing {THREAD_NEEDED[0]} "
                "there. Grant it, or choose thread: False. Nothing was saved."
            )
        status = await self.bot.service.set_schedule(
            guild.id, target.id, time, timezone, self.bot.clock(), thread=thread
        )
        history = reads_history(guild, target.id)
        await interaction.response.send_message(
            content="The daily explainer is on.",
            embed=status_embed(status, history, may_thread=opens_threads(guild, target.id)),
            ephemeral=True,
        )

    @app_commands.command(name="show", description="The schedule, the next post and the last one")
    async def show(self, interaction: discord.Interaction) -> None:
        status = await self.bot.service.schedule_status(scope_of(interaction.guild_id))
        channel_id = status.schedule.channel_id if status.schedule else None
        history = reads_history(interaction.guild, channel_id)
        may_thread = opens_threads(interaction.guild, channel_id)
        answering = await self.bot.autoanswer.channels(scope_of(interaction.guild_id))
        await interaction.response.send_message(
            embed=status_embed(status, history, answering, may_thread=may_thread), ephemeral=True
        )

    @app_commands.command(name="pause", description="Pause the daily explainer")
    @app_commands.default_permissions(manage_guild=True)
    async def pause(self, interaction: discord.Interaction) -> None:
        require_manage_guild(interaction, "the daily explainer")
        await self.bot.service.pause_schedule(scope_of(interaction.guild_id))
        await interaction.response.send_message(
            "Paused. `/briefing resume` starts it again.", ephemeral=True
        )

    @app_commands.command(name="resume", description="Resume the daily explainer")
    @app_commands.default_permissions(manage_guild=True)
    async def resume(self, interaction: discord.Interaction) -> None:
        require_manage_guild(interaction, "the daily explainer")
        status = await self.bot.service.resume_schedule(
            scope_of(interaction.guild_id), self.bot.clock()
        )
        await interaction.response.send_message(
            content="Resumed.", embed=status_embed(status), ephemeral=True
        )

    @app_commands.command(name="next", description="Choose the topic of the next daily post")
    @app_commands.describe(topic="Start typing a topic")
    @app_commands.autocomplete(topic=topic_autocomplete)
    @app_commands.default_permissions(manage_guild=True)
    async def next_(self, interaction: discord.Interaction, topic: TopicName) -> None:
        require_manage_guild(interaction, "the daily explainer")
        section = await self.bot.service.choose_next_topic(scope_of(interaction.guild_id), topic)
        await interaction.response.send_message(
            f"The next daily post will be: **{discord.utils.escape_markdown(section.title)}**",
            ephemeral=True,
        )

    @app_commands.command(name="off", description="Turn the daily explainer off")
    @app_commands.default_permissions(manage_guild=True)
    async def off(self, interaction: discord.Interaction) -> None:
        require_manage_guild(interaction, "the daily explainer")
        removed = await self.bot.service.stop_schedule(scope_of(interaction.guild_id))
        text = "The daily explainer is off." if removed else "The daily explainer was already off."
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(BriefingCog(as_host(bot)))
