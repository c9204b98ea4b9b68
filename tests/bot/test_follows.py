"""The follows domain without Discord: what counts as a change of text and how it is summed
up, following and its cap, and the notifier's order of claim, send and settle (a crash between
them never sends twice), its pool, its retries and its servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import BriefbotError, LimitReached, SectionNotFound
from bot.follows import (
    CHANGES_RATE,
    CHANGES_SECONDS,
    FAILURES_TO_UNFOLLOW,
    LEASE,
    MAX_ATTEMPTS,
    RETRY_FIRST,
    TOO_FAST_CAP,
    TOO_FAST_FIRST,
    DMsClosed,
    DMsTooFast,
    FollowDM,
    Follows,
    NotDelivered,
    Notifier,
    sentences,
    what_changed,
)
from bot.limits import AskingTooQuickly
from bot.scope import CURATED, NO_SERVER
from bot.sections import SectionContent, Source
from bot.service import BriefingService
from bot.store.follows import FollowStore
from tests.clock import Clock
from tests.conftest import KNOWLEDGE

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
GUILD, OTHER = 601, 602
TOPIC = "berlin-talks"
BASE = SectionContent(
    slug="x",
    title="Title",
    body="One. Two is here. Three!",
    sources=(Source("A", "https://a.example/"),),
)


def test_sentences_split_on_ends_and_lines_and_fold_spaces() -> None:
    assert sentences("One.  Two?\nThree  words\n\nFour!") == [
        "One.",
        "Two?",
        "Three words",
        "Four!",
    ]
    assert sentences("   ") == []


def test_only_title_body_and_sources_are_a_change_of_text() -> None:
    assert what_changed(BASE, replace(BASE, aliases=("new alias",), tags=("t",))) is None
    assert what_changed(BASE, replace(BASE, position=9)) is None
    assert what_changed(BASE, replace(BASE, body="One.  Two is here.\nThree!")) is not None


def test_what_changed_lists_sentences_added_and_removed_and_the_rest() -> None:
    after = replace(
        BASE,
        title="New title",
        body="One. Two is now there. Three! Four.",
        sources=(Source("B", "https://b.example/"),),
    )
    change = what_changed(BASE, after)
    assert change is not None
    assert change.added == ("Two is now there.", "Four.")
    assert change.removed == ("Two is here.",)
    assert change.old_title == "Title"
    assert change.sources_added == (Source("B", "https://b.example/"),)
    assert change.sources_removed == (Source("A", "https://a.example/"),)
    assert not change.empty


class Inbox:
    """A Messenger that keeps what it was given; `fail` says what the next sends raise."""

    def __init__(self) -> None:
        self.sent: list[FollowDM] = []
        self.fail: list[Exception] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.crash_after_send = False
        # Sends wait until this many are in flight at once (then never again): the pool's
        # bound is seen, not guessed from timing.
        self.gate: int | None = None
        self._open = asyncio.Event()

    async def send(self, dm: FollowDM) -> int:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None and not self._open.is_set():
                if self.in_flight >= self.gate:
                    self._open.set()
                await self._open.wait()
            if self.fail:
                raise self.fail.pop(0)
            self.sent.append(dm)
            if self.crash_after_send:
                raise asyncio.CancelledError  # the process dies before it can record the send
            return len(self.sent)
        finally:
            self.in_flight -= 1

    async def delivered(self, dm: FollowDM) -> int | None:
        ids = [i + 1 for i, d in enumerate(self.sent) if d.user_id == dm.user_id]
        same = [i for i in ids if self.sent[i - 1].revision_id == dm.revision_id]
        return same[0] if same else None


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def service(tmp_path: Path, clock: Clock) -> AsyncIterator[BriefingService]:
    opened = await BriefingService.open(tmp_path / "db.sqlite3", KNOWLEDGE, clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
def follows(service: BriefingService) -> Follows:
    return Follows(service, FollowStore(service.db), cap=3)


async def edit(service: BriefingService, guild_id: int, body: str) -> None:
    seen = await service.sections.get(guild_id, TOPIC) or await service.sections.get(CURATED, TOPIC)
    assert seen is not None
    await service.sections.save_for_guild(
        guild_id, replace(seen.content, body=body), opened=seen.version, author="m", author_id=1
    )
    await service.refresh(guild_id)


async def section_id(service: BriefingService, guild_id: int, slug: str = TOPIC) -> int:
    return service.find(slug, guild_id).id


async def test_follow_needs_a_topic_the_server_sees_and_keeps_to_the_cap(
    service: BriefingService, follows: Follows
) -> None:
    await edit(service, OTHER, "Other's own text.")
    own = await section_id(service, OTHER)
    with pytest.raises(SectionNotFound):  # another server's own section id
        await follows.follow(GUILD, 1, own)
    with pytest.raises(BriefbotError, match="in a server"):
        await follows.follow(NO_SERVER, 1, await section_id(service, GUILD))
    slugs = [t.slug for t in service.topics(GUILD)][:4]
    for slug in slugs[:3]:
        assert (await follows.follow(GUILD, 1, await section_id(service, GUILD, slug))).new
    assert not (await follows.follow(GUILD, 1, await section_id(service, GUILD, slugs[0]))).new
    with pytest.raises(LimitReached, match="3 topics"):
        await follows.follow(GUILD, 1, await section_id(service, GUILD, slugs[3]))
    assert [f.slug for f in await follows.of_member(GUILD, 1)] == slugs[:3]
    gone = await follows.unfollow(GUILD, 1, slugs[0])
    assert gone.new and gone.shown
    assert not (await follows.unfollow(GUILD, 1, slugs[0])).new


async def test_a_follower_gets_one_dm_per_change_and_none_for_an_alias(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    inbox = Inbox()
    notifier = Notifier(follows.store, inbox, clock)
    await notifier.tick()  # the feed starts here
    await follows.follow(GUILD, 1, await section_id(service, GUILD))
    seen = await service.sections.get(CURATED, TOPIC)
    assert seen is not None
    await service.sections.save_for_guild(
        GUILD,
        replace(seen.content, aliases=(*seen.content.aliases, "the berlin meeting")),
        opened=seen.version,
        author="m",
        author_id=1,
    )
    assert (await notifier.tick()).queued == 0
    await edit(service, GUILD, "A new account. With two sentences.")
    report = await notifier.tick()
    assert (report.queued, report.sent) == (1, 1)
    (dm,) = inbox.sent
    assert dm.guild_id == GUILD and dm.slug == TOPIC
    assert dm.change.added == ("A new account.", "With two sentences.")
    assert (await notifier.tick()).queued == 0
    assert len(inbox.sent) == 1


async def test_a_crash_after_the_send_is_settled_by_looking_not_by_sending_again(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    inbox = Inbox()
    notifier = Notifier(follows.store, inbox, clock)
    await notifier.tick()
    await follows.follow(GUILD, 1, await section_id(service, GUILD))
    await edit(service, GUILD, "Changed.")
    inbox.crash_after_send = True
    with pytest.raises(asyncio.CancelledError):
        await notifier.tick()
    inbox.crash_after_send = False
    restarted = Notifier(follows.store, inbox, clock)
    assert (await restarted.tick()).sent == 0  # the claim is young: maybe still in flight
    clock.advance(seconds=LEASE.total_seconds() + 1)
    report = await restarted.tick()
    assert (report.found, report.sent) == (1, 0)
    assert len(inbox.sent) == 1
    assert await follows.store.states() == {"sent": 1}


async def test_uncertain_failures_are_retried_later_looked_up_first_and_given_up_at_last(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    inbox = Inbox()
    notifier = Notifier(follows.store, inbox, clock)
    await notifier.tick()
    await follows.follow(GUILD, 1, await section_id(service, GUILD))
    await edit(service, GUILD, "Changed.")
    inbox.fail = [NotDelivered("HTTP 503")] * MAX_ATTEMPTS
    for attempt in range(MAX_ATTEMPTS):
        report = await notifier.tick()
        assert report.retried + report.given_up == 1
        assert (await notifier.tick()).sent == 0  # not before its time
        clock.advance(seconds=(RETRY_FIRST * 2**attempt).total_seconds())
    assert await follows.store.states() == {"failed": 1}
    assert inbox.sent == []


async def test_closed_dms_count_against_the_follow_until_it_is_removed(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    inbox = Inbox()
    notifier = Notifier(follows.store, inbox, clock)
    await notifier.tick()
    await follows.follow(GUILD, 1, await section_id(service, GUILD))
    for i in range(FAILURES_TO_UNFOLLOW):
        inbox.fail = [DMsClosed("50007")]
        await edit(service, GUILD, f"Change {i}.")
        report = await notifier.tick()
        assert report.closed == 1
    assert report.unfollowed == 1
    assert await follows.of_member(GUILD, 1) == []


async def test_the_pool_bounds_sends_in_flight_and_each_process_sends_for_its_servers(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    inbox = Inbox()
    mine = Notifier(follows.store, inbox, clock, owns=lambda g: g == GUILD, pool=3)
    await mine.tick()
    target = await section_id(service, GUILD)
    for user in range(1, 21):
        follows.cap = 25
        await follows.follow(GUILD, user, target)
        await follows.follow(OTHER, user, target)
    pack = [s.content for s in await service.sections.in_scope(CURATED)]
    await service.sections.import_curated(
        [replace(c, body="A curated update.") if c.slug == TOPIC else c for c in pack]
    )
    inbox.gate = 3
    async with asyncio.timeout(10):  # a pool under 3 would never open the gate
        report = await mine.tick()
    assert report.queued == 40 and report.sent == 20
    assert {dm.guild_id for dm in inbox.sent} == {GUILD}
    assert inbox.most_in_flight == 3
    theirs = Notifier(follows.store, inbox, clock, owns=lambda g: g == OTHER)
    assert (await theirs.tick()).sent == 20
    assert sorted((d.guild_id, d.user_id) for d in inbox.sent) == sorted(
        [(g, u) for g in (GUILD, OTHER) for u in range(1, 21)]
    )


async def test_settled_sends_are_forgotten_after_a_month_and_not_owed_again(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    inbox = Inbox()
    notifier = Notifier(follows.store, inbox, clock)
    await notifier.tick()
    await follows.follow(GUILD, 1, await section_id(service, GUILD))
    await edit(service, GUILD, "Changed.")
    await notifier.tick()
    clock.advance(days=31)
    await follows.store.prune(clock.iso())
    assert await follows.store.states() == {}
    assert (await notifier.tick()).queued == 0
    assert len(inbox.sent) == 1


async def test_run_stops_when_told_even_if_the_bot_never_connected(
    follows: Follows, clock: Clock
) -> None:
    never = asyncio.Event()
    stop = asyncio.Event()
    notifier = Notifier(follows.store, Inbox(), clock)
    running = asyncio.create_task(notifier.run(stop, 0.01, ready=never.wait))
    stop.set()
    async with asyncio.timeout(5):
        await running
    assert await follows.store.states() == {}


async def test_too_fast_pauses_every_send_once_per_burst_and_doubles_when_it_comes_back(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    inbox = Inbox()
    notifier = Notifier(follows.store, inbox, clock, pool=3)
    await notifier.tick()
    follows.cap = 25
    target = await section_id(service, GUILD)
    for user in range(1, 7):
        await follows.follow(GUILD, user, target)
    await edit(service, GUILD, "Changed.")
    inbox.gate = 3  # three sends in flight when Discord refuses them all
    inbox.fail = [DMsTooFast("40003")] * 3
    async with asyncio.timeout(10):
        report = await notifier.tick()
    assert (report.too_fast, report.sent) == (3, 0)  # no send begun after the refusals
    assert notifier.paused_until == START + TOO_FAST_FIRST  # one pause for the burst
    assert (await notifier.tick()).sent == 0
    clock.advance(seconds=TOO_FAST_FIRST.total_seconds())
    inbox.fail = [DMsTooFast("40003")]
    report = await notifier.tick()
    assert report.too_fast == 1 and report.sent <= 2  # those in flight with it go on
    assert notifier.paused_until == clock.now + 2 * TOO_FAST_FIRST  # back again: doubled
    clock.advance(seconds=2 * TOO_FAST_FIRST.total_seconds())
    await notifier.tick()
    assert await follows.store.states() == {"sent": 6}
    assert sorted(dm.user_id for dm in inbox.sent) == [1, 2, 3, 4, 5, 6]


async def test_following_and_unfollowing_in_a_loop_is_slowed_per_member_per_server(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    target = await section_id(service, GUILD)
    for i in range(CHANGES_RATE):
        if i % 2:
            await follows.unfollow(GUILD, 1, TOPIC)
        else:
            await follows.follow(GUILD, 1, target)
    with pytest.raises(AskingTooQuickly, match="wait 60 seconds"):
        await follows.follow(GUILD, 1, target)
    await follows.follow(OTHER, 1, await section_id(service, OTHER))  # another server: its own
    await follows.follow(GUILD, 2, target)  # another member: theirs
    clock.advance(seconds=CHANGES_SECONDS)
    assert (await follows.follow(GUILD, 1, target)).new


async def test_pauses_for_opening_dms_too_fast_are_not_counted_as_attempts(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    """A DM refused with 40003 was never sent: however often Discord says so, the DM still
    gets its MAX_ATTEMPTS tries for the failures that may pass (a 5xx)."""
    inbox = Inbox()
    notifier = Notifier(follows.store, inbox, clock)
    await notifier.tick()
    await follows.follow(GUILD, 1, await section_id(service, GUILD))
    await edit(service, GUILD, "Changed.")
    inbox.fail = [DMsTooFast("40003")] * (MAX_ATTEMPTS - 1) + [NotDelivered("HTTP 503")]
    for _ in range(MAX_ATTEMPTS + 1):
        report = await notifier.tick()
        assert report.given_up == 0
        clock.advance(seconds=TOO_FAST_CAP.total_seconds())
    assert await follows.store.states() == {"sent": 1}
    assert len(inbox.sent) == 1


async def test_a_fan_out_stops_taking_dms_when_the_bot_stops(
    service: BriefingService, follows: Follows, clock: Clock
) -> None:
    """Shutdown waits for the notifier: the DMs in flight finish, no new one begins (the rest
    stay owed, sent after the restart), so a long fan-out does not hold shutdown to its grace
    and get cut off mid-send."""
    stop = asyncio.Event()

    class Stopping(Inbox):
        async def send(self, dm: FollowDM) -> int:
            sent = await super().send(dm)
            stop.set()  # SIGTERM arrives while the first DM is on its way
            return sent

    inbox = Stopping()
    notifier = Notifier(follows.store, inbox, clock, pool=1)
    await notifier.tick()
    follows.cap = 25
    target = await section_id(service, GUILD)
    for user in range(1, 11):
        await follows.follow(GUILD, user, target)
    await edit(service, GUILD, "Changed.")
    async with asyncio.timeout(5):
        await notifier.run(stop, 0.01)
    assert await follows.store.states() == {"sent": 1, "pending": 9}
    restarted = Notifier(follows.store, inbox, clock)
    await restarted.tick()
    assert await follows.store.states() == {"sent": 10}
    assert sorted(dm.user_id for dm in inbox.sent) == list(range(1, 11))
