"""/ask, /explain and /topics: what every member can use, in a server that installed Briefbot
or through their own install (a DM, a group DM, any server), where they read the curated pack
and nothing is recorded (`bot/ui/share.py: reach_of`)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import Cooldown
from bot.scope import scope_of
from bot.service import Answer
from bot.ui.cards import no_answer_text
from bot.ui.choices import topic_choices
from bot.ui.feedback import send_answer, suggestions_view
from bot.ui.host import Host, as_host, service_of
from bot.ui.replies import send_private
from bot.ui.share import Reach, reach_of, send_card, send_unrecorded_no_answer, topics_here
from bot.ui.views import topics_page

# Five uses of each command in any thirty seconds per member per server. Not discord.py's
# cooldown check: that one reads its whole table on every use, which at 200 asks a second
# from different members is thousands of entries per ask.
COOLDOWN_RATE = 5
COOLDOWN_SECONDS = 30.0


def _member_key(interaction: discord.Interaction) -> tuple[int, int]:
    return (scope_of(interaction.guild_id), interaction.user.id)


async def reply_with(interaction: discord.Interaction, answer: Answer, reach: Reach) -> None:
    """The answer card with its feedback buttons, or the ephemeral "no briefing yet" with the
    closest topics as buttons. Both carry the question's record: this interaction's id.
    Where nothing is recorded, the card has no feedback buttons (and is private where Discord
    allows no public reply), and "no briefing" promises no moderator will see it.

    The "no briefing" stays private even when the answer was deferred publicly under load.
    """
    if not reach.records:
        if answer.section is not None:
            await send_card(interaction, answer.section, reach, ephemeral=not reach.public)
        else:
            await send_unrecorded_no_answer(interaction, reach, answer.question, answer.suggestions)
        return
    if answer.section is not None:
        await send_answer(interaction, answer.section, interaction.id)
        return
    guild = scope_of(interaction.guild_id)
    await send_private(
        interaction,
        content=no_answer_text(answer.question),
        view=suggestions_view(guild, list(answer.suggestions), interaction.id),
    )


async def explain_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Topics matching what has been typed, from what this interaction may read."""
    return topic_choices(
        service_of(interaction).autocomplete(current, reach_of(interaction).viewer)
    )


class AskCog(commands.Cog):
    def __init__(self, bot: Host) -> None:
        self.bot = bot
        self.asking = Cooldown(COOLDOWN_RATE, COOLDOWN_SECONDS, lambda: bot.clock().timestamp())
        self.explaining = Cooldown(COOLDOWN_RATE, COOLDOWN_SECONDS, lambda: bot.clock().timestamp())

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(
        name="ask", description="Ask a question about the story in your own words"
    )
    @app_commands.describe(question="Your question, e.g. what are the Berlin talks?")
    async def ask(
        self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 300]
    ) -> None:
        self.asking.take(_member_key(interaction))
        reach = reach_of(interaction)
        answer = await self.bot.run_within_deadline(
            interaction,
            self.bot.service.ask(question, reach.viewer, record=False),
            ephemeral=not reach.public,
        )
        try:
            await reply_with(interaction, answer, reach)
        finally:
            # Logged after answering (the member should not wait for the write), and logged
            # even when the reply failed: the question was asked. Never without a server.
            if reach.records:
                await self.bot.service.record(reach.server, answer, ref=interaction.id)

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="explain", description="Read the briefing on one topic")
    @app_commands.describe(topic="Start typing a topic")
    @app_commands.autocomplete(topic=explain_autocomplete)
    async def explain(
        self, interaction: discord.Interaction, topic: app_commands.Range[str, 1, 300]
    ) -> None:
        self.explaining.take(_member_key(interaction))
        reach = reach_of(interaction)
        answer = await self.bot.run_within_deadline(
            interaction,
            self.bot.service.explain(topic, reach.viewer, record=False),
            ephemeral=not reach.public,
        )
        try:
            await reply_with(interaction, answer, reach)
        finally:
            # A topic opened by name is no question for the statistics or the gaps report,
            # but its card's buttons find it by this record.
            if reach.records:
                await self.bot.service.record(
                    reach.server,
                    answer,
                    ref=interaction.id,
                    kind="explain" if self.bot.service.topic(reach.viewer, topic) else "ask",
                )

    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.command(name="topics", description="Every topic of this server's briefing")
    async def topics(self, interaction: discord.Interaction) -> None:
        reach = reach_of(interaction)
        if reach.buttons:
            embed, view = topics_page(interaction, 0)
            await interaction.response.send_message(
                embed=embed, view=view, ephemeral=not reach.public
            )
            return
        await interaction.response.send_message(
            embed=topics_here(interaction, reach), ephemeral=not reach.public
        )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(AskCog(as_host(bot)))
