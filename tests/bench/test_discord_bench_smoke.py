"""The Discord benchmarks run end to end in --quick mode and report what they measured.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only interactions --only fanout`.
"""

from __future__ import annotations

from bench import discord_bench
from bench.__main__ import BENCHMARKS
from bench.core import Options

QUICK = Options(quick=True)


def test_both_benchmarks_are_registered() -> None:
    assert BENCHMARKS["interactions"] is discord_bench.run_interactions
    assert BENCHMARKS["fanout"] is discord_bench.run_fanout


def test_questions_come_from_the_evaluation_set() -> None:
    questions = discord_bench.load_questions()
    assert len(questions) > 50 and all(q.strip() for q in questions)


async def test_interactions_quick_run_answers_and_records_every_ask() -> None:
    results = await discord_bench._run_interactions(QUICK)
    phases = [*results.steady, results.burst]
    assert [p.count for p in phases] == [discord_bench.QUICK_COUNT] * 3
    for phase in phases:
        kinds = phase.kinds()
        assert kinds["cooldown"] == 0 and kinds["error"] == 0, (phase.name, kinds)
        # The fake's request log, not the interactions' own state, says what was answered.
        sent_at = {ix.id: ix.sent_at for ix in phase.interactions}
        in_time = [
            ix_id
            for ix_id, at in phase.callback_at.items()
            if at - sent_at[ix_id] <= discord_bench.LOST_AFTER_S
        ]
        assert phase.lost == phase.count - len(in_time), (phase.name, phase.lost, len(in_time))
        assert len(phase.latencies()) == len(in_time)
        assert phase.lost == 0, (phase.name, kinds)
    assert results.asks_recorded == results.asks_expected
    report = discord_bench.render_interactions(results)
    assert report.startswith("## Interactions")
    for heading in ("### Steady rate", "### Burst: all at once", "### Answers"):
        assert heading in report
    assert "| 200/s |" in report and "| burst |" in report


async def test_fanout_quick_run_posts_once_per_server_and_waits_out_429s() -> None:
    runs, profiles = await discord_bench._run_fanout(QUICK)
    plain, limited = runs
    assert profiles == []
    for run in runs:
        assert run.servers == discord_bench.QUICK_SERVERS
        assert run.posted == run.exactly_one == run.servers
        assert (run.failed, run.retried_later, run.second_tick_posted) == (0, 0, 0)
    assert (plain.injected, plain.got_429, plain.retried) == (0, 0, 0)
    assert limited.injected == limited.got_429 == limited.retried == discord_bench.QUICK_429S
    report = discord_bench.render_fanout(runs, profiles)
    assert report.startswith("## Daily explainer fan-out")
    assert "| no 429s " in report and f"| {discord_bench.QUICK_429S} × 429 " in report
