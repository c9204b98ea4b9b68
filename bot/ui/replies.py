"""Answering an interaction: section cards with their menu, and the one error reply."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import BriefbotError, StorageError
from bot.sections import Section
from bot.text import truncate
from bot.ui.cards import section_cards
from bot.ui.fit import CONTENT_LIMIT

if TYPE_CHECKING:
    from bot.service import BriefingService

log = logging.getLogger(__name__)

FALLBACK_ERROR = "Something went wrong on my side. It has been logged; please try again shortly."
STORAGE_ERROR = "I could not read or save the briefing just now; the operator has been told."


def service_of(interaction: discord.Interaction) -> BriefingService:
    service: BriefingService = interaction.client.service  # type: ignore[attr-defined]
    return service


async def send(interaction: discord.Interaction, **kwargs: Any) -> None:
    """Reply, or follow up when the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


PRIVATE_PLACEHOLDER = "Briefbot answered you privately."


async def send_private(interaction: discord.Interaction, **kwargs: Any) -> None:
    """An ephemeral reply, even when the only reply so far is a public "thinking…" defer.

    Discord's first follow-up after a defer replaces the placeholder and keeps the defer's
    visibility, whatever its own flags say: a private reply would show to everyone. So the
    placeholder is answered first (edited, with no detail), the reply follows as a new
    ephemeral message, and the placeholder is deleted. Only for a defer nothing else followed.
    """
    if not interaction.response.is_done():
        await interaction.response.send_message(ephemeral=True, **kwargs)
        return
    await interaction.edit_original_response(content=PRIVATE_PLACEHOLDER)
    await interaction.followup.send(ephemeral=True, **kwargs)
    try:
        await interaction.delete_original_response()
    except discord.HTTPException:
        log.warning("could not delete the placeholder of interaction %s", interaction.id)


async def send_section(
    interaction: discord.Interaction,
    section: Section,
    *,
    ephemeral: bool = False,
    header: str | None = None,
) -> None:
    """The answer card, its continuation if the section is long, and the related-topics menu."""
    from bot.ui.views import section_view

    service = service_of(interaction)
    related = service.related(section, interaction.guild_id)
    cards = section_cards(section, header)
    view = section_view(interaction.guild_id or 0, section, related)
    for i, card in enumerate(cards):
        last = i == len(cards) - 1
        kwargs: dict[str, Any] = {"embeds": card.embeds, "ephemeral": ephemeral}
        if last and view is not None:
            kwargs["view"] = view
        await send(interaction, **kwargs)


async def reply_error(interaction: discord.Interaction, error: BaseException, where: str) -> None:
    """Turn any error into one short ephemeral message; log the unexpected ones in full."""
    if isinstance(error, StorageError):
        # Written for the operator (it names files and paths): logged, never shown to members.
        log.error(
            "storage error in %s (guild %s, interaction %s): %s",
            where,
            interaction.guild_id,
            interaction.id,
            error,
        )
        message = STORAGE_ERROR
    elif isinstance(error, BriefbotError):
        message = str(error)
    else:
        log.error(
            "error in %s (guild %s, interaction %s)",
            where,
            interaction.guild_id,
            interaction.id,
            exc_info=error,
        )
        message = FALLBACK_ERROR
    try:
        await send(interaction, content=truncate(message, CONTENT_LIMIT), ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell interaction %s about its error", interaction.id)
