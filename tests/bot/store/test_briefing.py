"""The daily explainer's store: schedules, the daily claim, and a post's way to sent.

Every test runs on SQLite, then on PostgreSQL. The claim is the (server, local date) key of
briefing_posts: two processes claiming one day at once (two databases opened on one location)
make one post, and many servers claimed together each get exactly their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.store.briefing import TAKEN_WINDOW, BriefingStore, ClaimResult, Schedule, ThreadRequest
from bot.store.database import Database
from tests.clock import Clock

START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
DAY = date(2026, 11, 28)
GUILD, OTHER = 501, 502
LEASE = timedelta(minutes=10)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def store(open_db: Callable[[], Awaitable[Database]]) -> BriefingStore:
    return BriefingStore(await open_db())


def schedule(guild_id: int, **changes: object) -> Schedule:
    """A running schedule posting at 07:00 in Berlin (06:00 UTC), next due on DAY."""
    base = Schedule(
        guild_id=guild_id,
        channel_id=guild_id * 10,
        local_time="07:00",
        timezone="Europe/Berlin",
        paused_reason=None,
        next_due=START,
        next_local_date=DAY,
        next_topic=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def claim(
    store: BriefingStore, current: Schedule, day: date, slug: str, nonce: str
) -> ClaimResult:
    """Claim `day` as the scheduler does: the schedule moves to the next day's 06:00 UTC."""
    following = day + timedelta(days=1)
    return await store.claim(
        current,
        day,
        slug=slug,
        nonce=nonce,
        new_cycle=False,
        next_due=datetime(following.year, following.month, following.day, 6, tzinfo=UTC),
        next_local_date=following,
        now=START,
        lease=LEASE,
    )


# -- schedules --


async def test_a_schedule_is_saved_read_replaced_and_deleted_per_server(
    store: BriefingStore,
) -> None:
    mine = schedule(GUILD, next_topic="us-role", thread=True)
    theirs = schedule(OTHER, local_time="18:30", timezone="America/New_York")
    await store.save(mine)
    await store.save(theirs)
    assert await store.get(GUILD) == mine
    assert await store.get(OTHER) == theirs
    assert await store.get(503) is None
    moved = replace(mine, channel_id=77, thread=False, next_topic=None, paused_reason="no access")
    await store.save(moved)
    assert await store.get(GUILD) == moved
    assert await store.get(OTHER) == theirs
    assert await store.delete(GUILD)
    assert not await store.delete(GUILD)
    assert await store.get(GUILD) is None
    assert await store.get(OTHER) == theirs


async def test_due_lists_running_schedules_whose_time_has_come_most_overdue_first(
    store: BriefingStore,
) -> None:
    await store.save(schedule(1, next_due=START - timedelta(hours=2)))
    await store.save(schedule(2, next_due=START - timedelta(hours=5)))
    await store.save(schedule(3, next_due=START))  # due exactly now
    await store.save(schedule(4, next_due=START + timedelta(seconds=1)))  # not yet
    await store.save(schedule(5, next_due=START - timedelta(days=1), paused_reason="paused"))
    assert [s.guild_id for s in await store.due(START)] == [2, 1, 3]
    assert [s.guild_id for s in await store.due(START + timedelta(days=1))] == [2, 1, 3, 4]
    assert await store.due(START - timedelta(days=1)) == []


async def test_update_edits_what_is_committed_and_sees_the_days_already_posted_nearby(
    store: BriefingStore,
) -> None:
    seen: list[tuple[Schedule | None, frozenset[date]]] = []

    def record(result: Schedule | None) -> Callable[[Schedule | None, frozenset[date]], Any]:
        def edit(current: Schedule | None, taken: frozenset[date]) -> Schedule | None:
            seen.append((current, taken))
            return result

        return edit

    created = schedule(GUILD, local_time="09:15")
    assert await store.update(GUILD, record(created), around=DAY) == created
    assert seen == [(None, frozenset())]
    assert await store.get(GUILD) == created
    # This server's posts: DAY (claimed), and two skipped days, one of them beyond the window
    # around DAY; another server's post on a day between.
    assert await claim(store, created, DAY, "us-role", "n1") == "claimed"
    edge, beyond = DAY + TAKEN_WINDOW, DAY + TAKEN_WINDOW + timedelta(days=1)
    for day in (edge, beyond):
        current = await store.get(GUILD)
        assert current is not None
        assert await store.skip(
            current, day, reason="missed", next_due=START, next_local_date=day, now=START
        )
    await store.save(schedule(OTHER))
    assert await claim(store, schedule(OTHER), DAY + timedelta(days=1), "x", "n2") == "claimed"
    current = await store.get(GUILD)
    seen.clear()
    assert await store.update(GUILD, record(None), around=DAY) == current  # nothing written
    assert seen == [(current, frozenset({DAY, edge}))]
    seen.clear()
    assert await store.update(GUILD, record(current), around=beyond) == current
    assert seen == [(current, frozenset({edge, beyond}))]
    assert await store.get(GUILD) == current
    with pytest.raises(ValueError, match="refused"):

        def refuse(current: Schedule | None, taken: frozenset[date]) -> Schedule | None:
            raise ValueError("refused")

        await store.update(GUILD, refuse, around=DAY)
    assert await store.get(GUILD) == current


# -- the daily claim --


async def test_a_claim_takes_the_day_once_and_moves_the_schedule_and_rotation_on(
    store: BriefingStore,
) -> None:
    first = schedule(GUILD, next_topic="nato-purpose")
    await store.save(first)
    assert await claim(store, first, DAY, "nato-purpose", "n1") == "claimed"
    post = await store.post(GUILD, DAY)
    assert post is not None
    assert (post.slug, post.channel_id, post.nonce, post.status) == (
        "nato-purpose",
        GUILD * 10,
        "n1",
        "claimed",
    )
    assert post.retry_at == START + LEASE
    assert await store.shown(GUILD) == {"nato-purpose"}
    after = await store.get(GUILD)
    assert after is not None
    assert (after.next_local_date, after.next_topic) == (DAY + timedelta(days=1), None)
    # The scheduler's view is out of date: nothing is written.
    assert await claim(store, first, DAY, "us-role", "n2") == "changed"
    assert await store.get(GUILD) == after
    # The day claimed already (say, by another process): only the schedule moves on.
    picked = replace(after, next_topic="us-role")
    await store.save(picked)
    assert await claim(store, picked, DAY, "us-role", "n3") == "taken"
    assert await store.posts(GUILD) == [post]
    assert await store.shown(GUILD) == {"nato-purpose"}
    moved = await store.get(GUILD)
    assert moved is not None and moved.next_topic == "us-role"  # a pick not used stays
    assert moved.next_local_date == DAY + timedelta(days=1)
    # A new cycle starts the rotation again.
    assert (
        await store.claim(
            moved,
            DAY + timedelta(days=1),
            slug="us-role",
            nonce="n4",
            new_cycle=True,
            next_due=START + timedelta(days=2),
            next_local_date=DAY + timedelta(days=2),
            now=START,
            lease=LEASE,
        )
        == "claimed"
    )
    assert await store.shown(GUILD) == {"us-role"}
    assert [p.nonce for p in await store.posts(GUILD)] == ["n1", "n4"]


async def test_two_processes_claiming_one_day_at_once_make_one_post(
    open_db: Callable[[], Awaitable[Database]],
) -> None:
    one, two = BriefingStore(await open_db()), BriefingStore(await open_db())
    current = schedule(GUILD)
    await one.save(current)
    for attempt in range(5):
        day = DAY + timedelta(days=attempt)
        read_by_one, read_by_two = await one.get(GUILD), await two.get(GUILD)
        assert read_by_one is not None and read_by_one == read_by_two
        results = await asyncio.gather(
            claim(one, read_by_one, day, "us-role", f"one-{attempt}"),
            claim(two, read_by_two, day, "us-role", f"two-{attempt}"),
        )
        assert sorted(results) == ["changed", "claimed"]
        winner = "one" if results[0] == "claimed" else "two"
        (post,) = [p for p in await two.posts(GUILD) if p.local_date == day]
        assert post.nonce == f"{winner}-{attempt}"
    assert len(await one.posts(GUILD)) == 5
    after = await one.get(GUILD)
    assert after is not None and after.next_local_date == DAY + timedelta(days=5)


async def test_the_days_key_alone_lets_one_of_two_processes_claim_it(
    open_db: Callable[[], Awaitable[Database]],
) -> None:
    """Claims that leave the schedule as it was (both pass the check that it is unchanged):
    the (server, local date) key decides, and the loser's row count says "taken"."""
    one, two = BriefingStore(await open_db()), BriefingStore(await open_db())
    current = schedule(GUILD)
    await one.save(current)

    async def claim_in_place(store: BriefingStore, nonce: str) -> ClaimResult:
        return await store.claim(
            current,
            DAY,
            slug="us-role",
            nonce=nonce,
            new_cycle=False,
            next_due=current.next_due,
            next_local_date=current.next_local_date,
            now=START,
            lease=LEASE,
        )

    results = await asyncio.gather(claim_in_place(one, "one"), claim_in_place(two, "two"))
    assert sorted(results) == ["claimed", "taken"]
    (post,) = await one.posts(GUILD)
    assert post.nonce == ("one" if results[0] == "claimed" else "two")
    assert await two.get(GUILD) == current


async def test_many_servers_claimed_by_two_processes_at_once_each_get_their_own_post(
    open_db: Callable[[], Awaitable[Database]],
) -> None:
    one, two = BriefingStore(await open_db()), BriefingStore(await open_db())
    guilds = range(1000, 1050)
    for guild in guilds:
        await one.save(schedule(guild, channel_id=guild + 1))
    current = {guild: schedule(guild, channel_id=guild + 1) for guild in guilds}
    results = await asyncio.gather(
        *(
            claim(store, current[guild], DAY, f"topic-{guild}", f"{name}-{guild}")
            for guild in guilds
            for store, name in ((one, "one"), (two, "two"))
        )
    )
    by_guild = dict(zip(guilds, zip(results[::2], results[1::2], strict=True), strict=True))
    for guild in guilds:
        assert sorted(by_guild[guild]) == ["changed", "claimed"]
        winner = "one" if by_guild[guild][0] == "claimed" else "two"
        (post,) = await two.posts(guild)
        assert (post.local_date, post.slug, post.channel_id, post.nonce) == (
            DAY,
            f"topic-{guild}",
            guild + 1,
            f"{winner}-{guild}",
        )
        assert await one.shown(guild) == {f"topic-{guild}"}
        after = await one.get(guild)
        assert after is not None and after.next_local_date == DAY + timedelta(days=1)
    async with one.db.conn.execute("SELECT count(*) FROM briefing_posts") as cursor:
        row = await cursor.fetchone()
    assert row is not None and int(row[0]) == len(guilds)


# -- a post's way to sent --


async def test_a_claimed_post_is_retried_taken_over_once_and_settled(
    store: BriefingStore,
) -> None:
    await store.save(schedule(GUILD))
    await store.save(schedule(OTHER))
    assert await claim(store, schedule(GUILD), DAY, "us-role", "n1") == "claimed"
    assert await claim(store, schedule(OTHER), DAY, "us-role", "n2") == "claimed"
    assert await store.pending(START) == []  # leased to the claimer
    later = START + LEASE
    assert sorted(p.guild_id for p in await store.pending(later)) == [GUILD, OTHER]
    await store.retry_later(
        GUILD, DAY, retry_at=later + timedelta(minutes=5), error="503", recovery="wait"
    )
    assert [p.guild_id for p in await store.pending(later)] == [OTHER]  # not before its time
    retry = later + timedelta(minutes=5)
    (post,) = [p for p in await store.pending(retry) if p.guild_id == GUILD]
    assert (post.attempts, post.error, post.recovery) == (1, "503", "wait")
    # Of two processes resuming the post as they read it, one takes it over.
    assert await store.take_over(post, retry, LEASE)
    assert not await store.take_over(post, retry, LEASE)
    assert [p.guild_id for p in await store.pending(retry)] == [OTHER]
    await store.record_message(GUILD, DAY, 4242)
    await store.finish(GUILD, DAY, "sent", now=retry)
    sent = await store.post(GUILD, DAY)
    assert sent is not None
    assert (sent.status, sent.message_id, sent.sent_at, sent.retry_at) == (
        "sent",
        4242,
        retry.isoformat(),
        None,
    )
    assert sent.thread_state is None  # none asked for
    await store.record_message(GUILD, DAY, 1)  # only while claimed
    assert (await store.post(GUILD, DAY)).message_id == 4242  # type: ignore[union-attr]
    assert await store.last_post(GUILD) == sent
    other = await store.post(OTHER, DAY)
    assert other is not None and (other.status, other.message_id) == ("claimed", None)


async def test_a_failure_may_pause_the_server_and_a_skipped_day_is_not_a_last_post(
    store: BriefingStore,
) -> None:
    await store.save(schedule(GUILD))
    assert await claim(store, schedule(GUILD), DAY, "us-role", "n1") == "claimed"
    await store.finish(
        GUILD, DAY, "failed", now=START, error="403 Forbidden", pause_reason="no access"
    )
    failed = await store.post(GUILD, DAY)
    assert failed is not None
    assert (failed.status, failed.error, failed.sent_at) == ("failed", "403 Forbidden", None)
    paused = await store.get(GUILD)
    assert paused is not None and paused.paused_reason == "no access"
    assert await store.due(START + timedelta(days=3)) == []
    # A skip only writes if the schedule is still the one read.
    next_day = DAY + timedelta(days=1)
    assert not await store.skip(
        schedule(GUILD), next_day, reason="missed", next_due=START, next_local_date=DAY, now=START
    )
    assert await store.skip(
        paused,
        next_day,
        reason="missed while offline",
        next_due=START + timedelta(days=2),
        next_local_date=DAY + timedelta(days=2),
        now=START,
    )
    skipped = await store.post(GUILD, next_day)
    assert skipped is not None
    assert (skipped.status, skipped.error, skipped.slug) == (
        "skipped",
        "missed while offline",
        None,
    )
    assert await store.last_post(GUILD) == failed
    moved = await store.get(GUILD)
    assert moved is not None and moved.next_local_date == DAY + timedelta(days=2)


async def test_a_discussion_thread_is_asked_for_once_with_the_sent_post_and_settled_once(
    store: BriefingStore,
) -> None:
    await store.save(schedule(GUILD, thread=True))
    await store.save(schedule(OTHER, thread=True))
    for guild in (GUILD, OTHER):
        assert await claim(store, schedule(guild, thread=True), DAY, "us-role", "n") == "claimed"
    lease_until = START + LEASE
    await store.finish(
        GUILD,
        DAY,
        "sent",
        now=START,
        message_id=9,
        thread=ThreadRequest(channel_id=555, name="US role", lease_until=lease_until),
    )
    # A thread is asked for with a sent post only.
    await store.finish(
        OTHER,
        DAY,
        "failed",
        now=START,
        error="gone",
        thread=ThreadRequest(channel_id=556, name="No", lease_until=lease_until),
    )
    other = await store.post(OTHER, DAY)
    assert other is not None and (other.thread_state, other.thread_name) == (None, None)
    post = await store.post(GUILD, DAY)
    assert post is not None
    assert (post.thread_state, post.thread_name, post.channel_id, post.thread_retry_at) == (
        "pending",
        "US role",
        555,
        lease_until,
    )
    # Recorded as sent again (a retried confirmation): the first request stands.
    await store.finish(
        GUILD,
        DAY,
        "sent",
        now=START,
        thread=ThreadRequest(channel_id=555, name="Another", lease_until=START),
    )
    assert await store.post(GUILD, DAY) == post
    assert await store.threads_pending(START) == []  # leased
    (pending,) = await store.threads_pending(lease_until)
    assert await store.take_thread(pending, lease_until, LEASE)
    assert not await store.take_thread(pending, lease_until, LEASE)  # taken once
    retry = lease_until + LEASE
    await store.thread_later(GUILD, DAY, retry_at=retry, error="502")
    (again,) = await store.threads_pending(retry)
    assert (again.thread_attempts, again.thread_error) == (1, "502")
    await store.thread_opened(GUILD, DAY, 321)
    await store.thread_failed(GUILD, DAY, "too late")  # settled once: no change
    opened = await store.post(GUILD, DAY)
    assert opened is not None
    assert (opened.thread_state, opened.thread_id, opened.thread_error) == ("opened", 321, None)
    assert opened.thread_retry_at is None
    assert await store.threads_pending(retry + LEASE) == []
