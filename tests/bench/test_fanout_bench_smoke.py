"""The fan-out benchmark runs end to end in --quick mode and reports what it measured.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only fanout`.
"""

from __future__ import annotations

from bench import fanout_bench
from bench.__main__ import BENCHMARKS
from bench.core import Options

QUICK = Options(quick=True)


def test_the_benchmark_is_registered() -> None:
    assert BENCHMARKS["fanout"] is fanout_bench.run


async def test_fanout_quick_run_posts_once_per_server_and_waits_out_429s() -> None:
    runs, profiles = await fanout_bench._run_fanout(QUICK)
    plain, limited = runs
    assert profiles == []
    for run in runs:
        assert run.servers == fanout_bench.QUICK_SERVERS
        assert run.posted == run.exactly_one == run.servers
        assert (run.failed, run.retried_later, run.second_tick_posted) == (0, 0, 0)
    assert (plain.injected, plain.got_429, plain.retried) == (0, 0, 0)
    assert limited.injected == limited.got_429 == limited.retried == fanout_bench.QUICK_429S
    report = fanout_bench.render_fanout(runs, profiles)
    assert report.startswith("## Daily explainer fan-out")
    assert "| no 429s " in report and f"| {fanout_bench.QUICK_429S} × 429 " in report
