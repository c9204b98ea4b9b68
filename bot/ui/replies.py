"""Answering an interaction, the bottom of bot/ui: sending, the one error reply, the log line.

Everything else in bot/ui may import this module; it imports nothing else of bot/ui but the
limits in `fit`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import discord

from bot.errors import FALLBACK_ERROR, BriefbotError, StorageError
from bot.text import truncate
from bot.ui.fit import CONTENT_LIMIT

__all__ = [
    "FALLBACK_ERROR",
    "PRIVATE_PLACEHOLDER",
    "STORAGE_ERROR",
    "log_interaction",
    "reply_error",
    "send",
    "send_private",
]

log = logging.getLogger(__name__)

STORAGE_ERROR = "I could not read or save the briefing just now; the operator has been told."


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


def log_interaction(interaction: discord.Interaction, command: str, outcome: str) -> None:
    """One line per answered interaction: what, where, how it ended and how long it took."""
    latency_ms = round((time.time() - interaction.created_at.timestamp()) * 1000, 1)
    log.info(
        "interaction /%s %s",
        command,
        outcome,
        extra={
            "command": command,
            "guild": interaction.guild_id,
            "interaction": interaction.id,
            "outcome": outcome,
            "latency_ms": latency_ms,
        },
    )
