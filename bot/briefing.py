"""The daily explainer: due times in each server's zone, the rotation, and the posting loop.

Exactly once, through restarts and outages:
- due times are computed with zoneinfo for the server's local date and stored in UTC;
- a day's post is claimed (one row per server and local date) in the same transaction that
  advances the rotation and the schedule, before anything is sent;
- the claim is a lease: only its holder sends until it runs out, and a pending claim is taken
  over by exactly one process (overlapping shard settings still make one post);
- the send carries a nonce derived from the claim, and the claim records the message id as
  soon as Discord returns it. A send that may have reached Discord (a timeout, a 5xx, a crash
  after the send) is not repeated blindly: before a retry, and after a restart, a poster that
  can read the channel (Discord) looks for its own message posted since the claim. Without
  Read Message History only the nonce protects it, which Discord honours for minutes;
- a moderator's change (pause, resume, next topic, a new time) and the scheduler's advance are
  each one transaction, and the scheduler's claim only writes if the schedule is still the one
  it read: neither can undo the other, and a changed time applies the same day if that day's
  post has not been made (never a second post on one local date);
- a day missed while the bot was down is posted on start-up if it is still that local day, and
  skipped (logged, recorded) otherwise.

A discussion thread on each post (opt-in) comes after the post and never at its expense: it is
asked for in the transaction that records the post as sent, then opened; failing to open it
(no permission, a refused channel) is recorded for /briefing show and changes nothing about
the post. A crash before it opened leaves it pending, taken over after the lease; a crash after
Discord opened it but before it was recorded meets Discord's one-thread-per-message rule, which
the opener reads as opened. A post retried after a crash is still claimed, so it has not asked
for a thread yet: it gets exactly one.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import re
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple, Protocol, runtime_checkable

from bot.errors import BriefbotError, SectionNotFound
from bot.limits import SlidingWindow
from bot.scope import viewer_of
from bot.sections import Section, Topic
from bot.store.briefing import BriefingStore, Post, Schedule, ThreadRequest
from bot.text import truncate

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0
CONCURRENCY = 25
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(minutes=30)
# How long a claim (or a retry taken over) belongs to the process sending it; another process
# may take it over only after this. A send is abandoned (and retried, looking first) after
# SEND_TIMEOUT, inside the lease. Both stay well under Discord's nonce window (minutes), so
# even without Read Message History a restart's re-send usually meets the nonce.
CLAIM_LEASE = timedelta(minutes=2)
SEND_TIMEOUT = timedelta(seconds=60)
# /briefing now: once per channel per NOW_COOLDOWN, unless the caller can Manage Server.
NOW_COOLDOWN = timedelta(minutes=10)
# Discussion threads: Discord's longest thread name, and how many tries a thread gets when
# Discord or the network fails (a refusal is not retried).
THREAD_NAME_LIMIT = 100
THREAD_ATTEMPTS = 3
TIME_RE = re.compile(r"^\s*([01]?\d|2[0-3])[:.h]([0-5]\d)\s*$")


class PostFailed(Exception):
    """A send that did not happen; `permanent` failures pause the server's briefing."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class ThreadFailed(Exception):
    """A discussion thread that was not opened; `permanent` ones are not tried again."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class OnCooldown(BriefbotError):
    """`/briefing now` was used in this channel too recently; says when it can be used again."""

    def __init__(self, until: datetime, *, now: datetime) -> None:
        minutes = max(1, -(-int((until - now).total_seconds()) // 60))
        super().__init__(
            "The explainer was already posted here with /briefing now a few minutes ago. "
            f"You can use it in this channel again in {minutes} minute{'s' if minutes != 1 else ''}"
            f" (at {until.astimezone(UTC):%H:%M} UTC)."
        )
        self.until = until


class ChannelCooldown:
    """/briefing now's rule: one post per channel per `period`, keyed by channel id.

    Counted by a `SlidingWindow`, so channels not used within the last period are forgotten.
    A caller with Manage Server is never refused, and their post starts the period for
    everyone else; a post that failed does not count.
    """

    def __init__(self, clock: Callable[[], datetime], period: timedelta = NOW_COOLDOWN) -> None:
        self.clock = clock
        self.window = SlidingWindow(1, period.total_seconds(), lambda: clock().timestamp())

    def __len__(self) -> int:
        return len(self.window)

    def take(self, channel_id: int, *, exempt: bool = False) -> None:
        """Use the channel's turn, or raise OnCooldown (never for an `exempt` caller)."""
        free = self.window.free_at(channel_id)
        now = self.clock()
        if free > now.timestamp() and not exempt:
            raise OnCooldown(datetime.fromtimestamp(free, UTC), now=now)
        self.window.add(channel_id)

    def give_back(self, channel_id: int) -> None:
        """Undo a `take` whose post failed."""
        self.window.undo(channel_id)

    @contextmanager
    def turn(self, channel_id: int, *, exempt: bool = False) -> Iterator[None]:
        """Take the channel's turn for the post made inside; give it back if that fails."""
        self.take(channel_id, exempt=exempt)
        try:
            yield
        except BaseException:
            self.give_back(channel_id)
            raise


class Poster(Protocol):
    async def post(
        self, schedule: Schedule, section: Section, header: str, nonce: str
    ) -> int | None: ...


class Delivery(NamedTuple):
    """What a send ended with: the first message's id, and how a possibly sent post was
    settled (None for a first attempt)."""

    message_id: int | None
    recovery: str | None = None


@runtime_checkable
class ChannelPoster(Protocol):
    """A poster that can record the first message id as soon as it is known, and, given
    `since`, first looks in the channel for the parts of this post already there (Discord)."""

    async def deliver(
        self,
        schedule: Schedule,
        section: Section,
        header: str,
        nonce: str,
        *,
        since: datetime | None,
        sent: Callable[[int], Awaitable[None]],
    ) -> Delivery: ...


@runtime_checkable
class ThreadOpener(Protocol):
    """A poster that can open a public thread on a message it posted (Discord).

    Returns the thread's id; a message that already has a thread counts as opened (its id is
    the message's). Raises ThreadFailed otherwise.
    """

    async def open_thread(
        self, guild_id: int, channel_id: int, message_id: int, name: str
    ) -> int: ...


class SectionSource(Protocol):
    """Where the daily explainer finds what a server sees (BriefingService)."""

    def rotation(self, guild_id: int | None) -> Iterable[Topic]: ...

    def topic(self, guild_id: int | None, slug: str) -> Topic | None: ...

    async def load(self, topic: Topic) -> Section: ...


def parse_time(text: str) -> time:
    match = TIME_RE.match(text)
    if not match:
        raise BriefbotError(
            f"{text.strip()[:20]!r} is not a time. Use 24-hour HH:MM, for example 08:30 or 18:00."
        )
    return time(int(match.group(1)), int(match.group(2)))


@functools.cache
def _zones() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


def parse_zone(text: str) -> zoneinfo.ZoneInfo:
    name = _zones().get(text.strip().casefold())
    if name is None:
        raise BriefbotError(
            f"{text.strip()[:40]!r} is not a time zone I know. Use an IANA name such as "
            "Europe/Berlin, America/New_York or UTC."
        )
    return zoneinfo.ZoneInfo(name)


def zone_names(partial: str, limit: int = 25) -> list[str]:
    """Time zone names containing what has been typed, shortest first (for autocomplete)."""
    needle = partial.strip().casefold().replace(" ", "_")
    names = sorted(_zones().values(), key=lambda n: (len(n), n))
    return [n for n in names if needle in n.casefold()][:limit]


def due_at(day: date, at: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of `at` on local `day`.

    A time skipped by a spring-forward change moves to the first valid minute after it; a
    time that happens twice on a fall-back day is taken at its first occurrence.
    """
    wall = datetime.combine(day, at)
    for minutes in range(0, 24 * 60):
        candidate = (wall + timedelta(minutes=minutes)).replace(tzinfo=zone, fold=0)
        utc = candidate.astimezone(UTC)
        if utc.astimezone(zone).replace(tzinfo=None) == candidate.replace(tzinfo=None):
            return utc
    raise ValueError(f"no valid local time after {wall} in {zone}")  # pragma: no cover


def first_due(now: datetime, at: time, zone: zoneinfo.ZoneInfo) -> tuple[date, datetime]:
    """The next due (local date, UTC instant) strictly after `now`."""
    today = now.astimezone(zone).date()
    due = due_at(today, at, zone)
    if due > now:
        return today, due
    tomorrow = today + timedelta(days=1)
    return tomorrow, due_at(tomorrow, at, zone)


def next_free_due(
    now: datetime, at: time, zone: zoneinfo.ZoneInfo, taken: frozenset[date]
) -> tuple[date, datetime]:
    """The next due (local date, UTC instant) after `now` on a local date with no post yet.

    A time set or resumed before today's post was made applies today; once it was made (or
    claimed, skipped, failed), the next free day.
    """
    day, due = first_due(now, at, zone)
    while day in taken:
        day += timedelta(days=1)
        due = due_at(day, at, zone)
    return day, due


def next_section(
    topics: Iterable[Topic], shown: set[str], override: str | None
) -> tuple[Topic, bool] | None:
    """The next topic of the rotation and whether it starts a new cycle.

    Rotation order, no repeats until every topic has been shown; topics added later join
    the current cycle, removed ones simply are not there. A moderator's pick goes first.
    Reads `topics` only as far as it needs to.
    """
    first: Topic | None = None
    unseen: Topic | None = None
    for topic in topics:
        if first is None:
            first = topic
        if override is not None and topic.slug == override:
            return topic, False
        if unseen is None and topic.slug not in shown:
            unseen = topic
            if override is None:
                break
    if unseen is not None:
        return unseen, False
    return (first, True) if first is not None else None


def nonce_for(guild_id: int, local_date: date) -> str:
    """23 characters derived from the claim; a part number makes it Discord's 25 at most."""
    return hashlib.sha256(f"briefbot:{guild_id}:{local_date}".encode()).hexdigest()[:23]


def header_for(local_date: date) -> str:
    return f"Daily explainer — {local_date.isoformat()}"


def thread_name(title: str) -> str:
    """A topic's title as a thread name: one line, within Discord's 100 characters."""
    return truncate(" ".join(title.split()), THREAD_NAME_LIMIT) or "Daily explainer"


def backoff(attempts: int) -> timedelta:
    wait: timedelta = RETRY_BASE * (2 ** min(attempts, 16))
    return min(RETRY_CAP, wait)


@dataclass(slots=True)
class TickReport:
    posted: int = 0
    failed: int = 0
    skipped: int = 0
    retried: int = 0
    threads: int = 0  # discussion threads opened
    thread_failures: int = 0  # given up on (the post stands)


class Scheduler:
    """Finds due posts and makes them, a bounded number at a time.

    `tick()` does one pass and is what the tests drive with an injected clock; `run()` calls
    it every POLL_SECONDS until stopped. One server's failure never stops the others.
    """

    def __init__(
        self,
        store: BriefingStore,
        sections: SectionSource,
        poster: Poster | ChannelPoster,
        clock: Callable[[], datetime],
        *,
        owns: Callable[[int], bool] = lambda guild_id: True,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.store = store
        self.sections = sections
        self.poster = poster
        self.clock = clock
        self.owns = owns
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self._concurrency = concurrency
        self._limit = asyncio.Semaphore(concurrency)  # shared by overlapping passes
        self._busy: set[int] = set()

    def _rotation(self, guild_id: int) -> Iterable[Topic]:
        return self.sections.rotation(viewer_of(guild_id))

    async def next_topic(self, schedule: Schedule | None, guild_id: int) -> Topic | None:
        shown = await self.store.shown(guild_id)
        chosen = next_section(
            self._rotation(guild_id), shown, schedule.next_topic if schedule else None
        )
        return chosen[0] if chosen else None

    async def _load(self, topic: Topic | None) -> Section | None:
        """The whole section, or None when it was removed since the rotation was read."""
        if topic is None:
            return None
        try:
            return await self.sections.load(topic)
        except SectionNotFound:
            return None

    async def tick(self) -> TickReport:
        now = self.clock()
        report = TickReport()
        pending = [p for p in await self.store.pending(now) if self.owns(p.guild_id)]
        await self._each(
            (post.guild_id, functools.partial(self._resume, post, now, report)) for post in pending
        )
        due = [s for s in await self.store.due(now) if self.owns(s.guild_id)]
        await self._each((s.guild_id, functools.partial(self._due, s, now, report)) for s in due)
        threads = [p for p in await self.store.threads_pending(now) if self.owns(p.guild_id)]
        await self._each(
            (post.guild_id, functools.partial(self._resume_thread, post, now, report))
            for post in threads
        )
        return report

    async def _each(self, jobs: Iterable[tuple[int, Callable[[], Awaitable[None]]]]) -> None:
        """Run every server's job, at most `concurrency` at once.

        A fixed pool of workers takes jobs from one shared iterator, so a pass over 10,000
        servers holds 25 coroutines, not 10,000 waiting tasks (whose peak would stay in the
        process's memory after they are gone).
        """
        queue = iter(jobs)

        async def worker() -> None:
            for guild_id, job in queue:
                await self._guarded(job, guild_id)

        workers = [asyncio.ensure_future(worker()) for _ in range(self._concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:  # if one died of a BaseException, the rest stop with it
                task.cancel()

    async def _guarded(self, job: Callable[[], Awaitable[None]], guild_id: int) -> None:
        """Run one server's job: bounded in number, one at a time per server, isolated."""
        if guild_id in self._busy:
            return
        self._busy.add(guild_id)
        try:
            async with self._limit:
                await job()
        except Exception:
            log.exception("daily explainer for guild %s failed; other servers go on", guild_id)
        finally:
            self._busy.discard(guild_id)

    async def _due(self, schedule: Schedule, now: datetime, report: TickReport) -> None:
        zone = parse_zone(schedule.timezone)
        at = parse_time(schedule.local_time)
        today = now.astimezone(zone).date()
        day = schedule.next_local_date
        if day < today:
            # Down over a whole due day: that day is skipped, not posted late.
            today_due = due_at(today, at, zone)
            log.warning(
                "guild %s: daily explainer for %s was missed while offline; not posted late",
                schedule.guild_id,
                day,
            )
            if not await self.store.skip(
                schedule,
                day,
                reason="missed while offline",
                next_due=today_due,
                next_local_date=today,
                now=now,
            ):
                return  # changed by a command meanwhile: the next pass decides again
            report.skipped += 1
            if today_due > now:
                return
            day = today
            schedule = replace(schedule, next_due=today_due, next_local_date=today)
        chosen = next_section(
            self._rotation(schedule.guild_id),
            await self.store.shown(schedule.guild_id),
            schedule.next_topic,
        )
        following = day + timedelta(days=1)
        next_due = due_at(following, at, zone)
        section = await self._load(chosen[0] if chosen else None)
        if chosen is None or section is None:
            if await self.store.skip(
                schedule,
                day,
                reason="no topics to post",
                next_due=next_due,
                next_local_date=following,
                now=now,
            ):
                report.skipped += 1
            return
        new_cycle = chosen[1]
        nonce = nonce_for(schedule.guild_id, day)
        claimed = await self.store.claim(
            schedule,
            day,
            slug=section.slug,
            nonce=nonce,
            new_cycle=new_cycle,
            next_due=next_due,
            next_local_date=following,
            now=now,
            lease=CLAIM_LEASE,
        )
        if claimed == "changed":
            log.info(
                "guild %s: schedule changed during the pass; decided again next pass",
                schedule.guild_id,
            )
        if claimed != "claimed":
            return
        post = await self.store.post(schedule.guild_id, day)
        assert post is not None
        await self._deliver(schedule, post, section, now, report, since=None)

    async def _resume(self, post: Post, now: datetime, report: TickReport) -> None:
        """A claimed post whose send was not confirmed: after a crash, or waiting for a retry.

        Its send may have reached Discord, so the poster looks in the channel first.
        """
        if not await self.store.take_over(post, now, CLAIM_LEASE):
            return  # another process took it (or it was settled) since the pass began
        schedule = await self.store.get(post.guild_id)
        if schedule is None or schedule.paused_reason is not None:
            await self.store.finish(
                post.guild_id, post.local_date, "skipped", now=now, error="schedule off or paused"
            )
            report.skipped += 1
            return
        today = now.astimezone(parse_zone(schedule.timezone)).date()
        section = await self._load(
            self.sections.topic(viewer_of(post.guild_id), post.slug) if post.slug else None
        )
        if post.local_date < today or section is None:
            reason = "day over before it could be sent" if section else "topic was removed"
            await self.store.finish(
                post.guild_id, post.local_date, "skipped", now=now, error=reason
            )
            log.warning(
                "guild %s: daily explainer for %s skipped (%s)",
                post.guild_id,
                post.local_date,
                reason,
            )
            report.skipped += 1
            return
        claimed_at = datetime.fromisoformat(post.claimed_at)
        await self._deliver(schedule, post, section, now, report, since=claimed_at)

    async def _send(
        self, schedule: Schedule, post: Post, section: Section, since: datetime | None
    ) -> Delivery:
        header = header_for(post.local_date)
        if not isinstance(self.poster, ChannelPoster):
            return Delivery(await self.poster.post(schedule, section, header, post.nonce))

        async def sent(message_id: int) -> None:
            await self.store.record_message(post.guild_id, post.local_date, message_id)

        try:
            async with asyncio.timeout(SEND_TIMEOUT.total_seconds()):
                return await self.poster.deliver(
                    schedule, section, header, post.nonce, since=since, sent=sent
                )
        except TimeoutError:
            raise PostFailed("the send timed out", permanent=False) from None

    async def _deliver(
        self,
        schedule: Schedule,
        post: Post,
        section: Section,
        now: datetime,
        report: TickReport,
        *,
        since: datetime | None,
    ) -> None:
        try:
            delivery = await self._send(schedule, post, section, since)
        except PostFailed as failure:
            if failure.permanent:
                await self.store.finish(
                    post.guild_id,
                    post.local_date,
                    "failed",
                    now=now,
                    error=failure.reason,
                    pause_reason=failure.reason,
                )
                log.warning("guild %s: daily explainer paused: %s", post.guild_id, failure.reason)
                report.failed += 1
            else:
                await self.store.retry_later(
                    post.guild_id,
                    post.local_date,
                    retry_at=now + backoff(post.attempts),
                    error=failure.reason,
                )
                log.info(
                    "guild %s: daily explainer will be retried: %s", post.guild_id, failure.reason
                )
                report.retried += 1
            return
        if delivery.recovery is not None:
            log.info(
                "guild %s: daily explainer for %s: %s",
                post.guild_id,
                post.local_date,
                delivery.recovery,
            )
        request = None
        if (
            schedule.thread
            and delivery.message_id is not None
            and schedule.channel_id is not None
            and isinstance(self.poster, ThreadOpener)
        ):
            request = ThreadRequest(
                schedule.channel_id, thread_name(section.title), now + CLAIM_LEASE
            )
        await self.store.finish(
            post.guild_id,
            post.local_date,
            "sent",
            now=now,
            message_id=delivery.message_id,
            recovery=delivery.recovery,
            thread=request,
        )
        report.posted += 1
        if request is not None and delivery.message_id is not None:
            # Only once the post is recorded: whatever happens to the thread, the post stands.
            await self._open_thread(
                post, request.channel_id, delivery.message_id, request.name, now, report
            )

    async def _resume_thread(self, post: Post, now: datetime, report: TickReport) -> None:
        """A sent post whose thread was not opened: after a crash, or waiting for a retry."""
        if not await self.store.take_thread(post, now, CLAIM_LEASE):
            return  # another process has it, or it was settled since the pass began
        schedule = await self.store.get(post.guild_id)
        if schedule is None or not schedule.thread:
            await self.store.thread_failed(
                post.guild_id, post.local_date, "threads were turned off before it opened"
            )
            return
        if post.message_id is None or post.channel_id is None:
            await self.store.thread_failed(
                post.guild_id, post.local_date, "the post's message is not known"
            )
            return
        await self._open_thread(
            post,
            post.channel_id,
            post.message_id,
            post.thread_name or thread_name(post.slug or ""),
            now,
            report,
        )

    async def _open_thread(
        self,
        post: Post,
        channel_id: int,
        message_id: int,
        name: str,
        now: datetime,
        report: TickReport,
    ) -> None:
        assert isinstance(self.poster, ThreadOpener)
        try:
            async with asyncio.timeout(SEND_TIMEOUT.total_seconds()):
                thread_id = await self.poster.open_thread(
                    post.guild_id, channel_id, message_id, name
                )
        except (ThreadFailed, TimeoutError) as exc:
            failure = (
                exc
                if isinstance(exc, ThreadFailed)
                else ThreadFailed("opening the thread timed out", permanent=False)
            )
            if failure.permanent or post.thread_attempts + 1 >= THREAD_ATTEMPTS:
                await self.store.thread_failed(post.guild_id, post.local_date, failure.reason)
                log.warning(
                    "guild %s: no discussion thread for %s (the post stands): %s",
                    post.guild_id,
                    post.local_date,
                    failure.reason,
                )
                report.thread_failures += 1
            else:
                await self.store.thread_later(
                    post.guild_id,
                    post.local_date,
                    retry_at=now + backoff(post.thread_attempts),
                    error=failure.reason,
                )
            return
        await self.store.thread_opened(post.guild_id, post.local_date, thread_id)
        report.threads += 1

    async def run(self, stop: asyncio.Event, poll_seconds: float = POLL_SECONDS) -> None:
        """Tick until `stop` is set; an error in one pass is logged and the loop goes on."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("daily explainer pass failed; trying again next poll")
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass
