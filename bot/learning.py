"""The learning loop: members say when an answer missed, moderators teach it in one click.

Members' side: Helpful (one vote per member per answer), Outdated (distinct members per topic
since its last update), Not what I asked (the topic they meant, or none of these), and a topic
opened from the closest ones after no answer. Moderators' side: `/kb review`, one item at a
time, most asked first: unanswered question groups, misanswered questions, outdated topics; an
item is taught (the question becomes an alias of a topic in this server only), dismissed, or,
for an outdated topic, edited or marked still accurate.

Transport-free like `Editor`: the Discord layer checks who may act, calls, and renders.
Moderators see question texts and counts, never who asked or who voted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.editing import Author, Editor
from bot.errors import BriefbotError, LimitReached, SectionNotFound
from bot.limits import Cooldown
from bot.paging import clamp_page, page_count
from bot.sections import MAX_ALIAS, Topic
from bot.service import BriefingService
from bot.store.learning import (
    Addition,
    AlreadyTaught,
    ItemKind,
    LearningStore,
    Mark,
    NotUndoable,
    TooManyTaught,
)
from bot.text import clean, truncate, words

# -- members' signals --
# Signals per member per server in any SIGNAL_SECONDS (as /ask's cooldown).
SIGNAL_RATE = 5
SIGNAL_SECONDS = 30.0
# Topics offered under "Which topic did you mean?" (a select holds 25 with "None of these").
MEANT_CHOICES = 24

# -- moderators' review --
# Taught questions one server may give one topic.
MAX_TAUGHT = 50
# A taught or dismissed item comes back once asked (or marked) this many more times.
REVIEW_RETURN = 5
# Unanswered groups read per review (the most asked ones).
REVIEW_GAPS = 50
# Topics in the "Teach: this question belongs to…" select.
TEACH_CHOICES = 25
# How far back the review looks unless told.
REVIEW_DAYS = 30

KIND_ORDER: dict[str, int] = {"misanswered": 0, "unanswered": 1, "outdated": 2}


class ItemGone(BriefbotError):
    def __init__(self) -> None:
        super().__init__(
            "That review item is no longer there (taught, dismissed, or past the window). "
            "Open /kb review again for the current ones."
        )


class QuestionGone(BriefbotError):
    def __init__(self) -> None:
        super().__init__(
            "I can no longer find the question this answer was for (old questions are "
            "deleted after a while). Ask again and mark the new answer."
        )


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One thing for a moderator to look at."""

    kind: ItemKind
    key: str  # stable id of the item in this server (a hash of what it is about)
    question: str  # the question's wording, or the outdated topic's title
    count: int  # times asked, members who marked it, or members who flagged it
    last: str  # when last asked, marked or flagged (ISO time)
    examples: tuple[str, ...] = ()  # other wordings of an unanswered group
    answered: Topic | None = None  # what Briefbot answered (misanswered), the topic (outdated)
    picks: tuple[tuple[Topic, int], ...] = ()  # topics members picked, with how many
    choices: tuple[Topic, ...] = ()  # what it can be taught to: members' picks, then closest
    full: frozenset[int] = frozenset()  # ids of choices holding MAX_TAUGHT taught questions


@dataclass(frozen=True, slots=True)
class ReviewPage:
    item: ReviewItem | None
    page: int
    pages: int
    days: int
    counts: dict[str, int]  # items by kind


@dataclass(frozen=True, slots=True)
class AdditionPage:
    """One page of a topic's additions in a server, newest first; `page` counts from 0."""

    additions: list[Addition]
    page: int
    pages: int
    total: int  # additions on every page


@dataclass(frozen=True, slots=True)
class Taught:
    topic: Topic
    question: str
    addition: Addition | None  # None when it was already taught


def item_key(kind: str, question: str, answered: str | None = None) -> str:
    """A review item's id: the same question (case, punctuation, spacing aside) is the same
    item from one review to the next."""
    text = f"{kind}\n{' '.join(words(question))}\n{answered or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def as_alias(question: str) -> str:
    """A question trimmed to an alias's length: at a word boundary when there is one."""
    text = " ".join(clean(question).split())
    return truncate(text, MAX_ALIAS, ellipsis="").rstrip(" ,;:-")


def _settled_after(item: ReviewItem, settled: dict[str, int]) -> int | None:
    """When the item was last settled (the newest ask or signal then), or None if never.

    An unanswered group is shown by its most asked wording, which can change as its wordings
    are asked: settled under any wording it shows, it is the same item."""
    keys = [item.key]
    if item.kind == "unanswered":
        keys += [item_key("unanswered", wording) for wording in item.examples]
    found = [settled[key] for key in keys if key in settled]
    return max(found) if found else None


class Learning:
    def __init__(self, service: BriefingService, editor: Editor) -> None:
        self.service = service
        self.editor = editor
        self.store = LearningStore(service.db)
        self.signals = Cooldown(SIGNAL_RATE, SIGNAL_SECONDS, lambda: service.db.clock().timestamp())

    def _visible(self, guild_id: int, section_id: int) -> Topic:
        topic = self.service.view(guild_id).topic(section_id)
        if topic is None:
            raise SectionNotFound(str(section_id))
        return topic

    async def _asked(self, guild_id: int, ref: int) -> str | None:
        await self.service.asks.flush()  # a click may come before the log was written
        found = await self.store.asked(guild_id, ref)
        return found.question if found is not None else None

    # -- members --

    async def helpful(self, guild_id: int, ref: int, user_id: int, section_id: int) -> bool:
        """One member found an answer helpful: False if they had said so already."""
        self.signals.take((guild_id, user_id))
        topic = self._visible(guild_id, section_id)
        question = await self._asked(guild_id, ref) or ""
        return await self.store.signal(guild_id, ref, user_id, "helpful", question, topic.slug)

    async def outdated(self, guild_id: int, user_id: int, section_id: int) -> bool:
        """One member flags a topic as outdated: False if they had since its last update."""
        self.signals.take((guild_id, user_id))
        topic = self._visible(guild_id, section_id)
        return await self.store.flag_outdated(guild_id, topic.slug, user_id)

    async def meant_choices(self, guild_id: int, ref: int, section_id: int) -> list[Topic]:
        """The topics closest to the question an answer was for, best first, the answer left
        out (at most MEANT_CHOICES, the rotation filling up a short list)."""
        question = await self._asked(guild_id, ref)
        if question is None:
            raise QuestionGone()
        return await self._closest(guild_id, question, MEANT_CHOICES, leave_out={section_id})

    async def _closest(
        self, guild_id: int, question: str, count: int, leave_out: Iterable[int] = ()
    ) -> list[Topic]:
        skip = set(leave_out)
        searcher = self.service.searcher
        result = await searcher.search(question, guild_id, limit=count + len(skip))
        return searcher.closest_topics(result, guild_id, count, leave_out=skip)

    async def not_what_i_asked(
        self, guild_id: int, ref: int, user_id: int, section_id: int, meant: int | None
    ) -> Topic | None:
        """A member says the answer missed and which topic they meant (None: none of these).
        Counted once per member per answer; a second choice replaces the first."""
        self.signals.take((guild_id, user_id))
        question = await self._asked(guild_id, ref)
        if question is None:
            raise QuestionGone()
        answered = self.service.view(guild_id).topic(section_id)
        chosen = self._visible(guild_id, meant) if meant is not None else None
        await self.store.signal(
            guild_id,
            ref,
            user_id,
            "wrong",
            question,
            answered.slug if answered else None,
            chosen.slug if chosen else None,
        )
        if answered is not None:
            # Opened from the closest topics after no answer, it was no pick after all.
            await self.store.withdraw_pick(guild_id, ref, user_id, answered.slug)
        return chosen

    async def picked(self, guild_id: int, ref: int, user_id: int, section_id: int) -> None:
        """After no confident answer, a member opened one of the closest topics: their own word
        for what the question meant."""
        question = await self._asked(guild_id, ref)
        topic = self.service.view(guild_id).topic(section_id)
        if question is None or topic is None:
            return
        await self.store.signal(guild_id, ref, user_id, "pick", question, None, topic.slug)

    # -- moderators: the review --

    async def review(self, guild_id: int, page: int, days: int, now: datetime) -> ReviewPage:
        """Page `page` of the server's review items (one item per page), most asked first."""
        items, settled = await self._items(guild_id, days, now)
        counts = Counter[str](i.kind for i in items)
        if not items:
            return ReviewPage(None, 0, 1, days, dict(counts))
        page = clamp_page(page, len(items))
        item = await self._detailed(guild_id, items[page], days, now)
        await self.store.seen(
            guild_id,
            item.key,
            item.kind,
            item.question,
            item.answered.slug if item.answered else None,
            item.count,
            settled_after=settled.get(item.key),
        )
        return ReviewPage(item, page, len(items), days, dict(counts))

    async def _items(
        self, guild_id: int, days: int, now: datetime
    ) -> tuple[list[ReviewItem], dict[str, int]]:
        """The items to review, most asked first, and the settled ones as read (key -> the
        newest ask or signal when it was settled)."""
        since = (now - timedelta(days=days)).isoformat(timespec="seconds")
        view = self.service.view(guild_id)
        items: list[ReviewItem] = []
        report = await self.editor.gaps(guild_id, days, now, top=REVIEW_GAPS)
        for gap in report.gaps:
            items.append(
                ReviewItem(
                    "unanswered",
                    item_key("unanswered", gap.question),
                    gap.question,
                    gap.count,
                    "",
                    examples=tuple(e for e in gap.examples if e != gap.question),
                )
            )
        by_item: dict[str, list[Mark]] = {}
        for mark in await self.store.marks(guild_id, since):
            key = item_key("misanswered", mark.question, mark.answered)
            by_item.setdefault(key, []).append(mark)
        for key, marks in by_item.items():
            wordings = Counter[str]()
            picks = Counter[str]()
            for question, _, picked, count, _ in marks:
                wordings[question] += count
                if picked:
                    picks[picked] += count
            answered_slug = marks[0][1]
            answered = view.find(answered_slug) if answered_slug else None
            chosen = tuple((t, n) for s, n in picks.most_common() if (t := view.find(s)))
            items.append(
                ReviewItem(
                    "misanswered",
                    key,
                    wordings.most_common(1)[0][0],
                    sum(m.times for m in marks),
                    max(m.last for m in marks),
                    answered=answered,
                    picks=chosen,
                )
            )
        for flag in await self.store.flagged(guild_id):
            topic = view.find(flag.slug)
            if topic is None:
                continue  # removed here since it was flagged
            items.append(
                ReviewItem(
                    "outdated",
                    item_key("outdated", flag.slug),
                    topic.title,
                    flag.times,
                    flag.last,
                    answered=topic,
                )
            )
        settled = await self.store.settled(guild_id)
        shown = []
        for i in items:
            after = _settled_after(i, settled)
            if after is None or await self._asked_again(guild_id, i, after):
                shown.append(i)
        shown.sort(key=lambda i: (-i.count, KIND_ORDER[i.kind], i.question))
        return shown, settled

    async def _asked_again(self, guild_id: int, item: ReviewItem, settled_after: int) -> bool:
        """Whether a taught or dismissed item was asked (in the wordings shown) or marked at
        least REVIEW_RETURN times since it was settled: then it comes back."""
        if item.kind == "unanswered":
            wordings = (item.question, *item.examples)
            again = await self.service.asks.unanswered_after(guild_id, wordings, settled_after)
        else:
            marks = await self.store.marks_after(guild_id, settled_after)
            again = sum(
                m.times for m in marks if item_key(item.kind, m.question, m.answered) == item.key
            )
        return again >= REVIEW_RETURN

    async def _detailed(
        self, guild_id: int, item: ReviewItem, days: int, now: datetime
    ) -> ReviewItem:
        """What only the item shown needs: when last asked, members' picks, teach choices."""
        if item.kind == "outdated":
            return item
        since = (now - timedelta(days=days)).isoformat(timespec="seconds")
        view = self.service.view(guild_id)
        last = item.last
        picks = item.picks
        if item.kind == "unanswered":
            wordings = (item.question, *item.examples)
            last = await self.service.asks.last_asked(guild_id, wordings, since) or ""
            slugs = await self.store.picks(guild_id, wordings, since)
            picks = tuple((t, 0) for s in slugs if (t := view.find(s)))
        leave_out = {item.answered.id} if item.answered else set()
        first = [t for t, _ in picks if t.id not in leave_out]
        closest = await self._closest(
            guild_id, item.question, TEACH_CHOICES, leave_out={*leave_out, *(t.id for t in first)}
        )
        choices = (first + closest)[:TEACH_CHOICES]
        taught = (await self.store.taught([guild_id])).get(guild_id, {})
        full = frozenset(
            t.id for t in choices if len(taught.get(t.slug.casefold(), ())) >= MAX_TAUGHT
        )
        return ReviewItem(
            item.kind,
            item.key,
            item.question,
            item.count,
            last,
            item.examples,
            item.answered,
            picks,
            tuple(choices),
            full,
        )

    async def _item(self, guild_id: int, key: str) -> str:
        """The question of an open (shown, not settled since) unanswered or misanswered item."""
        state = await self.store.item(guild_id, key)
        if state is None or state.kind == "outdated":
            raise ItemGone()
        if state.settled is not None:  # settled, and not shown since it came back
            raise ItemGone()
        return state.question

    async def item_question(self, guild_id: int, key: str) -> str:
        """The question of an unsettled item (what "New topic from this" starts from)."""
        return await self._item(guild_id, key)

    async def teach(self, guild_id: int, key: str, section_id: int, author: Author) -> Taught:
        """Teach an item's question to a topic, in this server only: an alias the very next
        question sees, numbered in the topic's history here (and undone by /kb revert)."""
        question = await self._item(guild_id, key)
        topic = self._visible(guild_id, section_id)
        alias = as_alias(question)
        if not alias:
            raise BriefbotError("That question has no words to teach.")
        self.editor.check_limits(guild_id, new=False)
        try:
            addition: Addition | None = await self.store.add(
                guild_id,
                topic.slug,
                "taught",
                alias,
                author=author.label,
                author_id=author.id,
                max_taught=MAX_TAUGHT,
            )
        except AlreadyTaught:
            addition = None
        except TooManyTaught:
            raise LimitReached(
                f"**{topic.title}** already has {MAX_TAUGHT} questions taught in this server, "
                "the most one topic takes. Fold some into its aliases with /kb edit, or undo one "
                "with /kb revert (see /kb history). Nothing was taught."
            ) from None
        await self.service.asks.flush()  # what was asked before this does not bring it back
        await self.store.settle(guild_id, key, "taught")
        if addition is not None:
            self.editor.changes.add(guild_id)
            await self.service.refresh(guild_id)
        return Taught(topic, alias, addition)

    async def dismiss(self, guild_id: int, key: str) -> None:
        """Hide an item until it is asked REVIEW_RETURN more times."""
        await self._item(guild_id, key)
        await self.service.asks.flush()  # what was asked before this does not bring it back
        await self.store.settle(guild_id, key, "dismissed")

    async def still_accurate(
        self, guild_id: int, section_id: int, author: Author, today: date
    ) -> tuple[Topic, Addition]:
        """Record a review: the topic's "Updated" date moves to today here, its text does not,
        and the outdated flags before it stop counting."""
        topic = self._visible(guild_id, section_id)
        self.editor.check_limits(guild_id, new=False)
        addition = await self.store.add(
            guild_id,
            topic.slug,
            "reviewed",
            today.isoformat(),
            author=author.label,
            author_id=author.id,
        )
        self.editor.changes.add(guild_id)
        await self.service.refresh(guild_id)
        return topic, addition

    # -- moderators: history and undo --

    async def additions(self, guild_id: int, slug: str, limit: int = 10) -> list[Addition]:
        return await self.store.additions(guild_id, slug, limit)

    async def addition_page(self, guild_id: int, slug: str, page: int, size: int) -> AdditionPage:
        """Only the page asked for is read (past the last page: the last page), so every
        t-number /kb revert takes can be found, however many the topic holds."""
        total = await self.store.addition_count(guild_id, slug)
        pages = page_count(total, size)
        page = clamp_page(page, pages)
        found = await self.store.additions(guild_id, slug, size, offset=page * size)
        return AdditionPage(found, page, pages, total)

    async def undo(
        self, guild_id: int, author: Author, slug: str, number: int
    ) -> tuple[Topic, Addition, Addition]:
        """/kb revert of a taught question or a review (`t<number>` in /kb history): undone,
        as a numbered change of its own."""
        # As /kb history finds it: visible here, or this server's removed copy.
        topic = (await self.editor.reachable(guild_id, slug)).topic
        self.editor.check_limits(guild_id, new=False)
        try:
            undone, undo = await self.store.undo(
                guild_id, topic.slug, number, author=author.label, author_id=author.id
            )
        except NotUndoable:
            raise BriefbotError(
                f"{topic.slug} has no standing taught question or review t{number} in this "
                "server; /kb history lists them (an undo cannot itself be undone)."
            ) from None
        self.editor.changes.add(guild_id)
        await self.service.refresh(guild_id)
        return topic, undone, undo
