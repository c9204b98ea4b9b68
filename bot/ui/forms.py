"""The moderators' form: open it, read a submit, save it, and reopen a kept draft.

Forms are not kept in memory: every submit is read from its custom id (see `SectionForm`), so a
form opened before a restart still saves. What happens to the text is decided by
`Editor.submit`; `submit_form` parses, checks, calls and replies.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot.editing import SOURCE_BOXES, Conflict, Kept, content_to_form
from bot.errors import BriefbotError
from bot.scope import scope_of
from bot.sections import (
    MAX_ALIAS,
    MAX_ALIASES,
    MAX_BODY,
    MAX_SOURCES_TEXT,
    MAX_TITLE,
    Section,
    Version,
)
from bot.text import truncate
from bot.ui.cards import COLOUR
from bot.ui.checks import require_editor
from bot.ui.fit import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, TITLE_LIMIT, share
from bot.ui.host import editor_of, host_of
from bot.ui.kb import announce, author_of
from bot.ui.replies import reply_error, send
from bot.ui.views import ServerItem, stateless

log = logging.getLogger(__name__)

FORM_FIELDS = ("title", "aliases", "body", *SOURCE_BOXES)
FORM_ID_RE = re.compile(
    r"bb:form:(?P<guild>\d+)"
    r"(?:/(?P<draft>\d+)|:(?P<section>\d+):(?P<revision>\d+)|:(?P<slug>[a-z0-9-]+))?",
    re.ASCII,
)


class SectionForm(discord.ui.Modal):
    """Title, aliases, body and sources, in two boxes: ten long sources need more than one.

    What the form edits travels in its custom id: `bb:form:<guild>` is a new topic,
    `bb:form:<guild>:<section id>:<revision>` an edit of the version it was opened from, and
    `bb:form:<guild>:<slug>` an edit with no version (a draft whose topic was removed meanwhile).
    A form reopened from a draft is `bb:form:<guild>/<draft>`: what it edits is read from the
    draft, which a save deletes. Forms are not kept in memory (see `open_form`): every submit is
    read from its custom id by `submit_form`, so a form opened before a restart still saves.
    """

    def __init__(
        self,
        guild_id: int,
        slug: str | None,
        opened: Version | None,
        fields: dict[str, str] | None = None,
        draft: int | None = None,
    ) -> None:
        super().__init__(
            title="Edit topic" if slug or opened else "New topic",
            custom_id=form_id(guild_id, slug, opened, draft),
        )
        values = fields or {}
        self.add_item(
            discord.ui.TextInput(
                custom_id="title",
                label="Title (the question a reader would ask)",
                default=values.get("title"),
                max_length=MAX_TITLE,
            )
        )
        self.add_item(
            discord.ui.TextInput(
                custom_id="aliases",
                label=f"Other ways to ask, one per line (≤ {MAX_ALIASES})",
                style=discord.TextStyle.paragraph,
                default=values.get("aliases"),
                required=False,
                max_length=MAX_ALIASES * (MAX_ALIAS + 1),
            )
        )
        self.add_item(
            discord.ui.TextInput(
                custom_id="body",
                label="Briefing text",
                style=discord.TextStyle.paragraph,
                default=values.get("body"),
                max_length=MAX_BODY,
            )
        )
        self.add_item(
            discord.ui.TextInput(
                custom_id=SOURCE_BOXES[0],
                label="Sources: 'Title | https://…', one per line",
                style=discord.TextStyle.paragraph,
                default=values.get(SOURCE_BOXES[0]),
                required=False,
                max_length=MAX_SOURCES_TEXT,
            )
        )
        self.add_item(
            discord.ui.TextInput(
                custom_id=SOURCE_BOXES[1],
                label="More sources, when the box above is full",
                style=discord.TextStyle.paragraph,
                default=values.get(SOURCE_BOXES[1]),
                required=False,
                max_length=MAX_SOURCES_TEXT,
            )
        )


def form_id(
    guild_id: int, slug: str | None, opened: Version | None, draft: int | None = None
) -> str:
    if draft is not None:
        return f"bb:form:{guild_id}/{draft}"
    if opened is not None:
        section_id, revision = opened
        return f"bb:form:{guild_id}:{section_id}:{revision}"
    return f"bb:form:{guild_id}:{slug}" if slug else f"bb:form:{guild_id}"


async def open_form(interaction: discord.Interaction, form: SectionForm) -> None:
    """Show the form without discord.py keeping it: `submit_form` answers its submit."""
    await interaction.response.send_modal(form)
    form.stop()


def submitted_fields(data: Any) -> dict[str, str]:
    """The form's values from a modal submit (action rows, or labels wrapping one input)."""
    values: dict[str, str] = {}
    for row in (data or {}).get("components") or []:
        for item in row.get("components") or [row.get("component") or {}]:
            if item.get("custom_id") in FORM_FIELDS:
                values[item["custom_id"]] = str(item.get("value") or "")
    return {name: values.get(name, "") for name in FORM_FIELDS}


async def submit_form(interaction: discord.Interaction) -> str | None:
    """Save a submitted form and say how it went; None if it is not one of Briefbot's forms.

    Returns the outcome for the interaction log. Once the member is known to be an editor of
    the form's server, the editor keeps their text as a draft whatever goes wrong.
    """
    data: Any = interaction.data or {}
    found = FORM_ID_RE.fullmatch(str(data.get("custom_id") or ""))
    if interaction.type is not discord.InteractionType.modal_submit or found is None:
        return None
    guild_id = int(found["guild"])
    typed = submitted_fields(data)
    opened = Version(int(found["section"]), int(found["revision"])) if found["section"] else None
    draft = int(found["draft"]) if found["draft"] else None
    try:
        if scope_of(interaction.guild_id) != guild_id:
            raise BriefbotError("This form belongs to another server.")
        await require_editor(interaction)
        host = host_of(interaction)
        submitted = await host.editor.submit(
            guild_id,
            author_of(interaction),
            typed,
            slug=found["slug"],
            opened=opened,
            draft=draft,
            today=host.clock().date(),
            stopping=host.closing,
            within=lambda save: host.run_within_deadline(interaction, save, ephemeral=True),
        )
    except Kept as kept:
        said: dict[str, Any] = {"content": str(kept), "view": reopen_view(guild_id, kept.draft_id)}
        if isinstance(kept, Conflict):
            said["embeds"] = conflict_embeds(kept.current, typed)
        await _answer(interaction, **said)
        return kept.outcome
    except Exception as exc:  # refused before the editor check, or the text could not be kept
        await reply_error(interaction, exc, "kb form")
        return "refused" if isinstance(exc, BriefbotError) else "error"
    saved = submitted.section
    await _answer(
        interaction,
        content=f"Saved **{discord.utils.escape_markdown(saved.title)}** (`{saved.slug}`, "
        f"revision {saved.revision}). Search uses it now.",
    )
    await announce(interaction, saved, "created" if submitted.created else "updated")
    return "ok"


async def _answer(interaction: discord.Interaction, **kwargs: Any) -> None:
    """The ephemeral reply to a submit: the text is already kept, so a failed reply is logged."""
    try:
        await send(interaction, ephemeral=True, **kwargs)
    except discord.HTTPException as exc:
        log.warning("could not answer form submit %s: %s", interaction.id, exc)


def conflict_embeds(current: Section | None, typed: dict[str, str]) -> list[discord.Embed]:
    """The current text beside the moderator's, each cut so that both fit in one message."""
    now = discord.Embed(
        title=truncate(f"Now: {current.title}" if current else "Now: (removed)", TITLE_LIMIT),
        colour=COLOUR,
    )
    if current is not None:
        now.set_footer(text=f"Revision {current.revision}")
    yours = discord.Embed(
        title=truncate(f"Yours: {typed.get('title') or '(no title)'}", TITLE_LIMIT),
        colour=discord.Colour.orange(),
    )
    texts = [
        current.content.body if current else "This topic was removed.",
        typed.get("body") or "(empty)",
    ]
    sizes = share([len(t) for t in texts], EMBED_TOTAL_LIMIT - len(now) - len(yours))
    for embed, text, size in zip((now, yours), texts, sizes, strict=True):
        embed.description = truncate(text, min(size, DESCRIPTION_LIMIT))
    return [now, yours]


def reopen_view(guild_id: int, draft_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ReopenDraft(guild_id, draft_id))
    return stateless(view)


class ReopenDraft(
    ServerItem,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"bb:draft:(?P<guild>\d+):(?P<draft>\d+)",
):
    """Reopens the form filled with exactly what the moderator typed."""

    where = "reopen draft"

    def __init__(self, guild_id: int, draft_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Reopen the form with my text",
                style=discord.ButtonStyle.primary,
                custom_id=f"bb:draft:{guild_id}:{draft_id}",
            )
        )
        self.guild_id = guild_id
        self.draft_id = draft_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ReopenDraft:
        return cls(int(match["guild"]), int(match["draft"]))

    async def clicked(self, interaction: discord.Interaction) -> None:
        await reopen_draft(interaction, self.guild_id, self.draft_id)


async def reopen_draft(interaction: discord.Interaction, guild_id: int, draft_id: int) -> None:
    """Open the form filled with a kept draft (the caller's own, in this server, unexpired)."""
    await require_editor(interaction)
    draft = await editor_of(interaction).draft(guild_id, interaction.user.id, draft_id)
    await open_form(
        interaction, SectionForm(guild_id, draft.slug, draft.version, draft.fields, draft.id)
    )


def edit_form(guild_id: int, section: Section) -> SectionForm:
    return SectionForm(guild_id, section.slug, section.version, content_to_form(section.content))


FORM_DYNAMIC_ITEMS = (ReopenDraft,)
