"""The search benchmark runs end to end on tiny packs and prints well-formed tables.

Only the shape of the report is checked: speed is measured by `python -m bench`, not by tests.
"""

from __future__ import annotations

import math
import re

import pytest

from bench import search_bench, synthetic
from bench.__main__ import BENCHMARKS, parse
from bench.core import Options, percentile
from bot.sections import validate

SIZES = (10, 200)
EXPECTED_COLUMNS = {
    "Import and load": [
        "pack",
        "body words / chars",
        "generate s",
        "import s",
        "load s",
        "bot RSS after load MB",
        "bot max RSS MB",
        "target MB",
    ],
    "ask": [
        "pack",
        "asks",
        "mean ms",
        "p50 ms",
        "p99 ms",
        "target mean ms",
        "target p99 ms",
        "naive asks",
        "naive p50 ms",
        "naive p99 ms",
        "ours/naive p50",
        "ours/naive p99",
    ],
    "Autocomplete": ["pack", "inputs", "p50 ms", "p99 ms", "target p99 ms"],
    "Edits": [
        "pack",
        "servers with own sections",
        "edits",
        "edit visible p50 ms",
        "edit visible p99 ms",
        "target ms",
        "refresh p50 ms",
        "full rebuild s (baseline)",
        "rebuild / edit p99",
        "max RSS with a rebuild MB",
    ],
    "Isolation": [
        "stuffed servers x topics",
        "questions",
        "clean server's answers unchanged",
        "alone p50 / p99 ms",
        "among them p50 / p99 ms",
        "stuffed servers answering their own",
    ],
    "Answers": ["pack", "on-topic answered right", "typo'd answered right", "off-topic declined"],
}
NUMBER = re.compile(r"^[\d,]+(\.\d+)?$")


def tables(report: str) -> dict[str, list[list[str]]]:
    """Each `### Heading`'s Markdown table as rows of cells (the header row first)."""
    found: dict[str, list[list[str]]] = {}
    heading = None
    for line in report.splitlines():
        if line.startswith("### "):
            heading = line[4:].split(" (")[0].strip()
        elif line.startswith("|") and heading is not None and not line.startswith("|-"):
            found.setdefault(heading, []).append([c.strip() for c in line.strip("|").split("|")])
    return found


@pytest.fixture(scope="module")
def report() -> str:
    return search_bench.run(Options(quick=True, sizes=SIZES))


def test_report_has_every_table_with_its_columns_and_one_row_per_pack(report: str) -> None:
    found = tables(report)
    assert set(found) == set(EXPECTED_COLUMNS)
    for name, columns in EXPECTED_COLUMNS.items():
        header, *rows = found[name]
        assert header == columns, name
        assert all(len(row) == len(columns) for row in rows), name
        if name == "Edits":
            assert [row[0] for row in rows] == ["200"]  # the largest pack holds the servers
        elif name == "Isolation":
            assert len(rows) == 1
        else:
            assert [row[0] for row in rows] == ["curated (10)", "10", "200"], name


def test_figures_are_positive_numbers(report: str) -> None:
    found = tables(report)
    for name in ("ask", "Autocomplete"):
        header, *rows = found[name]
        for row in rows:
            for column, cell in zip(header[1:], row[1:], strict=True):
                if column.startswith("target"):
                    continue
                assert NUMBER.match(cell), (name, column, cell)
                assert float(cell.replace(",", "")) > 0, (name, column, cell)
    header, *rows = found["Import and load"]
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        assert float(cells["import s"].replace(",", "")) >= 0, row[0]  # 10 sections: ~0.00 s
        for column in ("bot RSS after load MB", "bot max RSS MB"):
            assert float(cells[column].replace(",", "")) > 0, (row[0], column)
        words, chars = (float(part) for part in cells["body words / chars"].split(" / "))
        assert 0 < words < chars
    assert [row[2] for row in rows[1:]] != ["-", "-"]  # synthetic packs report generation time
    header, *rows = found["Edits"]
    cells = dict(zip(header, rows[0], strict=True))
    assert int(cells["servers with own sections"]) > 0 and int(cells["edits"]) > 0
    assert float(cells["edit visible p99 ms"]) > 0
    header, *rows = found["Isolation"]
    cells = dict(zip(header, rows[0], strict=True))
    unchanged, asked = cells["clean server's answers unchanged"].split("/")
    assert unchanged == asked  # other servers' topics never change a clean server's answers
    own, checked = cells["stuffed servers answering their own"].split("/")
    assert own == checked


def test_synthetic_pack_is_valid_unique_and_deterministic() -> None:
    curated = synthetic.curated_pack()
    pack = synthetic.generate_pack(300, seed=7, curated=curated)
    assert pack == synthetic.generate_pack(300, seed=7, curated=curated)
    slugs = [c.slug for c in pack] + [c.slug for c in curated]
    assert len(set(slugs)) == len(slugs)
    for content in pack:
        assert validate(content) == content
        assert 4 <= len(content.title.split()) <= 10 and content.title.endswith("?")
        assert 3 <= len(content.aliases) <= 12
        assert all(2 <= len(alias.split()) <= 6 for alias in content.aliases)
        assert 60 <= len(content.body.split()) <= 110
    _words, chars = synthetic.body_lengths(pack)
    assert 350 < chars < 750


def test_questions_and_partials_are_bounded_and_mixed() -> None:
    pack = synthetic.generate_pack(100, seed=7, curated=())
    questions = synthetic.make_questions(pack, 200, seed=7)
    assert len(questions) == 200
    assert {q.kind for q in questions} == {"on-topic", "typo", "off-topic"}
    assert all(q.text.strip() for q in questions)
    partials = synthetic.make_partials(pack, 200, seed=7)
    assert len(partials) == 200 and "" in [p.strip() for p in partials]


def test_command_line() -> None:
    names, options = parse(["--only", "search", "--quick", "--sizes", "10,200"])
    assert names == ["search"] and options.quick and options.sizes == (10, 200)
    assert "search" in BENCHMARKS
    with pytest.raises(SystemExit):
        parse(["--only", "nonsense"])


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.5))
