"""/kb drafts: a moderator's kept drafts in this server, newest first, a page at a time.

Each page lists its drafts and offers a menu that reopens one (the form filled with the text,
as the "Reopen" button under a refusal does) and Previous / Next buttons. Every part is a
DynamicItem, so a page sent before a restart still works after it; a page is read again from
the store on every click, for the member who clicked.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.errors import BriefbotError
from bot.scope import scope_of
from bot.store.moderation import DRAFT_LIFETIME, DRAFTS_KEPT, Draft
from bot.text import truncate
from bot.ui.cards import COLOUR
from bot.ui.checks import require_editor
from bot.ui.fit import OPTION_LABEL_LIMIT, SELECT_OPTIONS_LIMIT
from bot.ui.forms import reopen_draft
from bot.ui.host import editor_of
from bot.ui.views import ServerItem, stateless

DRAFTS_PAGE = 10  # drafts on one page: one menu option each (Discord allows 25)
TITLE_SHOWN = 80  # characters of a draft's title in the list


def _what(draft: Draft) -> str:
    if draft.slug:
        return f"edit of {draft.slug}"
    return "edit" if draft.version else "new topic"


def _when(draft: Draft) -> str:
    return draft.created_at[:16].replace("T", " ") + " UTC"


def _title(draft: Draft) -> str:
    return truncate(" ".join(draft.title.split()) or "(no title)", TITLE_SHOWN)


async def drafts_page(
    interaction: discord.Interaction, page: int
) -> tuple[discord.Embed, discord.ui.View | None]:
    """One page of the caller's drafts in this server, read again and rendered."""
    guild_id = scope_of(interaction.guild_id)
    shown = await editor_of(interaction).draft_page(
        guild_id, interaction.user.id, page, DRAFTS_PAGE
    )
    return drafts_message(guild_id, shown.drafts, shown.page, shown.pages)


def drafts_message(
    guild_id: int, drafts: list[Draft], page: int, pages: int
) -> tuple[discord.Embed, discord.ui.View | None]:
    """The list embed, its reopen menu and (more than one page) Previous / Next buttons."""
    days = DRAFT_LIFETIME.days
    embed = discord.Embed(title="Your kept drafts in this server", colour=COLOUR)
    if not drafts:
        embed.description = (
            "You have no kept drafts here. When a form cannot be saved, its text is kept for "
            f"{days} days and listed here."
        )
        return embed, None
    drafts = drafts[:DRAFTS_PAGE]
    lines = [
        f"**{page * DRAFTS_PAGE + i}.** {discord.utils.escape_markdown(_title(d))} · "
        f"{_what(d)} · {_when(d)}"
        for i, d in enumerate(drafts, start=1)
    ]
    embed.description = "\n".join(lines)
    embed.set_footer(
        text=f"Page {page + 1} of {pages} · newest first · kept {days} days, "
        f"your newest {DRAFTS_KEPT} · pick one to reopen the form"
    )
    view = discord.ui.View(timeout=None)
    view.add_item(DraftMenu(guild_id, page, drafts))
    if pages > 1:
        view.add_item(DraftsPage(guild_id, max(page - 1, 0), "prev", disabled=page == 0))
        view.add_item(
            DraftsPage(guild_id, min(page + 1, pages - 1), "next", disabled=page >= pages - 1)
        )
    return embed, stateless(view)


class DraftMenu(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"bb:kbdraft:(?P<guild>\d+):(?P<page>\d+)",
):
    """The menu under a page of /kb drafts: picking a draft reopens the form with its text."""

    where = "kb drafts menu"

    def __init__(self, guild_id: int, page: int, drafts: list[Draft] | None = None) -> None:
        options = [
            discord.SelectOption(
                label=truncate(f"{page * DRAFTS_PAGE + i}. {_title(d)}", OPTION_LABEL_LIMIT),
                value=str(d.id),
                description=truncate(f"{_what(d)} · {_when(d)}", OPTION_LABEL_LIMIT),
            )
            for i, d in enumerate((drafts or [])[:SELECT_OPTIONS_LIMIT], start=1)
        ]
        super().__init__(
            discord.ui.Select(
                placeholder="Reopen a draft",
                options=options or [discord.SelectOption(label="-", value="0")],
                custom_id=f"bb:kbdraft:{guild_id}:{page}",
            )
        )
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DraftMenu:
        return cls(int(match["guild"]), int(match["page"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        values = self.item.values
        if len(values) != 1 or not values[0].isdigit():
            raise BriefbotError("Pick one draft from the menu.")
        await reopen_draft(interaction, self.guild_id, int(values[0]))


class DraftsPage(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:kbdrafts:(?P<guild>\d+):(?P<page>\d+):(?P<dir>prev|next)",
):
    """Previous / Next under /kb drafts: edits the list in place."""

    where = "kb drafts page"

    def __init__(self, guild_id: int, page: int, direction: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label="Previous" if direction == "prev" else "Next",
                style=discord.ButtonStyle.secondary,
                custom_id=f"bb:kbdrafts:{guild_id}:{page}:{direction}",
                disabled=disabled,
            )
        )
        self.guild_id = guild_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DraftsPage:
        return cls(int(match["guild"]), int(match["page"]), match["dir"])

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        embed, view = await drafts_page(interaction, self.page)
        await interaction.response.edit_message(embed=embed, view=view)


DRAFT_DYNAMIC_ITEMS = (DraftMenu, DraftsPage)
