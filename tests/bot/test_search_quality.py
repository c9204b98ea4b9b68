"""Search quality against the evaluation sets written from the seed text (not from the aliases).

For each set: the share of in-topic questions whose confident answer is one of `expect`, and
how many off-topic questions (expect: null) got a confident answer anyway. The main set must
reach 95 % with at most one confident off-topic answer; the held-out set is reported only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from bot.service import BriefingService

DATA = Path(__file__).resolve().parents[1] / "data"
KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
KINDS = {"paraphrase", "keyword", "misspelling", "offtopic"}
MIN_MAIN_QUESTIONS = 80
MIN_ACCURACY = 0.95
MAX_CONFIDENT_OFF_TOPIC = 1


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

    def lines(self) -> list[str]:
        head = (
            f"{self.name}: in-topic {self.correct}/{self.in_topic} = {self.accuracy:.1%} "
            f"(need >= {MIN_ACCURACY:.0%}); off-topic answered confidently "
            f"{self.confident_off_topic}/{self.off_topic} (allowed <= {MAX_CONFIDENT_OFF_TOPIC})"
        )
        return [head, *(f"    {m}" for m in self.misses)]


def load_questions(filename: str) -> list[dict[str, object]]:
    data = yaml.safe_load((DATA / filename).read_text(encoding="utf-8"))
    return list(data["questions"])


def expected(item: dict[str, object]) -> list[str] | None:
    expect = item["expect"]
    if expect is None:
        return None
    return [expect] if isinstance(expect, str) else list(expect)  # type: ignore[arg-type]


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


@pytest.mark.parametrize(
    ("filename", "minimum"),
    [("eval_questions.yaml", MIN_MAIN_QUESTIONS), ("eval_holdout.yaml", 30)],
)
def test_evaluation_set_is_well_formed(filename, minimum, expected_slugs):
    questions = load_questions(filename)
    assert len(questions) >= minimum
    assert len({str(q["q"]).casefold() for q in questions}) == len(questions), "duplicate question"
    for item in questions:
        assert set(item) == {"q", "expect", "kind"}, item
        assert item["kind"] in KINDS, item
        wanted = expected(item)
        assert (wanted is None) == (item["kind"] == "offtopic"), item
        assert wanted is None or set(wanted) <= set(expected_slugs), item
    assert {q["kind"] for q in questions} == KINDS


# The briefing is only read (no server id, nothing recorded), so one serves the whole module.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def briefing(tmp_path_factory) -> AsyncIterator[BriefingService]:
    service = await BriefingService.open(tmp_path_factory.mktemp("eval") / "db.sqlite3", KNOWLEDGE)
    yield service
    await service.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def main_figures(briefing) -> Figures:
    return await evaluate(briefing, "eval_questions", load_questions("eval_questions.yaml"))


@in_module_loop
async def test_main_set_in_topic_accuracy(main_figures, report):
    for line in main_figures.lines():
        report(line)
    assert len(load_questions("eval_questions.yaml")) >= MIN_MAIN_QUESTIONS
    assert main_figures.in_topic >= 1
    assert main_figures.accuracy >= MIN_ACCURACY, "\n".join(main_figures.lines())


@in_module_loop
async def test_main_set_off_topic_confident_answers(main_figures, report):
    for line in main_figures.lines():
        report(line)
    assert main_figures.off_topic >= 1
    assert main_figures.confident_off_topic <= MAX_CONFIDENT_OFF_TOPIC, "\n".join(
        main_figures.lines()
    )


@in_module_loop
async def test_holdout_set_figures(briefing, report):
    questions = load_questions("eval_holdout.yaml")
    figures = await evaluate(briefing, "eval_holdout", questions)
    for line in figures.lines():
        report(line)
    assert figures.in_topic + figures.off_topic == len(questions)
    assert figures.in_topic >= 1 and figures.off_topic >= 1
