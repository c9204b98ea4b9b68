"""/kb review: one item per page, with what a moderator can do about it.

An unanswered or misanswered question has the "Teach: this question belongs to…" menu, **New
topic from this** and **Dismiss**; an outdated topic has **Edit** and **Still accurate**; every
page has **Previous** and **Next**. Every control checks, on every click, that the member may
edit this server's briefing, and carries the server, so a click elsewhere is refused.
Moderators see questions and counts, never who asked or who voted.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.errors import BriefbotError
from bot.learning import ReviewItem, ReviewPage, Taught
from bot.sections import MAX_TITLE
from bot.text import truncate
from bot.ui.cards import COLOUR
from bot.ui.checks import require_editor
from bot.ui.fit import (
    DESCRIPTION_LIMIT,
    OPTION_DESCRIPTION_LIMIT,
    OPTION_LABEL_LIMIT,
    SELECT_OPTIONS_LIMIT,
    TITLE_LIMIT,
    escaped,
    lines_within,
)
from bot.ui.forms import SectionForm, edit_form, open_form
from bot.ui.host import editor_of, host_of, learning_of, service_of
from bot.ui.kb import announce_note, author_of
from bot.ui.views import ServerItem, stateless

TEACH_PLACEHOLDER = "Teach: this question belongs to…"
QUESTION_SHOWN = 600  # characters of the question as shown, escaping included
EXAMPLE_SHOWN = 150  # characters of each other wording
TITLE_SHOWN = 150  # characters of a topic's title in the item
NOTE_QUESTION = 200  # characters of a question in a confirmation or log note


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ") + " UTC" if iso else "-"


def review_embed(shown: ReviewPage, note: str | None = None) -> discord.Embed:
    """The item on this page, or "nothing to review"."""
    counts = shown.counts
    footer = (
        f"Item {shown.page + 1} of {shown.pages} · last {shown.days} days · "
        f"{counts.get('unanswered', 0)} unanswered, {counts.get('misanswered', 0)} misanswered, "
        f"{counts.get('outdated', 0)} outdated"
    )
    item = shown.item
    if item is None:
        embed = discord.Embed(
            title="Nothing to review",
            description=(note + "\n\n" if note else "")
            + "Every question found its answer and no topic was flagged. Thanks!",
            colour=COLOUR,
        )
        embed.set_footer(text=footer)
        return embed
    lines = [note, ""] if note else []
    lines += _item_lines(item)
    embed = discord.Embed(
        title=truncate(_item_title(item), TITLE_LIMIT),
        description=lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more lines"),
        colour=COLOUR,
    )
    embed.set_footer(text=footer)
    return embed


def _item_title(item: ReviewItem) -> str:
    times = "time" if item.count == 1 else "times"
    members = "member" if item.count == 1 else "members"
    if item.kind == "unanswered":
        return f"Unanswered: asked {item.count} {times}"
    if item.kind == "misanswered":
        return f"Not what they asked: marked by {item.count} {members}"
    return f"Outdated: flagged by {item.count} {members}"


def _item_lines(item: ReviewItem) -> list[str]:
    if item.kind == "outdated":
        topic = item.answered
        slug = f" (`{topic.slug}`)" if topic else ""
        return [
            f"**{escaped(item.question, TITLE_SHOWN)}**{slug}",
            f"Flagged by {item.count} member{'s' if item.count != 1 else ''} since its last "
            f"update; the last flag {_when(item.last)}.",
            "**Edit** to correct it, or **Still accurate** to record a review (its "
            "Updated date moves to today here; the text does not change).",
        ]
    lines = [f"> {escaped(' '.join(item.question.split()), QUESTION_SHOWN)}"]
    if item.kind == "unanswered":
        lines.append(f"Asked {item.count} times, last {_when(item.last)}; no confident answer.")
        if item.examples:
            lines.append("Also asked as:")
            lines += [f"- {escaped(e, EXAMPLE_SHOWN)}" for e in item.examples]
    else:
        answered = escaped(item.answered.title, TITLE_SHOWN) if item.answered else "(removed)"
        lines.append(f"Briefbot answered: **{answered}**")
    if item.picks:
        picked = ", ".join(
            escaped(t.title, TITLE_SHOWN) + (f" ({n})" if n else "") for t, n in item.picks
        )
        lines.append(f"Members picked: {picked}")
    elif item.kind == "misanswered":
        lines.append("Members picked: none of the topics offered.")
    lines.append("Teach it to a topic below (in this server only), or write a new topic.")
    if item.full:
        lines.append(
            "Topics marked *full* already hold 50 taught questions here: /kb edit one to fold "
            "some into its aliases first."
        )
    return lines


def review_view(guild: int, shown: ReviewPage) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    item = shown.item
    if item is not None and item.kind != "outdated":
        if item.choices:
            view.add_item(TeachSelect(guild, item.key, shown.page, shown.days, item))
        view.add_item(NewTopicButton(guild, item.key))
        view.add_item(DismissButton(guild, item.key, shown.page, shown.days))
    elif item is not None and item.answered is not None:
        view.add_item(EditButton(guild, item.answered.id))
        view.add_item(StillAccurateButton(guild, item.answered.id, shown.page, shown.days))
    last = shown.pages - 1
    view.add_item(
        ReviewPageButton(guild, max(shown.page - 1, 0), shown.days, "prev", shown.page == 0)
    )
    view.add_item(
        ReviewPageButton(guild, min(shown.page + 1, last), shown.days, "next", shown.page >= last)
    )
    return stateless(view)


async def review_page(
    interaction: discord.Interaction, page: int, days: int
) -> tuple[discord.Embed, discord.ui.View]:
    guild = _guild(interaction)
    shown = await learning_of(interaction).review(guild, page, days, host_of(interaction).clock())
    return review_embed(shown), review_view(guild, shown)


async def _show(interaction: discord.Interaction, page: int, days: int, note: str | None) -> None:
    """Redraw the review message in place at `page` (after a deferred update: the work before
    it may take more than Discord's 3 seconds in a busy server)."""
    guild = _guild(interaction)
    shown = await learning_of(interaction).review(guild, page, days, host_of(interaction).clock())
    await interaction.edit_original_response(
        embed=review_embed(shown, note), view=review_view(guild, shown)
    )


def _guild(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # ServerItem refused any other click
    return interaction.guild_id


class ReviewPageButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:rvpage:(?P<guild>\d+):(?P<page>\d+):(?P<days>\d+):(?P<dir>prev|next)",
):
    where = "kb review page"

    def __init__(
        self, guild: int, page: int, days: int, direction: str, disabled: bool = False
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label="Previous" if direction == "prev" else "Next",
                custom_id=f"bb:rvpage:{guild}:{page}:{days}:{direction}",
                disabled=disabled,
            )
        )
        self.guild_id = guild
        self.page = page
        self.days = days

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ReviewPageButton:
        return cls(int(match["guild"]), int(match["page"]), int(match["days"]), match["dir"])

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        await interaction.response.defer()
        await _show(interaction, self.page, self.days, None)


class TeachSelect(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"bb:rvteach:(?P<guild>\d+):(?P<key>[0-9a-f]{16}):(?P<page>\d+):(?P<days>\d+)",
):
    where = "kb review teach"

    def __init__(
        self, guild: int, key: str, page: int, days: int, item: ReviewItem | None = None
    ) -> None:
        options = []
        picked = {t.id for t, _ in item.picks} if item else set()
        for topic in (item.choices if item else ())[:SELECT_OPTIONS_LIMIT]:
            if item is not None and topic.id in item.full:
                about = "full: 50 taught questions here"
            elif topic.id in picked:
                about = f"members' pick · {topic.slug}"
            else:
                about = topic.slug
            options.append(
                discord.SelectOption(
                    label=truncate(topic.title, OPTION_LABEL_LIMIT),
                    value=str(topic.id),
                    description=truncate(about, OPTION_DESCRIPTION_LIMIT),
                )
            )
        super().__init__(
            discord.ui.Select(
                placeholder=TEACH_PLACEHOLDER,
                options=options or [discord.SelectOption(label="-", value="0")],
                custom_id=f"bb:rvteach:{guild}:{key}:{page}:{days}",
            )
        )
        self.guild_id = guild
        self.key = key
        self.page = page
        self.days = days

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> TeachSelect:
        return cls(int(match["guild"]), match["key"], int(match["page"]), int(match["days"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        values = self.item.values
        if len(values) != 1 or not values[0].isdigit():
            raise BriefbotError("Pick one topic from the menu.")
        await interaction.response.defer()
        taught = await learning_of(interaction).teach(
            self.guild_id, self.key, int(values[0]), author_of(interaction)
        )
        await _show(interaction, self.page, self.days, taught_note(taught))
        if taught.addition is not None:
            await announce_note(
                interaction,
                f"{interaction.user.mention} taught "
                f"“{escaped(taught.question, NOTE_QUESTION)}” to "
                f"**{escaped(taught.topic.title, TITLE_SHOWN)}** (`{taught.topic.slug}`), "
                f"t{taught.addition.number}. See `/kb history topic:{taught.topic.slug}`.",
            )


def taught_note(taught: Taught) -> str:
    question = escaped(taught.question, NOTE_QUESTION)
    title = escaped(taught.topic.title, TITLE_SHOWN)
    if taught.addition is None:
        return f"“{question}” was already taught to **{title}** here."
    return (
        f"Taught “{question}” to **{title}** in this server (t{taught.addition.number}; "
        f"`/kb revert topic:{taught.topic.slug} revision:t{taught.addition.number}` undoes it)."
    )


class NewTopicButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:rvnew:(?P<guild>\d+):(?P<key>[0-9a-f]{16})",
):
    where = "kb review new topic"

    def __init__(self, guild: int, key: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="New topic from this",
                style=discord.ButtonStyle.primary,
                custom_id=f"bb:rvnew:{guild}:{key}",
            )
        )
        self.guild_id = guild
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> NewTopicButton:
        return cls(int(match["guild"]), match["key"])

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        editor_of(interaction).check_limits(self.guild_id, new=True)
        question = await learning_of(interaction).item_question(self.guild_id, self.key)
        title = " ".join(question.split())
        fields = {"title": truncate(title, MAX_TITLE)}
        await open_form(interaction, SectionForm(self.guild_id, None, None, fields))


class DismissButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:rvdismiss:(?P<guild>\d+):(?P<key>[0-9a-f]{16}):(?P<page>\d+):(?P<days>\d+)",
):
    where = "kb review dismiss"

    def __init__(self, guild: int, key: str, page: int, days: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Dismiss",
                style=discord.ButtonStyle.secondary,
                custom_id=f"bb:rvdismiss:{guild}:{key}:{page}:{days}",
            )
        )
        self.guild_id = guild
        self.key = key
        self.page = page
        self.days = days

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DismissButton:
        return cls(int(match["guild"]), match["key"], int(match["page"]), int(match["days"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        await interaction.response.defer()
        await learning_of(interaction).dismiss(self.guild_id, self.key)
        await _show(
            interaction,
            self.page,
            self.days,
            "Dismissed: it comes back only if asked (or marked) 5 more times.",
        )


class EditButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:rvedit:(?P<guild>\d+):(?P<section>\d+)",
):
    where = "kb review edit"

    def __init__(self, guild: int, section_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Edit",
                style=discord.ButtonStyle.primary,
                custom_id=f"bb:rvedit:{guild}:{section_id}",
            )
        )
        self.guild_id = guild
        self.section_id = section_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> EditButton:
        return cls(int(match["guild"]), int(match["section"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        editor_of(interaction).check_limits(self.guild_id, new=False)
        section = await service_of(interaction).section_by_id(self.section_id, self.guild_id)
        await open_form(interaction, edit_form(self.guild_id, section))


class StillAccurateButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:rvok:(?P<guild>\d+):(?P<section>\d+):(?P<page>\d+):(?P<days>\d+)",
):
    where = "kb review still accurate"

    def __init__(self, guild: int, section_id: int, page: int, days: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Still accurate",
                style=discord.ButtonStyle.success,
                custom_id=f"bb:rvok:{guild}:{section_id}:{page}:{days}",
            )
        )
        self.guild_id = guild
        self.section_id = section_id
        self.page = page
        self.days = days

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> StillAccurateButton:
        return cls(
            int(match["guild"]), int(match["section"]), int(match["page"]), int(match["days"])
        )

    async def clicked(self, interaction: discord.Interaction) -> None:
        await require_editor(interaction)
        await interaction.response.defer()
        host = host_of(interaction)
        topic, addition = await learning_of(interaction).still_accurate(
            self.guild_id, self.section_id, author_of(interaction), host.clock().date()
        )
        title = escaped(topic.title, TITLE_SHOWN)
        await _show(
            interaction,
            self.page,
            self.days,
            f"Recorded: **{title}** is still accurate (t{addition.number}; its Updated date "
            "is today here).",
        )
        await announce_note(
            interaction,
            f"{interaction.user.mention} reviewed **{title}** (`{topic.slug}`): still accurate, "
            f"t{addition.number}. See `/kb history topic:{topic.slug}`.",
        )


REVIEW_DYNAMIC_ITEMS = (
    ReviewPageButton,
    TeachSelect,
    NewTopicButton,
    DismissButton,
    EditButton,
    StillAccurateButton,
)
