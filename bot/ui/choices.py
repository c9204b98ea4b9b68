"""Slash-command autocomplete: the one topic callback every command shares, and time zones.

Discord answers 400 to a 26th choice or a choice name over 100 characters, so both caps are
applied here, once, whatever the search below offered.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord
from discord import app_commands

from bot.briefing import zone_names
from bot.search import Choice
from bot.text import truncate
from bot.ui.fit import CHOICE_NAME_LIMIT, CHOICES_LIMIT
from bot.ui.host import service_of

__all__ = ["timezone_autocomplete", "topic_autocomplete", "topic_choices"]


def topic_choices(found: Sequence[Choice]) -> list[app_commands.Choice[str]]:
    """The search's topic suggestions as Discord choices: at most 25, names cut to 100."""
    return [
        app_commands.Choice(name=truncate(c.name, CHOICE_NAME_LIMIT), value=c.value)
        for c in found[:CHOICES_LIMIT]
    ]


async def topic_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Topics of this server matching what has been typed (every `topic` option uses this)."""
    found = service_of(interaction).autocomplete(current, interaction.guild_id)
    return topic_choices(found)


async def timezone_autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """IANA time zone names containing what has been typed, shortest first."""
    return [app_commands.Choice(name=z, value=z) for z in zone_names(current, CHOICES_LIMIT)]
