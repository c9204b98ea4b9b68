"""The framework's floor: a bare discord.py bot whose `/ask` answers one fixed embed.

No lookup, no database, no cooldown, no deferring: a `discord.Client` with an app-command tree,
the same intents as Briefbot and no message cache. The interactions benchmark runs it beside
Briefbot through the same fake Discord, so the difference between the two is what Briefbot adds
to discord.py's own cost of receiving an interaction and answering it.
"""

from __future__ import annotations

import discord
from discord import app_commands

# About the size of one of Briefbot's answer cards (a section is about 1,000 characters).
CARD_TITLE = "What are the Berlin talks?"
CARD_TEXT = " ".join(
    [
        "A fixed answer, the same for every question: this bot looks nothing up.",
        "It stands in for the framework's floor, what receiving an interaction over the",
        "gateway, parsing it, running a command and posting one embed back costs.",
    ]
    * 4
)
CARD_FOOTER = "Bare discord.py bot, for comparison"


def card() -> discord.Embed:
    embed = discord.Embed(title=CARD_TITLE, description=CARD_TEXT)
    embed.set_footer(text=CARD_FOOTER)
    return embed


class BareBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(
            intents=discord.Intents(guilds=True),
            max_messages=None,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,
        )
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(
            app_commands.Command(
                name="ask",
                description="Ask a question (answered with a fixed card)",
                callback=ask,
            )
        )

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # no 5-second pause before a second IDENTIFY


@app_commands.describe(question="Your question")
async def ask(interaction: discord.Interaction, question: str) -> None:
    await interaction.response.send_message(embed=card())
