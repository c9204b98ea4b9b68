"""The use cases every front end calls: ask, explain, topics, briefing, and pack import/export.

The Discord cogs, the console and the CLI all go through `BriefingService` and get the same
plain result objects back; only the rendering differs. What a server taught (questions as
aliases, "still accurate" reviews) is read into that server's overlay here, and a review's
date is what the server is shown as a topic's "Updated" (`as_seen`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from bot import briefing, pack
from bot.errors import BriefbotError, LimitReached, SectionNotFound
from bot.scope import CURATED, viewer_of
from bot.search import (
    Catalog,
    Choice,
    Hit,
    Overlay,
    Searcher,
    SharedIndex,
    Taught,
    View,
    taught_key,
)
from bot.sections import Section, Topic
from bot.store import Database, ImportReport, SectionStore
from bot.store.asks import AskLog
from bot.store.backends import open_database
from bot.store.briefing import BriefingStore, Post, Schedule
from bot.store.database import Clock, utcnow
from bot.store.learning import LearningStore
from bot.text import clean

log = logging.getLogger(__name__)

MAX_RELATED = 5
# How often a running service looks for sections another process committed (a CLI import).
FOLLOW_SECONDS = 0.5
IMPORT_AUTHOR = "kb import (command line)"
# A topic's additions read to tell which of two topics taught the same words was taught last
# (only when that happens); far more than a topic's standing taught questions.
CLASH_HISTORY = 1_000


def _leave_the_collector_alone() -> None:
    """A service on its own (the CLI, a test) leaves the garbage collector as it is."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a question got: a confident section, or none and the closest topics instead."""

    question: str
    section: Section | None
    score: float | None
    results: tuple[Hit, ...]
    suggestions: tuple[Topic, ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    """What /briefing show tells a moderator."""

    schedule: Schedule | None
    next_local: datetime | None
    next_topic: Topic | None
    last_post: Post | None


class BriefingService:
    def __init__(self, db: Database, knowledge_dir: Path | None = None) -> None:
        self.db = db
        self.knowledge_dir = knowledge_dir
        self.sections = SectionStore(db)
        self.asks = AskLog(db)
        self.learning = LearningStore(db)  # taught questions and reviews, read into overlays
        self.schedules = BriefingStore(db)  # the daily explainer: schedules, rotation, posts
        self.searcher = Searcher(self.sections.matching, Catalog())
        # One rebuild at a time, so a slower earlier one never replaces a newer one.
        self._reload_lock = asyncio.Lock()
        # Called after the shared index is replaced (a pack import, not a server's edit). The
        # garbage collector is the process's, so the process set-up decides what happens there
        # (bot/client.py: Briefbot freezes the catalog).
        self.after_reload: Callable[[], None] = _leave_the_collector_alone
        # The sections' fingerprint the catalog is up to date with (see follow_changes), and
        # the newest taught question or review it shows.
        self._loaded: tuple[int, int] = (0, 0)
        self._additions = 0
        self._additions_held = 0  # how many additions there were up to that one

    @classmethod
    async def open(
        cls,
        db_path: str | Path,
        knowledge_dir: Path | None,
        *,
        clock: Clock = utcnow,
        password: str | None = None,
    ) -> BriefingService:
        """Open the database (a SQLite path or a PostgreSQL URL, `password` its password when
        the URL has none), import the curated pack on first start, and load the catalog."""
        db = await open_database(db_path, password=password, clock=clock)
        service = cls(db, knowledge_dir)
        try:
            if knowledge_dir is not None and await service.sections.count() == 0:
                report = await service.sections.import_curated(pack.load_pack(knowledge_dir))
                log.info("first start: imported the curated pack (%s)", report.summary())
            await service.reload()
        except BaseException:
            await db.close()
            raise
        return service

    async def close(self) -> None:
        """Write the questions still queued for the log, then close the database."""
        try:
            await self.asks.close()
        finally:
            await self.db.close()

    async def reload(self) -> None:
        """Rebuild the whole catalog: the shared index and every server's overlay.

        What a pack import, the first start and an unexplained change (a server's rows deleted)
        need; a server's edit needs only `refresh`.
        """
        async with self._reload_lock:
            # Read first: a change committed while the catalog builds is caught next time.
            self._loaded = await self.sections.fingerprint()
            self._additions = await self.learning.newest_addition()
            self._additions_held = await self.learning.additions_up_to(self._additions)
            shared = SharedIndex()
            # Built off the event loop a batch at a time: a large pack is never held whole.
            async for batch in self.sections.curated_index_rows():
                await asyncio.to_thread(shared.add, batch)
            await asyncio.to_thread(shared.finish)
            overlays = await self._overlays(None)
            self.use_catalog(Catalog(shared, overlays))

    async def refresh(self, guild_id: int) -> None:
        """Show one server's changed sections, taught questions or reviews: its overlay alone
        is rebuilt."""
        async with self._reload_lock:
            overlays = await self._overlays([guild_id])
            self.catalog.set_overlay(guild_id, overlays.get(guild_id))

    async def _overlays(self, guild_ids: list[int] | None) -> dict[int, Overlay]:
        """Overlays of these servers (None: of every server holding sections of its own, taught
        questions or reviews)."""
        own = await self.sections.server_sections(guild_ids)
        taught = await self.learning.taught(guild_ids)
        reviewed = await self.learning.reviewed(guild_ids)
        by_guild: dict[int, list[Section]] = {}
        for section in own:
            assert section.guild_id is not None
            by_guild.setdefault(section.guild_id, []).append(section)
        guilds = sorted(set(by_guild) | set(taught) | set(reviewed))
        # Each overlay gets only the curated sections under its own slugs and taught slugs.
        slugs = {
            g: {s.slug.casefold() for s in by_guild.get(g, ())} | set(taught.get(g, {}))
            for g in guilds
        }
        curated = {
            s.slug.casefold(): s
            for s in await self.sections.curated_by_slugs(set().union(*slugs.values()))
        }
        ordered = {g: await self._in_teaching_order(g, by_slug) for g, by_slug in taught.items()}

        def build() -> dict[int, Overlay]:
            return {
                g: Overlay(
                    g,
                    by_guild.get(g, []),
                    [curated[k] for k in sorted(slugs[g] & curated.keys())],
                    ordered.get(g, ()),
                    reviewed.get(g),
                )
                for g in guilds
            }

        return await asyncio.to_thread(build)

    async def _in_teaching_order(self, guild_id: int, taught: dict[str, list[str]]) -> list[Taught]:
        """A server's taught questions in the order they were taught, where it matters: when
        one wording was taught to two topics, the later teaching wins (see `taught_key`).

        The store lists them by topic; only topics sharing a wording have their history read.
        """
        found = [Taught(slug, q) for slug, questions in taught.items() for q in questions]
        topics: dict[tuple[str, ...], set[str]] = {}
        for slug, question in found:
            topics.setdefault(taught_key(question), set()).add(slug)
        clashing = sorted({s for shared in topics.values() if len(shared) > 1 for s in shared})
        if not clashing:
            return found
        when: dict[tuple[str, str], str] = {}
        for slug in clashing:
            for addition in await self.learning.additions(guild_id, slug, CLASH_HISTORY):
                if addition.action == "taught" and addition.active:
                    when[slug, addition.detail] = addition.created_at
        # Stable: questions of no clash keep the store's order, ahead of the ones that clash;
        # teachings within the same second keep it too.
        return sorted(found, key=lambda t: when.get((t.slug, t.question), ""))

    async def follow_changes(self, interval: float = FOLLOW_SECONDS) -> None:
        """Show what another process committed (a CLI import, another shard): run as a task.

        `Database.data_version` moves only when another process commits (SQLite's
        `PRAGMA data_version`, which costs no I/O; PostgreSQL's notifications, heard on a
        connection of their own); then `catch_up` finds out what changed. A look that fails
        (the database restarting) is made again next time.
        """
        seen = await self.db.data_version()
        while True:
            await asyncio.sleep(interval)
            try:
                version = await self.db.data_version()
                if version == seen:
                    continue
                await self.catch_up()
                seen = version
            except Exception:
                log.exception("could not check the database for changed sections")

    async def catch_up(self) -> None:
        """Bring the catalog up to date with what the database holds.

        Every write of a section adds a revision, so the revisions since the last look say
        which scopes changed: a server's edit rebuilds that server's overlay, a pack import
        the whole catalog. Rows deleted without a revision (a removed server's data purged)
        also rebuild the whole catalog. Taught questions and reviews are numbered additions:
        the servers that added one since the last look have their overlays rebuilt, and
        additions gone (a server purged) rebuild the whole catalog.
        """
        loaded = self._loaded
        fingerprint = await self.sections.fingerprint()
        added, adding = await self.learning.additions_since(self._additions)
        if await self.learning.additions_up_to(self._additions) < self._additions_held:
            # A server's additions purged (it holds no section, so no section count moved).
            await self.reload()
            log.info("reloaded: another process deleted what servers taught")
            return
        held = await self.learning.additions_up_to(added)
        if fingerprint == loaded and not adding:
            return
        scopes: set[int | None] = set()
        newest = loaded[0]
        if fingerprint != loaded:
            newest, scopes = await self.sections.changes_since(loaded[0])
            deleted = fingerprint[1] < loaded[1] or (not scopes and fingerprint[1] != loaded[1])
            if CURATED in scopes or deleted:
                await self.reload()
                log.info("reloaded the sections another process changed")
                return
        servers = {g for g in scopes if g is not None} | adding
        for guild_id in sorted(servers):
            await self.refresh(guild_id)
        self._loaded = (max(newest, fingerprint[0]), fingerprint[1])
        if added > self._additions:
            self._additions, self._additions_held = added, held
        log.info("showed the changes another process made in %d servers", len(servers))

    def use_catalog(self, catalog: Catalog) -> None:
        """Answer from `catalog` from now on."""
        self.searcher.catalog = catalog
        self.after_reload()

    @property
    def catalog(self) -> Catalog:
        return self.searcher.catalog

    # -- reading --

    def view(self, guild_id: int | None) -> View:
        """What a server sees now (CURATED: the curated pack alone)."""
        return self.catalog.view(guild_id)

    def as_seen(self, section: Section, guild_id: int | None) -> Section:
        """The section as this server is shown it: "Updated" on the day it was last reviewed
        here as still accurate, if that is later (its text is the same everywhere)."""
        reviewed = self.view(guild_id).reviewed(section.slug)
        if reviewed is None or reviewed <= section.content.updated:
            return section
        return replace(section, content=replace(section.content, updated=reviewed))

    async def load(self, topic: Topic) -> Section:
        """The whole section behind a topic: a server's own from memory, a curated one read
        from the database (the search keeps no curated bodies in memory)."""
        own = self.view(topic.guild_id).own_section(topic.id) if topic.guild_id else None
        section = own or await self.sections.by_id(topic.id)
        if section is None or section.status != "active":
            raise SectionNotFound(topic.slug)
        return section

    async def ask(self, question: str, guild_id: int | None, *, record: bool = True) -> Answer:
        question = clean(question)
        if not question:
            raise BriefbotError("Please type a question, for example: what are the Berlin talks?")
        result = await self.searcher.search(question, guild_id)
        suggestions: tuple[Topic, ...] = ()
        section = None
        if result.answer is not None:
            section = result.read.get(result.answer.section_id)
            if section is None:
                topic = self.view(guild_id).topic(result.answer.section_id)
                section = await self._load_quietly(topic)
        if section is None:
            suggestions = tuple(self.searcher.closest_topics(result, guild_id))
        else:
            section = self.as_seen(section, guild_id)
        answer = Answer(
            question=question,
            section=section,
            score=result.answer.score if result.answer and section else None,
            results=result.results,
            suggestions=suggestions,
        )
        if record and guild_id is not CURATED:  # no server to log it under
            await self.record(guild_id, answer)
        return answer

    async def _load_quietly(self, topic: Topic | None) -> Section | None:
        """`load`, or None when the section went away since the search (an edit in between)."""
        if topic is None:
            return None
        try:
            return await self.load(topic)
        except SectionNotFound:
            return None

    async def record(
        self,
        guild_id: int,
        answer: Answer,
        *,
        ref: int | None = None,
        kind: Literal["ask", "explain"] = "ask",
    ) -> None:
        """Log a question and whether it was answered (the gaps report and statistics); `ref`
        (the interaction's id) finds it again from the answer card's buttons, `kind` tells a
        question from a topic opened by name."""
        await self.asks.record(
            guild_id,
            answer.question,
            answer.section.slug if answer.section else None,
            answer.score,
            ref=ref,
            kind=kind,
        )

    async def explain(self, topic: str, guild_id: int | None, *, record: bool = True) -> Answer:
        """A topic chosen from autocomplete (a slug), or typed text searched like a question
        (logged as one unless not `record`)."""
        section = await self._load_quietly(self.view(guild_id).find(topic))
        if section is not None:
            section = self.as_seen(section, guild_id)
            hit = Hit(section.id, section.slug, section.title, 1.0)
            return Answer(topic, section, 1.0, (hit,))
        return await self.ask(topic, guild_id, record=record)

    def find(self, slug: str, guild_id: int | None) -> Topic:
        """The topic a server sees under `slug`."""
        topic = self.view(guild_id).find(slug)
        if topic is None:
            raise SectionNotFound(slug)
        return topic

    async def section(self, slug: str, guild_id: int | None) -> Section:
        return self.as_seen(await self.load(self.find(slug, guild_id)), guild_id)

    async def section_by_id(self, section_id: int, guild_id: int | None) -> Section:
        """A section by id, only if this server can see it (ids from buttons are untrusted)."""
        topic = self.view(guild_id).topic(section_id)
        if topic is None:
            raise SectionNotFound(str(section_id))
        return self.as_seen(await self.load(topic), guild_id)

    def topics(self, guild_id: int | None) -> list[Topic]:
        return self.view(guild_id).visible()

    def rotation(self, guild_id: int | None) -> Iterator[Topic]:
        """What a server sees in rotation order, read lazily (the daily explainer stops early)."""
        return self.view(guild_id).iter_visible()

    def topic(self, guild_id: int | None, slug: str) -> Topic | None:
        return self.view(guild_id).find(slug)

    def autocomplete(self, partial: str, guild_id: int | None) -> list[Choice]:
        return self.view(guild_id).autocomplete(partial)

    def related(self, section: Section | Topic, guild_id: int | None) -> list[Topic]:
        """Other topics sharing tags or title words with `section`, most related first."""
        view = self.view(guild_id)
        topic = section.topic if isinstance(section, Section) else section
        if view.topic(topic.id) is None:
            return []
        return view.related(topic, MAX_RELATED)

    # -- the daily explainer --

    async def next_explainer(self, guild_id: int) -> Section:
        """The section the next daily post will carry (what /briefing now shows)."""
        schedule = await self.schedules.get(guild_id)
        chosen = briefing.next_section(
            self.rotation(viewer_of(guild_id)),
            await self.schedules.shown(guild_id),
            schedule.next_topic if schedule else None,
        )
        if chosen is None:
            raise BriefbotError("There are no topics to post yet.")
        return self.as_seen(await self.load(chosen[0]), viewer_of(guild_id))

    async def set_schedule(
        self,
        guild_id: int,
        channel_id: int | None,
        at: str,
        zone: str,
        now: datetime,
        *,
        thread: bool | None = None,
    ) -> ScheduleStatus:
        """Turn the daily explainer on, or change it; validated before anything is saved.

        A new time applies today if today's post has not been made (and the time is still
        ahead), else from the next day; the rotation and a chosen next topic are kept, and so
        is the discussion-thread choice unless `thread` is given.
        """
        local_time = briefing.parse_time(at)
        tz = briefing.parse_zone(zone)

        def edit(old: Schedule | None, taken: frozenset[date]) -> Schedule:
            local_date, due = briefing.next_free_due(now, local_time, tz, taken)
            return Schedule(
                guild_id=guild_id,
                channel_id=channel_id,
                local_time=local_time.strftime("%H:%M"),
                timezone=tz.key,
                paused_reason=None,
                next_due=due,
                next_local_date=local_date,
                next_topic=old.next_topic if old else None,
                thread=thread if thread is not None else bool(old and old.thread),
            )

        await self.schedules.update(guild_id, edit, around=now.astimezone(tz).date())
        return await self.schedule_status(guild_id)

    async def schedule(self, guild_id: int) -> Schedule | None:
        """The server's daily explainer, or None when it has none."""
        return await self.schedules.get(guild_id)

    async def schedule_status(self, guild_id: int) -> ScheduleStatus:
        schedule = await self.schedules.get(guild_id)
        if schedule is None:
            return ScheduleStatus(None, None, None, await self.schedules.last_post(guild_id))
        tz = briefing.parse_zone(schedule.timezone)
        try:
            topic: Topic | None = (await self.next_explainer(guild_id)).topic
        except BriefbotError:
            topic = None
        return ScheduleStatus(
            schedule,
            schedule.next_due.astimezone(tz),
            topic,
            await self.schedules.last_post(guild_id),
        )

    @staticmethod
    def _existing(schedule: Schedule | None) -> Schedule:
        if schedule is None:
            raise BriefbotError("The daily explainer is off here. Turn it on with /briefing set.")
        return schedule

    async def pause_schedule(
        self, guild_id: int, reason: str = "paused by a moderator", *, now: datetime | None = None
    ) -> None:
        """Pause in one transaction with the scheduler's advance: a pass that read the schedule
        before the pause finds it changed and posts nothing."""

        def edit(schedule: Schedule | None, taken: frozenset[date]) -> Schedule:
            return replace(self._existing(schedule), paused_reason=reason)

        await self.schedules.update(guild_id, edit, around=(now or self.db.clock()).date())

    async def resume_schedule(self, guild_id: int, now: datetime) -> ScheduleStatus:
        """Start again from the next due time after now: days missed while paused are not sent,
        and today's only if it has not been made."""

        def edit(schedule: Schedule | None, taken: frozenset[date]) -> Schedule:
            current = self._existing(schedule)
            if current.paused_reason is None:
                return current  # running: a due post is not pushed to tomorrow
            local_date, due = briefing.next_free_due(
                now,
                briefing.parse_time(current.local_time),
                briefing.parse_zone(current.timezone),
                taken,
            )
            return replace(current, paused_reason=None, next_due=due, next_local_date=local_date)

        await self.schedules.update(guild_id, edit, around=now.date())
        return await self.schedule_status(guild_id)

    async def stop_schedule(self, guild_id: int) -> bool:
        return await self.schedules.delete(guild_id)

    async def choose_next_topic(self, guild_id: int, topic: str) -> Topic:
        section = self.find(topic, viewer_of(guild_id))

        def edit(schedule: Schedule | None, taken: frozenset[date]) -> Schedule:
            return replace(self._existing(schedule), next_topic=section.slug)

        await self.schedules.update(guild_id, edit, around=self.db.clock().date())
        return section

    # -- the pack --

    async def import_pack(self, folder: Path) -> ImportReport:
        """Import the curated pack every server shares from a folder or a zip of one.

        A server's export is refused here: importing it as curated would give one server's
        topics to every server. `import_guild_pack` restores it.
        """
        loaded = await asyncio.to_thread(pack.read_path, folder)
        if loaded.exported_from is not None:
            raise BriefbotError(
                f"{folder.name} is server {loaded.exported_from}'s export; importing it as the "
                "curated pack would show that server's topics in every server. Restore it with "
                f"`briefbot kb import --guild {loaded.exported_from} {folder.name}`."
            )
        report = await self.sections.import_curated(loaded.sections)
        if report.changed:
            await self.reload()
        return report

    async def import_guild_pack(
        self,
        path: Path,
        guild_id: int,
        *,
        max_topics: int | None = None,
        other_server: bool = False,
    ) -> ImportReport:
        """Import a folder or a `/kb export` zip as one server's own topics and overrides.

        An export made in another server is refused unless `other_server` (a mistyped id would
        otherwise put one server's topics in another).

        Refused, nothing written, if the server would hold more than `max_topics` of its own.
        """
        if guild_id <= 0:
            raise BriefbotError(f"{guild_id} is not a server id (copy it from Discord).")
        loaded = await asyncio.to_thread(pack.read_path, path)
        source = loaded.exported_from
        if source is not None and source != guild_id and not other_server:
            raise BriefbotError(
                f"{path.name} is server {source}'s export, not server {guild_id}'s. Check the "
                f"id; to copy server {source}'s topics into server {guild_id} on purpose, add "
                "--other-server."
            )

        def within_cap(total: int) -> None:
            if max_topics is not None and total > max_topics:
                raise LimitReached(
                    f"This import would give server {guild_id} {total} topics of its own; "
                    f"the most Briefbot keeps for one server is {max_topics} "
                    "(BRIEFBOT_MAX_GUILD_TOPICS). Nothing was imported."
                )

        report = await self.sections.import_for_guild(
            guild_id, loaded.sections, author=IMPORT_AUTHOR, check=within_cap
        )
        if report.changed:
            await self.reload()
        return report

    async def export_pack(self, folder: Path, guild_id: int | None = None) -> list[Path]:
        """Write what `guild_id` sees (None: the curated pack) as a pack folder."""
        contents = [s.content for s in await self.sections.visible_sections(guild_id)]
        return await asyncio.to_thread(pack.write_pack, contents, folder, guild_id)
