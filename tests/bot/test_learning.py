"""The learning loop without Discord: members' signals, the moderators' review, teaching.

A real BriefingService over a tmp database file holding the curated pack, an Editor, and a
clock the tests move (the signals' rate limit reads it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.editing import Author, Editor
from bot.errors import BriefbotError, LimitReached, SectionNotFound
from bot.learning import (
    MAX_TAUGHT,
    REVIEW_RETURN,
    SIGNAL_RATE,
    SIGNAL_SECONDS,
    ItemGone,
    Learning,
    QuestionGone,
    ReviewItem,
    ReviewPage,
    as_alias,
    item_key,
)
from bot.limits import AskingTooQuickly
from bot.sections import MAX_ALIAS, Topic
from bot.service import BriefingService
from bot.store.learning import LearningStore
from tests.clock import Clock
from tests.conftest import KNOWLEDGE

START = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)
GUILD, OTHER = 501, 502
MOD = Author(7, "mod")
ALICE, BOB, CAROL = 11, 12, 13
DAYS = 30
# Nothing in the curated pack answers it.
UNKNOWN = "who gets zaporizhzhia"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def service(tmp_path: Path, clock: Clock) -> AsyncIterator[BriefingService]:
    opened = await BriefingService.open(tmp_path / "db.sqlite3", KNOWLEDGE, clock=clock)
    clock.advance(minutes=1)  # members act after the pack's import, not in the same second
    yield opened
    await opened.close()


@pytest.fixture
async def learning(service: BriefingService) -> AsyncIterator[Learning]:
    editor = Editor(service)
    yield Learning(service, editor)
    await editor.close()


def topic(service: BriefingService, slug: str, guild_id: int = GUILD) -> Topic:
    return service.find(slug, guild_id)


async def unanswered(
    service: BriefingService, guild_id: int, question: str, times: int = 1
) -> None:
    for _ in range(times):
        await service.asks.record(guild_id, question, None, None)
    await service.asks.flush()


async def answered(
    service: BriefingService, guild_id: int, question: str, slug: str, ref: int
) -> None:
    await service.asks.record(guild_id, question, slug, 0.5, ref=ref)
    await service.asks.flush()


async def every_page(learning: Learning, guild_id: int, now: datetime) -> list[ReviewPage]:
    first = await learning.review(guild_id, 0, DAYS, now)
    pages = [first]
    for page in range(1, first.pages):
        pages.append(await learning.review(guild_id, page, DAYS, now))
    return pages


async def items(learning: Learning, guild_id: int, now: datetime) -> list[ReviewItem]:
    return [p.item for p in await every_page(learning, guild_id, now) if p.item is not None]


async def fill_every_kind(service: BriefingService, learning: Learning, clock: Clock) -> None:
    """4 asks of one unanswered question, 3 outdated flags, 2 marks, 1 more unanswered."""
    await unanswered(service, GUILD, UNKNOWN, 3)
    await unanswered(service, GUILD, "Who gets Zaporizhzhia?")
    await unanswered(service, GUILD, "lost and found office")
    await answered(service, GUILD, "who pays for the army", "us-role", ref=100)
    us_role, nato = topic(service, "us-role"), topic(service, "nato-purpose")
    await learning.not_what_i_asked(GUILD, 100, ALICE, us_role.id, nato.id)
    await learning.not_what_i_asked(GUILD, 100, BOB, us_role.id, None)
    for user in (ALICE, BOB, CAROL):
        await learning.outdated(GUILD, user, topic(service, "berlin-talks").id)


# -- the review --


async def test_an_empty_review_has_one_empty_page(learning: Learning, clock: Clock) -> None:
    assert await learning.review(GUILD, 3, DAYS, clock.now) == ReviewPage(None, 0, 1, DAYS, {})


async def test_the_review_shows_each_kind_one_per_page_most_asked_first(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await fill_every_kind(service, learning, clock)
    pages = await every_page(learning, GUILD, clock.now)
    assert [(p.page, p.pages, p.counts) for p in pages] == [
        (n, 4, {"unanswered": 2, "misanswered": 1, "outdated": 1}) for n in range(4)
    ]
    shown = [p.item for p in pages]
    assert all(item is not None for item in shown)
    assert [(i.kind, i.question, i.count) for i in shown if i] == [
        ("unanswered", UNKNOWN, 4),
        ("outdated", "What are the Berlin talks?", 3),
        ("misanswered", "who pays for the army", 2),
        ("unanswered", "lost and found office", 1),
    ]
    gap, flagged, missed, single = (i for i in shown if i)
    assert gap.last == clock.iso() and gap.key == item_key("unanswered", UNKNOWN)
    assert flagged.answered == topic(service, "berlin-talks")
    assert missed.answered == topic(service, "us-role")
    assert missed.picks == ((topic(service, "nato-purpose"), 1),)
    assert missed.choices[0] == topic(service, "nato-purpose")
    assert topic(service, "us-role") not in missed.choices  # what it was answered with
    for item, offered in ((gap, 10), (missed, 9), (single, 10)):
        assert len(set(item.choices)) == len(item.choices) == offered  # each topic once
    # A page asked for past either end is the nearest one.
    assert (await learning.review(GUILD, 99, DAYS, clock.now)).page == 3
    assert (await learning.review(GUILD, -1, DAYS, clock.now)).item == gap


async def test_the_review_looks_back_the_days_it_is_given(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await unanswered(service, GUILD, UNKNOWN, 2)
    clock.advance(days=10)
    assert (await learning.review(GUILD, 0, 7, clock.now)).item is None
    assert (await learning.review(GUILD, 0, 30, clock.now)).counts == {"unanswered": 1}


async def test_members_picks_come_first_among_the_teach_choices(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await service.asks.record(GUILD, UNKNOWN, None, None, ref=200)
    await service.asks.record(GUILD, UNKNOWN, None, None, ref=201)
    allies, us_role = topic(service, "european-allies"), topic(service, "us-role")
    await learning.picked(GUILD, 200, ALICE, allies.id)
    await learning.picked(GUILD, 201, BOB, allies.id)
    await learning.picked(GUILD, 201, CAROL, us_role.id)
    await learning.picked(GUILD, 999, CAROL, us_role.id)  # no such question: nothing recorded
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and item.kind == "unanswered"
    assert item.choices[:2] == (allies, us_role)
    assert [t for t, _ in item.picks] == [allies, us_role]
    assert len(set(item.choices)) == len(item.choices)


async def test_teaching_settles_the_item_and_keeps_the_question_trimmed_as_an_alias(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    long = "  Who   gets " + "the land around the Zaporizhzhia power plant, " * 4 + "in the end?"
    await unanswered(service, GUILD, long, 2)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None
    ceding = topic(service, "ceding-territory")
    taught = await learning.teach(GUILD, item.key, ceding.id, MOD)
    assert taught.topic == ceding and taught.question == as_alias(long)
    assert len(taught.question) <= MAX_ALIAS
    assert taught.question.startswith("Who gets the land around")  # spaces collapsed
    assert taught.addition is not None and taught.addition.number == 1
    assert taught.addition.author == MOD.label
    store = LearningStore(service.db)
    assert await store.taught() == {GUILD: {"ceding-territory": [taught.question]}}
    assert await learning.review(GUILD, 0, DAYS, clock.now) == ReviewPage(None, 0, 1, DAYS, {})
    with pytest.raises(ItemGone):
        await learning.teach(GUILD, item.key, ceding.id, MOD)
    assert [a.detail for a in await learning.additions(GUILD, "ceding-territory")] == [
        taught.question
    ]


def test_as_alias_trims_at_a_word_within_the_alias_limit() -> None:
    assert as_alias("  who   gets\tit?  ") == "who gets it?"
    words = "word " * 60
    assert as_alias(words) == ("word " * 20).strip()  # 99 characters, cut after a word
    assert len(as_alias("x" * 300)) == MAX_ALIAS  # one long word: cut inside it
    assert as_alias("a" * 95 + ", bbbbbbbbbbbbbbb") == "a" * 95  # no dangling comma


async def test_teaching_a_question_already_taught_settles_it_without_a_second_addition(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    ceding = topic(service, "ceding-territory")
    await LearningStore(service.db).add(
        GUILD, ceding.slug, "taught", UNKNOWN, author="x", author_id=1
    )
    await unanswered(service, GUILD, UNKNOWN)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None
    taught = await learning.teach(GUILD, item.key, ceding.id, MOD)
    assert taught.addition is None
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None


async def test_a_taught_question_is_answered_in_that_server_only(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    """Needs the search to apply taught questions (bot/search.py, bot/service.py)."""
    for guild in (GUILD, OTHER):
        assert (await service.ask(UNKNOWN, guild)).section is None  # recorded, unanswered
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and item.question == UNKNOWN
    await learning.teach(GUILD, item.key, topic(service, "ceding-territory").id, MOD)
    for question in (UNKNOWN, "zaporizhzhia: who gets it?"):
        answer = await service.ask(question, GUILD, record=False)
        assert answer.section is not None and answer.section.slug == "ceding-territory"
    assert (await service.ask(UNKNOWN, OTHER, record=False)).section is None
    assert (await learning.review(OTHER, 0, DAYS, clock.now)).counts == {"unanswered": 1}


async def test_a_dismissed_item_comes_back_after_review_return_more_asks(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await unanswered(service, GUILD, "lost and found office", 2)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and item.count == 2
    await learning.dismiss(GUILD, item.key)
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None
    await unanswered(service, GUILD, "lost and found office", REVIEW_RETURN - 1)
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None
    with pytest.raises(ItemGone):
        await learning.dismiss(GUILD, item.key)
    with pytest.raises(ItemGone):
        await learning.item_question(GUILD, item.key)
    await unanswered(service, GUILD, "lost and found office")
    back = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert back is not None and (back.key, back.count) == (item.key, 2 + REVIEW_RETURN)
    assert await learning.item_question(GUILD, back.key) == "lost and found office"
    await learning.dismiss(GUILD, back.key)  # and again, until 5 more after this count
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None


async def test_an_item_dismissed_in_a_short_review_stays_dismissed_in_a_longer_one(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await unanswered(service, GUILD, "lost and found office", 10)
    clock.advance(days=20)
    await unanswered(service, GUILD, "lost and found office", 3)
    item = (await learning.review(GUILD, 0, 7, clock.now)).item
    assert item is not None and item.count == 3
    await learning.dismiss(GUILD, item.key)
    # Not asked once since: still dismissed, however far back the review looks.
    assert (await learning.review(GUILD, 0, 30, clock.now)).item is None


async def test_a_dismissed_item_asked_five_more_times_comes_back_after_its_old_asks_expired(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await unanswered(service, GUILD, "lost and found office", 10)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and item.count == 10
    await learning.dismiss(GUILD, item.key)
    clock.advance(days=DAYS + 10)  # the ten asks before the dismissal left the window
    await unanswered(service, GUILD, "lost and found office", REVIEW_RETURN)
    back = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert back is not None and (back.key, back.count) == (item.key, REVIEW_RETURN)


async def test_a_dismissed_group_stays_dismissed_when_another_of_its_wordings_leads_it(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    later = f"{UNKNOWN} in the end"  # one group with UNKNOWN, shown by the most asked wording
    await unanswered(service, GUILD, UNKNOWN, 2)
    await unanswered(service, GUILD, later)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and (item.question, item.examples) == (UNKNOWN, (later,))
    await learning.dismiss(GUILD, item.key)
    # Asked twice more, the later wording leads the group now: still only 2 asks, not 5.
    await unanswered(service, GUILD, later, 2)
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None
    await unanswered(service, GUILD, later, REVIEW_RETURN - 2)
    back = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert back is not None and back.question == later and back.count == 3 + REVIEW_RETURN
    await learning.dismiss(GUILD, back.key)  # dismissed again: away until 5 more after this
    await unanswered(service, GUILD, UNKNOWN, REVIEW_RETURN - 1)
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None


async def test_an_item_settled_while_another_review_page_is_drawn_stays_settled(
    service: BriefingService, learning: Learning, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await unanswered(service, GUILD, "lost and found office", 2)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None
    drawn = learning._detailed

    async def another_moderator_dismisses_meanwhile(*args: Any) -> ReviewItem:
        await learning.dismiss(GUILD, item.key)
        return await drawn(*args)

    monkeypatch.setattr(learning, "_detailed", another_moderator_dismisses_meanwhile)
    page = await learning.review(GUILD, 0, DAYS, clock.now)  # listed it before the dismissal
    assert page.item is not None and page.item.key == item.key
    monkeypatch.undo()
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None
    with pytest.raises(ItemGone):
        await learning.dismiss(GUILD, item.key)


async def test_a_dismissed_misanswered_item_comes_back_after_more_marks(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    us_role = topic(service, "us-role")
    await answered(service, GUILD, "who pays for the army", "us-role", ref=100)
    await learning.not_what_i_asked(GUILD, 100, ALICE, us_role.id, None)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and item.kind == "misanswered"
    await learning.dismiss(GUILD, item.key)
    for user in range(100, 100 + REVIEW_RETURN - 1):
        await learning.not_what_i_asked(GUILD, 100, user, us_role.id, None)
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None
    await learning.not_what_i_asked(GUILD, 100, ALICE, us_role.id, None)  # once per member
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None
    await learning.not_what_i_asked(GUILD, 100, 999, us_role.id, None)
    back = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert back is not None and (back.key, back.count) == (item.key, 1 + REVIEW_RETURN)


async def test_a_topic_holding_max_taught_questions_is_marked_full(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    ceding, allies = topic(service, "ceding-territory"), topic(service, "european-allies")
    store = LearningStore(service.db)
    for n in range(MAX_TAUGHT):
        await store.add(GUILD, ceding.slug, "taught", f"question {n}", author="x", author_id=1)
    await store.add(GUILD, allies.slug, "taught", "one question", author="x", author_id=1)
    for guild in (GUILD, OTHER):
        await unanswered(service, guild, UNKNOWN)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and ceding in item.choices and allies in item.choices
    assert item.full == frozenset({ceding.id})
    with pytest.raises(LimitReached):
        await learning.teach(GUILD, item.key, ceding.id, MOD)
    assert len((await store.taught([GUILD]))[GUILD]["ceding-territory"]) == MAX_TAUGHT
    elsewhere = (await learning.review(OTHER, 0, DAYS, clock.now)).item
    assert elsewhere is not None and elsewhere.full == frozenset()
    await learning.teach(GUILD, item.key, allies.id, MOD)  # another topic still takes it


async def test_still_accurate_settles_an_outdated_topic_in_this_server(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    us_role = topic(service, "us-role")
    for guild in (GUILD, OTHER):
        for user in (ALICE, BOB):
            assert await learning.outdated(guild, user, us_role.id)
    assert not await learning.outdated(GUILD, ALICE, us_role.id)  # once per member
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and (item.kind, item.count, item.answered) == ("outdated", 2, us_role)
    with pytest.raises(ItemGone):  # an outdated topic is edited or marked still accurate
        await learning.teach(GUILD, item.key, us_role.id, MOD)
    clock.advance(minutes=1)
    shown, review = await learning.still_accurate(GUILD, us_role.id, MOD, clock.now.date())
    assert shown == us_role
    assert (review.action, review.detail, review.number) == (
        "reviewed",
        clock.now.date().isoformat(),
        1,
    )
    assert (await learning.review(GUILD, 0, DAYS, clock.now)).item is None
    assert (await learning.review(OTHER, 0, DAYS, clock.now)).counts == {"outdated": 1}
    clock.advance(minutes=1)
    assert await learning.outdated(GUILD, ALICE, us_role.id)  # since the review: counts
    again = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert again is not None and again.count == 1


async def test_undo_takes_a_taught_question_back(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await unanswered(service, GUILD, UNKNOWN)
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None
    ceding = topic(service, "ceding-territory")
    taught = await learning.teach(GUILD, item.key, ceding.id, MOD)
    assert taught.addition is not None
    shown, undone, undo = await learning.undo(GUILD, MOD, "ceding-territory", 1)
    assert shown == ceding
    assert (undone.number, undone.detail) == (1, UNKNOWN)
    assert (undo.number, undo.action, undo.target) == (2, "undone", 1)
    assert await LearningStore(service.db).taught() == {}
    for number in (1, 2, 3):  # undone already, an undo, unknown
        with pytest.raises(BriefbotError, match=f"t{number}"):
            await learning.undo(GUILD, MOD, "ceding-territory", number)
    with pytest.raises(SectionNotFound):
        await learning.undo(GUILD, MOD, "no-such-topic", 1)
    with pytest.raises(BriefbotError):
        await learning.undo(OTHER, MOD, "ceding-territory", 1)  # taught in GUILD, not here
    assert [a.number for a in await learning.additions(GUILD, "ceding-territory")] == [2, 1]


async def test_a_question_taught_to_a_topic_removed_since_can_still_be_undone(
    service: BriefingService, learning: Learning
) -> None:
    """/kb history lists a removed topic's taught questions, so /kb revert undoes them."""
    ceding = topic(service, "ceding-territory")
    await LearningStore(service.db).add(
        GUILD, ceding.slug, "taught", UNKNOWN, author="x", author_id=1
    )
    await learning.editor.remove(GUILD, MOD, ceding.slug)
    assert service.topic(GUILD, ceding.slug) is None
    shown, undone, _ = await learning.undo(GUILD, MOD, ceding.slug, 1)
    assert (shown.slug, undone.detail) == (ceding.slug, UNKNOWN)
    assert await LearningStore(service.db).taught() == {}


# -- members' signals --


async def test_helpful_counts_once_per_member_per_answer(
    service: BriefingService, learning: Learning
) -> None:
    berlin = topic(service, "berlin-talks")
    await answered(service, GUILD, "berlin talks", "berlin-talks", ref=300)
    assert await learning.helpful(GUILD, 300, ALICE, berlin.id)
    assert not await learning.helpful(GUILD, 300, ALICE, berlin.id)
    assert await learning.helpful(GUILD, 300, BOB, berlin.id)
    with pytest.raises(SectionNotFound):
        await learning.helpful(GUILD, 300, CAROL, 987654)


async def test_not_what_i_asked_offers_the_closest_topics_and_keeps_the_last_choice(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    us_role, berlin = topic(service, "us-role"), topic(service, "berlin-talks")
    await answered(service, GUILD, "what are the berlin talks", "us-role", ref=400)
    choices = await learning.meant_choices(GUILD, 400, us_role.id)
    assert choices[0] == berlin
    assert us_role not in choices and len(choices) == len(set(choices)) == 9
    assert await learning.not_what_i_asked(GUILD, 400, ALICE, us_role.id, us_role.id) == us_role
    assert await learning.not_what_i_asked(GUILD, 400, ALICE, us_role.id, berlin.id) == berlin
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and item.count == 1 and item.picks == ((berlin, 1),)
    assert await learning.not_what_i_asked(GUILD, 400, ALICE, us_role.id, None) is None
    item = (await learning.review(GUILD, 0, DAYS, clock.now)).item
    assert item is not None and item.count == 1 and item.picks == ()


async def test_a_topic_opened_after_no_answer_then_marked_not_what_i_asked_is_no_pick(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    nato, berlin = topic(service, "nato-purpose"), topic(service, "berlin-talks")
    await service.asks.record(GUILD, UNKNOWN, None, None, ref=500)
    await learning.picked(GUILD, 500, ALICE, nato.id)  # opened from the closest topics
    await learning.picked(GUILD, 500, BOB, berlin.id)
    # ... and said of it: not what I asked. Alice's pick is withdrawn, Bob's stands.
    await learning.not_what_i_asked(GUILD, 500, ALICE, nato.id, None)
    gap = next(i for i in await items(learning, GUILD, clock.now) if i.kind == "unanswered")
    assert gap.picks == ((berlin, 0),)
    assert gap.choices[0] == berlin and nato in gap.choices  # nato: only among the closest


async def test_the_sixth_signal_within_the_window_is_refused(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    berlin = topic(service, "berlin-talks")
    for ref in range(500, 500 + SIGNAL_RATE + 1):
        await answered(service, GUILD, "berlin talks", "berlin-talks", ref=ref)
    assert SIGNAL_RATE == 5 and SIGNAL_SECONDS == 30.0
    await learning.helpful(GUILD, 500, ALICE, berlin.id)
    await learning.helpful(GUILD, 500, ALICE, berlin.id)  # changes nothing, still a click
    await learning.outdated(GUILD, ALICE, berlin.id)
    await learning.not_what_i_asked(GUILD, 501, ALICE, berlin.id, None)
    clock.advance(seconds=29)
    await learning.helpful(GUILD, 502, ALICE, berlin.id)
    with pytest.raises(AskingTooQuickly) as refused:
        await learning.helpful(GUILD, 503, ALICE, berlin.id)
    assert refused.value.retry_after == pytest.approx(1.0)
    with pytest.raises(AskingTooQuickly):
        await learning.not_what_i_asked(GUILD, 503, ALICE, berlin.id, None)
    with pytest.raises(AskingTooQuickly):
        await learning.outdated(GUILD, ALICE, berlin.id)
    # Another member, or the same member in another server, is not held up.
    await learning.helpful(GUILD, 503, BOB, berlin.id)
    await learning.outdated(OTHER, ALICE, topic(service, "berlin-talks", OTHER).id)
    clock.advance(seconds=1)  # the first four fell out of the window
    await learning.helpful(GUILD, 503, ALICE, berlin.id)
    store = LearningStore(service.db)
    assert (await store.signal_counts(START.isoformat(timespec="seconds")))["helpful"] == 4


# -- what cannot be found --


async def test_unknown_or_foreign_items_are_gone(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    await unanswered(service, OTHER, "lost and found office")
    theirs = (await learning.review(OTHER, 0, DAYS, clock.now)).item
    assert theirs is not None
    ceding = topic(service, "ceding-territory")
    for key in ("no-such-key", theirs.key):
        with pytest.raises(ItemGone):
            await learning.teach(GUILD, key, ceding.id, MOD)
        with pytest.raises(ItemGone):
            await learning.dismiss(GUILD, key)
        with pytest.raises(ItemGone):
            await learning.item_question(GUILD, key)
    assert await LearningStore(service.db).taught() == {}


async def test_unknown_or_foreign_questions_are_gone(
    service: BriefingService, learning: Learning
) -> None:
    us_role = topic(service, "us-role")
    await answered(service, OTHER, "who pays for the army", "us-role", ref=600)
    for ref in (424242, 600):
        with pytest.raises(QuestionGone):
            await learning.not_what_i_asked(GUILD, ref, ALICE, us_role.id, None)
        with pytest.raises(QuestionGone):
            await learning.meant_choices(GUILD, ref, us_role.id)
        await learning.picked(GUILD, ref, ALICE, us_role.id)  # nothing to record it against
    assert await LearningStore(service.db).signal_counts("") == {"outdated": 0}


# -- every server is a tenant --


async def test_a_servers_items_never_show_in_another_server(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    guilds = list(range(700, 712))
    slugs = [t.slug for t in service.topics(None)]
    for n, guild in enumerate(guilds):
        await unanswered(service, guild, f"where is office number {n}", n + 1)
        await unanswered(service, guild, UNKNOWN, 2)  # one question every server asks
        # The same reference in every server, a question of its own behind it.
        await answered(service, guild, f"who pays for unit {n}", "us-role", ref=77)
        await learning.not_what_i_asked(guild, 77, ALICE, topic(service, "us-role", guild).id, None)
        await learning.outdated(guild, ALICE, topic(service, slugs[n % len(slugs)], guild).id)
    first = guilds[0]
    shared = item_key("unanswered", UNKNOWN)
    pages = await every_page(learning, first, clock.now)
    gap = next(p.item for p in pages if p.item and p.item.key == shared)
    assert gap is not None
    await learning.teach(first, gap.key, topic(service, "ceding-territory", first).id, MOD)
    for n, guild in enumerate(guilds):
        found = {(i.kind, i.question, i.count) for i in await items(learning, guild, clock.now)}
        expected = {
            ("unanswered", f"where is office number {n}", n + 1),
            ("misanswered", f"who pays for unit {n}", 1),
            ("outdated", topic(service, slugs[n % len(slugs)], guild).title, 1),
        }
        if guild != first:
            expected.add(("unanswered", UNKNOWN, 2))  # taught in the first server only
        assert found == expected
    await learning.dismiss(guilds[1], shared)  # seen there by the loop above: its own item
    assert ("unanswered", UNKNOWN, 2) in {
        (i.kind, i.question, i.count) for i in await items(learning, guilds[2], clock.now)
    }
    with pytest.raises(ItemGone):  # asked and shown elsewhere, never here
        await learning.dismiss(GUILD, shared)
    assert await LearningStore(service.db).taught() == {first: {"ceding-territory": [UNKNOWN]}}


async def test_moderators_never_see_who_asked_or_voted(
    service: BriefingService, learning: Learning, clock: Clock
) -> None:
    members = [314159265358979 + n for n in range(4)]
    await service.asks.record(GUILD, UNKNOWN, None, None, ref=800)
    await answered(service, GUILD, "who pays for the army", "us-role", ref=801)
    us_role, allies = topic(service, "us-role"), topic(service, "european-allies")
    for member in members:
        await learning.picked(GUILD, 800, member, allies.id)
        await learning.not_what_i_asked(GUILD, 801, member, us_role.id, allies.id)
        await learning.outdated(GUILD, member, us_role.id)
        await learning.helpful(GUILD, 801, member, us_role.id)
    pages = await every_page(learning, GUILD, clock.now)
    assert {p.item.kind for p in pages if p.item} == {"unanswered", "misanswered", "outdated"}
    for page in pages:
        assert page.item is not None
        shown = _everything_in(page.item)
        for member in members:
            assert str(member) not in shown
    async with service.db.conn.execute("PRAGMA table_info(review_items)") as cursor:
        assert not [r[1] for r in await cursor.fetchall() if "user" in r[1]]


def _everything_in(item: ReviewItem) -> str:
    """Every value a review item carries, nested ones included, as one text."""
    values: list[Any] = []

    def walk(value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                walk(getattr(value, field.name))
        elif isinstance(value, tuple | list | frozenset | set):
            for inner in value:
                walk(inner)
        else:
            values.append(value)

    walk(item)
    return repr(values)
