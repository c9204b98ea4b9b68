"""Moderators' knowledge edits: who may edit, forms to sections, history, gaps and staleness.

Transport-free like the service: the Discord cog parses interactions and renders; everything
that decides lives here. Every change is one transaction with its revision row, and the
catalog is rebuilt at once so search sees it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from anyascii import anyascii

from bot.config import DEFAULT_EDIT_RATE, DEFAULT_MAX_GUILD_TOPICS
from bot.errors import (
    FALLBACK_ERROR,
    BriefbotError,
    InvalidSection,
    LimitReached,
    NotAllowed,
    SectionNotFound,
)
from bot.gaps import GapsReport, report_gaps
from bot.gaps_worker import GapsWorker
from bot.limits import SlidingWindow
from bot.pack import zip_pack
from bot.paging import clamp_page, page_count
from bot.sections import (
    MAX_SLUG,
    MAX_SOURCES_TEXT,
    Section,
    SectionContent,
    Source,
    Version,
    one_line,
    validate,
)
from bot.service import BriefingService
from bot.store.moderation import Draft, GuildSettings, ModerationStore
from bot.store.sections import EditConflict, Revision
from bot.text import clean, words

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Author:
    id: int
    name: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.id})"


@dataclass(frozen=True, slots=True)
class RevisionPage:
    """One page of a section's history, newest first; `page` counts from 0."""

    section: Section
    revisions: list[Revision]
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class DraftPage:
    """One page of a moderator's kept drafts in a server, newest first; `page` counts from 0."""

    drafts: list[Draft]
    page: int
    pages: int


@dataclass(frozen=True, slots=True)
class Submitted:
    """A form saved: the section as it is now, and whether the form created it."""

    section: Section
    created: bool


class Kept(BriefbotError):
    """Nothing was saved, and the moderator's text is kept as draft `draft_id` to reopen.

    Every failure of `Editor.submit` is one of these (subclasses say which case); `outcome`
    names the case for the interaction log.
    """

    outcome = "kept"

    def __init__(self, message: str, draft_id: int, *, outcome: str | None = None) -> None:
        super().__init__(message)
        self.draft_id = draft_id
        if outcome is not None:
            self.outcome = outcome


class Conflict(Kept):
    """Someone saved the section after this form was opened; both texts travel with it."""

    outcome = "conflict"

    def __init__(self, current: Section | None, draft_id: int) -> None:
        super().__init__(
            "This topic changed since you opened it, so nothing was saved. Your text is kept: "
            "compare it with the current one below and reopen the form to merge them.",
            draft_id,
        )
        self.current = current


class Rejected(Kept):
    """A form failed validation; the moderator's text is kept as draft `draft_id`."""

    outcome = "invalid"

    def __init__(self, error: InvalidSection, draft_id: int) -> None:
        super().__init__(
            f"Not saved: {error.field} {error.reason}. "
            "Your text is kept; reopen the form to fix it.",
            draft_id,
        )
        self.error = error


class OverLimit(Kept, LimitReached):
    """A form came while its server was at a limit; the text is kept to save later."""

    outcome = "limited"


class DraftGone(BriefbotError):
    """The draft asked for was saved, expired, or is someone else's."""

    def __init__(self) -> None:
        super().__init__(
            "That draft is gone: it was saved, or it expired (drafts are kept 30 days). "
            "/kb drafts lists the ones you have."
        )


# The form's sources boxes, in order: "Title | URL" lines, read as one list.
SOURCE_BOXES = ("sources", "more_sources")
# A title and its link: the first "|" that a link follows, so a "|" inside the link stays there.
SOURCE_LINE_RE = re.compile(r"(?P<title>.*?)\|\s*(?P<url>https?://.*)", re.IGNORECASE)


def content_to_form(content: SectionContent) -> dict[str, str]:
    # A bare link reads back as itself (see `_sources`), so it is shown once, not twice. A line
    # break inside an alias or source title (stored before validation took them out) is a space.
    lines = [
        s.url if s.title == s.url else f"{one_line(s.title)} | {s.url}" for s in content.sources
    ]
    first, rest = _fill_box(lines)
    return {
        "title": content.title,
        "aliases": "\n".join(one_line(a) for a in content.aliases),
        "body": content.body,
        SOURCE_BOXES[0]: first,
        SOURCE_BOXES[1]: rest,
    }


def _fill_box(lines: list[str]) -> tuple[str, str]:
    """The first box's lines (as many as fit in MAX_SOURCES_TEXT) and the rest, for the second.

    A line is at most 703 characters (a title of 200, " | ", a link of 500), so the first box
    takes at least five and the second at most the other five: 3,519 characters.
    """
    cut, size = 0, -1
    while cut < len(lines) and size + 1 + len(lines[cut]) <= MAX_SOURCES_TEXT:
        size += 1 + len(lines[cut])
        cut += 1
    return "\n".join(lines[:cut]), "\n".join(lines[cut:])


def _sources(text: str) -> tuple[Source, ...]:
    sources = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        found = SOURCE_LINE_RE.fullmatch(line)
        if found is not None:
            title, url = found["title"], found["url"]
        elif "|" in line and not line.lower().startswith(("http://", "https://")):
            # Not a link after the bar ("Title | ftp://…"): validation names what is wrong.
            title, _, url = line.rpartition("|")
        else:
            title, url = line, line
        sources.append(Source(title.strip() or url.strip(), url.strip()))
    return tuple(sources)


def form_to_content(
    fields: dict[str, str], slug: str, base: SectionContent | None, today: date
) -> SectionContent:
    """Validate a moderator's form into section content; InvalidSection names the field."""
    aliases = tuple(
        a for line in fields.get("aliases", "").splitlines() for a in [line.strip()] if a
    )
    content = SectionContent(
        slug=slug,
        title=fields.get("title", ""),
        body=fields.get("body", ""),
        aliases=aliases,
        tags=base.tags if base else (),
        sources=_sources("\n".join(fields.get(box, "") for box in SOURCE_BOXES)),
        updated=today,
        position=base.position if base else 0,
    )
    return validate(content)


def ascii_words(title: str) -> list[str]:
    """The title's words in ASCII: accents dropped (ü -> u, ß -> ss), other scripts transliterated.

    anyascii reads the composed (NFC) form, so a Cyrillic й stays "y" instead of losing its breve.
    """
    return [w for w in words(anyascii(clean(title))) if w.isascii()]


def slug_for(title: str, taken: Container[str] | Callable[[str], bool]) -> str:
    """A new topic's slug from its title, not `taken` (a set, or a test), always ASCII.

    A title with nothing to transliterate (symbols only) gets `topic-<hash of the title>`.
    """
    base = "-".join(ascii_words(title))[:MAX_SLUG].strip("-")
    if not base:
        base = "topic-" + hashlib.sha256(title.encode()).hexdigest()[:8]
    is_taken = taken if callable(taken) else taken.__contains__
    slug, n = base, 2
    while is_taken(slug):
        suffix = f"-{n}"
        slug = base[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
        n += 1
    return slug


def _duration(seconds: float) -> str:
    """'10 minutes', '1 hour', '90 seconds': in the largest unit that divides it."""
    whole = max(1, round(seconds))
    units = (("hour", 3600), ("minute", 60), ("second", 1))
    count, unit = next((whole // size, unit) for unit, size in units if whole % size == 0)
    return f"{count} {unit}{'s' if count != 1 else ''}"


class Editor:
    def __init__(
        self,
        service: BriefingService,
        *,
        edit_rate: tuple[int, float] = DEFAULT_EDIT_RATE,
        max_topics: int = DEFAULT_MAX_GUILD_TOPICS,
    ) -> None:
        self.service = service
        self.moderation = ModerationStore(service.db)
        # One server's saves (/kb add and /kb edit) per window, and its own topics at most.
        self.changes = SlidingWindow(*edit_rate, lambda: service.db.clock().timestamp())
        self.max_topics = max_topics
        # The gaps report's worker process: started by the first report, stopped by close().
        self.gaps_worker = GapsWorker()

    # -- what one server may do --

    def check_limits(self, guild_id: int, *, new: bool) -> None:
        """LimitReached if the server may not save now (or, `new`, add a topic at all).

        Every save and revert counts in the window. The cap counts the server's own rows
        that are active: its topics and its edited copies of curated ones. Questions taught
        to a curated topic are an addition to it, not a copy, and do not count. Removed rows
        stay (for /kb history and /kb revert) but do not count, so removing a topic frees its
        place; they grow no faster than the adds that made them, which the window bounds,
        and a revert that revives one is `new` and must fit under the cap again.
        """
        wait = self.changes.retry_after(guild_id)
        if wait > 0:
            raise LimitReached(
                f"This server has made {self.changes.limit} changes to its briefing in the last "
                f"{_duration(self.changes.seconds)}, the most Briefbot takes; please try again "
                f"in {_duration(60 * max(1, -(-int(wait) // 60)))}."
            )
        own = len(self.service.view(guild_id).overlay.topics)
        if new and own >= self.max_topics:
            raise LimitReached(
                f"This server already has {self.max_topics} topics of its own, the most "
                "Briefbot keeps for one server. Remove one with /kb remove to add another."
            )

    # -- who may edit --

    async def check_editor(
        self, guild_id: int, manage_guild: bool, role_ids: Sequence[int]
    ) -> None:
        """Manage Server, or the server's moderator role; the bot checks this on every use."""
        if manage_guild:
            return
        settings = await self.moderation.settings(guild_id)
        if settings.mod_role_id is not None and settings.mod_role_id in role_ids:
            return
        need = "the Manage Server permission"
        if settings.mod_role_id is not None:
            need += f" or the <@&{settings.mod_role_id}> role"
        raise NotAllowed(f"Editing the briefing needs {need}. Nothing was changed.")

    async def settings(self, guild_id: int) -> GuildSettings:
        return await self.moderation.settings(guild_id)

    async def set_role(self, guild_id: int, role_id: int | None) -> GuildSettings:
        return await self.moderation.update(guild_id, mod_role_id=role_id)

    async def set_log_channel(self, guild_id: int, channel_id: int | None) -> GuildSettings:
        return await self.moderation.update(guild_id, log_channel_id=channel_id)

    # -- changes --

    async def submit(
        self,
        guild_id: int,
        author: Author,
        fields: dict[str, str],
        *,
        slug: str | None,
        opened: Version | None,
        draft: int | None,
        today: date,
        stopping: bool = False,
        within: Callable[[Awaitable[Section]], Awaitable[Section]] | None = None,
    ) -> Submitted:
        """Save a submitted form; whatever goes wrong, the moderator's text is kept.

        The caller has checked that `author` may edit this server's briefing. The form edits
        what its draft `draft` edited, else the version `opened`, else the topic `slug` (None:
        a new topic). Every failure raises `Kept` with the draft the text is now; only when
        the draft cannot be kept either does the original error propagate. `stopping`: the
        bot is shutting down, so nothing is saved. `within` runs the save itself (Discord's
        deadline); cancelled, this still keeps the text before the cancellation goes on.
        """
        try:
            if draft is not None:
                reopened = await self.moderation.draft(draft, guild_id, author.id)
                if reopened is None:
                    slug, opened = None, None
                    raise await self._keep_as_new(
                        guild_id,
                        author,
                        fields,
                        draft,
                        "The draft this form was reopened from is gone (saved from another form, "
                        "or expired), so nothing was saved.",
                    )
                slug, opened = reopened.slug, reopened.version
            if opened is not None:
                section = await self.service.sections.by_id(opened.section_id)
                # Gone: deleted, retired from the pack, or another server's (a crafted id). A
                # server's own removed topic is still there to edit (and bring back).
                if (
                    section is None
                    or section.status == "retired"
                    or section.guild_id not in (None, guild_id)
                ):
                    slug, opened = None, None
                    raise await self._keep_as_new(
                        guild_id,
                        author,
                        fields,
                        draft,
                        "The topic this form edited no longer exists.",
                    )
                slug = section.slug
            if stopping:
                raise await self._keep(
                    guild_id,
                    author,
                    fields,
                    slug,
                    opened,
                    draft,
                    "Briefbot is restarting, so nothing was saved. Your text is kept: reopen the "
                    "form in a minute.",
                )
            work = self.save(
                guild_id, author, fields, slug=slug, opened=opened, today=today, draft=draft
            )
            saved = await (within(work) if within is not None else work)
        except Kept:
            raise
        except asyncio.CancelledError:
            # Cut off (by shutdown): no one is left to answer, but the text is kept for /kb drafts.
            try:
                await self.moderation.keep_draft(
                    guild_id, author.id, slug, opened, fields, replaces=draft
                )
            except Exception:
                log.exception("could not keep a form's text as a draft (guild %s)", guild_id)
            raise
        except Exception as exc:
            refused = isinstance(exc, BriefbotError)
            said = str(exc) if refused else FALLBACK_ERROR
            try:
                kept = await self._keep(
                    guild_id,
                    author,
                    fields,
                    slug,
                    opened,
                    draft,
                    f"{said} Your text is kept: reopen the form to try again.",
                    outcome="refused" if refused else "error",
                )
            except Exception:
                log.exception("could not keep a form's text as a draft (guild %s)", guild_id)
                raise exc from None
            if not refused:
                log.error("error saving a form (guild %s)", guild_id, exc_info=exc)
            raise kept from exc
        return Submitted(saved, created=slug is None)

    async def _keep(
        self,
        guild_id: int,
        author: Author,
        fields: dict[str, str],
        slug: str | None,
        opened: Version | None,
        replaces: int | None,
        why: str,
        *,
        outcome: str | None = None,
    ) -> Kept:
        """Keep the text as a draft (replacing the one it was reopened from); say so."""
        kept = await self.moderation.keep_draft(
            guild_id, author.id, slug, opened, fields, replaces=replaces
        )
        return Kept(why, kept, outcome=outcome)

    async def _keep_as_new(
        self, guild_id: int, author: Author, fields: dict[str, str], draft: int | None, why: str
    ) -> Kept:
        """What it edited is gone: keep the text as a draft of a new topic, and say so."""
        return await self._keep(
            guild_id,
            author,
            fields,
            None,
            None,
            draft,
            f"{why} Your text is kept: reopen the form to save it as a new topic.",
        )

    async def save(
        self,
        guild_id: int,
        author: Author,
        fields: dict[str, str],
        *,
        slug: str | None,
        opened: Version | None,
        today: date,
        draft: int | None = None,
    ) -> Section:
        """Create (slug None) or edit a section from a form, keeping the text if it fails.

        `draft` is the draft the form was reopened from: saved, it is deleted; failing again,
        the new draft replaces it.
        """
        try:
            self.check_limits(guild_id, new=slug is None)
        except LimitReached as limit:
            kept = await self.moderation.keep_draft(
                guild_id, author.id, slug, opened, fields, replaces=draft
            )
            raise OverLimit(
                f"{limit} Nothing was saved; your text is kept, reopen the form to save it then.",
                kept,
            ) from None
        found = self.service.topic(guild_id, slug) if slug else None
        base = await self.service.load(found) if found else None
        try:
            if slug is None:
                # A removed topic keeps its slug, so that /kb revert can bring it back.
                view = self.service.view(guild_id)
                removed = await self.service.sections.slugs(guild_id)
                new_slug = slug_for(
                    fields.get("title", ""),
                    lambda slug: slug in removed or view.find(slug) is not None,
                )
                position = view.last_position()
                content = form_to_content(fields, new_slug, None, today)
                content = dataclasses.replace(content, position=position + 1)
            else:
                content = form_to_content(fields, slug, base.content if base else None, today)
        except InvalidSection as error:
            kept = await self.moderation.keep_draft(
                guild_id, author.id, slug, opened, fields, replaces=draft
            )
            raise Rejected(error, kept) from None
        try:
            saved = await self.service.sections.save_for_guild(
                guild_id,
                content,
                opened=opened,
                author=author.label,
                author_id=author.id,
                action="created" if slug is None else "updated",
            )
        except EditConflict as conflict:
            # Reopening should offer to save over what is there now, knowingly.
            current = conflict.current
            now_opened = current.version if current else None
            kept = await self.moderation.keep_draft(
                guild_id, author.id, slug, now_opened, fields, replaces=draft
            )
            raise Conflict(current, kept) from None
        self.changes.add(guild_id)
        await self.service.refresh(guild_id)
        if draft is not None:
            await self.moderation.delete_draft(draft, guild_id, author.id)
        return saved

    async def remove(self, guild_id: int, author: Author, slug: str) -> Section:
        self.service.find(slug, guild_id)  # SectionNotFound if not visible here
        try:
            hidden = await self.service.sections.hide_for_guild(
                guild_id, slug, author=author.label, author_id=author.id
            )
        except EditConflict:
            raise SectionNotFound(slug) from None
        await self.service.refresh(guild_id)
        return hidden

    async def reachable(self, guild_id: int, slug: str) -> Section:
        """The section this server sees under `slug`, or the one it removed (history, revert)."""
        topic = self.service.topic(guild_id, slug)
        section = await self.service.load(topic) if topic else None
        if section is None:
            section = await self.service.sections.get(guild_id, clean(slug))
        if section is None:
            raise SectionNotFound(slug)
        return section

    async def reachable_by_id(self, guild_id: int, section_id: int) -> Section:
        """`reachable` for an id from a button: visible here, or this server's removed one."""
        try:
            return await self.service.section_by_id(section_id, guild_id)
        except SectionNotFound:
            own = await self.service.sections.by_id(section_id)
            if own is None or own.guild_id != guild_id:
                raise
            return own

    async def history(self, guild_id: int, slug: str) -> tuple[Section, list[Revision]]:
        section = await self.reachable(guild_id, slug)
        return section, await self.service.sections.revisions(section.id)

    async def revision_page(self, section: Section, page: int, size: int) -> RevisionPage:
        """Only the page asked for is read: a long history costs one page per click."""
        pages = page_count(section.revision, size)  # revisions are numbered 1..revision
        page = clamp_page(page, pages)
        found = await self.service.sections.revisions(section.id, limit=size, offset=page * size)
        return RevisionPage(section, found, page, pages)

    async def revert(
        self, guild_id: int, author: Author, slug: str, number: int, today: date
    ) -> Section:
        section, revisions = await self.history(guild_id, slug)
        target = next((r for r in revisions if r.number == number), None)
        if target is None:
            raise BriefbotError(
                f"{slug} has no revision {number}; "
                f"/kb history shows revisions 1 to {section.revision}."
            )
        # A revert is a change like a save; bringing a removed topic back adds one again.
        self.check_limits(guild_id, new=section.status != "active")
        # An old revision may predate today's limits: it is checked like any new text.
        content = validate(dataclasses.replace(target.content, slug=section.slug, updated=today))
        try:
            saved = await self.service.sections.save_for_guild(
                guild_id,
                content,
                opened=section.version,
                author=author.label,
                author_id=author.id,
                action="reverted",
                revive=True,
            )
        except EditConflict as conflict:
            raise Conflict(conflict.current, 0) from None
        self.changes.add(guild_id)
        await self.service.refresh(guild_id)
        return saved

    # -- drafts --

    async def draft(self, guild_id: int, author_id: int, draft_id: int) -> Draft:
        """A kept draft to reopen: only its author's, in its server, until it expires."""
        found = await self.moderation.draft(draft_id, guild_id, author_id)
        if found is None:
            raise DraftGone()
        return found

    async def draft_page(self, guild_id: int, author_id: int, page: int, size: int) -> DraftPage:
        """One page of the author's drafts in this server (the last, if `page` is past it)."""
        drafts, total = await self.moderation.drafts(
            guild_id, author_id, offset=max(page, 0) * size, limit=size
        )
        pages = page_count(total, size)
        if page >= pages:  # drafts were saved or expired since the page was drawn
            page = pages - 1
            drafts, total = await self.moderation.drafts(
                guild_id, author_id, offset=page * size, limit=size
            )
        return DraftPage(drafts, max(page, 0), pages)

    # -- reports --

    async def gaps(self, guild_id: int, days: int, now: datetime, top: int) -> GapsReport:
        """The `top` most asked groups of the server's unanswered questions in the last `days`
        days, with the totals. One report at a time (LimitReached when too many wait).

        Every question of the window is counted and grouped, which takes tens of thousands of
        texts in a busy server: in the worker process, which reads them through a connection
        of its own, so neither the bot's connection nor its interpreter waits for it. A
        database in memory only the bot can read: then the store counts, and a thread groups.
        """
        since = (now - timedelta(days=days)).isoformat(timespec="seconds")
        file = self.service.db.database_file  # None on PostgreSQL, or in memory
        database = None if file is None else self.gaps_worker.database_file(str(file))
        if database is not None:
            await self.service.asks.flush()  # the worker reads what is committed
            return await self.gaps_worker.report(database, guild_id, since, top)
        async with self.gaps_worker.turn():
            asked = await self.service.asks.unanswered_counts(guild_id, since)
            return await asyncio.to_thread(report_gaps, asked, top)

    async def close(self) -> None:
        """Stop the gaps report's worker process (the bot's close calls this)."""
        await self.gaps_worker.close()

    async def stale(self, guild_id: int, days: int, today: date) -> list[Section]:
        """Topics this server sees that were last updated, or reviewed here as still accurate,
        more than `days` ago, oldest first (each dated as the server is shown it)."""
        cutoff = today - timedelta(days=days)
        # A review only moves a date later: the store's list holds every stale one, and more.
        old = await self.service.sections.visible_sections(guild_id, updated_before=cutoff)
        seen = [self.service.as_seen(s, guild_id) for s in old]
        return sorted(
            (s for s in seen if s.content.updated <= cutoff),
            key=lambda s: (s.content.updated, s.slug),
        )

    async def export(self, guild_id: int) -> bytes:
        sections = await self.service.sections.visible_sections(guild_id)
        return await asyncio.to_thread(zip_pack, (s.content for s in sections), guild_id)
