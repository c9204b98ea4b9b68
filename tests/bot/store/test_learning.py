"""The learning loop's tables: members' signals, outdated flags, what servers taught, review items.

Every figure here is one server's: the tests write the same references, members, topics and
keys in several servers and check that each sees only its own, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import pytest

from bot.editing import Author, Editor, content_to_form
from bot.service import BriefingService
from bot.store.asks import AskLog
from bot.store.database import Database
from bot.store.learning import (
    AlreadyTaught,
    AskedRecord,
    Flagged,
    ItemState,
    LearningStore,
    Mark,
    NotUndoable,
    TooManyTaught,
)
from tests.clock import Clock
from tests.conftest import KNOWLEDGE

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
GUILD, OTHER, THIRD = 501, 502, 503
ALICE, BOB, CAROL = 11, 12, 13
MOD = Author(7, "mod")


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def store(db: Database) -> LearningStore:
    return LearningStore(db)


@pytest.fixture
async def service(database_location: str, clock: Clock) -> AsyncIterator[BriefingService]:
    """The curated pack in a database, for what reads the topics' revisions."""
    opened = await BriefingService.open(database_location, KNOWLEDGE, clock=clock)
    yield opened
    await opened.close()


async def count_rows(db: Database, table: str) -> int:
    async with db.conn.execute(f"SELECT count(*) FROM {table}") as cursor:  # noqa: S608
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


# -- members' signals --


async def test_helpful_counts_once_per_member_per_answer(
    store: LearningStore, db: Database
) -> None:
    since = START.isoformat(timespec="seconds")
    assert await store.signal(GUILD, 1, ALICE, "helpful", "berlin talks", "berlin-talks")
    assert not await store.signal(GUILD, 1, ALICE, "helpful", "berlin talks", "berlin-talks")
    assert await store.signal_counts(since) == {"helpful": 1, "outdated": 0}
    # Another member, another answer, or the same numbers in another server: one more each.
    assert await store.signal(GUILD, 1, BOB, "helpful", "berlin talks", "berlin-talks")
    assert await store.signal(GUILD, 2, ALICE, "helpful", "us role", "us-role")
    assert await store.signal(OTHER, 1, ALICE, "helpful", "berlin talks", "berlin-talks")
    assert not await store.signal(OTHER, 1, ALICE, "helpful", "berlin talks", "berlin-talks")
    assert await store.signal_counts(since) == {"helpful": 4, "outdated": 0}
    assert await count_rows(db, "signals") == 4


async def test_a_second_wrong_pick_replaces_the_first_and_is_counted_once(
    store: LearningStore, clock: Clock
) -> None:
    since = clock.iso()
    assert await store.signal(GUILD, 1, ALICE, "wrong", "who pays", "us-role", "nato-purpose")
    clock.advance(seconds=5)
    assert not await store.signal(GUILD, 1, ALICE, "wrong", "who pays", "us-role", "berlin-talks")
    assert await store.marks(GUILD, since) == [
        Mark("who pays", "us-role", "berlin-talks", 1, START.isoformat(timespec="seconds"))
    ]
    assert await store.picks(GUILD, ["Who Pays"], since) == ["berlin-talks"]
    # "None of these" replaces a pick as well, and leaves no topic picked.
    assert not await store.signal(GUILD, 1, ALICE, "wrong", "who pays", "us-role", None)
    assert [m.picked for m in await store.marks(GUILD, since)] == [None]
    assert await store.picks(GUILD, ["who pays"], since) == []
    # A "wrong" mark and a Helpful vote of one member on one answer are two signals.
    assert await store.signal(GUILD, 1, ALICE, "helpful", "who pays", "us-role")
    assert await store.signal_counts(since) == {"wrong": 1, "helpful": 1, "outdated": 0}


async def test_marks_and_picks_group_by_wording_answer_and_pick(
    store: LearningStore, clock: Clock
) -> None:
    since = clock.iso()
    for user, picked in ((ALICE, "nato-purpose"), (BOB, "nato-purpose"), (CAROL, None)):
        await store.signal(GUILD, 1, user, "wrong", "who pays", "us-role", picked)
    await store.signal(GUILD, 2, ALICE, "pick", "Who pays?", None, "berlin-talks")
    await store.signal(GUILD, 3, ALICE, "pick", "who pays", None, "nato-purpose")
    marks = sorted(await store.marks(GUILD, since), key=lambda m: m.times)
    assert [(m.question, m.answered, m.picked, m.times) for m in marks] == [
        ("who pays", "us-role", None, 1),
        ("who pays", "us-role", "nato-purpose", 2),
    ]
    assert await store.picks(GUILD, ["who pays"], since) == ["nato-purpose"]
    assert await store.picks(GUILD, ["who pays", "who pays?"], since) == [
        "nato-purpose",
        "berlin-talks",
    ]
    assert await store.picks(OTHER, ["who pays", "who pays?"], since) == []
    assert await store.marks(OTHER, since) == []
    clock.advance(minutes=1)
    assert await store.marks(GUILD, clock.iso()) == []  # none since then


async def test_a_cards_question_is_found_by_its_reference_in_its_server_only(
    db: Database, store: LearningStore
) -> None:
    asks = AskLog(db)
    await asks.record(GUILD, "who pays for the talks", "berlin-talks", 0.7, ref=9001)
    await asks.record(OTHER, "a question of another server", None, None, ref=9002)
    await asks.flush()
    assert await store.asked(GUILD, 9001) == AskedRecord("who pays for the talks", "berlin-talks")
    assert await store.asked(OTHER, 9001) is None
    assert await store.asked(GUILD, 9002) is None
    assert await store.asked(OTHER, 9002) == AskedRecord("a question of another server", None)


# -- outdated flags --


async def test_outdated_counts_distinct_members_in_each_server(
    service: BriefingService, clock: Clock
) -> None:
    store = LearningStore(service.db)
    clock.advance(hours=1)  # after the pack's import
    assert await store.flag_outdated(GUILD, "us-role", ALICE)
    clock.advance(seconds=10)
    assert not await store.flag_outdated(GUILD, "US-Role", ALICE)  # the same member again
    assert await store.flag_outdated(GUILD, "us-role", BOB)
    assert await store.flag_outdated(OTHER, "us-role", ALICE)
    assert await store.flag_outdated(GUILD, "nato-purpose", CAROL)
    assert await store.flagged(GUILD) == [
        Flagged("us-role", 2, clock.iso()),
        Flagged("nato-purpose", 1, clock.iso()),
    ]
    assert await store.flagged(OTHER) == [Flagged("us-role", 1, clock.iso())]
    assert await store.flagged(THIRD) == []


async def test_a_curated_update_with_a_change_resets_the_count(
    service: BriefingService, clock: Clock, pack_dir: Path
) -> None:
    store = LearningStore(service.db)
    clock.advance(hours=1)
    for user in (ALICE, BOB):
        await store.flag_outdated(GUILD, "us-role", user)
    await store.flag_outdated(OTHER, "berlin-talks", ALICE)
    clock.advance(hours=1)
    await service.import_pack(pack_dir)  # nothing changed: nothing is reset
    assert [f.times for f in await store.flagged(GUILD)] == [2]
    clock.advance(hours=1)
    page = pack_dir / "us-role.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nA new paragraph.\n", encoding="utf-8")
    assert (await service.import_pack(pack_dir)).changed
    assert await store.flagged(GUILD) == []
    assert [f.slug for f in await store.flagged(OTHER)] == ["berlin-talks"]  # another topic
    clock.advance(minutes=1)
    assert await store.flag_outdated(GUILD, "us-role", ALICE)  # since the update: counts again
    assert await store.flagged(GUILD) == [Flagged("us-role", 1, clock.iso())]


async def test_a_servers_own_edit_resets_its_count_only(
    service: BriefingService, clock: Clock
) -> None:
    store = LearningStore(service.db)
    editor = Editor(service)
    try:
        clock.advance(hours=1)
        for guild in (GUILD, OTHER):
            await store.flag_outdated(guild, "us-role", ALICE)
            await store.flag_outdated(guild, "us-role", BOB)
        clock.advance(hours=1)
        section = await service.section("us-role", GUILD)
        fields = content_to_form(section.content)
        fields["body"] += " Updated by this server."
        await editor.save(
            GUILD, MOD, fields, slug="us-role", opened=section.version, today=clock.now.date()
        )
        assert await store.flagged(GUILD) == []
        assert [f.times for f in await store.flagged(OTHER)] == [2]
        clock.advance(minutes=1)
        assert await store.flag_outdated(GUILD, "us-role", BOB)
        assert [f.times for f in await store.flagged(GUILD)] == [1]
    finally:
        await editor.close()


async def test_a_still_accurate_review_resets_the_count_until_undone(
    service: BriefingService, clock: Clock
) -> None:
    store = LearningStore(service.db)
    clock.advance(hours=1)
    for guild in (GUILD, OTHER):
        await store.flag_outdated(guild, "us-role", ALICE)
    clock.advance(hours=1)
    review = await store.add(
        GUILD, "us-role", "reviewed", "2026-11-20", author=MOD.label, author_id=MOD.id
    )
    assert await store.flagged(GUILD) == []
    assert [f.times for f in await store.flagged(OTHER)] == [1]
    assert await store.last_update(GUILD, "us-role") == clock.iso()
    clock.advance(minutes=1)
    assert await store.flag_outdated(GUILD, "us-role", ALICE)  # after the review: again
    clock.advance(minutes=1)
    await store.undo(GUILD, "us-role", review.number, author=MOD.label, author_id=MOD.id)
    assert await store.last_update(GUILD, "us-role") < review.created_at
    assert [f.times for f in await store.flagged(GUILD)] == [1]  # Alice, once


# -- what a server adds to a topic --


async def test_additions_are_numbered_per_server_and_topic(store: LearningStore) -> None:
    first = await store.add(GUILD, "US-Role", "taught", "who pays", author="mod (7)", author_id=7)
    second = await store.add(GUILD, "us-role", "taught", "who leads", author="a", author_id=1)
    review = await store.add(GUILD, "us-role", "reviewed", "2026-11-20", author="a", author_id=1)
    assert (first.slug, first.number, second.number, review.number) == ("us-role", 1, 2, 3)
    assert (await store.add(GUILD, "nato-purpose", "taught", "x", author="a", author_id=1)).number
    assert (await store.add(OTHER, "us-role", "taught", "who pays", author="b", author_id=2)).number
    assert [a.number for a in await store.additions(OTHER, "us-role")] == [1]
    undone, undo = await store.undo(GUILD, "us-role", 2, author="b", author_id=2)
    assert (undone.number, undone.detail) == (2, "who leads")
    assert (undo.number, undo.action, undo.target, undo.detail) == (4, "undone", 2, "who leads")
    history = await store.additions(GUILD, "us-role")
    assert [(a.number, a.action, a.active) for a in history] == [
        (4, "undone", True),
        (3, "reviewed", True),
        (2, "taught", False),
        (1, "taught", True),
    ]
    assert [a.number for a in await store.additions(GUILD, "us-role", limit=2)] == [4, 3]
    assert history[-1].author == "mod (7)"


async def test_a_question_taught_twice_is_refused_until_undone(
    store: LearningStore, db: Database
) -> None:
    await store.add(GUILD, "us-role", "taught", "Who pays?", author="a", author_id=1)
    with pytest.raises(AlreadyTaught):
        await store.add(GUILD, "us-role", "taught", "who PAYS?", author="a", author_id=1)
    assert await count_rows(db, "topic_additions") == 1
    # Another topic, or another server, may be taught the same words.
    await store.add(GUILD, "nato-purpose", "taught", "who pays?", author="a", author_id=1)
    await store.add(OTHER, "us-role", "taught", "who pays?", author="a", author_id=1)
    await store.undo(GUILD, "us-role", 1, author="a", author_id=1)
    again = await store.add(GUILD, "us-role", "taught", "who pays?", author="a", author_id=1)
    assert again.number == 3
    assert (await store.taught([GUILD]))[GUILD]["us-role"] == ["who pays?"]


async def test_a_topic_takes_at_most_max_taught_questions_per_server(
    store: LearningStore, db: Database
) -> None:
    for n in range(3):
        await store.add(GUILD, "us-role", "taught", f"q{n}", author="a", author_id=1, max_taught=3)
    with pytest.raises(TooManyTaught):
        await store.add(GUILD, "us-role", "taught", "q3", author="a", author_id=1, max_taught=3)
    assert await count_rows(db, "topic_additions") == 3
    # Reviews are not taught questions; another topic and another server have their own room.
    await store.add(GUILD, "us-role", "reviewed", "2026-11-20", author="a", author_id=1)
    await store.add(GUILD, "nato-purpose", "taught", "q3", author="a", author_id=1, max_taught=3)
    await store.add(OTHER, "us-role", "taught", "q3", author="a", author_id=1, max_taught=3)
    await store.undo(GUILD, "us-role", 2, author="a", author_id=1)
    await store.add(GUILD, "us-role", "taught", "q3", author="a", author_id=1, max_taught=3)
    assert (await store.taught([GUILD]))[GUILD]["us-role"] == ["q0", "q2", "q3"]


async def test_only_a_standing_teaching_or_review_of_this_server_can_be_undone(
    store: LearningStore,
) -> None:
    await store.add(GUILD, "us-role", "taught", "who pays", author="a", author_id=1)
    await store.add(GUILD, "us-role", "reviewed", "2026-11-20", author="a", author_id=1)
    await store.undo(GUILD, "us-role", 1, author="a", author_id=1)  # t3 undoes t1
    for number in (1, 3, 99):  # undone already, an undo itself, unknown
        with pytest.raises(NotUndoable):
            await store.undo(GUILD, "us-role", number, author="a", author_id=1)
    with pytest.raises(NotUndoable):
        await store.undo(OTHER, "us-role", 2, author="a", author_id=1)  # GUILD's review
    with pytest.raises(NotUndoable):
        await store.undo(GUILD, "nato-purpose", 2, author="a", author_id=1)
    undone, undo = await store.undo(GUILD, "us-role", 2, author="a", author_id=1)
    assert (undone.action, undo.number, undo.target) == ("reviewed", 4, 2)


async def test_taught_and_reviewed_list_what_stands_per_server(store: LearningStore) -> None:
    async def add(
        guild: int, slug: str, action: Literal["taught", "reviewed"], detail: str
    ) -> None:
        await store.add(guild, slug, action, detail, author="a", author_id=1)

    await add(GUILD, "us-role", "taught", "who pays")
    await add(GUILD, "us-role", "taught", "who leads")
    await add(GUILD, "Berlin-Talks", "taught", "the summit")
    await add(OTHER, "us-role", "taught", "washington")
    await add(GUILD, "us-role", "reviewed", "2026-11-20")
    await add(GUILD, "us-role", "reviewed", "2026-11-25")
    await add(OTHER, "nato-purpose", "reviewed", "2026-11-21")
    await store.undo(GUILD, "us-role", 2, author="a", author_id=1)
    assert await store.taught() == {
        GUILD: {"us-role": ["who pays"], "berlin-talks": ["the summit"]},
        OTHER: {"us-role": ["washington"]},
    }
    assert await store.taught([OTHER]) == {OTHER: {"us-role": ["washington"]}}
    assert await store.taught([THIRD]) == {}
    assert await store.taught([]) == {}
    assert await store.reviewed() == {
        GUILD: {"us-role": date(2026, 11, 25)},
        OTHER: {"nato-purpose": date(2026, 11, 21)},
    }
    await store.undo(GUILD, "us-role", 4, author="a", author_id=1)  # the 25th
    assert await store.reviewed([GUILD]) == {GUILD: {"us-role": date(2026, 11, 20)}}


async def test_additions_since_names_the_servers_that_added_anything(
    store: LearningStore,
) -> None:
    assert await store.newest_addition() == 0
    assert await store.additions_since(0) == (0, set())
    await store.add(GUILD, "us-role", "taught", "who pays", author="a", author_id=1)
    await store.add(OTHER, "us-role", "reviewed", "2026-11-20", author="a", author_id=1)
    newest = await store.newest_addition()
    assert await store.additions_since(0) == (newest, {GUILD, OTHER})
    assert await store.additions_since(newest) == (newest, set())
    await store.add(THIRD, "nato-purpose", "taught", "why nato", author="a", author_id=1)
    await store.undo(GUILD, "us-role", 1, author="a", author_id=1)  # an undo is an addition
    assert await store.additions_since(newest) == (newest + 2, {THIRD, GUILD})


# -- review items --


async def test_review_items_are_remembered_and_settled_per_server(
    store: LearningStore, clock: Clock
) -> None:
    await store.seen(GUILD, "k1", "unanswered", "who pays", None, 3)
    await store.seen(OTHER, "k1", "misanswered", "who leads", "us-role", 2)
    assert await store.item(GUILD, "k1") == ItemState("unanswered", "who pays", None, 3, None)
    assert await store.item(OTHER, "k1") == ItemState(
        "misanswered", "who leads", "us-role", 2, None
    )
    assert await store.item(THIRD, "k1") is None
    assert await store.item(GUILD, "k2") is None
    await store.settle(GUILD, "k1", "dismissed")
    assert await store.settled(GUILD) == {"k1": 0}  # no ask logged yet: returns after ask 0
    assert await store.settled(OTHER) == {}
    assert (await store.item(GUILD, "k1")).settled == "dismissed"
    # Shown by a review that read it open (dismissed meanwhile by another moderator): settled.
    await store.seen(GUILD, "k1", "unanswered", "who pays", None, 3)
    assert await store.settled(GUILD) == {"k1": 0}
    # Shown again (it came back): open again.
    await store.seen(GUILD, "k1", "unanswered", "Who pays?", None, 8, settled_after=0)
    assert await store.item(GUILD, "k1") == ItemState("unanswered", "Who pays?", None, 8, None)
    assert await store.settled(GUILD) == {}
    await store.settle(GUILD, "k1", "taught")
    await store.settle(THIRD, "k1", "taught")  # never seen there: nothing to settle
    assert await store.settled(GUILD) == {"k1": 0}
    assert await store.settled(THIRD) == {}


async def test_signal_and_settled_counts_cover_every_server_since_a_time(
    service: BriefingService, clock: Clock
) -> None:
    store = LearningStore(service.db)
    clock.advance(days=1)
    await store.signal(GUILD, 1, ALICE, "helpful", "q", "us-role")
    await store.flag_outdated(GUILD, "us-role", ALICE)
    await store.seen(GUILD, "old", "unanswered", "q", None, 1)
    await store.settle(GUILD, "old", "dismissed")
    clock.advance(days=1)
    since = clock.iso()
    await store.signal(GUILD, 2, ALICE, "helpful", "q", "us-role")
    await store.signal(OTHER, 2, ALICE, "helpful", "q", "us-role")
    await store.signal(OTHER, 3, BOB, "wrong", "q", "us-role", "nato-purpose")
    await store.signal(THIRD, 4, BOB, "pick", "q", None, "nato-purpose")
    await store.flag_outdated(OTHER, "us-role", BOB)
    await store.flag_outdated(THIRD, "berlin-talks", BOB)
    # Questions taught count (review items settled "taught" say nothing more).
    await store.add(GUILD, "us-role", "taught", "q one", author="a", author_id=1)
    await store.add(OTHER, "us-role", "taught", "q two", author="a", author_id=1)
    for guild, key, how in ((GUILD, "a", "taught"), (OTHER, "a", "taught"), (THIRD, "b", None)):
        await store.seen(guild, key, "unanswered", "q", None, 1)
        if how is not None:
            await store.settle(guild, key, how)  # type: ignore[arg-type]
    await store.seen(OTHER, "c", "misanswered", "q", "us-role", 1)
    await store.settle(OTHER, "c", "dismissed")
    assert await store.signal_counts(since) == {"helpful": 2, "wrong": 1, "pick": 1, "outdated": 2}
    assert await store.settled_counts(since) == {"taught": 2, "dismissed": 1}
    everything = START.isoformat(timespec="seconds")
    assert (await store.signal_counts(everything))["helpful"] == 3
    assert await store.settled_counts(everything) == {"taught": 2, "dismissed": 2}


async def test_prune_deletes_old_signals_flags_and_unsettled_items(
    store: LearningStore, db: Database, clock: Clock
) -> None:
    await store.signal(GUILD, 1, ALICE, "helpful", "q", "us-role")
    await store.flag_outdated(GUILD, "us-role", ALICE)
    await store.seen(GUILD, "unsettled", "unanswered", "q", None, 1)
    await store.seen(GUILD, "settled", "unanswered", "q", None, 1)
    await store.settle(GUILD, "settled", "dismissed")
    await store.add(GUILD, "us-role", "taught", "q", author="a", author_id=1)
    clock.advance(days=10)
    cutoff = clock.iso()
    await store.signal(OTHER, 1, ALICE, "helpful", "q", "us-role")
    await store.flag_outdated(OTHER, "us-role", ALICE)
    await store.seen(OTHER, "unsettled", "unanswered", "q", None, 1)
    assert await store.prune(cutoff) == 3
    assert await store.prune(cutoff) == 0
    async with db.conn.execute("SELECT guild_id FROM signals") as cursor:
        assert [r[0] for r in await cursor.fetchall()] == [OTHER]
    async with db.conn.execute("SELECT guild_id FROM outdated_flags") as cursor:
        assert [r[0] for r in await cursor.fetchall()] == [OTHER]
    async with db.conn.execute("SELECT guild_id, key FROM review_items ORDER BY 1") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [
            (GUILD, "settled"),  # kept: it says when it comes back
            (OTHER, "unsettled"),
        ]
    # ... but not the member's words: a question is kept no longer than the asks log keeps it.
    async with db.conn.execute("SELECT guild_id, question FROM review_items ORDER BY 1") as cursor:
        assert [tuple(r) for r in await cursor.fetchall()] == [(GUILD, ""), (OTHER, "q")]
    assert await store.taught() == {GUILD: {"us-role": ["q"]}}  # teachings are never pruned


async def test_many_servers_with_the_same_numbers_each_see_only_their_own(
    service: BriefingService, clock: Clock
) -> None:
    store = LearningStore(service.db)
    clock.advance(hours=1)
    since = clock.iso()
    guilds = list(range(600, 620))
    for n, guild in enumerate(guilds):
        # The same reference, members, topic and item key everywhere; a different wording.
        await store.signal(guild, 1, ALICE, "wrong", f"question {n}", "us-role", "nato-purpose")
        await store.signal(guild, 2, ALICE, "pick", f"question {n}", None, "berlin-talks")
        for user in range(n % 3 + 1):
            await store.flag_outdated(guild, "us-role", user)
        await store.seen(guild, "key", "unanswered", f"question {n}", None, n)
        if n % 2:
            await store.settle(guild, "key", "dismissed")
        for k in range(n % 4):
            await store.add(guild, "us-role", "taught", f"taught {n}.{k}", author="a", author_id=1)
    taught = await store.taught()
    for n, guild in enumerate(guilds):
        assert await store.marks(guild, since) == [
            Mark(f"question {n}", "us-role", "nato-purpose", 1, since)
        ]
        assert await store.picks(guild, [f"question {n}"], since) == [
            "berlin-talks",  # as often as the other: by name
            "nato-purpose",
        ]
        assert await store.picks(guild, [f"question {n + 1}"], since) == []
        assert await store.flagged(guild) == [Flagged("us-role", n % 3 + 1, since)]
        assert (await store.item(guild, "key")) == ItemState(
            "unanswered", f"question {n}", None, n, "dismissed" if n % 2 else None
        )
        assert set(await store.settled(guild)) == ({"key"} if n % 2 else set())
        expected = [f"taught {n}.{k}" for k in range(n % 4)]
        assert taught.get(guild, {}).get("us-role", []) == expected
        assert [a.number for a in await store.additions(guild, "us-role")] == list(
            range(n % 4, 0, -1)
        )
    assert (await store.signal_counts(since))["wrong"] == len(guilds)
