"""/ask, /explain and /topics: what every member can use."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.limits import Cooldown
from bot.scope import scope_of
from bot.service import Answer
from bot.ui.cards import no_answer_text
from bot.ui.choices import topic_autocomplete
from bot.ui.feedback import send_answer, suggestions_view
from bot.ui.host import Host, as_host
from bot.ui.replies import send_private
from bot.ui.views import topics_page

# Five uses of each command in any thirty seconds per member per server. Not discord.py's
# cooldown check: that one reads its whole table on every use, which at 200 asks a second
# from different members is thousands of entries per ask.
COOLDOWN_RATE = 5
COOLDOWN_SECONDS = 30.0


def _member_key(interaction: discord.Interaction) -> tuple[int, int]:
    return (scope_of(interaction.guild_id), interaction.user.id)


async def reply_with(interaction: discord.Interaction, answer: Answer) -> None:
    """The answer card with its feedback buttons, or the ephemeral "no briefing yet" with the
    closest topics as buttons. Both carry the question's record: this interaction's id.

    The "no briefing" stays private even when the answer was deferred publicly under load.
    """
    if answer.section is not None:
        await send_answer(interaction, answer.section, interaction.id)
        return
    guild = scope_of(interaction.guild_id)
    await send_private(
        interaction,
        content=no_answer_text(answer.question),
        view=suggestions_view(guild, list(answer.suggestions), interaction.id),
    )


@app_commands.guild_only()
class AskCog(commands.Cog):
    def __init__(self, bot: Host) -> None:
        self.bot = bot
        self.asking = Cooldown(COOLDOWN_RATE, COOLDOWN_SECONDS, lambda: bot.clock().timestamp())
        self.explaining = Cooldown(COOLDOWN_RATE, COOLDOWN_SECONDS, lambda: bot.clock().timestamp())

    @app_commands.command(
        name="ask", description="Ask a question about the story in your own words"
    )
    @app_commands.describe(question="Your question, e.g. what are the Berlin talks?")
    async def ask(
        self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 300]
    ) -> None:
        self.asking.take(_member_key(interaction))
        answer = await self.bot.run_within_deadline(
            interaction, self.bot.service.ask(question, interaction.guild_id, record=False)
        )
        try:
            await reply_with(interaction, answer)
        finally:
            # Logged after answering (the member should not wait for the write), and logged
            # even when the reply failed: the question was asked.
            await self.bot.service.record(
                scope_of(interaction.guild_id), answer, ref=interaction.id
            )

    @app_commands.command(name="explain", description="Read the briefing on one topic")
    @app_commands.describe(topic="Start typing a topic")
    @app_commands.autocomplete(topic=topic_autocomplete)
    async def explain(
        self, interaction: discord.Interaction, topic: app_commands.Range[str, 1, 300]
    ) -> None:
        self.explaining.take(_member_key(interaction))
        answer = await self.bot.run_within_deadline(
            interaction, self.bot.service.explain(topic, interaction.guild_id, record=False)
        )
        try:
            await reply_with(interaction, answer)
        finally:
            # A topic opened by name is no question for the statistics or the gaps report,
            # but its card's buttons find it by this record.
            await self.bot.service.record(
                scope_of(interaction.guild_id),
                answer,
                ref=interaction.id,
                kind="explain" if self.bot.service.topic(interaction.guild_id, topic) else "ask",
            )

    @app_commands.command(name="topics", description="Every topic of this server's briefing")
    async def topics(self, interaction: discord.Interaction) -> None:
        embed, view = topics_page(interaction, 0)
        await interaction.response.send_message(embed=embed, view=view)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(AskCog(as_host(bot)))
