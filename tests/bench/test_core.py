"""What the benchmarks share: the one log counter and the one profiler."""

from __future__ import annotations

import logging

import pytest

from bench import core
from bench.core import ROOT, Clock, counting_logs, profiling


def test_the_log_counter_counts_warnings_and_the_waits_discord_py_logged() -> None:
    with counting_logs() as logs:
        logging.getLogger("bot.cogs.ask").warning("could not defer interaction %s (HTTP 404)", 7)
        logging.getLogger("bot.cogs.ask").warning("could not defer interaction %s (HTTP 404)", 8)
        logging.getLogger("discord.http").warning(
            "We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds.",
            "POST",
            "/channels/1/messages",
            0.25,
        )
        logging.getLogger("bot.service").info("not counted")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("asyncio").exception("Task exception was never retrieved")
    assert logs.counts[("WARNING", "bot.cogs.ask", "could not defer interaction %s")] == 2
    assert logs.rate_limit_retries == 1 and logs.rate_limit_wait_s == pytest.approx(0.25)
    assert logs.total(logging.WARNING) == 4 and logs.total(logging.ERROR) == 1
    error = ("ERROR", "asyncio", "Task exception was never retrieved [ValueError: boom]")
    assert logs.counts[error] == 1
    assert logs.summary(1) == "2 × WARNING bot.cogs.ask: 'could not defer interaction %s'"
    logging.getLogger("bot.cogs.ask").warning("after the block")
    assert logs.total(logging.WARNING) == 4


def test_the_profiler_charges_time_to_this_checkout_wherever_it_is(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert core._place((str(ROOT / "bot" / "search.py"), 1, "rank")) == "bot (bot/)"
    fake = str(ROOT / "tests" / "fakediscord" / "gateway.py")
    assert core._place((fake, 1, "send")) == "fake Discord (tests/fakediscord/)"
    assert core._place((str(ROOT / "bench" / "core.py"), 1, "ms")) == "load generator (bench/)"
    assert core._place(("/elsewhere/bot/search.py", 1, "rank")) is None  # another checkout
    breakdowns: list[str] = []
    with profiling(True, "busy clock", breakdowns=breakdowns, items=10):
        clock = Clock(core.datetime(2026, 1, 1))
        for _ in range(1_000):
            clock()
    assert "=== cProfile: busy clock ===" in capsys.readouterr().err
    [breakdown] = breakdowns
    assert breakdown.startswith("#### Profile: busy clock")
    assert "| where | own time s | share | share of busy | ms per item |" in breakdown


def test_a_disabled_profiler_does_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    breakdowns: list[str] = []
    with profiling(False, "idle", breakdowns=breakdowns):
        pass
    assert breakdowns == [] and capsys.readouterr().err == ""
