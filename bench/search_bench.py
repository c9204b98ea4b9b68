"""Search at scale: pack import, catalog build, `ask` and autocomplete latency, memory, and a
naive rapidfuzz baseline, for the curated pack and synthetic packs of growing size.

Each size runs against a fresh SQLite file in a temporary folder, through the same calls the
bot makes: `SectionStore.import_curated`, then `Catalog(await store.all(...))` as
`BriefingService.reload` does, then `BriefingService.ask(question, None, record=False)` and
`BriefingService.autocomplete(partial, None)`. Every loop has a fixed number of samples, and
the naive baseline also stops after `NAIVE_BUDGET_S` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import process

from bench import synthetic
from bench.core import Options, current_rss_mb, max_rss_mb, percentile, profiling, table
from bot.client import settle_heap
from bot.search import Catalog
from bot.sections import Section, SectionContent
from bot.service import BriefingService
from bot.store import Database

FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (200,)
QUESTIONS = 300
PARTIALS = 300
QUICK_SAMPLES = 40
WARMUP = 10
# The naive baseline scans every body per question: fewer questions for the large packs.
NAIVE_QUESTIONS = ((1_000, 300), (10_000, 50), (100_000, 20))
NAIVE_BUDGET_S = 20.0
NAIVE_MIN_QUESTIONS = 5
# tracemalloc slows allocation about six-fold: above this size only the RSS growth is read.
TRACE_LIMIT = 10_000
TARGETS_ASK_P99 = {10_000: 5.0, 100_000: 30.0}
TARGETS_AUTOCOMPLETE_P99 = {10_000: 2.0}
CURATED = "curated"


@dataclass(slots=True)
class SizeResult:
    label: str
    sections: int
    generate_s: float | None
    import_s: float
    load_s: float
    catalog_s: float
    catalog_peak_mb: float | None
    catalog_rss_mb: float | None
    max_rss_mb: float
    body_words: float
    body_chars: float
    ask_ms: list[float]
    autocomplete_ms: list[float]
    naive_ms: list[float]
    right: dict[str, tuple[int, int]]  # kind -> (as expected, asked)


def naive_count(sections: int, quick: bool) -> int:
    if quick:
        return QUICK_SAMPLES
    for limit, count in NAIVE_QUESTIONS:
        if sections <= limit:
            return count
    return NAIVE_QUESTIONS[-1][1]


def _time_ms(call: Callable[[str], object], argument: str) -> float:
    started = time.perf_counter()
    call(argument)
    return (time.perf_counter() - started) * 1000


def _catalog_peak_mb(sections: Sequence[Section]) -> float:
    """tracemalloc's peak while building a second, discarded catalog from the same rows."""
    gc.collect()
    tracemalloc.start()
    try:
        Catalog(sections)
        return tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()


async def measure(
    label: str,
    pack: list[SectionContent],
    options: Options,
    generate_s: float | None,
    *,
    profile: bool = False,
) -> SizeResult:
    """Import `pack` into a fresh database, build the catalog, then time asks and autocomplete."""
    quick = options.quick
    samples = QUICK_SAMPLES if quick else QUESTIONS
    questions = synthetic.make_questions(pack, samples + WARMUP, options.seed)
    partials = synthetic.make_partials(pack, QUICK_SAMPLES if quick else PARTIALS, options.seed)
    bodies = [content.body for content in pack]
    words, chars = synthetic.body_lengths(pack)
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        db = await Database.open(Path(folder) / "bench.sqlite3")
        try:
            service = BriefingService(db, None)
            service.after_reload = settle_heap  # as the bot's process does
            with profiling(profile, f"import_curated, {label}"):
                started = time.perf_counter()
                await service.sections.import_curated(pack)
                import_s = time.perf_counter() - started

            gc.collect()
            rss_before = current_rss_mb()
            with profiling(profile, f"load + Catalog(), {label}"):
                load_started = time.perf_counter()
                rows = await service.sections.all(statuses=("active", "hidden"))
                loaded = time.perf_counter()
                catalog = Catalog(rows)
                built = time.perf_counter()
            rss_after = current_rss_mb()
            service.use_catalog(catalog)  # as `reload` does: frozen out of the collector's way
            catalog_rss = (
                rss_after - rss_before if rss_before is not None and rss_after is not None else None
            )
            peak = _catalog_peak_mb(rows) if len(pack) <= TRACE_LIMIT else None
            del rows

            for question in questions[:WARMUP]:
                await service.ask(question.text, None, record=False)
            ask_ms: list[float] = []
            right: dict[str, tuple[int, int]] = {}
            with profiling(profile, f"ask x{len(questions) - WARMUP}, {label}"):
                for question in questions[WARMUP:]:
                    started = time.perf_counter()
                    answer = await service.ask(question.text, None, record=False)
                    ask_ms.append((time.perf_counter() - started) * 1000)
                    got = answer.section.slug if answer.section is not None else None
                    good, total = right.get(question.kind, (0, 0))
                    right[question.kind] = (good + (got == question.expect), total + 1)

            with profiling(profile, f"autocomplete x{len(partials)}, {label}"):
                autocomplete = functools.partial(service.autocomplete, guild_id=None)
                autocomplete_ms = [_time_ms(autocomplete, partial) for partial in partials]
        finally:
            await db.close()

    def naive(question: str) -> object:
        return process.extractOne(question, bodies)

    naive_ms: list[float] = []
    deadline = time.perf_counter() + NAIVE_BUDGET_S
    for question in questions[WARMUP : WARMUP + naive_count(len(pack), quick)]:
        naive_ms.append(_time_ms(naive, question.text))
        if len(naive_ms) >= NAIVE_MIN_QUESTIONS and time.perf_counter() > deadline:
            break

    return SizeResult(
        label=label,
        sections=len(pack),
        generate_s=generate_s,
        import_s=import_s,
        load_s=loaded - load_started,
        catalog_s=built - loaded,
        catalog_peak_mb=peak,
        catalog_rss_mb=catalog_rss,
        max_rss_mb=max_rss_mb(),
        body_words=words,
        body_chars=chars,
        ask_ms=ask_ms,
        autocomplete_ms=autocomplete_ms,
        naive_ms=naive_ms,
        right=right,
    )


def _sizes(options: Options) -> tuple[int, ...]:
    if options.sizes is not None:
        return options.sizes
    return QUICK_SIZES if options.quick else FULL_SIZES


def _label(result: SizeResult) -> str:
    return f"{result.label} ({result.sections:,})" if result.label == CURATED else result.label


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _target(targets: dict[int, float], sections: int) -> str:
    return f"≤ {targets[sections]:g}" if sections in targets else "-"


def _share(good: int, total: int) -> str:
    return f"{good}/{total} ({100 * good / total:.0f}%)" if total else "-"


def render(results: Sequence[SizeResult]) -> str:
    """The search section of the report: four tables and what their columns mean."""
    build = table(
        [
            "pack",
            "body words / chars",
            "generate s",
            "import s",
            "load s",
            "catalog s",
            "catalog peak MB",
            "catalog ΔRSS MB",
            "max RSS MB",
        ],
        [
            [
                _label(r),
                f"{r.body_words:.0f} / {r.body_chars:.0f}",
                "-" if r.generate_s is None else f"{r.generate_s:.2f}",
                f"{r.import_s:.2f}",
                f"{r.load_s:.2f}",
                f"{r.catalog_s:.2f}",
                _mb(r.catalog_peak_mb),
                _mb(r.catalog_rss_mb),
                _mb(r.max_rss_mb),
            ]
            for r in results
        ],
    )
    ask_rows = []
    for r in results:
        ours50, ours99 = percentile(r.ask_ms, 0.5), percentile(r.ask_ms, 0.99)
        naive50, naive99 = percentile(r.naive_ms, 0.5), percentile(r.naive_ms, 0.99)
        ask_rows.append(
            [
                _label(r),
                len(r.ask_ms),
                _ms(ours50),
                _ms(ours99),
                _target(TARGETS_ASK_P99, r.sections),
                len(r.naive_ms),
                _ms(naive50),
                _ms(naive99),
                f"{ours50 / naive50:.3f}",
                f"{ours99 / naive99:.3f}",
            ]
        )
    ask = table(
        [
            "pack",
            "asks",
            "p50 ms",
            "p99 ms",
            "target p99 ms",
            "naive asks",
            "naive p50 ms",
            "naive p99 ms",
            "ours/naive p50",
            "ours/naive p99",
        ],
        ask_rows,
    )
    autocomplete = table(
        ["pack", "inputs", "p50 ms", "p99 ms", "target p99 ms"],
        [
            [
                _label(r),
                len(r.autocomplete_ms),
                _ms(percentile(r.autocomplete_ms, 0.5)),
                _ms(percentile(r.autocomplete_ms, 0.99)),
                _target(TARGETS_AUTOCOMPLETE_P99, r.sections),
            ]
            for r in results
        ],
    )
    answers = table(
        ["pack", "on-topic answered right", "typo'd answered right", "off-topic declined"],
        [
            [
                _label(r),
                _share(*r.right.get("on-topic", (0, 0))),
                _share(*r.right.get("typo", (0, 0))),
                _share(*r.right.get("off-topic", (0, 0))),
            ]
            for r in results
        ],
    )
    return "\n".join(
        [
            "## Search",
            "",
            "Synthetic packs are generated by `bench/synthetic.py` (seeded, deterministic):",
            "question titles of 4-10 words, 3-12 aliases of 2-6 words, bodies of 60-110 words",
            "drawn Zipf-like from a few thousand English words, the curated pack's own words and",
            "invented proper nouns (200 + n/20 of them). Each pack is imported into a fresh",
            "temporary SQLite file. Targets are goals shown for comparison, not asserted.",
            "",
            "### Import and catalog",
            "",
            build,
            "",
            "- import: `SectionStore.import_curated(pack)` (one transaction, fresh database).",
            "- load: `SectionStore.all(statuses=('active', 'hidden'))`; catalog: `Catalog(rows)`.",
            "  Together they are what `BriefingService.reload` does after every change.",
            "- catalog peak: tracemalloc peak while building a second catalog from the loaded",
            f"  rows (the rows themselves not counted); only up to {TRACE_LIMIT:,} sections, as",
            "  tracemalloc slows the build about six-fold. catalog ΔRSS: growth of the resident",
            "  set across load + build (rows included). max RSS: `ru_maxrss` of the benchmark",
            "  process so far (cumulative: the packs run smallest first).",
            "",
            "### ask",
            "",
            ask,
            "",
            "- ours: `BriefingService.ask(question, None, record=False)` (FTS5 bm25, then",
            f"  rapidfuzz rescoring), after {WARMUP} warm-up asks. Questions: ~50% a title or",
            "  alias with words dropped, ~25% the same with typos, ~25% off topic.",
            "- naive: `rapidfuzz.process.extractOne(question, bodies)` (default WRatio, no",
            "  processor) over every body, on the first questions of the same list, stopping",
            f"  after {NAIVE_BUDGET_S:g} s per pack.",
            "- p99 is nearest-rank: with fewer than 100 samples it is the slowest one.",
            "",
            "### Autocomplete",
            "",
            autocomplete,
            "",
            "- `Catalog.autocomplete(partial, None)` on prefixes of titles and aliases (cut",
            "  mid-word or after a space), prefixes with a typo, 2-5 letter word starts, empty",
            "  input and off-topic text.",
            "",
            "### Answers (a sanity check of what was timed, not a quality benchmark)",
            "",
            answers,
            "",
            "- right: the section the question was made from (synthetic sections share words, so",
            "  another can fairly win); declined: no confident answer.",
        ]
    )


async def _run_all(options: Options) -> list[SizeResult]:
    curated = synthetic.curated_pack()
    results = [await measure(CURATED, curated, options, None)]
    sizes = _sizes(options)
    for size in sizes:
        started = time.perf_counter()
        pack = synthetic.PackGenerator(options.seed, curated).generate(size)
        generate_s = time.perf_counter() - started
        profile = options.profile and size == max(sizes)
        results.append(await measure(f"{size:,}", pack, options, generate_s, profile=profile))
        del pack
        gc.collect()
    return results


def run(options: Options) -> str:
    """The `search` benchmark: one Markdown section with its tables."""
    return render(asyncio.run(_run_all(options)))
