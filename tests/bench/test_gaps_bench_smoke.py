"""The gaps benchmark runs end to end in --quick mode and reports what it measured.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only gaps`.
"""

from __future__ import annotations

from bench import gaps_bench
from bench.__main__ import BENCHMARKS
from bench.core import Options

QUICK = Options(quick=True)


def test_the_benchmark_is_registered() -> None:
    assert BENCHMARKS["gaps"] is gaps_bench.run


async def test_quick_run_counts_one_servers_whole_window_and_times_asks_both_ways() -> None:
    result = await gaps_bench._run_gaps(QUICK)
    seeded = result.seeded
    assert seeded.unanswered == gaps_bench.QUICK_GAPS_ASKS
    assert seeded.rows > seeded.unanswered  # answered, older and other servers' questions too
    # Every question of the window with a word is counted once, and nothing else.
    assert result.found.asked == seeded.worded
    assert sum(gap.count for gap in result.found.gaps) <= seeded.worded
    assert result.in_process  # the database is a file: the report ran in the worker process
    assert len(result.alone_s) == len(result.together_s) == gaps_bench.QUICK_REPORTS
    assert len(result.ask_alone_ms) == gaps_bench.QUICK_ASKS
    assert len(result.ask_together_ms) >= gaps_bench.QUICK_REPORTS  # one ask per report at least
    report = gaps_bench.render_gaps(result)
    assert report.startswith("## /kb review's unanswered groups over a large ask log")
    for row in (
        "| first (starts the worker) ",
        "| alone ",
        "| while other servers ask ",
        "| a report running ",
        "| ratio ",
    ):
        assert row in report
