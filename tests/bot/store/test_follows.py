"""Follows and their send record: the cap, the change feed over revisions (with what each
change's followers saw before it), who is owed a DM for a change, and claiming and settling a
send exactly once. Every test writes the same members and topics in several servers, and runs
on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.scope import CURATED
from bot.service import BriefingService
from bot.store.database import SQLITE, SqliteDatabase
from bot.store.follows import CURSOR_KEY, FollowStore, _owe_curated
from bot.store.guilds import GuildData
from tests.clock import Clock
from tests.conftest import KNOWLEDGE

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
GUILD, OTHER, OVERRIDES = 501, 502, 503
ALICE, BOB = 11, 12
TOPIC = "berlin-talks"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def service(database_location: str, clock: Clock) -> AsyncIterator[BriefingService]:
    """The curated pack in a database: a SQLite file, then PostgreSQL (each test runs on both)."""
    opened = await BriefingService.open(database_location, KNOWLEDGE, clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
def store(service: BriefingService) -> FollowStore:
    return FollowStore(service.db)


async def edit(service: BriefingService, guild_id: int, body: str, slug: str = TOPIC) -> int:
    """A server's edit of what it sees under `slug`; the new revision's id."""
    own = await service.sections.get(guild_id, slug)
    seen = own or await service.sections.get(CURATED, slug)
    assert seen is not None
    await service.sections.save_for_guild(
        guild_id,
        replace(seen.content, body=body),
        opened=seen.version,
        author="mod",
        author_id=7,
    )
    return await FollowStore(service.db).newest_revision()


async def curated_update(service: BriefingService, body: str, slug: str = TOPIC) -> int:
    pack = [s.content for s in await service.sections.in_scope(CURATED)]
    pack = [replace(c, body=body) if c.slug == slug else c for c in pack]
    await service.sections.import_curated(pack)
    return await FollowStore(service.db).newest_revision()


async def test_a_member_follows_a_topic_once_per_server_up_to_the_cap(store: FollowStore) -> None:
    assert await store.add(GUILD, ALICE, TOPIC, cap=2) == "added"
    assert await store.add(GUILD, ALICE, TOPIC, cap=2) == "already"
    assert await store.add(OTHER, ALICE, TOPIC, cap=2) == "added"  # another server: its own
    assert await store.add(GUILD, ALICE, "us-role", cap=2) == "added"
    assert await store.add(GUILD, ALICE, "nato-purpose", cap=2) == "full"
    assert await store.add(GUILD, BOB, "nato-purpose", cap=2) == "added"  # caps are per member
    assert await store.of_member(GUILD, ALICE) == [TOPIC, "us-role"]
    assert await store.of_member(OTHER, ALICE) == [TOPIC]
    assert await store.remove(GUILD, ALICE, TOPIC)
    assert not await store.remove(GUILD, ALICE, TOPIC)
    assert await store.of_member(OTHER, ALICE) == [TOPIC]


async def test_the_feed_starts_at_the_newest_revision_and_pairs_each_with_what_came_before(
    service: BriefingService, store: FollowStore
) -> None:
    start = await store.cursor()
    assert start == await store.newest_revision() > 0  # the pack's history is not news
    assert await service.db.get_meta(CURSOR_KEY) == str(start)
    original = await service.sections.get(CURATED, TOPIC)
    assert original is not None
    await store.add(GUILD, ALICE, TOPIC, cap=25)
    first = await edit(service, GUILD, "First override.")
    second = await edit(service, GUILD, "Second override.")
    curated = await curated_update(service, "A new curated text.")
    upto, feed = await store.feed(start, 10)
    assert upto == curated
    assert [r.revision_id for r in feed] == [first, second, curated]
    override, again, pack = feed
    # A server's first copy of a curated topic follows the curated text as it stood.
    assert override.guild_id == GUILD and override.before is not None
    assert override.before.content.body == original.content.body
    assert override.before.revision_id < first
    assert again.before is not None and again.before.content.body == "First override."
    assert pack.guild_id is None and pack.before is not None
    assert pack.before.content.body == original.content.body
    assert pack.after.content.body == "A new curated text."
    assert await store.feed(curated, 10) == (curated, [])


async def test_the_feed_passes_over_topics_no_one_follows_where_they_changed(
    service: BriefingService, store: FollowStore
) -> None:
    start = await store.cursor()
    await store.add(GUILD, ALICE, TOPIC, cap=25)
    await edit(service, OTHER, "Another server's copy: no one follows it there.")
    await edit(service, GUILD, "Another topic here.", slug="us-role")
    followed = await edit(service, GUILD, "The topic followed here.")
    upto, feed = await store.feed(start, 2)  # a batch ends where its revisions do
    assert (upto, feed) == (start + 2, [])
    upto, feed = await store.feed(upto, 2)
    assert upto == followed and [r.revision_id for r in feed] == [followed]


async def test_a_change_is_owed_to_the_servers_followers_who_see_it_and_only_once(
    service: BriefingService, store: FollowStore
) -> None:
    start = await store.cursor()
    for guild in (GUILD, OTHER, OVERRIDES):
        await store.add(guild, ALICE, TOPIC, cap=25)
    await store.add(GUILD, BOB, "us-role", cap=25)
    await edit(service, OVERRIDES, "This server's own text.")
    pack = await curated_update(service, "A new curated text.")
    _, feed = await store.feed(start, 10)
    override, curated = feed
    # The server's own edit: its follower only.
    assert await store.enqueue([override], override.revision_id) == 1
    # The curated change: followers where the server shows the curated text (not OVERRIDES).
    assert await store.enqueue([curated], pack) == 2
    assert await store.enqueue([override, curated], pack) == 0  # found again: nothing new
    assert await store.cursor() == pack
    due = await store.due("9999", "0000", 100)
    assert sorted((o.guild_id, o.revision_id) for o in due) == sorted(
        [(OVERRIDES, override.revision_id), (GUILD, pack), (OTHER, pack)]
    )
    # The cursor never goes back, whoever moves it.
    await store.enqueue([], start)
    assert await store.cursor() == pack


async def test_a_member_who_followed_after_a_change_is_not_owed_it(
    service: BriefingService, store: FollowStore
) -> None:
    start = await store.cursor()
    revision = await edit(service, GUILD, "Changed before Bob followed.")
    await store.add(GUILD, BOB, TOPIC, cap=25)
    _, (change,) = await store.feed(start, 10)
    assert await store.enqueue([change], revision) == 0


async def test_a_send_is_claimed_once_settled_once_and_dropped_if_unfollowed(
    service: BriefingService, store: FollowStore, clock: Clock
) -> None:
    start = await store.cursor()
    await store.add(GUILD, ALICE, TOPIC, cap=25)
    await store.add(GUILD, BOB, TOPIC, cap=25)
    await edit(service, GUILD, "Changed.")
    _, feed = await store.feed(start, 10)
    await store.enqueue(feed, feed[-1].revision_id)
    now = clock.iso()
    alice, bob = await store.due(now, "0000", 10)
    assert await store.claim(alice) == "claimed"
    assert await store.claim(alice) == "taken"  # the same row read before the claim
    assert await store.due(now, "0000", 10) == [bob]  # a fresh claim is not stale
    await store.remove(GUILD, BOB, TOPIC)
    assert await store.claim(bob) == "gone"
    await store.sent(alice, 999)
    assert await store.states() == {"sent": 1, "dropped": 1}
    assert await store.due(now, "9999", 10) == []


async def test_a_claim_cut_off_comes_back_after_the_lease_and_refusals_unfollow_at_the_limit(
    service: BriefingService, store: FollowStore, clock: Clock
) -> None:
    start = await store.cursor()
    await store.add(GUILD, ALICE, TOPIC, cap=25)
    for i in range(3):
        await edit(service, GUILD, f"Change {i}.")
    _, feed = await store.feed(start, 10)
    await store.enqueue(feed, feed[-1].revision_id)
    first, second, third = await store.due(clock.iso(), "0000", 10)
    assert await store.claim(first) == "claimed"
    clock.advance(minutes=5)
    (stale,) = await store.due(clock.iso(), "9999", 1)
    assert stale.send_id == first.send_id and stale.state == "sending"
    assert await store.claim(stale) == "claimed"
    assert not await store.refused(stale, 3)
    assert await store.failures(GUILD, ALICE, TOPIC) == 1
    await store.claim(second)
    assert not await store.refused(second, 3)
    await store.claim(third)
    assert await store.refused(third, 3)  # the third refusal in a row unfollows
    assert await store.failures(GUILD, ALICE, TOPIC) is None
    assert await store.of_member(GUILD, ALICE) == []


async def test_a_delivered_dm_forgets_earlier_refusals(
    service: BriefingService, store: FollowStore, clock: Clock
) -> None:
    start = await store.cursor()
    await store.add(GUILD, ALICE, TOPIC, cap=25)
    await edit(service, GUILD, "One.")
    await edit(service, GUILD, "Two.")
    _, feed = await store.feed(start, 10)
    await store.enqueue(feed, feed[-1].revision_id)
    first, second = await store.due(clock.iso(), "0000", 10)
    await store.claim(first)
    await store.refused(first, 3)
    await store.claim(second)
    await store.sent(second, 1)
    assert await store.failures(GUILD, ALICE, TOPIC) == 0


async def test_a_change_made_before_the_notifiers_first_look_still_reaches_a_follower(
    service: BriefingService, store: FollowStore
) -> None:
    await store.add(GUILD, ALICE, TOPIC, cap=25)  # the feed starts here, not at first look
    revision = await edit(service, GUILD, "Changed before the notifier looked.")
    start = await store.cursor()
    assert start < revision
    _, feed = await store.feed(start, 10)
    assert await store.enqueue(feed, revision) == 1


async def test_a_purged_servers_follows_and_send_records_go_with_it_and_no_one_elses(
    service: BriefingService, store: FollowStore, clock: Clock
) -> None:
    start = await store.cursor()
    for guild in (GUILD, OTHER):
        await store.add(guild, ALICE, TOPIC, cap=25)
    pack = await curated_update(service, "A new curated text.")
    await store.enqueue((await store.feed(start, 10))[1], pack)
    await GuildData(service.db).purge(GUILD)
    assert await store.of_member(GUILD, ALICE) == []
    assert await store.of_member(OTHER, ALICE) == [TOPIC]
    assert [o.guild_id for o in await store.due(clock.iso(), "0000", 10)] == [OTHER]


async def test_a_curated_change_finds_each_followers_own_copy_through_the_scope_index(
    tmp_path: Path,
) -> None:
    """SQLite only: the plan is SQLite's (PostgreSQL's planner chooses by its statistics)."""
    db = await SqliteDatabase.open(tmp_path / "plan.sqlite3")
    try:
        async with db.conn.execute(
            f"EXPLAIN QUERY PLAN {_owe_curated(SQLITE)}", (1, None, "t", "t", TOPIC, 1)
        ) as cursor:
            plan = [str(row[3]) for row in await cursor.fetchall()]
    finally:
        await db.close()
    # Not a scan of every section for every follower.
    assert any("SEARCH s USING INDEX sections_scope_slug" in step for step in plan), plan
    assert not any(step.startswith("SCAN s") for step in plan), plan
