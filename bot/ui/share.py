"""Where an answer may go, and the **Share here** button.

Briefbot is reached two ways: through a server that installed it (its topics, its asks log,
its members' signals) or through a member's own install (a DM with the bot, a group DM, or a
server that never added Briefbot). `Reach` names what an interaction may use: whose topics it
reads, the server its buttons carry, whether anything may be recorded, and whether Discord
lets the reply be public there. Only the first way records anything.

An "Explain this" answer is private; its **Share here** button posts the same card for
everyone, where Discord allows a public reply. The button's custom id carries the server (or
`NO_SERVER` outside one) and the section: a click from anywhere else is refused, and the
section is only shown if that place can see it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import discord

from bot.errors import BriefbotError
from bot.scope import CURATED, NO_SERVER, scope_of
from bot.sections import Section, Topic
from bot.text import truncate
from bot.ui.cards import section_cards, topics_embed
from bot.ui.feedback import SUGGESTED, suggestions_view
from bot.ui.fit import AUTHOR_LIMIT, CONTENT_LIMIT, escaped, safe_echo
from bot.ui.host import host_of, service_of
from bot.ui.replies import reply_error, send, send_private
from bot.ui.views import TOPICS_PAGE_SIZE, section_view

SHARE_LABEL = "Share here"
# Each click posts a public card: as /ask and Explain this, five in any thirty seconds per
# member per place (`Host.sharing`).
SHARE_RATE = 5
SHARE_SECONDS = 30.0
# Characters of a topic's title listed under "no briefing" where buttons cannot work.
LISTED_TITLE = 120


class Reach(NamedTuple):
    """What an interaction may use, decided by the install it came through."""

    viewer: int | None  # whose topics it reads: its server's, or CURATED (the pack alone)
    server: int  # the server its buttons carry: its own, or NO_SERVER
    records: bool  # a server that installed Briefbot is here: asks and signals may be kept
    public: bool  # Discord lets a reply here be seen by everyone
    buttons: bool  # Briefbot's buttons and menus work here (a click finds the same server)


def reach_of(interaction: discord.Interaction) -> Reach:
    """Where `interaction` came from, as far as answering it goes.

    - A server that installed Briefbot: that server, recorded, public.
    - A server where only the member installed it: the curated pack, nothing recorded; public
      only if the member may Use External Apps there (otherwise Discord makes every reply
      ephemeral); its buttons would carry no server, so none are sent there.
    - A DM with the bot, a group DM: the curated pack, nothing recorded, public.
    """
    if interaction.guild_id is not None:
        if interaction.is_guild_integration():
            return Reach(interaction.guild_id, interaction.guild_id, True, True, True)
        allowed = interaction.permissions.use_external_apps
        return Reach(CURATED, NO_SERVER, False, allowed, False)
    return Reach(CURATED, NO_SERVER, False, True, True)


class ShareButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:share:(?P<guild>\d+):(?P<section>\d+)",
):
    """Posts the card it was sent under for everyone in the channel."""

    where = "share button"

    def __init__(self, guild: int, section_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=SHARE_LABEL,
                style=discord.ButtonStyle.primary,
                custom_id=f"bb:share:{guild}:{section_id}",
            )
        )
        self.guild_id = guild
        self.section_id = section_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ShareButton:
        return cls(int(match["guild"]), int(match["section"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        # Not views.ServerItem: that compares the click's guild id, and a card sent through
        # a member's own install in a server carries NO_SERVER while the click has the guild.
        try:
            reach = reach_of(interaction)
            if reach.server != self.guild_id:
                raise BriefbotError("This button belongs to another server's message.")
            if not reach.public:
                raise BriefbotError(
                    "Discord lets Briefbot answer only you here, so this card cannot be shared."
                )
            section = await service_of(interaction).section_by_id(self.section_id, reach.viewer)
            host_of(interaction).sharing.take((scope_of(interaction.guild_id), interaction.user.id))
            header = truncate(f"Shared by {interaction.user.display_name}", AUTHOR_LIMIT)
            await send_card(interaction, section, reach, header=header)
        except Exception as exc:
            await reply_error(interaction, exc, self.where)


async def send_card(
    interaction: discord.Interaction,
    section: Section,
    reach: Reach,
    *,
    ephemeral: bool = False,
    header: str | None = None,
    extra: Sequence[discord.ui.Item[Any]] = (),
    share: bool = False,
) -> None:
    """The answer card for `reach`: its parts, then under the last one the related-topics
    menu (where buttons work), `extra` and, if `share`, the Share here button."""
    items = [*extra, ShareButton(reach.server, section.id)] if share else list(extra)
    related = service_of(interaction).related(section, reach.viewer) if reach.buttons else []
    view = section_view(reach.server, section, related, items)
    cards = section_cards(section, header)
    for i, card in enumerate(cards):
        kwargs: dict[str, Any] = {"embeds": card.embeds, "ephemeral": ephemeral}
        if i == len(cards) - 1 and view is not None:
            kwargs["view"] = view
        await send(interaction, **kwargs)


def unrecorded_no_answer_text(question: str | None) -> str:
    """ "No briefing" where nothing is recorded: no promise that moderators will see it.
    `question` is echoed (escaped) when it is the member's own; None for someone's message."""
    if question is None:
        lines = ["I don't have a briefing on what this message is about yet."]
    else:
        lines = ["I don't have a briefing on that yet.", f"> {safe_echo(question)}"]
    lines.append("Here are the closest topics:")
    return "\n".join(lines)


def listed_topics(suggestions: Sequence[Topic]) -> str:
    """The closest topics as lines, where buttons cannot work: `/explain` opens them."""
    return "\n".join(
        f"- {escaped(t.title, LISTED_TITLE)} (`/explain {t.slug}`)" for t in suggestions
    )


async def send_unrecorded_no_answer(
    interaction: discord.Interaction,
    reach: Reach,
    question: str | None,
    suggestions: Sequence[Topic],
) -> None:
    """The private "no briefing" with the closest topics: as buttons where they work (they
    only open the topic: nothing was recorded to attach a member's pick to), else as lines."""
    closest = list(suggestions[:SUGGESTED])
    text = unrecorded_no_answer_text(question)
    kwargs: dict[str, Any] = {}
    if reach.buttons:
        kwargs["view"] = suggestions_view(reach.server, closest)
    else:
        text = f"{text}\n{listed_topics(closest)}"
    await send_private(interaction, content=truncate(text, CONTENT_LIMIT), **kwargs)


def topics_here(interaction: discord.Interaction, reach: Reach) -> discord.Embed:
    """The first page of the curated topics, for a place where paging buttons cannot work."""
    embed, _ = topics_embed(service_of(interaction).topics(reach.viewer), 0, TOPICS_PAGE_SIZE)
    return embed


SHARE_DYNAMIC_ITEMS = (ShareButton,)
