"""Help channels on Discord: the reply card with its **Not helpful** button, and the words of
`/kb autoanswer`.

The reply is one message answering the member's (a Discord reply that pings nobody): the
section's card, and the button that lets the member it answered, or a moderator, delete it.
A section too long for one message keeps its first parts there and names `/explain` for the
rest, rather than sending a train of messages a moderator would have to remove one by one.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.autoanswer import MAX_CHANNELS
from bot.errors import BriefbotError
from bot.sections import Section
from bot.store.autoanswer import ChannelKind
from bot.text import truncate
from bot.ui.cards import section_cards
from bot.ui.checks import role_ids
from bot.ui.fit import CONTENT_LIMIT, EMBED_TOTAL_LIMIT
from bot.ui.host import host_of
from bot.ui.views import ServerItem, stateless

# Embeds in one message (Discord's limit).
EMBEDS_PER_MESSAGE = 10
# The name of the task answering one member's message (shutdown waits for these).
REPLY_TASK = "briefbot-help-reply"


class NotHelpfulButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:aa:nothelpful:(?P<guild>\d+):(?P<asker>\d+)",
):
    """Under a help-channel reply: deletes it, for the member it answered or a moderator."""

    where = "not helpful button"

    def __init__(self, guild: int, asker: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Not helpful",
                style=discord.ButtonStyle.secondary,
                custom_id=f"bb:aa:nothelpful:{guild}:{asker}",
            )
        )
        self.guild_id = guild
        self.asker = asker

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> NotHelpfulButton:
        return cls(int(match["guild"]), int(match["asker"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        await host_of(interaction).autoanswer.check_remover(
            self.guild_id,
            self.asker,
            interaction.user.id,
            manage_messages=interaction.permissions.manage_messages,
            manage_guild=interaction.permissions.manage_guild,
            role_ids=role_ids(interaction),
        )
        if interaction.message is None:
            raise BriefbotError("That reply is already gone.")
        # Deferred first: the reply is the message being deleted, so there is nothing to edit.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            await interaction.message.delete()
        except discord.NotFound:
            pass  # someone removed it first: what was asked for is done
        await interaction.followup.send("Removed. Thanks for saying so.", ephemeral=True)


def reply_parts(section: Section, guild_id: int, asker_id: int) -> dict[str, Any]:
    """The reply's message: as many of the card's parts as one message holds, the button, and
    a line naming `/explain` when parts were left for it."""
    embeds: list[discord.Embed] = []
    total = 0
    cards = section_cards(section)
    for card in cards:
        size = sum(len(embed) for embed in card.embeds)
        if embeds and (
            total + size > EMBED_TOTAL_LIMIT or len(embeds) + len(card.embeds) > EMBEDS_PER_MESSAGE
        ):
            break
        embeds.extend(card.embeds)
        total += size
    view = discord.ui.View(timeout=None)
    view.add_item(NotHelpfulButton(guild_id, asker_id))
    message: dict[str, Any] = {"embeds": embeds, "view": stateless(view)}
    if len(embeds) < sum(len(card.embeds) for card in cards):
        title = discord.utils.escape_markdown(section.content.title)
        message["content"] = truncate(
            f"The rest of **{title}**: `/explain topic:{section.slug}`", CONTENT_LIMIT
        )
    return message


def enabled_text(mention: str, kind: ChannelKind) -> str:
    what = "new posts" if kind == "forum" else "new messages"
    return (
        f"I'll read {what} in {mention} and reply when I'm confident one is about the briefing "
        f"(at most once each; **Not helpful** under a reply deletes it). A server may have up "
        f"to {MAX_CHANNELS} such channels; `enabled:false` turns this one off."
    )


def disabled_text(mention: str, was_on: bool) -> str:
    if was_on:
        return f"I no longer read or reply in {mention}."
    return f"I wasn't answering in {mention}; nothing changed."


def granted(permissions: discord.Permissions) -> list[str]:
    """The permissions held, by discord.py's names (what `Autoanswer.enable` checks), aliases
    included: iterating `Permissions` gives `read_messages`, never `view_channel`."""
    return sorted(name for name in discord.Permissions.VALID_FLAGS if getattr(permissions, name))


AUTOANSWER_DYNAMIC_ITEMS = (NotHelpfulButton,)
