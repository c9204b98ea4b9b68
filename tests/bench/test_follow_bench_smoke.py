"""The follower-DM benchmark runs end to end in --quick mode and reports what it measured.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only follow`.
"""

from __future__ import annotations

from bench import follow_bench
from bench.__main__ import BENCHMARKS
from bench.core import Options

QUICK = Options(quick=True)


def test_the_benchmark_is_registered() -> None:
    assert BENCHMARKS["follow"] is follow_bench.run


async def test_follow_quick_run_sends_each_follower_one_dm_through_429s_and_40003() -> None:
    plain, faulty = await follow_bench._run_follow(QUICK)
    for run in (plain, faulty):
        assert run.followers == follow_bench.QUICK_FOLLOWERS
        assert run.sent == run.exactly_one == run.dms == run.followers
        assert (run.second_pass_sent, run.errors) == (0, 0)
        assert run.to_last_dm_s > 0
    assert (plain.injected_429, plain.got_40003, plain.backoff_s) == (0, 0, 0)
    assert faulty.got_429 >= faulty.injected_429 == follow_bench.QUICK_429S
    assert faulty.got_40003 == faulty.injected_40003 == follow_bench.INJECTED_40003S
    assert faulty.backoff_s > 0 and faulty.passes > 1
    report = follow_bench.render_follow([plain, faulty])
    assert report.startswith("## Follower DMs")
    assert "| no faults " in report and "× 40003" in report
