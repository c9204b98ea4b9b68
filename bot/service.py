"""The use cases every front end calls: ask, explain, topics, briefing, and pack import/export.

The Discord cogs, the console and the CLI all go through `BriefingService` and get the same
plain result objects back; only the rendering differs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from bot import briefing, pack
from bot.errors import BriefbotError, LimitReached, SectionNotFound
from bot.scope import CURATED, viewer_of
from bot.search import Catalog, Choice, Hit, Searcher
from bot.sections import Section
from bot.store import Database, ImportReport, SectionStore
from bot.store.asks import AskLog
from bot.store.briefing import BriefingStore, Post, Schedule
from bot.store.database import Clock, utcnow
from bot.text import clean, content_words, stem

log = logging.getLogger(__name__)

MAX_RELATED = 5
# How often a running service looks for sections another process committed (a CLI import).
FOLLOW_SECONDS = 0.5
IMPORT_AUTHOR = "kb import (command line)"


def _leave_the_collector_alone() -> None:
    """A service on its own (the CLI, a test) leaves the garbage collector as it is."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a question got: a confident section, or none and the closest topics instead."""

    question: str
    section: Section | None
    score: float | None
    results: tuple[Hit, ...]
    suggestions: tuple[Section, ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduleStatus:
    """What /briefing show tells a moderator."""

    schedule: Schedule | None
    next_local: datetime | None
    next_topic: Section | None
    last_post: Post | None


class BriefingService:
    def __init__(self, db: Database, knowledge_dir: Path | None = None) -> None:
        self.db = db
        self.knowledge_dir = knowledge_dir
        self.sections = SectionStore(db)
        self.asks = AskLog(db)
        self.schedules = BriefingStore(db)  # the daily explainer: schedules, rotation, posts
        self.searcher = Searcher(self.sections.fts, Catalog(()))
        self._reload_lock = asyncio.Lock()
        # Called after every catalog swap. The garbage collector is the process's, so the
        # process set-up decides what happens there (bot/client.py: Briefbot freezes the catalog).
        self.after_reload: Callable[[], None] = _leave_the_collector_alone
        # The sections' fingerprint the catalog was built from (see follow_changes).
        self._loaded: tuple[int, int] | None = None

    @classmethod
    async def open(
        cls, db_path: str | Path, knowledge_dir: Path | None, *, clock: Clock = utcnow
    ) -> BriefingService:
        """Open the database, import the curated pack on first start, and load the catalog."""
        db = await Database.open(db_path, clock=clock)
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
        await self.db.close()

    async def reload(self) -> None:
        """Rebuild the in-memory catalog after the sections changed."""
        # One at a time, so a slower earlier rebuild never replaces a newer one.
        async with self._reload_lock:
            # Read first: a change committed while the catalog builds is caught next time.
            self._loaded = await self.sections.fingerprint()
            sections = await self.sections.all(statuses=("active", "hidden"))
            # Built off the event loop: a large pack takes long enough to delay heartbeats.
            self.use_catalog(await asyncio.to_thread(Catalog, sections))

    async def follow_changes(self, interval: float = FOLLOW_SECONDS) -> None:
        """Reload whenever another process changed the sections (run as a task; cancel it).

        `PRAGMA data_version` moves only when another connection commits, and costs no I/O;
        the fingerprint then tells a sections change from any other write (asks, claims).
        """
        seen = await self.db.data_version()
        while True:
            await asyncio.sleep(interval)
            try:
                version = await self.db.data_version()
                if version == seen:
                    continue
                seen = version
                if await self.sections.fingerprint() != self._loaded:
                    await self.reload()
                    log.info("reloaded the sections another process changed")
            except Exception:
                log.exception("could not check the database for changed sections")

    def use_catalog(self, catalog: Catalog) -> None:
        """Answer from `catalog` from now on."""
        self.searcher.catalog = catalog
        self.after_reload()

    @property
    def catalog(self) -> Catalog:
        return self.searcher.catalog

    # -- reading --

    async def ask(self, question: str, guild_id: int | None, *, record: bool = True) -> Answer:
        question = clean(question)
        if not question:
            raise BriefbotError("Please type a question, for example: what are the Berlin talks?")
        result = await self.searcher.search(question, guild_id)
        suggestions: tuple[Section, ...] = ()
        section = None
        if result.answer is not None:
            section = self.catalog.sections[result.answer.section_id]
        else:
            suggestions = tuple(self.searcher.closest_topics(result, guild_id))
        answer = Answer(
            question=question,
            section=section,
            score=result.answer.score if result.answer else None,
            results=result.results,
            suggestions=suggestions,
        )
        if record and guild_id is not CURATED:  # no server to log it under
            await self.record(guild_id, answer)
        return answer

    async def record(self, guild_id: int, answer: Answer) -> None:
        """Log a question and whether it was answered (the gaps report and statistics)."""
        await self.asks.record(
            guild_id,
            answer.question,
            answer.section.slug if answer.section else None,
            answer.score,
        )

    async def explain(self, topic: str, guild_id: int | None) -> Answer:
        """A topic chosen from autocomplete (a slug), or typed text searched like a question."""
        section = self.catalog.find(guild_id, topic)
        if section is not None:
            hit = Hit(section.id, section.slug, section.title, 1.0)
            return Answer(topic, section, 1.0, (hit,))
        return await self.ask(topic, guild_id)

    def section(self, slug: str, guild_id: int | None) -> Section:
        section = self.catalog.find(guild_id, slug)
        if section is None:
            raise SectionNotFound(slug)
        return section

    def section_by_id(self, section_id: int, guild_id: int | None) -> Section:
        """A section by id, only if this server can see it (ids from buttons are untrusted)."""
        section = self.catalog.sections.get(section_id)
        if section is None or not self.catalog.is_visible(section, guild_id):
            raise SectionNotFound(str(section_id))
        return section

    def topics(self, guild_id: int | None) -> list[Section]:
        return self.catalog.visible(guild_id)

    def autocomplete(self, partial: str, guild_id: int | None) -> list[Choice]:
        return self.catalog.autocomplete(partial, guild_id)

    def related(self, section: Section, guild_id: int | None) -> list[Section]:
        """Other sections sharing tags or title words with `section`, most related first."""
        tags = set(section.content.tags)
        keys = {
            stem(w) for w in content_words(f"{section.title} {' '.join(section.content.aliases)}")
        }
        scored = []
        for other in self.catalog.visible(guild_id):
            if other.id == section.id:
                continue
            other_keys = {
                stem(w) for w in content_words(f"{other.title} {' '.join(other.content.aliases)}")
            }
            shared_words = sum(self.catalog.weight(k) for k in keys & other_keys)
            score = 2.0 * len(tags & set(other.content.tags)) + shared_words
            if score > 0:
                scored.append((score, other))
        scored.sort(key=lambda t: (-t[0], t[1].content.position))
        return [s for _, s in scored[:MAX_RELATED]]

    # -- the daily explainer --

    async def next_explainer(self, guild_id: int) -> Section:
        """The section the next daily post will carry (what /briefing now shows)."""
        schedule = await self.schedules.get(guild_id)
        chosen = briefing.next_section(
            self.topics(viewer_of(guild_id)),
            await self.schedules.shown(guild_id),
            schedule.next_topic if schedule else None,
        )
        if chosen is None:
            raise BriefbotError("There are no topics to post yet.")
        return chosen[0]

    async def set_schedule(
        self, guild_id: int, channel_id: int | None, at: str, zone: str, now: datetime
    ) -> ScheduleStatus:
        """Turn the daily explainer on, or change it; validated before anything is saved.

        A new time applies today if today's post has not been made (and the time is still
        ahead), else from the next day; the rotation and a chosen next topic are kept.
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
            topic: Section | None = await self.next_explainer(guild_id)
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

    async def choose_next_topic(self, guild_id: int, topic: str) -> Section:
        section = self.section(topic, viewer_of(guild_id))

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
        contents = [s.content for s in self.catalog.visible(guild_id)]
        return await asyncio.to_thread(pack.write_pack, contents, folder, guild_id)
