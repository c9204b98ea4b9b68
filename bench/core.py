"""What every benchmark and the soak share: options, percentiles, memory readings, Markdown
tables, the injected clock, the evaluation questions, one log counter and one profiler."""

from __future__ import annotations

import contextlib
import cProfile
import io
import logging
import math
import os
import platform
import pstats
import resource
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import yaml

DEFAULT_SEED = 20261128
ROOT = Path(__file__).resolve().parents[1]  # the checkout, wherever it is
QUESTIONS_FILE = ROOT / "tests" / "data" / "eval_questions.yaml"


@dataclass(frozen=True, slots=True)
class Options:
    """Command-line options, passed to every benchmark function."""

    quick: bool = False  # small sizes and few samples: a smoke test, not figures to quote
    seed: int = DEFAULT_SEED
    sizes: tuple[int, ...] | None = None  # override a benchmark's own list of sizes
    profile: bool = False  # print cProfile statistics to stderr


# A benchmark takes the options and returns its Markdown section (a heading and tables).
Benchmark = Callable[[Options], str]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: p99 of fewer than 100 samples is their maximum."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def max_rss_mb() -> float:
    """The process's peak resident set size so far (ru_maxrss; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM on Linux). `ru_maxrss` is not that in a
    process started by fork and exec: Linux carries the forking parent's peak into it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return max_rss_mb()


def current_rss_mb() -> float | None:
    """Resident set size now (Linux only: None elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table, columns padded so it also reads well as plain text."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def header() -> str:
    """Where and when the figures were taken, for the top of the report."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            "# Briefbot benchmarks",
            "",
            f"- date: {now}",
            f"- python: {platform.python_implementation()} {platform.python_version()}",
            f"- cpus: {os.cpu_count()}",
            f"- platform: {platform.platform()} ({platform.machine()})",
        ]
    )


def ms(seconds: float) -> str:
    """Seconds as milliseconds for a table: one decimal below 100 ms, whole ones above."""
    value = seconds * 1000
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def check(ok: bool) -> str:
    """A target's verdict in a table cell."""
    return "✓" if ok else "✗ MISSED"


# -- the bot under load -------------------------------------------------------------------------


class Clock:
    """The bot's injected clock: fixed until the benchmark moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def load_questions(path: Path = QUESTIONS_FILE) -> list[str]:
    """The evaluation questions, in file order (on topic, misspelled and off topic)."""
    data = yaml.safe_load(path.read_text("utf-8"))
    questions = [str(item["q"]) for item in data["questions"] if str(item.get("q", "")).strip()]
    if not questions:
        raise ValueError(f"{path} has no questions")
    return questions


async def count_asks(db_path: Path) -> int:
    """The `asks` rows in the bot's database, read through a connection of its own."""
    async with aiosqlite.connect(db_path) as conn, conn.execute("SELECT COUNT(*) FROM asks") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


# -- logs -----------------------------------------------------------------------------------------


class LogCounter(logging.Handler):
    """Counts the WARNING and ERROR records of every logger (the bot, discord.py, asyncio,
    aiohttp) instead of printing them, and the 429s discord.py's rate limiter waited out.

    Nothing configures logging in `python -m bench`, so warnings and errors (with their
    tracebacks) would otherwise land on stderr by the thousand under overload.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.rate_limit_retries = 0
        self.rate_limit_wait_s = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        template = str(record.msg)
        text = template.split("(")[0].strip()[:100]
        if record.exc_info and record.exc_info[1] is not None:
            text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"[:200]
        self.counts[(record.levelname, record.name, text)] += 1
        if template.startswith("We are being rate limited") and "Retrying in" in template:
            self.rate_limit_retries += 1
            if isinstance(record.args, tuple) and record.args:
                self.rate_limit_wait_s += float(str(record.args[-1]))

    def total(self, level: int) -> int:
        """Records counted at `level` or above."""
        return sum(
            n for (name, _, _), n in self.counts.items() if logging.getLevelName(name) >= level
        )

    def summary(self, limit: int = 4) -> str:
        if not self.counts:
            return "none"
        return "; ".join(
            f"{n:,} × {level} {name}: '{text}'"
            for (level, name, text), n in self.counts.most_common(limit)
        )


@contextlib.contextmanager
def counting_logs() -> Iterator[LogCounter]:
    """Count every WARNING and ERROR record logged in the block (on the root logger)."""
    handler = LogCounter()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# -- profiling ------------------------------------------------------------------------------------

# Where a function lives, by its file (first match wins). Functions elsewhere (the standard
# library, built-ins) are charged to whoever called them, in proportion to the calls' time.
_PLACES = (
    (f"{ROOT / 'bot'}{os.sep}", "bot (bot/)"),
    (f"{ROOT / 'tests' / 'fakediscord'}{os.sep}", "fake Discord (tests/fakediscord/)"),
    (f"{ROOT / 'bench'}{os.sep}", "load generator (bench/)"),
    ("/discord/", "discord.py"),
    ("/aiohttp/", "aiohttp (client and the fake's server)"),
    ("/yarl/", "aiohttp (client and the fake's server)"),
    ("/multidict/", "aiohttp (client and the fake's server)"),
    ("/aiosqlite/", "aiosqlite (event-loop side)"),
    ("/rapidfuzz/", "bot (bot/)"),
    ("/snowballstemmer/", "bot (bot/)"),
    ("/asyncio/", "asyncio event loop"),
    ("/selectors.py", "asyncio event loop"),
)
_IDLE = "idle: waiting in epoll"
_UNOWNED = "unattributed (stdlib, no known caller)"
PROFILE_NOTE = (
    "- cProfile own time (slowed by profiling), summed by package; standard-library and\n"
    "  built-in functions (json, zlib, copy, sockets) are charged to their callers in\n"
    "  proportion to call time. Top functions are printed to stderr."
)

Func = tuple[str, int, str]
# pstats' raw table: function -> (calls, primitive calls, own time, cumulative time, callers).
Raw = dict[Func, tuple[Any, ...]]
Shares = dict[Func, dict[str, float]]


@contextlib.contextmanager
def profiling(
    enabled: bool, title: str, *, breakdowns: list[str] | None = None, items: int = 1
) -> Iterator[None]:
    """cProfile the block (when `enabled`) and print its top functions to stderr; given
    `breakdowns`, also append a Markdown table of own time by package, per one of `items`."""
    if not enabled:
        yield
        return
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        print(f"\n=== cProfile: {title} ===\n{out.getvalue()}", file=sys.stderr)
        if breakdowns is not None:
            breakdowns.append(_breakdown(stats, title, items))


def _place(func: Func) -> str | None:
    filename, _line, name = func
    if filename == "~" and ("poll" in name or "select" in name):
        return _IDLE
    for needle, place in _PLACES:
        if needle in filename:
            return place
    return None


def _owners(raw: Raw, func: Func, seen: frozenset[Func], memo: Shares) -> dict[str, float]:
    """Shares of `func`'s time by owning package, following callers up to a known place."""
    place = _place(func)
    if place is not None:
        return {place: 1.0}
    if func in memo:
        return memo[func]
    callers: Raw = raw.get(func, (0, 0, 0.0, 0.0, {}))[4]
    weights = {c: max(v[3], 1e-9) for c, v in callers.items() if c not in seen}
    total = sum(weights.values())
    if not weights or len(seen) > 30:
        return {_UNOWNED: 1.0}
    shares: Counter[str] = Counter()
    for caller, weight in weights.items():
        for owner, share in _owners(raw, caller, seen | {func}, memo).items():
            shares[owner] += share * weight / total
    memo[func] = dict(shares)
    return memo[func]


def _breakdown(stats: pstats.Stats, title: str, items: int) -> str:
    """Own time (tottime) of every profiled function, summed by the package it belongs to."""
    raw: Raw = stats.stats  # type: ignore[attr-defined]
    totals: Counter[str] = Counter()
    memo: Shares = {}
    for func, (_cc, _nc, tottime, _ct, _callers) in raw.items():
        for owner, share in _owners(raw, func, frozenset(), memo).items():
            totals[owner] += tottime * share
    whole = sum(totals.values()) or 1.0
    busy = whole - totals.get(_IDLE, 0.0) or 1.0
    rows = [
        [
            place,
            f"{seconds:.2f}",
            f"{100 * seconds / whole:.0f}%",
            "-" if place == _IDLE else f"{100 * seconds / busy:.0f}%",
            "-" if place == _IDLE else f"{1000 * seconds / items:.2f}",
        ]
        for place, seconds in totals.most_common()
        if seconds >= 0.005
    ]
    return "\n".join(
        [
            f"#### Profile: {title}",
            "",
            table(["where", "own time s", "share", "share of busy", "ms per item"], rows),
            "",
            f"- busy (all but idle): {busy:.2f} s for {items:,} items, {1000 * busy / items:.2f} ms"
            f" each, so about {items / busy:,.0f} items/s on one core while profiled.",
        ]
    )
