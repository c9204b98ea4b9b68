"""Following a topic: members' follows, what changed between two texts, and the notifier that
sends each follower one DM per change of a topic's text.

The notifier is decoupled from every path that edits a section: it reads the `revisions` table
as a change feed (every saved change of a section writes one) from a cursor kept in the
database, so a moderator's edit or revert, a curated pack import and another process's change
are all seen, and a restart carries on where it stopped. Each DM owed is a send row, claimed
before it is sent and settled after: a crash between the two is resolved by looking in the
member's DM channel for the message, never by sending blindly again.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.errors import BriefbotError, LimitReached
from bot.limits import Cooldown
from bot.scope import NO_SERVER
from bot.sections import SectionContent, Source
from bot.service import BriefingService
from bot.store.follows import FeedRevision, FollowStore, Owed

log = logging.getLogger(__name__)

# What one member may hold: follows per server.
MAX_FOLLOWS = 25
# Closed DMs (Discord 50007) in a row before the follow is removed.
FAILURES_TO_UNFOLLOW = 3
# Follows and unfollows per member per server in any window of this many seconds: each is a
# write, and clicking Follow / Unfollow in a loop should not keep the database busy.
CHANGES_RATE = 10
CHANGES_SECONDS = 60.0

# The notifier's pace. DMs in flight at once: well inside Discord's 50 requests a second
# (each DM is two requests when the DM channel is not known yet).
POOL = 5
# How often the notifier looks for new revisions and due DMs.
POLL_SECONDS = 0.5
# Revisions read per trip along the feed; send rows read per trip.
FEED_BATCH = 500
DUE_BATCH = 200
# "Opening DMs too fast" (Discord 40003): every send pauses, 30 s doubling up to 10 minutes.
TOO_FAST_FIRST = timedelta(seconds=30)
TOO_FAST_CAP = timedelta(minutes=10)
# Any other failure (5xx after discord.py's own retries, a cut connection): the one DM waits
# 30 s doubling, and is given up after this many attempts.
RETRY_FIRST = timedelta(seconds=30)
MAX_ATTEMPTS = 5
# A claim not settled after this long was cut off (a crash): it is looked up, then settled.
LEASE = timedelta(minutes=2)
# Settled send records are kept this long (the feed never owes their revisions again), and
# looked through for ones to forget this often.
KEEP_SENDS = timedelta(days=30)
PRUNE_EVERY = timedelta(hours=1)

# What a DM says of the change: this many added and removed sentences at most, each this long.
SUMMARY_SENTENCES = 3
SUMMARY_SENTENCE_CHARS = 300

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_SPACE = re.compile(r"\s+")


class DMsClosed(Exception):
    """Discord would not deliver to this member (error 50007: DMs closed, or no shared server)."""


class DMsTooFast(Exception):
    """Discord refused to open a DM channel: the bot opens them too fast (error 40003)."""


class NotDelivered(Exception):
    """The DM did not go out for a reason that may pass (a 5xx, a cut connection)."""


@dataclass(frozen=True, slots=True)
class TextChange:
    """What changed in a topic's text: sentences added and removed, a new title, sources."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    old_title: str | None = None
    sources_added: tuple[Source, ...] = ()
    sources_removed: tuple[Source, ...] = ()

    @property
    def empty(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.old_title
            or self.sources_added
            or self.sources_removed
        )


def sentences(text: str) -> list[str]:
    """`text` as sentences (and lines), each with its spaces made single."""
    found = (_SPACE.sub(" ", part).strip() for part in _SENTENCE_END.split(text))
    return [s for s in found if s]


def what_changed(before: SectionContent, after: SectionContent) -> TextChange | None:
    """The change of text between two versions of a topic, or None if its text is the same.

    Only the title, the body and the sources are its text: a new alias, tag, date or place
    in the rotation alone is not news to a follower.
    """
    if (before.title, before.body, before.sources) == (after.title, after.body, after.sources):
        return None
    old, new = sentences(before.body), sentences(after.body)
    added: list[str] = []
    removed: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            removed.extend(old[i1:i2])
        if tag in ("insert", "replace"):
            added.extend(new[j1:j2])
    return TextChange(
        added=tuple(added),
        removed=tuple(removed),
        old_title=before.title if before.title != after.title else None,
        sources_added=tuple(s for s in after.sources if s not in before.sources),
        sources_removed=tuple(s for s in before.sources if s not in after.sources),
    )


def text_change(revision: FeedRevision) -> TextChange | None:
    """What a revision of the feed changed for its followers; None when nothing they read did
    (a new topic, an alias, a topic hidden or retired)."""
    if revision.before is None or revision.after.status != "active":
        return None
    return what_changed(revision.before.content, revision.after.content)


@dataclass(frozen=True, slots=True)
class Followed:
    """A topic a member follows in one server, as the server shows it now."""

    slug: str
    title: str
    shown: bool  # False: the server no longer shows a topic under this slug
    new: bool = False  # followed (or unfollowed) by this very call


@dataclass(frozen=True, slots=True)
class FollowDM:
    """One DM to send: a change of one topic, to one follower."""

    send_id: int
    guild_id: int
    user_id: int
    slug: str
    revision_id: int
    content: SectionContent
    change: TextChange


class Messenger(Protocol):
    """How DMs reach members (`bot/ui/follow.py` over Discord; a list in unit tests)."""

    async def send(self, dm: FollowDM) -> int:
        """Send `dm`; its message id. Raises DMsClosed, DMsTooFast or NotDelivered."""
        ...

    async def delivered(self, dm: FollowDM) -> int | None:
        """The id of `dm` if it is already in the member's DM channel (a send cut off)."""
        ...


class Follows:
    """What a member can do: follow a topic from its card, unfollow it, list their follows."""

    def __init__(
        self, service: BriefingService, store: FollowStore, *, cap: int = MAX_FOLLOWS
    ) -> None:
        self.service = service
        self.store = store
        self.cap = cap
        self.changes = Cooldown(
            CHANGES_RATE, CHANGES_SECONDS, lambda: service.db.clock().timestamp()
        )

    async def follow(self, guild_id: int, user_id: int, section_id: int) -> Followed:
        """Follow the topic a card shows (the section must be one this server sees)."""
        _in_a_server(guild_id)
        self.changes.take((guild_id, user_id))
        section = await self.service.section_by_id(section_id, guild_id)
        slug = section.slug.casefold()
        added = await self.store.add(guild_id, user_id, slug, cap=self.cap)
        if added == "full":
            raise LimitReached(
                f"You already follow {self.cap} topics in this server, the most one member can. "
                "Use /follows to unfollow one first."
            )
        return Followed(slug, section.title, True, new=added == "added")

    async def unfollow(self, guild_id: int, user_id: int, slug: str) -> Followed:
        """Stop following; the topic as it is shown now (`new`: False if it was not followed).

        A DM's Unfollow names a server no one checked the clicker against: a topic not
        followed there is named by its slug only, never by that server's title."""
        _in_a_server(guild_id)
        self.changes.take((guild_id, user_id))
        slug = slug.casefold()
        if not await self.store.remove(guild_id, user_id, slug):
            return Followed(slug, slug, False)
        return replace(self._followed(guild_id, slug), new=True)

    async def of_member(self, guild_id: int, user_id: int) -> list[Followed]:
        _in_a_server(guild_id)
        return [self._followed(guild_id, s) for s in await self.store.of_member(guild_id, user_id)]

    def _followed(self, guild_id: int, slug: str) -> Followed:
        topic = self.service.topic(guild_id, slug)
        return Followed(slug, topic.title if topic else slug, topic is not None)


def _in_a_server(guild_id: int) -> None:
    if guild_id == NO_SERVER:
        raise BriefbotError("Following a topic works in a server, where the topic is kept.")


@dataclass(slots=True)
class DeliveryReport:
    """What one pass of the notifier did."""

    queued: int = 0
    sent: int = 0
    found: int = 0  # cut-off sends found already delivered
    closed: int = 0
    unfollowed: int = 0
    too_fast: int = 0
    retried: int = 0
    given_up: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


def _iso(moment: datetime) -> str:
    """The database's time format (`Database.now`), so times compare as strings."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class Notifier:
    """Turns changes of topics into follower DMs: `tick()` reads the feed and sends what is
    due, at most `pool` at a time; `run()` calls it every POLL_SECONDS until stopped."""

    def __init__(
        self,
        store: FollowStore,
        messenger: Messenger,
        clock: Callable[[], datetime],
        *,
        owns: Callable[[int], bool] = lambda guild_id: True,
        pool: int = POOL,
    ) -> None:
        if pool < 1:
            raise ValueError(f"pool must be at least 1, not {pool}")
        self.store = store
        self.messenger = messenger
        self.clock = clock
        self.owns = owns
        self.pool = pool
        # After a 40003 no DM goes out before this time, and the wait doubles each time.
        self.paused_until: datetime | None = None
        self._too_fast_wait = TOO_FAST_FIRST
        self._lock = asyncio.Lock()  # one pass at a time in this process
        # Set by `run`'s stop (shutdown): DMs in flight finish, no new one begins.
        self._stop: asyncio.Event | None = None

    async def scan(self) -> int:
        """Read the feed from the cursor to its end; owe a DM to each follower of each change
        of text. Returns how many DMs were owed."""
        cursor = await self.store.cursor()
        queued = 0
        while True:
            upto, batch = await self.store.feed(cursor, FEED_BATCH)
            if upto == cursor:
                return queued
            changed = [r for r in batch if text_change(r) is not None]
            cursor = upto
            queued += await self.store.enqueue(changed, cursor)

    async def tick(self) -> DeliveryReport:
        async with self._lock:
            report = DeliveryReport(queued=await self.scan())
            await self._deliver(report)
            return report

    async def run(
        self,
        stop: asyncio.Event,
        interval: float = POLL_SECONDS,
        *,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Once `ready` returns (the bot connected, so servers have names), tick until `stop`
        is set; a failed pass is logged and the next one tries again. Settled send records
        older than KEEP_SENDS are forgotten every PRUNE_EVERY."""
        self._stop = stop
        if ready is not None:
            waiting = asyncio.ensure_future(ready())
            stopping = asyncio.ensure_future(stop.wait())
            try:
                # A bot closed before it ever connected stops here instead of waiting forever.
                await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                stopping.cancel()
        pruned: datetime | None = None
        while not stop.is_set():
            try:
                now = self.clock()
                if pruned is None or now - pruned >= PRUNE_EVERY:
                    await self.store.prune(_iso(now - KEEP_SENDS))
                    pruned = now
                report = await self.tick()
                if report.sent or report.closed or report.too_fast:
                    log.info(
                        "follower DMs: %d sent, %d refused (closed DMs), %d unfollowed, "
                        "%d deferred (opening DMs too fast)",
                        report.sent,
                        report.closed,
                        report.unfollowed,
                        report.too_fast,
                    )
            except Exception:
                log.exception("the follow notifier's pass failed")
            try:
                async with asyncio.timeout(interval):
                    await stop.wait()
            except TimeoutError:
                pass

    def _paused(self) -> bool:
        return self.paused_until is not None and self.clock() < self.paused_until

    def _held(self) -> bool:
        """No DM may begin now: Discord asked to slow down, or the bot is stopping."""
        return self._paused() or (self._stop is not None and self._stop.is_set())

    async def _deliver(self, report: DeliveryReport) -> None:
        """Send every due DM of this process's servers, `pool` at a time, until none is left
        or Discord asks to slow down."""
        after = 0
        while not self._held():
            now = self.clock()
            batch = await self.store.due(_iso(now), _iso(now - LEASE), DUE_BATCH, after=after)
            if not batch:
                return
            after = batch[-1].send_id
            mine = iter([o for o in batch if self.owns(o.guild_id)])
            await asyncio.gather(*(self._worker(mine, report) for _ in range(self.pool)))

    async def _worker(self, jobs: Iterator[Owed], report: DeliveryReport) -> None:
        for owed in jobs:
            if self._held():
                return  # what is left stays pending, due as it was
            try:
                await self._one(owed, report)
            except Exception as exc:
                report.errors.append(f"{type(exc).__name__}: {exc}")
                log.exception("could not settle the follower DM %s", owed.send_id)

    async def _one(self, owed: Owed, report: DeliveryReport) -> None:
        # A claim cut off, or an attempt that failed uncertainly, may have reached the member.
        recovering = owed.state == "sending" or owed.attempts > 0
        claim = await self.store.claim(owed)
        if claim == "taken":
            return
        if claim == "gone":
            report.dropped += 1
            return
        dm = await self._dm(owed)
        if dm is None:
            await self.store.give_up(owed)
            report.given_up += 1
            return
        try:
            if recovering:
                found = await self.messenger.delivered(dm)
                if found is not None:
                    await self.store.sent(owed, found)
                    report.found += 1
                    return
            message_id = await self.messenger.send(dm)
        except DMsClosed:
            report.closed += 1
            if await self.store.refused(owed, FAILURES_TO_UNFOLLOW):
                report.unfollowed += 1
                log.info(
                    "unfollowed a member of server %s from %s after %d closed DMs",
                    owed.guild_id,
                    owed.slug,
                    FAILURES_TO_UNFOLLOW,
                )
            return
        except DMsTooFast:
            report.too_fast += 1
            if not self._paused():  # refusals of sends already in flight are the same one
                wait = self._too_fast_wait
                self._too_fast_wait = min(wait * 2, TOO_FAST_CAP)
                self.paused_until = self.clock() + wait
                log.warning("Discord says DMs are opened too fast; pausing them for %s", wait)
            assert self.paused_until is not None
            # Not an attempt: a refusal to open the DM channel sends nothing, and counted,
            # a few pauses in a row would leave one 5xx to give the DM up.
            await self.store.later(owed, _iso(self.paused_until), attempted=False)
            return
        except NotDelivered as exc:
            if owed.attempts + 1 >= MAX_ATTEMPTS:
                await self.store.give_up(owed)
                report.given_up += 1
                log.warning("gave up a follower DM after %d attempts: %s", MAX_ATTEMPTS, exc)
            else:
                wait = RETRY_FIRST * 2**owed.attempts
                await self.store.later(owed, _iso(self.clock() + wait))
                report.retried += 1
            return
        self._too_fast_wait = TOO_FAST_FIRST
        await self.store.sent(owed, message_id)
        report.sent += 1

    async def _dm(self, owed: Owed) -> FollowDM | None:
        """The DM for a send row, from the revisions it names (None if they are gone)."""
        after = await self.store.snapshot(owed.revision_id)
        before = None if owed.previous_id is None else await self.store.snapshot(owed.previous_id)
        if after is None or before is None:
            return None
        change = what_changed(before.content, after.content)
        if change is None:
            return None
        return FollowDM(
            owed.send_id,
            owed.guild_id,
            owed.user_id,
            owed.slug,
            owed.revision_id,
            after.content,
            change,
        )
