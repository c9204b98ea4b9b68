"""Search quality against three evaluation sets, measured so that it measures the search.

- main (`eval_questions.yaml`): written from the seed text, without the aliases; the set the
  search was tuned on.
- held-out (`eval_holdout.yaml`): written later by another author, never tuned on.
- word forms (`eval_wordforms.yaml`): written in one sitting and never tuned on; members use
  another form of the pack's words ("relationship" for "relations").

For each set: the share of in-topic questions whose confident answer is one of `expect`, and
how many off-topic questions (expect: null) got a confident answer anyway. Each set asserts
its own threshold (`EVAL_SETS`), over the curated pack as it is.

Honest means two guards. No alias of the pack may be a near copy of an evaluation question
(rapidfuzz ratio after its default processing, `NEAR_COPY` or more): an alias copied from a
question measures the copy, not the search. No question may be a near copy of one in another
set, so the held-out figures are held out. And every set is also run over the pack with every
alias stripped, which shows how much of the rate the aliases carry; that rate is reported,
not asserted. The table is printed at the end of the run (the `report` fixture).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from bot.pack import load_pack, write_pack
from bot.service import BriefingService

DATA = Path(__file__).resolve().parents[1] / "data"
KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
KINDS = {"paraphrase", "keyword", "misspelling", "offtopic"}
# An alias (or a question of another set) this similar to a question is a copy of it.
NEAR_COPY = 80


@dataclass(frozen=True)
class EvalSet:
    name: str
    filename: str
    min_questions: int
    # the share of in-topic questions answered with an expected section, over the curated pack
    min_accuracy: float
    # off-topic questions answered confidently: "I don't know" beats a wrong briefing
    max_confident_off_topic: int


# The main set keeps the 95 %. The two sets never tuned on may fall up to five points
# under it: a search that generalises loses a little on questions it was not shaped by, not more.
EVAL_SETS = (
    EvalSet("main", "eval_questions.yaml", 80, 0.95, 1),
    EvalSet("held-out", "eval_holdout.yaml", 40, 0.90, 1),
    EvalSet("word forms", "eval_wordforms.yaml", 50, 0.90, 1),
)


@dataclass
class Figures:
    name: str
    in_topic: int = 0
    correct: int = 0
    off_topic: int = 0
    confident_off_topic: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.in_topic if self.in_topic else 0.0

    def rates(self) -> str:
        return (
            f"{self.correct:>3}/{self.in_topic:<3} {self.accuracy:6.1%}  "
            f"off {self.confident_off_topic}/{self.off_topic}"
        )


def load_questions(filename: str) -> list[dict[str, object]]:
    data = yaml.safe_load((DATA / filename).read_text(encoding="utf-8"))
    return list(data["questions"])


def expected(item: dict[str, object]) -> list[str] | None:
    expect = item["expect"]
    if expect is None:
        return None
    return [expect] if isinstance(expect, str) else list(expect)  # type: ignore[arg-type]


def near_copies(
    texts: Iterable[tuple[str, str]], questions: Iterable[tuple[str, str]]
) -> list[str]:
    """Every (text, question) pair at least NEAR_COPY similar, each named by its origin."""
    questions = list(questions)
    found = []
    for origin, text in texts:
        for where, question in questions:
            score = fuzz.ratio(text, question, processor=default_process)
            if score >= NEAR_COPY:
                found.append(f"{origin} {text!r} ~ {where} {question!r} ({score:.0f})")
    return found


def questions_of(eval_set: EvalSet) -> list[tuple[str, str]]:
    return [(eval_set.filename, str(item["q"])) for item in load_questions(eval_set.filename)]


async def evaluate(
    service: BriefingService, name: str, questions: list[dict[str, object]]
) -> Figures:
    figures = Figures(name)
    for item in questions:
        question = str(item["q"])
        answer = await service.ask(question, None, record=False)
        # every question ends in an answer or in suggestions, never in nothing
        assert (answer.section is None) == bool(answer.suggestions), question
        got = answer.section.slug if answer.section else None
        wanted = expected(item)
        if wanted is None:
            figures.off_topic += 1
            if got is not None:
                figures.confident_off_topic += 1
                figures.misses.append(f"off-topic {question!r} -> {got}")
        else:
            figures.in_topic += 1
            if got in wanted:
                figures.correct += 1
            else:
                figures.misses.append(f"{question!r} -> {got} (expected {' or '.join(wanted)})")
    return figures


# -- the sets themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("eval_set", EVAL_SETS, ids=lambda s: s.name)
def test_evaluation_set_is_well_formed(eval_set, expected_slugs):
    questions = load_questions(eval_set.filename)
    assert len(questions) >= eval_set.min_questions
    assert len({str(q["q"]).casefold() for q in questions}) == len(questions), "duplicate question"
    for item in questions:
        assert set(item) == {"q", "expect", "kind"}, item
        assert item["kind"] in KINDS, item
        wanted = expected(item)
        assert (wanted is None) == (item["kind"] == "offtopic"), item
        assert wanted is None or set(wanted) <= set(expected_slugs), item
    assert {q["kind"] for q in questions} == KINDS


def test_near_copies_are_found_and_named():
    found = near_copies([("a.md", "What are the Berlin talks?")], [("q.yaml", "berlin talks?")])
    assert found == []
    found = near_copies([("a.md", "Berlin peace talks")], [("q.yaml", "the berlin peace talks")])
    assert found == ["a.md 'Berlin peace talks' ~ q.yaml 'the berlin peace talks' (90)"]


def test_no_alias_is_a_near_copy_of_an_evaluation_question():
    aliases = [
        (f"{section.slug} alias", alias)
        for section in load_pack(KNOWLEDGE)
        for alias in section.aliases
    ]
    assert aliases
    questions = [q for eval_set in EVAL_SETS for q in questions_of(eval_set)]
    copies = near_copies(aliases, questions)
    assert not copies, "aliases copied from the evaluation sets:\n" + "\n".join(copies)


@pytest.mark.parametrize(
    ("one", "other"), list(itertools.combinations(EVAL_SETS, 2)), ids=lambda s: s.name
)
def test_evaluation_sets_share_no_question(one, other):
    shared = near_copies(questions_of(one), questions_of(other))
    assert not shared, f"{one.name} and {other.name} share questions:\n" + "\n".join(shared)


# -- the search over them --------------------------------------------------------------------

# The briefings are only read (no server id, nothing recorded), so one serves the whole module.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def briefing(tmp_path_factory) -> AsyncIterator[BriefingService]:
    service = await BriefingService.open(tmp_path_factory.mktemp("eval") / "db.sqlite3", KNOWLEDGE)
    yield service
    await service.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def briefing_without_aliases(tmp_path_factory) -> AsyncIterator[BriefingService]:
    """The curated pack with every alias stripped: titles and text only."""
    folder = tmp_path_factory.mktemp("bare") / "knowledge"
    curated = load_pack(KNOWLEDGE)
    write_pack([dataclasses.replace(s, aliases=()) for s in curated], folder)
    bare = load_pack(folder)
    assert len(bare) == len(curated) and not any(s.aliases for s in bare)
    service = await BriefingService.open(folder.parent / "db.sqlite3", folder)
    yield service
    await service.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def figures(briefing, briefing_without_aliases) -> dict[tuple[str, bool], Figures]:
    """(set name, with aliases?) -> the figures of that set over that pack."""
    results = {}
    for eval_set in EVAL_SETS:
        questions = load_questions(eval_set.filename)
        for with_aliases, service in ((True, briefing), (False, briefing_without_aliases)):
            results[eval_set.name, with_aliases] = await evaluate(service, eval_set.name, questions)
    return results


@in_module_loop
@pytest.mark.parametrize("eval_set", EVAL_SETS, ids=lambda s: s.name)
async def test_in_topic_accuracy(eval_set, figures):
    mine = figures[eval_set.name, True]
    assert mine.in_topic >= 1
    assert mine.accuracy >= eval_set.min_accuracy, (
        f"{eval_set.name}: {mine.rates()} (need >= {eval_set.min_accuracy:.0%})\n"
        + "\n".join(mine.misses)
    )


@in_module_loop
@pytest.mark.parametrize("eval_set", EVAL_SETS, ids=lambda s: s.name)
async def test_off_topic_confident_answers(eval_set, figures):
    mine = figures[eval_set.name, True]
    assert mine.off_topic >= 1
    assert mine.confident_off_topic <= eval_set.max_confident_off_topic, (
        f"{eval_set.name}: {mine.rates()} (allowed <= {eval_set.max_confident_off_topic})\n"
        + "\n".join(mine.misses)
    )


@in_module_loop
async def test_rates_with_and_without_aliases_are_reported(figures, report):
    report(
        "search quality: in-topic right first answers, off-topic answered confidently"
        " (aliases near-copying a question are refused)"
    )
    report(f"  {'set':<11} {'with aliases':<26} {'without any alias':<26} threshold")
    for eval_set in EVAL_SETS:
        with_aliases = figures[eval_set.name, True]
        without = figures[eval_set.name, False]
        total = len(load_questions(eval_set.filename))
        for mine in (with_aliases, without):
            assert mine.in_topic + mine.off_topic == total
        report(
            f"  {eval_set.name:<11} {with_aliases.rates():<26} {without.rates():<26} "
            f">= {eval_set.min_accuracy:.0%}, off <= {eval_set.max_confident_off_topic}"
        )
    for eval_set in EVAL_SETS:
        for miss in figures[eval_set.name, True].misses:
            report(f"  {eval_set.name} miss: {miss}")
