"""Sending the daily explainer to a Discord channel, and classifying what went wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.briefing import PostFailed
from bot.sections import Section
from bot.store.briefing import Schedule
from bot.ui.cards import section_cards
from bot.ui.views import section_view

if TYPE_CHECKING:
    from bot.client import Briefbot


class DiscordPoster:
    """Posts a card with the claim's nonce (plus a part number for continuations)."""

    def __init__(self, bot: Briefbot) -> None:
        self.bot = bot

    async def post(
        self, schedule: Schedule, section: Section, header: str, nonce: str
    ) -> int | None:
        if schedule.channel_id is None:
            raise PostFailed("no channel is set; use /briefing set", permanent=True)
        channel = discord.PartialMessageable(
            state=self.bot._connection, id=schedule.channel_id, guild_id=schedule.guild_id
        )
        related = self.bot.service.related(section, schedule.guild_id)
        cards = section_cards(section, header)
        view = section_view(schedule.guild_id, section, related)
        first_id: int | None = None
        try:
            for i, card in enumerate(cards):
                last = i == len(cards) - 1
                message = await channel.send(
                    embeds=card.embeds,
                    view=view if last and view is not None else discord.utils.MISSING,
                    nonce=f"{nonce}{i:02d}",
                )
                first_id = first_id or message.id
        except discord.Forbidden as exc:
            why = exc.text or "Missing Access"
            raise PostFailed(
                f"Briefbot may no longer post in <#{schedule.channel_id}> (403: {why}). "
                "Give it View Channel, Send Messages and Embed Links, then /briefing resume.",
                permanent=True,
            ) from None
        except discord.NotFound:
            raise PostFailed(
                f"The channel <#{schedule.channel_id}> no longer exists (404). "
                "Choose another with /briefing set.",
                permanent=True,
            ) from None
        except discord.HTTPException as exc:
            if exc.status >= 500:
                raise PostFailed(f"Discord error {exc.status}", permanent=False) from None
            raise PostFailed(
                f"Discord refused the post ({exc.status}: {exc.text})", permanent=True
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PostFailed(f"network error: {type(exc).__name__}", permanent=False) from None
        return first_id
