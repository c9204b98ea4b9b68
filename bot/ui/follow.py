"""Following a topic on Discord: the Follow button under an answer card, the Unfollow buttons
(in a follower's DM and under /follows), the DM a change sends, and its delivery.

The Follow button carries its server like every Briefbot button. An Unfollow button works in
the member's DMs too, where Discord names no server: it carries the server its follow is in,
and it only ever removes the follow of the member who clicks it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import discord

from bot.errors import BriefbotError
from bot.follows import (
    SUMMARY_SENTENCE_CHARS,
    SUMMARY_SENTENCES,
    DMsClosed,
    DMsTooFast,
    FollowDM,
    Followed,
    NotDelivered,
    TextChange,
)
from bot.text import truncate
from bot.ui.cards import COLOUR, split_text
from bot.ui.fit import (
    BUTTON_LABEL_LIMIT,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    escaped,
    lines_within,
    masked_link,
)
from bot.ui.host import follows_of
from bot.ui.replies import reply_error
from bot.ui.views import ServerItem, stateless

log = logging.getLogger(__name__)

FOLLOW = "Follow"
# Where an Unfollow button is: under a follower's DM, or under /follows' list.
IN_DM, LIST = "d", "l"
# Discord's error codes the notifier acts on.
CANNOT_MESSAGE_USER = 50007
OPENING_DMS_TOO_FAST = 40003
# Characters of a topic's title in a sentence, and of a server's name.
NAME_CHARS = 120
# How much of a DM's embeds the summary may take; the new text gets the rest.
SUMMARY_ROOM = 1800
# Messages read back in a DM channel to find a DM whose send was cut off: one page, Discord's
# most. A cut-off claim is looked up only after its lease, while the member's other DMs go on
# (a pack update of every topic they follow in several servers is dozens).
DM_HISTORY = 100
# The footer that tells a follower's DM apart, and lets a cut-off send be found again.
CHANGE_MARK = "change #{revision}"


class FollowButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:follow:(?P<guild>\d+):(?P<section>\d+)",
):
    """Follow under an answer card: DMs about the topic's changes in this server."""

    where = "follow button"

    def __init__(self, guild: int, section_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=FOLLOW,
                style=discord.ButtonStyle.primary,
                custom_id=f"bb:follow:{guild}:{section_id}",
            )
        )
        self.guild_id = guild
        self.section_id = section_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> FollowButton:
        return cls(int(match["guild"]), int(match["section"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        followed = await follows_of(interaction).follow(
            self.guild_id, interaction.user.id, self.section_id
        )
        await interaction.response.send_message(followed_text(followed), ephemeral=True)


def unfollow_id(guild: int, slug: str, where: str) -> str:
    return f"bb:unf:{guild}:{slug}:{where}"


class UnfollowButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:unf:(?P<guild>\d+):(?P<slug>[a-z0-9-]{1,64}):(?P<where>[dl])",
):
    """Unfollow, in a follower's DM (`d`) or under /follows (`l`, the list it redraws).

    Its custom id is short on purpose: a 20-digit server id and a 64-character slug must fit
    Discord's 100 characters."""

    def __init__(self, guild: int, slug: str, where: str, label: str = "Unfollow") -> None:
        super().__init__(
            discord.ui.Button(
                label=truncate(label, BUTTON_LABEL_LIMIT),
                style=discord.ButtonStyle.secondary,
                custom_id=unfollow_id(guild, slug, where),
            )
        )
        self.guild_id = guild
        self.slug = slug
        self.where = where

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> UnfollowButton:
        return cls(int(match["guild"]), match["slug"], match["where"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            # In a server, only in the server of its follow; in DMs, Discord names no server.
            if interaction.guild_id is not None and interaction.guild_id != self.guild_id:
                raise BriefbotError("This button belongs to another server's message.")
            follows = follows_of(interaction)
            user = interaction.user.id
            gone = await follows.unfollow(self.guild_id, user, self.slug)
            if self.where == LIST and interaction.guild_id is not None:
                embed, view = follows_page(
                    self.guild_id, await follows.of_member(self.guild_id, user), gone
                )
                await interaction.response.edit_message(embed=embed, view=view)
                return
            await interaction.response.send_message(unfollowed_text(gone), ephemeral=True)
        except Exception as exc:
            await reply_error(interaction, exc, "unfollow button")


def follow_item(guild: int, section_id: int) -> discord.ui.Item[Any]:
    """The Follow button for an answer card showing section `section_id`."""
    return FollowButton(guild, section_id)


def followed_text(followed: Followed) -> str:
    title = escaped(followed.title, NAME_CHARS)
    if not followed.new:
        return f"You already follow **{title}** here. /follows lists what you follow."
    return (
        f"You now follow **{title}**. When its text changes in this server, I'll send you a "
        "DM with what changed (DMs from server members must be open to me). Unfollow from "
        "that DM or with /follows."
    )


def unfollowed_text(followed: Followed) -> str:
    title = escaped(followed.title, NAME_CHARS)
    if not followed.new:
        return f"You were not following **{title}** there; nothing changed."
    return f"You no longer follow **{title}**. No more DMs about it."


def follows_page(
    guild: int, followed: Sequence[Followed], just_unfollowed: Followed | None = None
) -> tuple[discord.Embed, discord.ui.View | None]:
    """/follows: the member's follows in this server, each with an Unfollow button."""
    lines = [
        f"• **{escaped(f.title, NAME_CHARS)}**" + ("" if f.shown else " (no longer shown here)")
        for f in followed
    ]
    if lines:
        description = lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more")
    else:
        description = "You follow no topics here. Every answer card has a **Follow** button."
    embed = discord.Embed(title="Topics you follow here", description=description, colour=COLOUR)
    note = "A DM tells you when one of them changes here."
    if just_unfollowed is not None and just_unfollowed.new:
        note = f"Unfollowed {truncate(just_unfollowed.title, NAME_CHARS)}. {note}"
    embed.set_footer(text=truncate(note, FOOTER_LIMIT))
    if not followed:
        return embed, None
    view = discord.ui.View(timeout=None)
    for f in followed[:25]:  # the cap on follows is 25: one button each, 5 rows of 5
        view.add_item(UnfollowButton(guild, f.slug, LIST, f"Unfollow: {f.title}"))
    return embed, stateless(view)


# -- the DM --


def _bullets(mark: str, items: Sequence[str], limit: int) -> list[str]:
    shown = [f"{mark} {escaped(s, SUMMARY_SENTENCE_CHARS)}" for s in items[:SUMMARY_SENTENCES]]
    if len(items) > limit:
        shown.append(f"… and {len(items) - limit} more")
    return shown


def summary_text(change: TextChange) -> str:
    """What changed, in a few lines: a new title, sentences added and removed, sources."""
    lines: list[str] = []
    if change.old_title:
        lines.append(f"Title was: {escaped(change.old_title, NAME_CHARS)}")
    if change.added:
        lines += ["**Added**", *_bullets("+", change.added, SUMMARY_SENTENCES)]
    if change.removed:
        lines += ["**Removed**", *_bullets("−", change.removed, SUMMARY_SENTENCES)]
    if change.sources_added:
        sources = ", ".join(masked_link(s.title, s.url, 300) for s in change.sources_added[:3])
        lines.append(f"**New sources:** {sources}")
    if change.sources_removed:
        titles = ", ".join(escaped(s.title, 100) for s in change.sources_removed[:3])
        lines.append(f"**Sources removed:** {titles}")
    if not lines:
        lines.append("Its wording changed.")
    return lines_within(lines, SUMMARY_ROOM, lambda n: f"… and {n} more lines")


def dm_message(dm: FollowDM, server: str) -> dict[str, Any]:
    """The DM's content, embeds and Unfollow button, within Discord's limits: the summary
    first, then as much of the new text as the 6,000 characters of a message's embeds hold
    (the rest is one /explain away, and the DM says so)."""
    server_name = escaped(server, NAME_CHARS)
    title = dm.content.title
    content = truncate(
        f"**{escaped(title, NAME_CHARS)}** changed in **{server_name}**.", CONTENT_LIMIT
    )
    summary = discord.Embed(
        title="What changed", description=summary_text(dm.change), colour=COLOUR
    )
    footer = truncate(
        f"You follow this topic in {truncate(server, NAME_CHARS)}. "
        + CHANGE_MARK.format(revision=dm.revision_id),
        FOOTER_LIMIT,
    )
    text = discord.Embed(title=truncate(title, TITLE_LIMIT), colour=COLOUR)
    text.set_footer(text=footer)
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - len(summary) - len(text) - 10)
    parts = split_text(dm.content.body, max(room, 200)) or ["-"]
    body = parts[0]
    if len(parts) > 1:
        more = f"\n\n… the rest: `/explain topic:{dm.slug}` in {server_name}."
        body = split_text(dm.content.body, room - len(more))[0] + more
    text.description = body
    view = discord.ui.View(timeout=None)
    view.add_item(UnfollowButton(dm.guild_id, dm.slug, IN_DM))
    return {"content": content, "embeds": [summary, text], "view": stateless(view)}


class DiscordMessenger:
    """Delivers follower DMs through discord.py (`bot.follows.Messenger`)."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def _server(self, guild_id: int) -> str:
        guild = self.client.get_guild(guild_id)
        return guild.name if guild is not None else "a server"

    async def _channel(self, user_id: int) -> discord.DMChannel:
        try:
            return await self.client.create_dm(discord.Object(user_id))
        except discord.HTTPException as exc:
            raise _translated(exc) from exc

    async def send(self, dm: FollowDM) -> int:
        channel = await self._channel(dm.user_id)
        try:
            message = await channel.send(
                **dm_message(dm, self._server(dm.guild_id)),
                nonce=f"bbf{dm.send_id}",
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except discord.HTTPException as exc:
            raise _translated(exc) from exc
        except (OSError, TimeoutError) as exc:  # it may have arrived: looked up before a retry
            raise NotDelivered(type(exc).__name__) from exc
        return message.id

    async def delivered(self, dm: FollowDM) -> int | None:
        channel = await self._channel(dm.user_id)
        me = self.client.user.id if self.client.user else None
        mark = CHANGE_MARK.format(revision=dm.revision_id)
        # A curated change owes a member who follows the topic in two servers a DM for each,
        # with the same revision: the Unfollow button's custom id names the server.
        unfollow = unfollow_id(dm.guild_id, dm.slug, IN_DM)
        try:
            async for message in channel.history(limit=DM_HISTORY):
                if message.author.id != me or unfollow not in _custom_ids(message):
                    continue
                if any((e.footer.text or "").endswith(mark) for e in message.embeds):
                    return message.id
        except discord.HTTPException as exc:
            raise _translated(exc) from exc
        return None


def _custom_ids(message: discord.Message) -> set[str]:
    """The custom ids of a message's buttons and menus."""
    return {
        custom_id
        for row in message.components
        if isinstance(row, discord.ActionRow)
        for child in row.children
        if (custom_id := getattr(child, "custom_id", None))
    }


def _translated(exc: discord.HTTPException) -> Exception:
    """Discord's answer as what the notifier acts on."""
    if exc.code == CANNOT_MESSAGE_USER:
        return DMsClosed(exc.text)
    if exc.code == OPENING_DMS_TOO_FAST:
        return DMsTooFast(exc.text)
    return NotDelivered(f"HTTP {exc.status} (code {exc.code})")


FOLLOW_DYNAMIC_ITEMS = (FollowButton, UnfollowButton)
