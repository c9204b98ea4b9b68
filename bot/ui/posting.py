"""Sending the daily explainer to a Discord channel, and classifying what went wrong.

A post whose earlier send may have reached Discord (a timeout, a 5xx, a crash after the send)
is not sent again blindly: Briefbot first reads the channel since the claim and counts as sent
every part of the post it finds there. It knows its own parts by author, by a plain channel
message (not an interaction's reply, which `/briefing now` makes) and by the claim's nonce or
the card itself: the first part's header carries the local date, later parts follow it with
the cards' titles. Reading needs Read Message History; without it the nonce alone protects
the post, and Discord honours a nonce for a few minutes only.

A discussion thread is opened on the post's first message (Create Public Threads). Discord
gives a message one thread at most, with the message's id, so "a thread has already been
created for this message" (a member was quicker, or a crash came before Briefbot recorded its
own) counts as opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import aiohttp
import discord

from bot.briefing import Delivery, PostFailed, ThreadFailed
from bot.sections import Section
from bot.service import BriefingService
from bot.store.briefing import Schedule
from bot.ui.cards import Card, section_cards
from bot.ui.views import section_view

# Messages read back at most when looking for a post (a busy channel's hour is a few pages).
HISTORY_LIMIT = 500
# Discord's clock and ours may differ a little: look from a bit before the claim.
CLOCK_SKEW = timedelta(minutes=5)
FOUND = "found in the channel; not sent again"
NOT_FOUND = "not in the channel; sent"
PARTLY_FOUND = "partly in the channel; the rest sent"
# How long a daily thread stays in the channel list without new messages: a day, until the
# next day's post brings the next one.
THREAD_ARCHIVE_MINUTES: Final = 1440
# Discord's error codes for a thread that cannot be opened there, and for one already opened.
CHANNEL_TYPE_REFUSED = 50024
ARCHIVED_THREAD = 50083
THREAD_LOCKED = 160005
THREAD_EXISTS = 160004
NONCE_ONLY = (
    "could not check the channel (Briefbot lacks Read Message History there); "
    "sent again with the same nonce"
)


def _nonce(nonce: str, part: int) -> str:
    return f"{nonce}{part:02d}"


def _title(card: Card) -> str | None:
    return card.embeds[0].title if card.embeds else None


def _is_part(message: discord.Message, card: Card, part: int, nonce: str, header: str) -> bool:
    """Whether `message` is part `part` of this post (the caller checked the author)."""
    if message.nonce is not None and str(message.nonce) == _nonce(nonce, part):
        return True
    if not message.embeds or message.embeds[0].title != _title(card):
        return False
    return part > 0 or message.embeds[0].author.name == header


class DiscordPoster:
    """Posts a card with the claim's nonce (plus a part number for continuations).

    `client` is the connected bot (its channels and its own user), `service` what it answers
    from (the related-topics menu under a post).
    """

    def __init__(self, client: discord.Client, service: BriefingService) -> None:
        self.client = client
        self.service = service

    async def post(
        self, schedule: Schedule, section: Section, header: str, nonce: str
    ) -> int | None:
        """A first attempt: send every part."""

        async def ignore(message_id: int) -> None:
            return None

        delivery = await self.deliver(schedule, section, header, nonce, since=None, sent=ignore)
        return delivery.message_id

    async def deliver(
        self,
        schedule: Schedule,
        section: Section,
        header: str,
        nonce: str,
        *,
        since: datetime | None,
        sent: Callable[[int], Awaitable[None]],
    ) -> Delivery:
        """Send the parts of the post not already in the channel (all of them if `since` is
        None); `sent` gets the first message's id as soon as it is known."""
        if schedule.channel_id is None:
            raise PostFailed("no channel is set; use /briefing set", permanent=True)
        channel = self.client.get_partial_messageable(
            schedule.channel_id, guild_id=schedule.guild_id
        )
        cards = section_cards(section, header)
        found: list[int | None] = [None] * len(cards)
        recovery: str | None = None
        try:
            if since is not None:
                looked = await self._find(channel, cards, header, nonce, since)
                if looked is None:
                    recovery = NONCE_ONLY
                else:
                    found = looked
                    parts = sum(1 for f in found if f is not None)
                    recovery = (
                        FOUND if parts == len(cards) else PARTLY_FOUND if parts else NOT_FOUND
                    )
            first_id = await self._send_missing(
                channel, schedule, section, cards, found, nonce, sent
            )
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
        return Delivery(first_id, recovery)

    async def open_thread(self, guild_id: int, channel_id: int, message_id: int, name: str) -> int:
        """Open the post's public thread; its id, or ThreadFailed saying why not."""
        channel = self.client.get_partial_messageable(channel_id, guild_id=guild_id)
        message = channel.get_partial_message(message_id)
        try:
            thread = await message.create_thread(
                name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.Forbidden as exc:
            raise ThreadFailed(
                f"Briefbot may not open threads in <#{channel_id}> "
                f"(403: {exc.text or 'Missing Permissions'}). "
                "Give it Create Public Threads there.",
                permanent=True,
            ) from None
        except discord.NotFound:
            raise ThreadFailed(
                "the post or its channel was deleted before the thread opened (404)",
                permanent=True,
            ) from None
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                return message_id  # a message's thread has the message's id
            if exc.status >= 500:
                raise ThreadFailed(f"Discord error {exc.status}", permanent=False) from None
            why = {
                CHANNEL_TYPE_REFUSED: f"<#{channel_id}> does not take threads",
                ARCHIVED_THREAD: f"<#{channel_id}> is archived",
                THREAD_LOCKED: f"<#{channel_id}> is locked",
            }.get(exc.code, f"Discord refused the thread ({exc.status}: {exc.text})")
            raise ThreadFailed(why, permanent=True) from None
        except ValueError:
            # discord.py needs the server in its cache to build the thread (not connected yet).
            raise ThreadFailed("Briefbot is not connected to the server", permanent=False) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ThreadFailed(f"network error: {type(exc).__name__}", permanent=False) from None
        return thread.id

    async def _send_missing(
        self,
        channel: discord.PartialMessageable,
        schedule: Schedule,
        section: Section,
        cards: Sequence[Card],
        found: list[int | None],
        nonce: str,
        sent: Callable[[int], Awaitable[None]],
    ) -> int | None:
        view = None
        if found[-1] is None:
            view = section_view(
                schedule.guild_id, section, self.service.related(section, schedule.guild_id)
            )
        for i, card in enumerate(cards):
            if found[i] is not None:
                continue
            last = i == len(cards) - 1
            message = await channel.send(
                embeds=card.embeds,
                view=view if last and view is not None else discord.utils.MISSING,
                nonce=_nonce(nonce, i),
            )
            found[i] = message.id
            if i == 0:
                await sent(message.id)
        return found[0]

    async def _find(
        self,
        channel: discord.PartialMessageable,
        cards: Sequence[Card],
        header: str,
        nonce: str,
        since: datetime,
    ) -> list[int | None] | None:
        """The ids of this post's parts already in the channel (None where missing), or None
        when Briefbot may not read the channel's history."""
        me = self.client.user.id if self.client.user else None
        after = discord.Object(discord.utils.time_snowflake(since - CLOCK_SKEW))
        found: list[int | None] = [None] * len(cards)
        try:
            async for message in channel.history(
                limit=HISTORY_LIMIT, after=after, oldest_first=True
            ):
                if (
                    message.author.id != me
                    or message.type is not discord.MessageType.default
                    or message.interaction_metadata is not None
                    or message.webhook_id is not None
                ):
                    continue
                # Parts were sent in order: look for the first part not yet seen after the
                # ones found so far (a later part only counts once the first is found).
                for i, card in enumerate(cards):
                    if found[i] is None and (i == 0 or found[i - 1] is not None):
                        if _is_part(message, card, i, nonce, header):
                            found[i] = message.id
                        break
        except discord.Forbidden as exc:
            if exc.code in (50001, 50013):  # Missing Access / Missing Permissions
                return None
            raise
        return found
