"""The learning loop replayed over the evaluation set: its misses taught, one per review item.

A fresh SQLite file in a temporary folder gets the curated pack (`BriefingService.open`). In
server G every main-set question is asked and recorded with a reference, as `/ask` does. A miss
is a question that expected a topic and got no answer or another one. Each miss then goes
through the loop as members and a moderator would take it:

- a wrong answer: a member (one per question) clicks **Not what I asked** and picks the
  expected topic (`Learning.not_what_i_asked`);
- no answer: the question is logged unanswered, and a member opens the expected topic from the
  closest ones offered, when it is among them (`Learning.picked`);
- a moderator walks `/kb review` (`Learning.review`) page by page and teaches each unanswered or
  misanswered item once: to the topic members picked, else (an unanswered group nobody picked
  for) to what a missed question of the group expected. Items holding no missed question are
  left alone: the expected answers of questions that did not miss are never used. The moderator
  takes TEACH_PACE between teachings (the injected clock moves), as `/kb` edits are rate
  limited.

Each teaching is timed to the next answer to its question in G. Then everything is asked
again: the main, held-out and word-forms sets in G, and the same questions in server H, which
taught nothing and must see exactly what it saw before. The held-out rate must not drop.
Every loop is bounded (the questions, and at most MAX_REVIEW_STEPS review pages).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.core import ROOT, Clock, Options, ms, percentile, table
from bot.editing import Author, Editor
from bot.errors import BriefbotError
from bot.learning import REVIEW_DAYS, Learning, ReviewItem
from bot.sections import Topic
from bot.service import Answer, BriefingService
from bot.text import words

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KNOWLEDGE = ROOT / "knowledge"
DATA = ROOT / "tests" / "data"
MAIN = ("main", DATA / "eval_questions.yaml")
HELD_OUT = ("held-out", DATA / "eval_holdout.yaml")
WORD_FORMS = ("word forms", DATA / "eval_wordforms.yaml")
SERVER = 3_000_001  # G: asks, marks and teaches
OTHER_SERVER = 3_000_002  # H: asks the same questions and teaches nothing
FIRST_REF = 40_000_000  # the asks' references (an interaction's id in Discord)
FIRST_MEMBER = 50_000_000  # one member per missed question (signals are rate limited per member)
MODERATOR = Author(1, "bench moderator")
# A moderator's pace through the review: `/kb` changes are rate limited per server.
TEACH_PACE = timedelta(seconds=30)
# Review pages looked at, at most: every item once, plus one look after each teaching.
MAX_REVIEW_STEPS = 500
# --quick: the first questions of each set only (a smoke test).
QUICK_QUESTIONS = 40


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    expect: tuple[str, ...] | None  # acceptable topics; None: it must get no answer


@dataclass(frozen=True, slots=True)
class Rate:
    """How one set fared in one server at one moment."""

    right: int  # in-topic questions answered with an expected topic
    in_topic: int
    off_answered: int  # off-topic questions answered confidently anyway
    off_topic: int
    seen: tuple[tuple[object, ...], ...]  # everything shown for each question, in order

    def cell(self) -> str:
        share = self.right / self.in_topic if self.in_topic else 0.0
        return f"{self.right}/{self.in_topic} ({share:.1%})"


@dataclass(slots=True)
class Loop:
    """What went through the loop."""

    misses: int = 0
    marked: int = 0  # wrong answers marked "Not what I asked"
    unanswered: int = 0  # missed with no answer
    picked: int = 0  # of those, the expected topic opened from the closest ones
    items: dict[str, int] | None = None  # review items by kind, at the first look
    taught: int = 0
    to_picks: int = 0  # taught to the topic members picked
    left: int = 0  # items holding no missed question, left alone
    failed: list[str] = field(default_factory=list)  # teachings refused, with why
    next_right: int = 0  # the next answer to a taught question was the taught topic
    teach_ms: list[float] = field(default_factory=list)  # teach -> next answer


@dataclass(slots=True)
class LearningResult:
    before: dict[tuple[str, int], Rate]  # (set, server) -> rate
    after: dict[tuple[str, int], Rate]
    loop: Loop
    sets: dict[str, list[Question]]
    elapsed_s: float

    def newly_missed(self, name: str, guild_id: int) -> list[tuple[Question, object]]:
        """In-topic questions of a set answered right before teaching and not after, with
        what they got after (a taught question drawing its neighbours away)."""
        was, now = self.before[name, guild_id].seen, self.after[name, guild_id].seen
        return [
            (question, after[0])
            for question, before, after in zip(self.sets[name], was, now, strict=True)
            if question.expect is not None
            and before[0] in question.expect
            and after[0] not in question.expect
        ]


def load_set(path: Path, limit: int | None = None) -> list[Question]:
    """An evaluation set's questions with their expected topics, in file order."""
    data = yaml.safe_load(path.read_text("utf-8"))
    found = []
    for item in data["questions"]:
        expect = item.get("expect")
        wanted = None if expect is None else (expect,) if isinstance(expect, str) else expect
        found.append(Question(str(item["q"]), None if wanted is None else tuple(wanted)))
    return found[:limit]


def _got(answer: Answer) -> str | None:
    return answer.section.slug if answer.section else None


def _seen(answer: Answer) -> tuple[object, ...]:
    """Everything a member is shown: answer, score, ranking and suggestions."""
    return (
        _got(answer),
        answer.score,
        tuple((h.section_id, h.score) for h in answer.results),
        tuple(t.id for t in answer.suggestions),
    )


def missed(question: Question, answer: Answer) -> bool:
    return question.expect is not None and _got(answer) not in question.expect


async def rate(service: BriefingService, questions: Sequence[Question], guild_id: int) -> Rate:
    """Ask every question in a server (unrecorded) and score the answers."""
    right = off_answered = 0
    seen = []
    for question in questions:
        answer = await service.ask(question.text, guild_id, record=False)
        seen.append(_seen(answer))
        if question.expect is None:
            off_answered += _got(answer) is not None
        else:
            right += _got(answer) in question.expect
    in_topic = sum(q.expect is not None for q in questions)
    return Rate(right, in_topic, off_answered, len(questions) - in_topic, tuple(seen))


def _wording(text: str) -> tuple[str, ...]:
    return tuple(words(text))


def _meant(service: BriefingService, question: Question, offered: Sequence[Topic]) -> Topic:
    """The topic a member means: the first expected one among those offered, else the first."""
    assert question.expect is not None
    for topic in offered:
        if topic.slug in question.expect:
            return topic
    return service.find(question.expect[0], SERVER)


async def replay_misses(
    service: BriefingService, learning: Learning, questions: Sequence[Question], loop: Loop
) -> dict[tuple[str, ...], Question]:
    """Ask the main set in G as `/ask` does, and send each miss through members' signals.
    Returns the missed questions by wording (all the moderator may know of expected topics)."""
    misses: dict[tuple[str, ...], Question] = {}
    for n, question in enumerate(questions):
        ref = FIRST_REF + n
        answer = await service.ask(question.text, SERVER, record=False)
        await service.record(SERVER, answer, ref=ref)
        if not missed(question, answer):
            continue
        loop.misses += 1
        misses[_wording(answer.question)] = question
        member = FIRST_MEMBER + n
        if answer.section is not None:
            offered = await learning.meant_choices(SERVER, ref, answer.section.id)
            meant = _meant(service, question, offered)
            await learning.not_what_i_asked(SERVER, ref, member, answer.section.id, meant.id)
            loop.marked += 1
        else:
            loop.unanswered += 1
            if question.expect is not None:
                shown = [t for t in answer.suggestions if t.slug in question.expect]
                if shown:
                    await learning.picked(SERVER, ref, member, shown[0].id)
                    loop.picked += 1
    return misses


def _target(
    service: BriefingService, item: ReviewItem, misses: dict[tuple[str, ...], Question]
) -> tuple[Topic | None, bool]:
    """The topic the moderator teaches an item to, and whether members picked it (None for an
    outdated topic, or an item holding no missed question)."""
    if item.picks:
        return item.picks[0][0], True
    if item.kind != "unanswered":
        return None, False
    for wording in (item.question, *item.examples):
        question = misses.get(_wording(wording))
        if question is not None and question.expect is not None:
            return service.find(question.expect[0], SERVER), False
    return None, False


async def teach_review(
    service: BriefingService,
    learning: Learning,
    clock: Clock,
    misses: dict[tuple[str, ...], Question],
    loop: Loop,
) -> None:
    """Walk `/kb review` in G and teach each unanswered or misanswered item holding a miss."""
    page = 0
    for _ in range(MAX_REVIEW_STEPS):
        shown = await learning.review(SERVER, page, REVIEW_DAYS, clock.now)
        if loop.items is None:
            loop.items = dict(shown.counts)
        item = shown.item
        if item is None or shown.page < page:  # past the last page
            return
        topic, members = _target(service, item, misses)  # an outdated item: None
        if topic is None:
            loop.left += item.kind != "outdated"
            page += 1
            continue
        clock.now += TEACH_PACE
        started = time.perf_counter()
        try:
            taught = await learning.teach(SERVER, item.key, topic.id, MODERATOR)
        except BriefbotError as error:
            loop.failed.append(f"{item.question!r}: {error}")
            page += 1
            continue
        answer = await service.ask(taught.question, SERVER, record=False)
        loop.teach_ms.append((time.perf_counter() - started) * 1000)
        loop.taught += 1
        loop.to_picks += members
        loop.next_right += _got(answer) == topic.slug
        # The taught item leaves the review: the same page now shows the next one.


async def run_learning(options: Options, main: Path = MAIN[1]) -> LearningResult:
    """Ask, replay the misses of `main` (the main set unless told), teach, ask again."""
    limit = QUICK_QUESTIONS if options.quick else None
    paths = ((MAIN[0], main), HELD_OUT, WORD_FORMS)
    sets = {name: load_set(path, limit) for name, path in paths}
    started = time.perf_counter()
    clock = Clock(NOW)
    loop = Loop()
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        service = await BriefingService.open(Path(folder) / "bench.sqlite3", KNOWLEDGE, clock=clock)
        editor = Editor(service)
        try:
            learning = Learning(service, editor)
            before = {
                (name, guild): await rate(service, questions, guild)
                for name, questions in sets.items()
                for guild in (SERVER, OTHER_SERVER)
            }
            misses = await replay_misses(service, learning, sets["main"], loop)
            await teach_review(service, learning, clock, misses, loop)
            after = {
                (name, guild): await rate(service, questions, guild)
                for name, questions in sets.items()
                for guild in (SERVER, OTHER_SERVER)
            }
        finally:
            await editor.close()
            await service.close()
    return LearningResult(before, after, loop, sets, time.perf_counter() - started)


def held_out_kept(result: LearningResult) -> bool:
    """The held-out rate in G did not drop, nor did it answer more off-topic questions."""
    before, after = result.before["held-out", SERVER], result.after["held-out", SERVER]
    return after.right >= before.right and after.off_answered <= before.off_answered


def unchanged(result: LearningResult) -> tuple[int, int]:
    """H's answers the same after G taught as before (every set), and how many were asked."""
    same = total = 0
    for name in result.sets:
        was, now = result.before[name, OTHER_SERVER].seen, result.after[name, OTHER_SERVER].seen
        same += sum(a == b for a, b in zip(was, now, strict=True))
        total += len(was)
    return same, total


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def render_learning(result: LearningResult) -> str:
    loop = result.loop
    rows = []
    for name in result.sets:
        for guild, label in ((SERVER, "G (taught)"), (OTHER_SERVER, "H (taught nothing)")):
            was, now = result.before[name, guild], result.after[name, guild]
            rows.append(
                [
                    name,
                    label,
                    len(result.sets[name]),
                    was.cell(),
                    now.cell(),
                    f"{now.right - was.right:+d}",
                    len(result.newly_missed(name, guild)),
                    f"{was.off_answered}/{was.off_topic}",
                    f"{now.off_answered}/{now.off_topic}",
                ]
            )
    same, asked = unchanged(result)
    kept = held_out_kept(result)
    items = ", ".join(f"{n} {kind}" for kind, n in sorted((loop.items or {}).items())) or "none"
    loop_row = [
        loop.misses,
        loop.marked,
        f"{loop.unanswered} ({loop.picked} picked)",
        items,
        loop.taught,
        loop.to_picks,
        loop.left,
        len(loop.failed),
        f"{loop.next_right}/{loop.taught}",
    ]
    times = loop.teach_ms
    timing = [
        len(times),
        ms(percentile(times, 0.5) / 1000) if times else "-",
        ms(percentile(times, 0.99) / 1000) if times else "-",
    ]
    lines = [
        "## Learning loop: the evaluation set's misses taught through /kb review",
        "",
        "- the curated pack in a fresh SQLite file; server G asks the main set (recorded), members"
        " mark each",
        "  wrong answer's expected topic (Not what I asked) or open it after no answer, a"
        " moderator teaches",
        "  each review item holding a miss once; then every set is asked again in G and in H.",
        "",
        "### In-topic rate before and after teaching",
        "",
        table(
            [
                "set",
                "server",
                "questions",
                "in-topic before",
                "in-topic after",
                "change",
                "newly missed",
                "off-topic answered before",
                "off-topic answered after",
            ],
            rows,
        ),
        "",
        "### The loop in server G",
        "",
        table(
            [
                "main-set misses",
                "wrong answers marked",
                "unanswered",
                "review items",
                "groups taught",
                "to members' picks",
                "items left (no miss)",
                "refused",
                "next answer the taught topic",
            ],
            [loop_row],
        ),
        "",
        "### Teach to next answer",
        "",
        table(["teaches", "p50 ms", "p99 ms"], [timing]),
        "",
        f"- held-out did not drop: {_yes(kept)}",
        f"- server H unchanged: {_yes(same == asked)} ({same}/{asked} answers the same)",
        f"- groups taught: {loop.taught}",
        f"- teach to next answer: `Learning.teach` then `BriefingService.ask` of the taught"
        f" question in G; the moderator's {TEACH_PACE.seconds} s between teachings is not timed.",
    ]
    lines += [
        f"- newly missed in G ({name}): {question.text!r} -> {got or 'no answer'}"
        f" (expected {' or '.join(question.expect or ())})"
        for name in result.sets
        for question, got in result.newly_missed(name, SERVER)
    ]
    lines += [f"- refused: {why}" for why in loop.failed]
    lines.append(f"- took {result.elapsed_s:.1f} s")
    return "\n".join(lines)


def run(options: Options) -> str:
    """The `learning` benchmark: one Markdown section."""
    return render_learning(asyncio.run(run_learning(options)))
