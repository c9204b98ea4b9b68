"""/kb: moderators correct and extend their server's briefing. Everyone may read history."""

from __future__ import annotations

import io

import discord
from discord import app_commands
from discord.ext import commands

from bot.autoanswer import MissingPermissions, kind_of
from bot.learning import REVIEW_DAYS
from bot.scope import scope_of
from bot.ui.autoanswer import disabled_text, enabled_text, granted
from bot.ui.checks import require_editor, require_manage_guild
from bot.ui.choices import topic_autocomplete
from bot.ui.drafts import drafts_page
from bot.ui.fit import TopicName
from bot.ui.forms import SectionForm, edit_form, open_form, submit_form
from bot.ui.host import Host, as_host
from bot.ui.kb import (
    announce,
    announce_note,
    author_of,
    history_of,
    parse_revision,
    remove_prompt,
    undo_log,
    undo_note,
)
from bot.ui.replies import log_interaction, send_private
from bot.ui.reports import stale_embed
from bot.ui.review import review_page


# Server-installed only: without it, Discord offers a command to every install the app is
# configured for, and User Install is (for /ask and Explain this).
@app_commands.guild_only()
@app_commands.allowed_installs(guilds=True, users=False)
class KbCog(commands.GroupCog, group_name="kb", group_description="Edit this server's briefing"):
    def __init__(self, bot: Host) -> None:
        self.bot = bot
        super().__init__()

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Forms are answered here, not by discord.py's in-memory modals (see `open_form`)."""
        outcome = await submit_form(interaction)
        if outcome is not None:
            log_interaction(interaction, "kb form", outcome)

    @app_commands.command(name="add", description="Write a new topic for this server")
    async def add(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        # Say so before the moderator types, not only when the form is sent.
        self.bot.editor.check_limits(scope_of(interaction.guild_id), new=True)
        await open_form(interaction, SectionForm(scope_of(interaction.guild_id), None, None))

    @app_commands.command(name="edit", description="Correct a topic (yours, or this server's copy)")
    @app_commands.describe(topic="Start typing a topic")
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def edit(self, interaction: discord.Interaction, topic: TopicName) -> None:
        await require_editor(interaction)
        self.bot.editor.check_limits(scope_of(interaction.guild_id), new=False)
        section = await self.bot.service.section(topic, interaction.guild_id)
        await open_form(interaction, edit_form(scope_of(interaction.guild_id), section))

    @app_commands.command(name="remove", description="Hide a topic in this server")
    @app_commands.describe(topic="Start typing a topic")
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def remove(self, interaction: discord.Interaction, topic: TopicName) -> None:
        await require_editor(interaction)
        section = await self.bot.service.section(topic, interaction.guild_id)
        text, view = remove_prompt(scope_of(interaction.guild_id), section)
        await interaction.response.send_message(text, view=view, ephemeral=True)

    @app_commands.command(name="history", description="A topic's revisions")
    @app_commands.describe(topic="Start typing a topic")
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def history(self, interaction: discord.Interaction, topic: TopicName) -> None:
        guild = scope_of(interaction.guild_id)
        section = await self.bot.editor.reachable(guild, topic)
        embed, view = await history_of(interaction, guild, section, 0)
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="revert", description="Restore a revision, or undo a taught one")
    @app_commands.describe(
        topic="Start typing a topic",
        revision="The number from /kb history: 3 restores revision 3, t2 undoes t2",
    )
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def revert(
        self,
        interaction: discord.Interaction,
        topic: TopicName,
        revision: app_commands.Range[str, 1, 12],
    ) -> None:
        await require_editor(interaction)
        guild = scope_of(interaction.guild_id)
        which = parse_revision(revision)
        if which.addition:
            shown, undone, undo = await self.bot.learning.undo(
                guild, author_of(interaction), topic, which.number
            )
            await interaction.response.send_message(undo_note(shown, undone, undo), ephemeral=True)
            await announce_note(interaction, undo_log(interaction, shown, undone, undo))
            return
        saved = await self.bot.editor.revert(
            guild, author_of(interaction), topic, which.number, self.bot.clock().date()
        )
        await interaction.response.send_message(
            f"Restored revision {which.number} of "
            f"**{discord.utils.escape_markdown(saved.title)}** as revision {saved.revision}.",
            ephemeral=True,
        )
        await announce(interaction, saved, f"reverted to revision {which.number}")

    @app_commands.command(name="drafts", description="Your kept drafts in this server, to reopen")
    async def drafts(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        embed, view = await drafts_page(interaction, 0)
        if view is None:
            await interaction.response.send_message(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="review", description="What members asked and flagged, to fix")
    @app_commands.describe(days="How far back to look (default 30)")
    async def review(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 365] = REVIEW_DAYS
    ) -> None:
        await require_editor(interaction)
        embed, view = await self.bot.run_within_deadline(
            interaction, review_page(interaction, 0, days), ephemeral=True
        )
        await send_private(interaction, embed=embed, view=view)

    @app_commands.command(name="gaps", description="Now /kb review (kept for one release)")
    async def gaps(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "`/kb gaps` is now part of `/kb review`: unanswered questions, answers members "
            "marked as not what they asked, and topics flagged as outdated, one at a time, "
            "each taught or fixed in one click.",
            ephemeral=True,
        )

    @app_commands.command(name="stale", description="Topics not updated in a while")
    @app_commands.describe(days="Not updated in this many days")
    async def stale(
        self, interaction: discord.Interaction, days: app_commands.Range[int, 1, 3650]
    ) -> None:
        await require_editor(interaction)
        old = await self.bot.editor.stale(
            scope_of(interaction.guild_id), days, self.bot.clock().date()
        )
        await interaction.response.send_message(embed=stale_embed(old, days), ephemeral=True)

    @app_commands.command(name="export", description="This server's briefing as a pack (zip)")
    async def export(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        data = await self.bot.editor.export(scope_of(interaction.guild_id))
        await interaction.response.send_message(
            "This server's briefing in the pack format. To restore it into this server: "
            f"`briefbot kb import --guild {interaction.guild_id} briefing.zip`.",
            file=discord.File(io.BytesIO(data), filename="briefing.zip"),
            ephemeral=True,
        )

    @app_commands.command(name="role", description="Who besides Manage Server may edit")
    @app_commands.describe(role="Members with this role may edit the briefing")
    async def role(self, interaction: discord.Interaction, role: discord.Role) -> None:
        require_manage_guild(interaction, "who may edit the briefing")
        await self.bot.editor.set_role(scope_of(interaction.guild_id), role.id)
        await interaction.response.send_message(
            f"Members with {role.mention} may now edit the briefing.", ephemeral=True
        )

    @app_commands.command(name="log", description="Where each change is announced")
    @app_commands.describe(channel="The channel for change notes")
    async def log(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        require_manage_guild(interaction, "where changes are announced")
        await self.bot.editor.set_log_channel(scope_of(interaction.guild_id), channel.id)
        await interaction.response.send_message(
            f"Changes will be announced in {channel.mention}.", ephemeral=True
        )

    @app_commands.command(name="autoanswer", description="Reply to questions in a help channel")
    @app_commands.describe(
        channel="A text or forum channel where members ask",
        enabled="false stops replying there (default true)",
    )
    async def autoanswer(
        self,
        interaction: discord.Interaction,
        channel: discord.TextChannel | discord.ForumChannel,
        enabled: bool = True,
    ) -> None:
        require_manage_guild(interaction, "where Briefbot replies to members' messages")
        guild = scope_of(interaction.guild_id)
        if not enabled:
            was_on = await self.bot.autoanswer.disable(guild, channel.id)
            await interaction.response.send_message(
                disabled_text(channel.mention, was_on), ephemeral=True
            )
            return
        # The cached channel and member: what the option carries is a partial view of them.
        server = interaction.guild
        target = server.get_channel(channel.id) if server else None
        if server is None or not isinstance(target, discord.TextChannel | discord.ForumChannel):
            raise MissingPermissions(channel.mention, ["View Channel"])
        kind = kind_of(forum=isinstance(target, discord.ForumChannel))
        await self.bot.autoanswer.enable(
            guild,
            target.id,
            kind,
            interaction.user.id,
            channel_name=target.mention,
            granted=granted(target.permissions_for(server.me)),
        )
        await interaction.response.send_message(enabled_text(channel.mention, kind), ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(KbCog(as_host(bot)))
