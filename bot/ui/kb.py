"""/kb's confirmations and history pages, and the note each change leaves in the log channel.

The form itself (open, submit, reopen a draft) is in `bot.ui.forms`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import discord

from bot.editing import Author, RevisionPage
from bot.errors import BriefbotError
from bot.learning import AdditionPage
from bot.paging import clamp_page
from bot.scope import scope_of
from bot.sections import Section, Topic
from bot.store.learning import Addition
from bot.text import truncate
from bot.ui.cards import COLOUR
from bot.ui.checks import require_editor
from bot.ui.fit import FIELD_VALUE_LIMIT, TITLE_LIMIT, escaped
from bot.ui.host import editor_of, learning_of, service_of
from bot.ui.views import ServerItem, stateless

HISTORY_PAGE = 10  # revisions, and additions, on one page of /kb history
ADDITION_DETAIL = 120  # characters of a taught question in a history line or note
ADDED = "Added in this server (t: /kb revert undoes)"


def author_of(interaction: discord.Interaction) -> Author:
    return Author(interaction.user.id, interaction.user.name)


class ConfirmRemove(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:kbrm:(?P<guild>\d+):(?P<section>\d+)",
):
    where = "kb remove"

    def __init__(self, guild_id: int, section_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Remove it here",
                style=discord.ButtonStyle.danger,
                custom_id=f"bb:kbrm:{guild_id}:{section_id}",
            )
        )
        self.guild_id = guild_id
        self.section_id = section_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ConfirmRemove:
        return cls(int(match["guild"]), int(match["section"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        section = await service_of(interaction).section_by_id(self.section_id, self.guild_id)
        hidden = await editor_of(interaction).remove(
            self.guild_id, author_of(interaction), section.slug
        )
        await interaction.response.edit_message(
            content=f"Removed **{discord.utils.escape_markdown(hidden.title)}** from this "
            f"server's briefing (`/kb revert topic:{hidden.slug} revision:{hidden.revision}` "
            "brings it back).",
            view=None,
        )
        await announce(interaction, hidden, "removed")


def remove_prompt(guild_id: int, section: Section) -> tuple[str, discord.ui.View]:
    """The question /kb remove asks, with its button (the removal happens on the click)."""
    view = discord.ui.View(timeout=None)
    view.add_item(ConfirmRemove(guild_id, section.id))
    text = (
        f"Remove **{discord.utils.escape_markdown(section.title)}** from this server's "
        "briefing? Other servers keep it; `/kb revert` brings it back."
    )
    return text, stateless(view)


class RevisionRef(NamedTuple):
    """What /kb revert was given: revision `number`, or (`addition`) this server's t<number>."""

    number: int
    addition: bool


REVISION_RE = re.compile(r"\s*(?P<t>[tT])?\s*(?P<number>\d{1,6})\s*")


def parse_revision(text: str) -> RevisionRef:
    """ "3" (revision 3) or "t2" (this server's taught question or review t2)."""
    found = REVISION_RE.fullmatch(text)
    if found is None or int(found["number"]) < 1:
        raise BriefbotError(
            f"“{escaped(text, 20)}” is not a revision: give the number /kb history shows, "
            "like 3, or t2 for a question taught here."
        )
    return RevisionRef(int(found["number"]), found["t"] is not None)


def history_page(
    guild_id: int, shown: RevisionPage, added: AdditionPage | None = None
) -> tuple[discord.Embed, discord.ui.View]:
    """Page `page` of a topic's revisions and of this server's additions side by side, each
    newest first: the pages run to the longer of the two lists, so every revision number and
    every t-number /kb revert takes is on some page."""
    added = added or AdditionPage([], 0, 1, 0)
    section = shown.section
    pages = max(shown.pages, added.pages)
    # Each page was clamped to its own list: the page asked for is the larger of the two.
    page = max(shown.page, added.page)
    lines = []
    for rev in shown.revisions if shown.page == page else ():
        changed = ", ".join(rev.changed) or "-"
        when = rev.created_at[:16].replace("T", " ")
        lines.append(
            f"**{rev.number}** · {when} UTC · {rev.action} by {escaped(rev.author, 60)} · {changed}"
        )
    embed = discord.Embed(
        title=truncate(f"History: {section.title}", TITLE_LIMIT),
        description="\n".join(lines) or f"No older revisions: they end on page {shown.pages}.",
        colour=COLOUR,
    )
    if added.page == page and added.additions:
        chunks = _fields([addition_line(a) for a in added.additions], FIELD_VALUE_LIMIT)
        for i, chunk in enumerate(chunks):
            name = ADDED if i == 0 else f"{ADDED} (continued)"
            embed.add_field(name=name, value=chunk, inline=False)
    elif added.total:
        ended = f"No older additions: they end on page {added.pages}."
        embed.add_field(name=ADDED, value=ended, inline=False)
    footer = f"Page {page + 1} of {pages}"
    if added.total:
        footer += f" · revisions: {_pages(shown.pages)}, additions: {_pages(added.pages)}"
    embed.set_footer(text=f"{footer} · /kb revert restores a revision")
    view = discord.ui.View(timeout=None)
    for direction, target, disabled in (
        ("prev", page - 1, page == 0),
        ("next", page + 1, page >= pages - 1),
    ):
        view.add_item(
            HistoryPage(guild_id, section.id, clamp_page(target, pages), direction, disabled)
        )
    return embed, stateless(view)


async def history_of(
    interaction: discord.Interaction, guild_id: int, section: Section, page: int
) -> tuple[discord.Embed, discord.ui.View]:
    """/kb history's page `page` of `section`, read one page of each list."""
    shown = await editor_of(interaction).revision_page(section, page, HISTORY_PAGE)
    added = await learning_of(interaction).addition_page(guild_id, section.slug, page, HISTORY_PAGE)
    return history_page(guild_id, shown, added)


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def _fields(lines: Sequence[str], limit: int) -> list[str]:
    """`lines` (each shorter than `limit`) packed in order into as few field values as fit."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= limit:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def addition_line(addition: Addition) -> str:
    """One of a server's additions as /kb history lists it."""
    when = addition.created_at[:16].replace("T", " ")
    who = escaped(addition.author, 60)
    detail = escaped(addition.detail, ADDITION_DETAIL)
    if addition.action == "taught":
        what = f"taught “{detail}”"
    elif addition.action == "reviewed":
        what = f"reviewed: still accurate on {detail}"
    else:
        what = f"undid t{addition.target} (“{detail}”)"
    undone = " · undone" if not addition.active and addition.action != "undone" else ""
    return f"**t{addition.number}** · {when} UTC · {what} by {who}{undone}"


def undo_note(topic: Topic, undone: Addition, undo: Addition) -> str:
    what = "taught question" if undone.action == "taught" else "review"
    return (
        f"Undid {what} t{undone.number} (“{escaped(undone.detail, ADDITION_DETAIL)}”) of "
        f"**{escaped(topic.title, 150)}** in this server, as t{undo.number}."
    )


def undo_log(
    interaction: discord.Interaction, topic: Topic, undone: Addition, undo: Addition
) -> str:
    what = "taught question" if undone.action == "taught" else "review"
    return (
        f"{interaction.user.mention} undid the {what} t{undone.number} "
        f"(“{escaped(undone.detail, ADDITION_DETAIL)}”) of **{escaped(topic.title, 150)}** "
        f"(`{topic.slug}`), t{undo.number}. See `/kb history topic:{topic.slug}`."
    )


class HistoryPage(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:kbhist:(?P<guild>\d+):(?P<section>\d+):(?P<page>\d+):(?P<dir>prev|next)",
):
    where = "kb history"

    def __init__(
        self, guild_id: int, section_id: int, page: int, direction: str, disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label="Previous" if direction == "prev" else "Next",
                custom_id=f"bb:kbhist:{guild_id}:{section_id}:{page}:{direction}",
                disabled=disabled,
            )
        )
        self.guild_id = guild_id
        self.section_id = section_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> HistoryPage:
        return cls(int(match["guild"]), int(match["section"]), int(match["page"]), match["dir"])

    async def clicked(self, interaction: discord.Interaction) -> None:
        section = await editor_of(interaction).reachable_by_id(self.guild_id, self.section_id)
        embed, view = await history_of(interaction, self.guild_id, section, self.page)
        await interaction.response.edit_message(embed=embed, view=view)


async def announce(interaction: discord.Interaction, section: Section, what: str) -> None:
    """Tell the server's log channel who changed what (never pinging anyone)."""
    await announce_note(
        interaction,
        f"{interaction.user.mention} {what} **{discord.utils.escape_markdown(section.title)}** "
        f"(`{section.slug}`), revision {section.revision}. See `/kb history topic:{section.slug}`.",
    )


async def announce_note(interaction: discord.Interaction, text: str) -> None:
    """Post `text` in the server's log channel, if it has one (no mention ever pings)."""
    settings = await editor_of(interaction).settings(scope_of(interaction.guild_id))
    if settings.log_channel_id is None:
        return
    channel = interaction.client.get_partial_messageable(
        settings.log_channel_id, guild_id=interaction.guild_id
    )
    try:
        await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException:
        pass  # the change is saved; a missing log channel must not undo or hide it


KB_DYNAMIC_ITEMS = (ConfirmRemove, HistoryPage)
