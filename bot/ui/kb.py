"""The moderators' form, confirmations and history pages for /kb (rendering and dispatch only)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.editing import (
    SOURCE_BOXES,
    Author,
    Conflict,
    Editor,
    Rejected,
    RevisionPage,
    content_to_form,
)
from bot.errors import BriefbotError, LimitReached
from bot.paging import clamp_page
from bot.scope import scope_of
from bot.sections import MAX_ALIAS, MAX_ALIASES, MAX_BODY, MAX_SOURCES_TEXT, MAX_TITLE, Section
from bot.text import truncate
from bot.ui.cards import COLOUR
from bot.ui.fit import (
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    TITLE_LIMIT,
    escaped,
    share,
)
from bot.ui.replies import FALLBACK_ERROR, reply_error, send, service_of
from bot.ui.views import ServerItem, stateless

if TYPE_CHECKING:
    from bot.client import Briefbot

log = logging.getLogger(__name__)

HISTORY_PAGE = 10


def editor_of(interaction: discord.Interaction) -> Editor:
    bot: Briefbot = interaction.client  # type: ignore[assignment]
    return bot.editor


def author_of(interaction: discord.Interaction) -> Author:
    return Author(interaction.user.id, interaction.user.name)


def role_ids(interaction: discord.Interaction) -> list[int]:
    roles = getattr(interaction.user, "roles", [])
    return [role.id for role in roles]


async def require_editor(interaction: discord.Interaction) -> None:
    """Checked on every command, form and click: permissions in Discord are only a hint."""
    await editor_of(interaction).check_editor(
        scope_of(interaction.guild_id), interaction.permissions.manage_guild, role_ids(interaction)
    )


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
        opened: tuple[int, int] | None,
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
    guild_id: int, slug: str | None, opened: tuple[int, int] | None, draft: int | None = None
) -> str:
    if draft is not None:
        return f"bb:form:{guild_id}/{draft}"
    if opened is not None:
        return f"bb:form:{guild_id}:{opened[0]}:{opened[1]}"
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

    Once the member is known to be an editor of the form's server, whatever goes wrong, their
    text is kept as a draft they can reopen.
    """
    data: Any = interaction.data or {}
    found = FORM_ID_RE.fullmatch(str(data.get("custom_id") or ""))
    if interaction.type is not discord.InteractionType.modal_submit or found is None:
        return None
    bot: Briefbot = interaction.client  # type: ignore[assignment]
    guild_id = int(found["guild"])
    typed = submitted_fields(data)
    editor = editor_of(interaction)
    slug: str | None = found["slug"]
    opened = (int(found["section"]), int(found["revision"])) if found["section"] else None
    draft_id = int(found["draft"]) if found["draft"] else None
    authorised = False

    async def reply(**kwargs: Any) -> None:
        try:
            await send(interaction, ephemeral=True, **kwargs)
        except discord.HTTPException as exc:
            log.warning("could not answer form submit %s: %s", interaction.id, exc)

    async def keep(why: str, slug: str | None, opened: tuple[int, int] | None) -> None:
        draft = await editor.moderation.keep_draft(
            guild_id, interaction.user.id, slug, opened, typed, replaces=draft_id
        )
        await reply(content=why, view=reopen_view(guild_id, draft))

    try:
        if scope_of(interaction.guild_id) != guild_id:
            raise BriefbotError("This form belongs to another server.")
        await require_editor(interaction)
        authorised = True
        if draft_id is not None:
            draft = await editor.moderation.draft(draft_id, guild_id, interaction.user.id)
            if draft is None:
                await keep(
                    "The draft this form was reopened from is gone (saved from another form, or "
                    "expired), so nothing was saved. Your text is kept: reopen the form to save "
                    "it as a new topic.",
                    None,
                    None,
                )
                return "kept"
            slug, opened = draft.slug, draft.revision
        if opened is not None:
            section = service_of(interaction).catalog.sections.get(opened[0])
            if section is None or section.guild_id not in (None, guild_id):
                await keep(
                    "The topic this form edited no longer exists. Your text is kept: reopen "
                    "the form to save it as a new topic.",
                    None,
                    None,
                )
                return "kept"
            slug = section.slug
        if bot.closing:
            await keep(
                "Briefbot is restarting, so nothing was saved. Your text is kept: reopen the "
                "form in a minute.",
                slug,
                opened,
            )
            return "kept"
        saved = await bot.run_within_deadline(
            interaction,
            editor.save(
                guild_id,
                author_of(interaction),
                typed,
                slug=slug,
                opened=opened,
                today=bot.clock().date(),
                draft=draft_id,
            ),
            ephemeral=True,
        )
    except Rejected as rejected:
        await reply(content=str(rejected), view=reopen_view(guild_id, rejected.draft_id))
        return "invalid"
    except LimitReached as limited:
        if limited.draft_id is None:  # the editor keeps the text; this is belt and braces
            await keep(f"{limited} Your text is kept: reopen the form later.", slug, opened)
        else:
            await reply(content=str(limited), view=reopen_view(guild_id, limited.draft_id))
        return "limited"
    except Conflict as conflict:
        await reply(
            content=str(conflict),
            embeds=conflict_embeds(conflict.current, typed),
            view=reopen_view(guild_id, conflict.draft_id),
        )
        return "conflict"
    except Exception as exc:
        outcome = "refused" if isinstance(exc, BriefbotError) else "error"
        if not authorised:
            await reply_error(interaction, exc, "kb form")
            return outcome
        if outcome == "error":
            log.error("error saving form %s (guild %s)", interaction.id, guild_id, exc_info=exc)
        said = str(exc) if isinstance(exc, BriefbotError) else FALLBACK_ERROR
        try:
            await keep(f"{said} Your text is kept: reopen the form to try again.", slug, opened)
        except Exception:
            log.exception("could not keep the text of form %s as a draft", interaction.id)
            await reply(content=said)
        return outcome
    except asyncio.CancelledError:
        # Cut off (by shutdown): no one is left to answer, but the text is kept for /kb drafts.
        if authorised:
            try:
                await editor.moderation.keep_draft(
                    guild_id, interaction.user.id, slug, opened, typed, replaces=draft_id
                )
            except Exception:
                log.exception("could not keep the text of form %s as a draft", interaction.id)
        raise
    await reply(
        content=f"Saved **{discord.utils.escape_markdown(saved.title)}** (`{saved.slug}`, "
        f"revision {saved.revision}). Search uses it now."
    )
    await announce(interaction, saved, "created" if slug is None else "updated")
    return "ok"


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
    draft = await editor_of(interaction).moderation.draft(draft_id, guild_id, interaction.user.id)
    if draft is None:
        raise BriefbotError(
            "That draft is gone: it was saved, or it expired (drafts are kept 30 days). "
            "/kb drafts lists the ones you have."
        )
    await open_form(
        interaction, SectionForm(guild_id, draft.slug, draft.revision, draft.fields, draft.id)
    )


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
        section = service_of(interaction).section_by_id(self.section_id, self.guild_id)
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


def history_page(guild_id: int, shown: RevisionPage) -> tuple[discord.Embed, discord.ui.View]:
    section, page, pages = shown.section, shown.page, shown.pages
    lines = []
    for rev in shown.revisions:
        changed = ", ".join(rev.changed) or "-"
        when = rev.created_at[:16].replace("T", " ")
        lines.append(
            f"**{rev.number}** · {when} UTC · {rev.action} by {escaped(rev.author, 60)} · {changed}"
        )
    embed = discord.Embed(
        title=truncate(f"History: {section.title}", TITLE_LIMIT),
        description="\n".join(lines),
        colour=COLOUR,
    )
    embed.set_footer(text=f"Page {page + 1} of {pages} · /kb revert restores a revision")
    view = discord.ui.View(timeout=None)
    for direction, target, disabled in (
        ("prev", page - 1, page == 0),
        ("next", page + 1, page >= pages - 1),
    ):
        view.add_item(
            HistoryPage(guild_id, section.id, clamp_page(target, pages), direction, disabled)
        )
    return embed, stateless(view)


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
        editor = editor_of(interaction)
        section = await editor.reachable_by_id(self.guild_id, self.section_id)
        shown = await editor.revision_page(section, self.page, HISTORY_PAGE)
        embed, view = history_page(self.guild_id, shown)
        await interaction.response.edit_message(embed=embed, view=view)


async def announce(interaction: discord.Interaction, section: Section, what: str) -> None:
    """Tell the server's log channel who changed what (never pinging anyone)."""
    editor = editor_of(interaction)
    settings = await editor.settings(scope_of(interaction.guild_id))
    if settings.log_channel_id is None:
        return
    bot: Briefbot = interaction.client  # type: ignore[assignment]
    channel = discord.PartialMessageable(
        state=bot._connection, id=settings.log_channel_id, guild_id=interaction.guild_id
    )
    text = (
        f"{interaction.user.mention} {what} **{discord.utils.escape_markdown(section.title)}** "
        f"(`{section.slug}`), revision {section.revision}. See `/kb history topic:{section.slug}`."
    )
    try:
        await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
    except discord.HTTPException:
        pass  # the change is saved; a missing log channel must not undo or hide it


def edit_form(guild_id: int, section: Section) -> SectionForm:
    return SectionForm(
        guild_id, section.slug, (section.id, section.revision), content_to_form(section.content)
    )


KB_DYNAMIC_ITEMS = (ReopenDraft, ConfirmRemove, HistoryPage)
