"""Members' side of the learning loop: the Helpful / Not what I asked / Outdated buttons under
an answer card, the "Which topic did you mean?" menu, and the closest-topics buttons under a
question that got no answer.

Each custom id carries the server and the question's record (`ref`: the id of the interaction
that asked it), so the buttons work after a restart and a click from another server is refused.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import discord

from bot.errors import BriefbotError
from bot.learning import MEANT_CHOICES
from bot.scope import scope_of
from bot.sections import Section, Topic
from bot.text import truncate
from bot.ui.fit import BUTTON_LABEL_LIMIT, OPTION_LABEL_LIMIT, SELECT_OPTIONS_LIMIT, escaped
from bot.ui.follow import follow_item
from bot.ui.host import host_of, learning_of, service_of
from bot.ui.replies import send
from bot.ui.views import ServerItem, send_section, stateless

# The buttons' labels and what each click records.
HELPFUL = "Helpful"
NOT_WHAT_I_ASKED = "Not what I asked"
OUTDATED = "Outdated"
MEANT_PLACEHOLDER = "Which topic did you mean?"
NONE_OF_THESE = "None of these"
NONE_VALUE = "none"
# Closest-topic buttons under "I don't have a briefing on that yet".
SUGGESTED = 3
# Characters of a topic's title in a thank-you note.
THANKS_TITLE = 120


class FeedbackButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:fb:(?P<guild>\d+):(?P<ref>\d+):(?P<section>\d+):(?P<kind>helpful|wrong|old)",
):
    """One of the three buttons under an answer card."""

    where = "answer feedback"
    LABELS: ClassVar[dict[str, str]] = {
        "helpful": HELPFUL,
        "wrong": NOT_WHAT_I_ASKED,
        "old": OUTDATED,
    }
    STYLES: ClassVar[dict[str, discord.ButtonStyle]] = {
        "helpful": discord.ButtonStyle.success,
        "wrong": discord.ButtonStyle.secondary,
        "old": discord.ButtonStyle.secondary,
    }

    def __init__(self, guild: int, ref: int, section_id: int, kind: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=self.LABELS[kind],
                style=self.STYLES[kind],
                custom_id=f"bb:fb:{guild}:{ref}:{section_id}:{kind}",
            )
        )
        self.guild_id = guild
        self.ref = ref
        self.section_id = section_id
        self.kind = kind

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> FeedbackButton:
        return cls(int(match["guild"]), int(match["ref"]), int(match["section"]), match["kind"])

    async def clicked(self, interaction: discord.Interaction) -> None:
        learning = learning_of(interaction)
        user = interaction.user.id
        if self.kind == "helpful":
            new = await learning.helpful(self.guild_id, self.ref, user, self.section_id)
            text = "Thanks, glad it helped." if new else "You already said this helped. Thanks!"
        elif self.kind == "old":
            new = await learning.outdated(self.guild_id, user, self.section_id)
            text = (
                "Thanks: the moderators will see that this topic may be out of date."
                if new
                else "You already flagged this topic; the moderators have it. Thanks!"
            )
        else:
            # A search, as costly as an ask's: deferred like one when Discord's 3 s are at risk.
            topics = await host_of(interaction).run_within_deadline(
                interaction,
                learning.meant_choices(self.guild_id, self.ref, self.section_id),
                ephemeral=True,
            )
            view = discord.ui.View(timeout=None)
            view.add_item(MeantSelect(self.guild_id, self.ref, self.section_id, topics))
            await send(
                interaction,
                content="Sorry that missed. Which topic did you mean? Your pick helps the "
                "moderators teach Briefbot.",
                view=stateless(view),
                ephemeral=True,
            )
            return
        await interaction.response.send_message(text, ephemeral=True)


class MeantSelect(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"bb:meant:(?P<guild>\d+):(?P<ref>\d+):(?P<section>\d+)",
):
    """ "Which topic did you mean?": the closest topics, best first, and "None of these"."""

    where = "which topic menu"

    def __init__(
        self, guild: int, ref: int, section_id: int, topics: list[Topic] | None = None
    ) -> None:
        options = [
            discord.SelectOption(
                label=truncate(t.title, OPTION_LABEL_LIMIT),
                value=str(t.id),
                description=truncate(t.slug, OPTION_LABEL_LIMIT),
            )
            for t in (topics or [])[: min(MEANT_CHOICES, SELECT_OPTIONS_LIMIT - 1)]
        ]
        options.append(discord.SelectOption(label=NONE_OF_THESE, value=NONE_VALUE))
        super().__init__(
            discord.ui.Select(
                placeholder=MEANT_PLACEHOLDER,
                options=options,
                custom_id=f"bb:meant:{guild}:{ref}:{section_id}",
            )
        )
        self.guild_id = guild
        self.ref = ref
        self.section_id = section_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> MeantSelect:
        return cls(int(match["guild"]), int(match["ref"]), int(match["section"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        values = self.item.values
        if len(values) != 1 or not (values[0] == NONE_VALUE or values[0].isdigit()):
            raise BriefbotError("Pick one topic from the menu, or None of these.")
        meant = None if values[0] == NONE_VALUE else int(values[0])
        chosen = await learning_of(interaction).not_what_i_asked(
            self.guild_id, self.ref, interaction.user.id, self.section_id, meant
        )
        if chosen is None:
            await interaction.response.edit_message(
                content="Thanks: the moderators will see that none of these fit.", view=None
            )
            return
        await interaction.response.edit_message(
            content=f"Thanks: the moderators will see you meant "
            f"**{escaped(chosen.title, THANKS_TITLE)}**. Here it is:",
            view=None,
        )
        section = await service_of(interaction).section_by_id(chosen.id, interaction.guild_id)
        await send_section(interaction, section, ephemeral=True)


class TopicButton(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:topic:(?P<guild>\d+):(?P<section>\d+)(?::(?P<ref>\d+))?",
):
    """Opens one of the closest topics under a question that got no answer; the click is
    recorded as the member's word for what the question meant (older buttons carry no ref)."""

    where = "topic button"

    def __init__(
        self, guild: int, section_id: int, label: str = "Open", ref: int | None = None
    ) -> None:
        suffix = f":{ref}" if ref is not None else ""
        super().__init__(
            discord.ui.Button(
                label=truncate(label, BUTTON_LABEL_LIMIT),
                style=discord.ButtonStyle.secondary,
                custom_id=f"bb:topic:{guild}:{section_id}{suffix}",
            )
        )
        self.guild_id = guild
        self.section_id = section_id
        self.ref = ref

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> TopicButton:
        ref = int(match["ref"]) if match["ref"] else None
        return cls(int(match["guild"]), int(match["section"]), ref=ref)

    async def clicked(self, interaction: discord.Interaction) -> None:
        section = await service_of(interaction).section_by_id(self.section_id, interaction.guild_id)
        if self.ref is None:
            await send_section(interaction, section, ephemeral=True)
            return
        await send_answer(interaction, section, self.ref, ephemeral=True)
        await learning_of(interaction).picked(
            self.guild_id, self.ref, interaction.user.id, self.section_id
        )


def feedback_items(guild: int, ref: int, section_id: int) -> list[discord.ui.Item[Any]]:
    """Helpful, Not what I asked, Outdated: for the answer to question `ref`; then Follow."""
    return [
        *(FeedbackButton(guild, ref, section_id, kind) for kind in ("helpful", "wrong", "old")),
        follow_item(guild, section_id),
    ]


async def send_answer(
    interaction: discord.Interaction, section: Section, ref: int, *, ephemeral: bool = False
) -> None:
    """An answer card with its feedback buttons, for the question recorded as `ref`."""
    guild = scope_of(interaction.guild_id)
    await send_section(
        interaction, section, ephemeral=ephemeral, extra=feedback_items(guild, ref, section.id)
    )


def suggestions_view(
    guild: int, suggestions: list[Topic], ref: int | None = None
) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for topic in suggestions[:SUGGESTED]:
        view.add_item(TopicButton(guild, topic.id, topic.title, ref))
    return stateless(view)


FEEDBACK_DYNAMIC_ITEMS = (FeedbackButton, MeantSelect, TopicButton)
