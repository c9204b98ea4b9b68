"""Buttons and menus that keep working after a restart (`discord.ui.DynamicItem`s), and the
answer card sent with its related-topics menu.

Every custom id carries the server it was sent in; a click from anywhere else is refused, and a
section id from a custom id or a menu value is only honoured if that server can see it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import discord

from bot.errors import BriefbotError
from bot.paging import clamp_page
from bot.scope import scope_of
from bot.sections import Section, Topic
from bot.text import truncate
from bot.ui.cards import section_cards, topics_embed
from bot.ui.fit import OPTION_LABEL_LIMIT, SELECT_OPTIONS_LIMIT
from bot.ui.host import service_of
from bot.ui.replies import reply_error, send

TOPICS_PAGE_SIZE = 10


class ServerItem:
    """What every Briefbot button and menu (a DynamicItem) does around its own work.

    It refuses a click from any server but the one in its custom id, and turns any error into
    one ephemeral message (logged in full if unexpected). Subclasses list it before
    `discord.ui.DynamicItem`, set `guild_id` and `where`, and write `clicked`.
    """

    guild_id: int
    where: ClassVar[str]

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            if scope_of(interaction.guild_id) != self.guild_id:
                raise BriefbotError("This button belongs to another server's message.")
            await self.clicked(interaction)
        except Exception as exc:
            await reply_error(interaction, exc, self.where)

    async def clicked(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError


class RelatedSelect(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"bb:related:(?P<guild>\d+):(?P<section>\d+)",
):
    """The "Related topics" menu under an answer card."""

    where = "related menu"

    def __init__(self, guild: int, section_id: int, related: list[Topic] | None = None) -> None:
        options = [
            discord.SelectOption(
                label=truncate(s.title, OPTION_LABEL_LIMIT),
                value=str(s.id),
                description=truncate(s.slug, OPTION_LABEL_LIMIT),
            )
            for s in (related or [])[:SELECT_OPTIONS_LIMIT]
        ]
        super().__init__(
            discord.ui.Select(
                placeholder="Related topics",
                options=options or [discord.SelectOption(label="-", value="0")],
                custom_id=f"bb:related:{guild}:{section_id}",
            )
        )
        self.guild_id = guild

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RelatedSelect:
        return cls(int(match["guild"]), int(match["section"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        values = self.item.values
        if len(values) != 1 or not values[0].isdigit():
            raise BriefbotError("Pick one topic from the menu.")
        section = await service_of(interaction).section_by_id(int(values[0]), interaction.guild_id)
        await send_section(interaction, section, ephemeral=True)


class TopicsPageButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:topics:(?P<guild>\d+):(?P<page>\d+):(?P<dir>prev|next)",
):
    """Previous / Next under /topics: edits the list in place."""

    where = "topics page"

    def __init__(self, guild: int, page: int, direction: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label="Previous" if direction == "prev" else "Next",
                style=discord.ButtonStyle.primary,
                custom_id=f"bb:topics:{guild}:{page}:{direction}",
                disabled=disabled,
            )
        )
        self.guild_id = guild
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> TopicsPageButton:
        return cls(int(match["guild"]), int(match["page"]), match["dir"])

    async def clicked(self, interaction: discord.Interaction) -> None:
        embed, view = topics_page(interaction, self.page)
        await interaction.response.edit_message(embed=embed, view=view)


def stateless(view: discord.ui.View) -> discord.ui.View:
    """Mark a view of DynamicItems as needing no per-message tracking, then return it.

    DynamicItems are dispatched by their custom-id pattern (registered once at start-up), so
    discord.py need not remember each message's view. Left running, it would: ephemeral views
    get a 15-minute timeout task each, which under load is thousands of idle tasks. A stopped
    view still renders its components.
    """
    view.stop()
    return view


def topics_page(
    interaction: discord.Interaction, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    """The embed and Previous / Next buttons for one page of this server's topics."""
    sections = service_of(interaction).topics(interaction.guild_id)
    embed, pages = topics_embed(sections, page, TOPICS_PAGE_SIZE)
    page = clamp_page(page, pages)
    guild = scope_of(interaction.guild_id)
    view = discord.ui.View(timeout=None)
    view.add_item(TopicsPageButton(guild, max(page - 1, 0), "prev", disabled=page == 0))
    view.add_item(
        TopicsPageButton(guild, min(page + 1, pages - 1), "next", disabled=page >= pages - 1)
    )
    return embed, stateless(view)


def section_view(
    guild: int,
    section: Section,
    related: list[Topic],
    extra: Sequence[discord.ui.Item[Any]] = (),
) -> discord.ui.View | None:
    """The related-topics menu, then `extra` (an answer's feedback buttons); None if neither."""
    if not related and not extra:
        return None
    view = discord.ui.View(timeout=None)
    if related:
        view.add_item(RelatedSelect(guild, section.id, related))
    for item in extra:
        view.add_item(item)
    return stateless(view)


async def send_section(
    interaction: discord.Interaction,
    section: Section,
    *,
    ephemeral: bool = False,
    header: str | None = None,
    extra: Sequence[discord.ui.Item[Any]] = (),
) -> None:
    """The answer card, its continuation if the section is long, and the related-topics menu
    (with `extra` items: an answer's feedback buttons) under the last part."""
    service = service_of(interaction)
    related = service.related(section, interaction.guild_id)
    cards = section_cards(section, header)
    view = section_view(scope_of(interaction.guild_id), section, related, extra)
    for i, card in enumerate(cards):
        last = i == len(cards) - 1
        kwargs: dict[str, Any] = {"embeds": card.embeds, "ephemeral": ephemeral}
        if last and view is not None:
            kwargs["view"] = view
        await send(interaction, **kwargs)


DYNAMIC_ITEMS = (RelatedSelect, TopicsPageButton)
