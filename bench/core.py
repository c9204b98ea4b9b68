"""What every benchmark shares: its options, percentiles, memory readings and Markdown tables."""

from __future__ import annotations

import math
import os
import platform
import resource
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_SEED = 20261128


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
