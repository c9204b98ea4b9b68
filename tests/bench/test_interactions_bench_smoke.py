"""The interactions benchmark runs end to end in --quick mode and reports what it measured.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only interactions`.
"""

from __future__ import annotations

from bench import interactions_bench
from bench.__main__ import BENCHMARKS
from bench.core import Options, load_questions

QUICK = Options(quick=True)


def test_the_benchmark_is_registered() -> None:
    assert BENCHMARKS["interactions"] is interactions_bench.run


def test_questions_come_from_the_evaluation_set() -> None:
    questions = load_questions()
    assert len(questions) > 50 and all(q.strip() for q in questions)


async def test_interactions_quick_run_answers_and_records_every_ask() -> None:
    results = await interactions_bench._run_interactions(QUICK)
    phases = [*results.steady, results.burst]
    assert [p.count for p in phases] == [interactions_bench.QUICK_COUNT] * 3
    for phase in phases:
        kinds = phase.kinds()
        assert kinds["cooldown"] == 0 and kinds["error"] == 0, (phase.name, kinds)
        # The fake's request log, not the interactions' own state, says what was answered.
        sent_at = {ix.id: ix.sent_at for ix in phase.interactions}
        in_time = [
            ix_id
            for ix_id, at in phase.callback_at.items()
            if at - sent_at[ix_id] <= interactions_bench.LOST_AFTER_S
        ]
        assert phase.lost == phase.count - len(in_time), (phase.name, phase.lost, len(in_time))
        assert len(phase.latencies()) == len(in_time)
        assert phase.lost == 0, (phase.name, kinds)
    assert results.asks_recorded == results.asks_expected
    report = interactions_bench.render_interactions(results)
    assert report.startswith("## Interactions")
    for heading in ("### Steady rate", "### Burst: all at once", "### Answers"):
        assert heading in report
    assert "| 200/s |" in report and "| burst |" in report
