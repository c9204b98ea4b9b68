"""The learning benchmark runs end to end on the first questions of each set and prints its
tables; teaching in one server never lowers the held-out rate there nor changes another server.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only learning`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from bench import learning_bench
from bench.__main__ import BENCHMARKS
from bench.core import Options

QUICK = Options(quick=True)
COLUMNS = {
    "In-topic rate before and after teaching": [
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
    "The loop in server G": [
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
    "Teach to next answer": ["teaches", "p50 ms", "p99 ms"],
}
# Nothing in the curated pack names it: it gets no answer until taught.
UNKNOWN = "who gets zaporizhzhia"


def tables(report: str) -> dict[str, list[list[str]]]:
    """Each `### Heading`'s Markdown table as rows of cells (the header row first)."""
    found: dict[str, list[list[str]]] = {}
    heading = None
    for line in report.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
        elif line.startswith("|") and heading is not None and not line.startswith("|-"):
            found.setdefault(heading, []).append([c.strip() for c in line.strip("|").split("|")])
    return found


@pytest.fixture(scope="module")
def result() -> learning_bench.LearningResult:
    return asyncio.run(learning_bench.run_learning(QUICK))


def test_the_benchmark_is_registered() -> None:
    assert BENCHMARKS["learning"] is learning_bench.run


def test_report_has_its_tables_with_their_columns(result: learning_bench.LearningResult) -> None:
    report = learning_bench.render_learning(result)
    assert report.startswith("## Learning loop")
    found = tables(report)
    assert set(found) == set(COLUMNS)
    for name, columns in COLUMNS.items():
        header, *rows = found[name]
        assert header == columns, name
        assert all(len(row) == len(columns) for row in rows), name
    rates = found["In-topic rate before and after teaching"][1:]
    assert [(row[0], row[1][0]) for row in rates] == [
        (name, server) for name in ("main", "held-out", "word forms") for server in "GH"
    ]
    assert all(int(row[2]) == learning_bench.QUICK_QUESTIONS for row in rates)
    (loop,) = found["The loop in server G"][1:]
    (timing,) = found["Teach to next answer"][1:]
    assert int(timing[0]) == int(loop[4]) == result.loop.taught


def test_held_out_did_not_drop_and_the_other_server_is_unchanged(
    result: learning_bench.LearningResult,
) -> None:
    report = learning_bench.render_learning(result)
    assert learning_bench.held_out_kept(result)
    assert "- held-out did not drop: yes" in report.splitlines()
    same, asked = learning_bench.unchanged(result)
    assert same == asked == 3 * learning_bench.QUICK_QUESTIONS
    assert f"- server H unchanged: yes ({same}/{asked} answers the same)" in report.splitlines()


def test_every_miss_is_taught_once_and_answered_next(result: learning_bench.LearningResult) -> None:
    loop = result.loop
    assert loop.marked + loop.unanswered == loop.misses
    assert loop.taught <= loop.misses and not loop.failed
    assert loop.next_right == loop.taught == len(loop.teach_ms)
    assert all(t > 0 for t in loop.teach_ms)


async def test_an_unanswered_question_is_taught_to_what_was_expected(tmp_path: Path) -> None:
    main = tmp_path / "main.yaml"
    questions = [{"q": UNKNOWN, "expect": "ceding-territory", "kind": "keyword"}]
    main.write_text(yaml.safe_dump({"questions": questions}), "utf-8")
    result = await learning_bench.run_learning(QUICK, main=main)
    assert result.before["main", learning_bench.SERVER].seen[0][0] is None
    assert (result.loop.misses, result.loop.unanswered, result.loop.taught) == (1, 1, 1)
    assert result.after["main", learning_bench.SERVER].seen[0][0] == "ceding-territory"
    assert result.after["main", learning_bench.OTHER_SERVER].seen[0][0] is None
    assert learning_bench.held_out_kept(result)
