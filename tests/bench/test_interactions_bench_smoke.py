"""The interactions benchmark runs end to end in --quick mode and reports what it measured.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only interactions`.
"""

from __future__ import annotations

from bench import interactions_bench
from bench.__main__ import BENCHMARKS
from bench.core import Options, load_questions
from bench.interactions_bench import BARE, BRIEFBOT, QUICK_COUNT

QUICK = Options(quick=True)


def test_the_benchmark_is_registered() -> None:
    assert BENCHMARKS["interactions"] is interactions_bench.run


def test_questions_come_from_the_evaluation_set() -> None:
    questions = load_questions()
    assert len(questions) > 50 and all(q.strip() for q in questions)


async def test_both_bots_answer_every_quick_interaction_and_briefbot_records_each() -> None:
    results = await interactions_bench._run_interactions(QUICK)
    assert [c.name for c in results.contenders] == [BARE, BRIEFBOT]
    for contender in results.contenders:
        assert [p.name for p in contender.phases] == ["100/s", "200/s", "burst"]
        assert contender.warmed == contender.warmup
        for phase in contender.phases:
            assert phase.count == QUICK_COUNT
            kinds = phase.kinds()
            assert kinds["cooldown"] == 0 and kinds["error"] == 0, (contender.name, kinds)
            # The fake's request log, not the interactions' own state, says what was answered.
            for sample in phase.samples:
                assert (sample.latency is None) == (sample.logged_latency is None)
            assert phase.lost == 0 and phase.unanswered == 0, (contender.name, kinds)
        assert contender.summary.failed == 0
    bare, ours = results.of(BARE), results.of(BRIEFBOT)
    # The bare bot answers every question with its fixed card, at once.
    assert all(p.kinds()["card"] == p.count and p.deferred == 0 for p in bare.phases)
    assert bare.summary.asks_recorded is None
    assert ours.summary.asks_recorded == ours.asked == ours.warmup + 3 * QUICK_COUNT
    report = interactions_bench.render_interactions(results)
    assert report.startswith("## Interactions")
    for heading in ("### Side by side", "### Steady rate", "### Burst: all at once", "### Answers"):
        assert heading in report
    assert "| p99 ms at 200/s " in report and "Briefbot / bare" in report
    assert f"| {BRIEFBOT} " in report and f"| {BARE} " in report
