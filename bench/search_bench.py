"""Search at scale: pack import, load, `ask` and autocomplete latency, memory, edits made
visible, a naive rapidfuzz baseline, and one server's answers among a thousand others.

Each size is imported into a fresh SQLite file in a temporary folder (`import_curated`); the
largest also gets servers holding sections of their own. Then a separate process
(`bench.search_process`) opens that database as the bot does (`BriefingService.reload`) and
times `ask(question, None, record=False)`, `autocomplete`, and edits in those servers (save,
`refresh`, the next question sees it), so its memory is what a bot with that database holds.
Every loop has a fixed number of samples, and the naive baseline also stops after
`NAIVE_BUDGET_S` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rapidfuzz import process

from bench import synthetic
from bench.core import ROOT, Options, load_questions, percentile, table
from bot.sections import SectionContent
from bot.service import Answer, BriefingService
from bot.store.backends import open_database

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
# Servers holding sections of their own, in the largest pack only, and edits timed there.
SERVERS = 10_000
QUICK_SERVERS = 30
EDITS = 40
QUICK_EDITS = 5
# Every tenth of those servers also replaces a curated section.
OVERRIDE_EVERY = 10
FIRST_SERVER = 5_000_000
# The bot's process must answer within this (a stuck process fails the benchmark, not hangs it).
PROCESS_TIMEOUT_S = 900
# The isolation run: stuffed servers, topics each, and what every title, alias and body holds.
STUFFED_SERVERS = 1_000
QUICK_STUFFED_SERVERS = 20
STUFFED_TOPICS = 30
STUFFING = "NATO Ukraine Berlin talks territory security guarantees Russia peace negotiations"
CLEAN_SERVER = 5
TARGETS_ASK_P99 = {10_000: 3.0, 100_000: 10.0}
TARGETS_ASK_MEAN = {10_000: 1.0}
TARGETS_AUTOCOMPLETE_P99 = {10_000: 2.0}
TARGET_RSS_MB = {100_000: 350.0}
TARGET_EDIT_MS = 100.0
CURATED = "curated"


@dataclass(slots=True)
class SizeResult:
    label: str
    sections: int
    generate_s: float | None
    import_s: float
    body_words: float
    body_chars: float
    bot: dict[str, Any]  # what bench.search_process printed
    naive_ms: list[float]
    right: dict[str, tuple[int, int]]  # kind -> (as expected, asked)
    servers: int


@dataclass(slots=True)
class Isolation:
    servers: int
    topics: int
    questions: int
    unchanged: int
    alone_ms: list[float]
    crowded_ms: list[float]
    own_right: int
    own_asked: int


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


async def _seed_servers(
    service: BriefingService, pack: Sequence[SectionContent], count: int
) -> list[int]:
    """`count` servers with a topic of their own; every tenth also replaces a curated one."""
    sqlite = service.db.dialect.name == "sqlite"
    if sqlite:
        await service.db.conn.execute("PRAGMA synchronous = OFF")  # seeding only, not measured
    servers = []
    for n in range(count):
        server = FIRST_SERVER + n
        content = SectionContent(
            slug=f"server-topic-{n}",
            title=f"What is the local zqserver{n} meetup about?",
            body=f"Members of server {n} meet to talk about the news. " * 3,
            updated=date(2026, 12, 1),
            position=n,
        )
        await service.sections.save_for_guild(
            server, content, opened=None, author="bench", author_id=None
        )
        if n % OVERRIDE_EVERY == 0:
            curated = await service.sections.get(None, pack[n % len(pack)].slug)
            assert curated is not None
            await service.sections.save_for_guild(
                server,
                dataclasses.replace(curated.content, title=f"Server {n}'s own take"),
                opened=curated.version,
                author="bench",
                author_id=None,
            )
        servers.append(server)
    if sqlite:
        await service.db.conn.execute("PRAGMA synchronous = NORMAL")
    return servers


def _bot_process(job: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.search_process"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=PROCESS_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.search_process failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def fill(
    location: str | Path, pack: list[SectionContent], servers: int
) -> tuple[float, list[int]]:
    """Import `pack` into the database at `location` (and `servers` servers' own topics): the
    import's seconds and the servers."""
    db = await open_database(location)
    try:
        service = BriefingService(db, None)
        started = time.perf_counter()
        await service.sections.import_curated(pack)
        import_s = time.perf_counter() - started
        seeded = await _seed_servers(service, pack, servers) if servers else []
    finally:
        await db.close()
    return import_s, seeded


async def measure(
    label: str,
    pack: list[SectionContent],
    options: Options,
    generate_s: float | None,
    *,
    servers: int = 0,
    location: str | None = None,
    baseline: bool = True,
    recorded: bool = False,
) -> SizeResult:
    """Import `pack` (and `servers` servers' own topics), then time the bot's side apart.

    The database is a fresh SQLite file in a temporary folder unless `location` names an empty
    one (a path or a PostgreSQL URL) the caller owns. `baseline` also times the rapidfuzz
    baseline; `recorded` also times as many other questions asked with the ask log written.
    """
    quick = options.quick
    samples = QUICK_SAMPLES if quick else QUESTIONS
    asked = samples * 2 if recorded else samples
    questions = synthetic.make_questions(pack, asked + WARMUP, options.seed)
    partials = synthetic.make_partials(pack, QUICK_SAMPLES if quick else PARTIALS, options.seed)
    words, chars = synthetic.body_lengths(pack)
    with contextlib.ExitStack() as stack:
        if location is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="briefbot-bench-"))
            location = str(Path(folder) / "bench.sqlite3")
        import_s, seeded = await fill(location, pack, servers)
        edits = QUICK_EDITS if quick else EDITS
        step = max(1, len(seeded) // edits) if seeded else 1
        timed = questions[WARMUP : WARMUP + samples]
        job = {
            "db": location,
            "warmup": [q.text for q in questions[:WARMUP]],
            "questions": [q.text for q in timed],
            "recorded": [q.text for q in questions[WARMUP + samples :]],
            "partials": partials,
            "edit_guilds": seeded[::step][:edits],
        }
        bot = await asyncio.to_thread(_bot_process, job)
    right: dict[str, tuple[int, int]] = {}
    for question, got in zip(timed, bot["answers"], strict=True):
        good, total = right.get(question.kind, (0, 0))
        right[question.kind] = (good + (got == question.expect), total + 1)

    bodies = [content.body for content in pack]

    def naive(question: str) -> object:
        return process.extractOne(question, bodies)

    naive_ms: list[float] = []
    deadline = time.perf_counter() + NAIVE_BUDGET_S
    for question in timed[: naive_count(len(pack), quick) if baseline else 0]:
        naive_ms.append(_time_ms(naive, question.text))
        if len(naive_ms) >= NAIVE_MIN_QUESTIONS and time.perf_counter() > deadline:
            break

    return SizeResult(
        label=label,
        sections=len(pack),
        generate_s=generate_s,
        import_s=import_s,
        body_words=words,
        body_chars=chars,
        bot=bot,
        naive_ms=naive_ms,
        right=right,
        servers=len(seeded),
    )


def _stuffed(server: int) -> list[SectionContent]:
    return [
        SectionContent(
            slug=f"stuffed-{i}",
            title=f"{STUFFING} {i} zq{server}x{i}",
            body=f"{STUFFING}. " * 20,
            aliases=(f"{STUFFING} {i}",),
            updated=date(2026, 12, 1),
            position=i,
        )
        for i in range(STUFFED_TOPICS)
    ]


def _seen(answer: Answer) -> tuple[object, ...]:
    return (
        answer.section.id if answer.section else None,
        answer.score,
        tuple((h.section_id, h.score) for h in answer.results),
        tuple(t.id for t in answer.suggestions),
    )


async def _timed_answers(
    service: BriefingService, questions: Sequence[str]
) -> tuple[list[tuple[object, ...]], list[float]]:
    seen, times = [], []
    for question in questions:
        started = time.perf_counter()
        answer = await service.ask(question, CLEAN_SERVER, record=False)
        times.append((time.perf_counter() - started) * 1000)
        seen.append(_seen(answer))
    return seen, times


async def isolation(options: Options) -> Isolation:
    """A clean server's answers to every evaluation question, alone and among stuffed servers."""
    questions = load_questions()
    count = QUICK_STUFFED_SERVERS if options.quick else STUFFED_SERVERS
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        service = await BriefingService.open(Path(folder) / "db.sqlite3", synthetic.KNOWLEDGE_DIR)
        try:
            alone, alone_ms = await _timed_answers(service, questions)
            await service.db.conn.execute("PRAGMA synchronous = OFF")  # seeding only
            for n in range(count):
                await service.sections.import_for_guild(
                    FIRST_SERVER + n, _stuffed(FIRST_SERVER + n), author="bench"
                )
            await service.reload()
            crowded, crowded_ms = await _timed_answers(service, questions)
            own_right = 0
            checked = range(0, count, max(1, count // 20))
            for n in checked:
                server = FIRST_SERVER + n
                answer = await service.ask(f"{STUFFING} 7 zq{server}x7", server, record=False)
                own_right += answer.section is not None and answer.section.slug == "stuffed-7"
        finally:
            await service.close()
    return Isolation(
        servers=count,
        topics=STUFFED_TOPICS,
        questions=len(questions),
        unchanged=sum(a == b for a, b in zip(alone, crowded, strict=True)),
        alone_ms=alone_ms,
        crowded_ms=crowded_ms,
        own_right=own_right,
        own_asked=len(checked),
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


def _stats(values: Sequence[float]) -> tuple[str, str, str]:
    """mean, p50, p99 of milliseconds."""
    if not values:
        return "-", "-", "-"
    return (
        _ms(statistics.fmean(values)),
        _ms(percentile(values, 0.5)),
        _ms(percentile(values, 0.99)),
    )


def render(results: Sequence[SizeResult], isolated: Isolation) -> str:
    """The search section of the report: its tables and what their columns mean."""
    build = table(
        [
            "pack",
            "body words / chars",
            "generate s",
            "import s",
            "load s",
            "bot RSS after load MB",
            "bot max RSS MB",
            "target MB",
        ],
        [
            [
                _label(r),
                f"{r.body_words:.0f} / {r.body_chars:.0f}",
                "-" if r.generate_s is None else f"{r.generate_s:.2f}",
                f"{r.import_s:.2f}",
                f"{r.bot['load_s']:.2f}",
                _mb(r.bot["rss_loaded_mb"]),
                _mb(r.bot["max_rss_mb"]),
                _target(TARGET_RSS_MB, r.sections),
            ]
            for r in results
        ],
    )
    ask_rows = []
    for r in results:
        ours = r.bot["ask_ms"]
        mean, ours50, ours99 = _stats(ours)
        naive50, naive99 = percentile(r.naive_ms, 0.5), percentile(r.naive_ms, 0.99)
        ask_rows.append(
            [
                _label(r),
                len(ours),
                mean,
                ours50,
                ours99,
                _target(TARGETS_ASK_MEAN, r.sections),
                _target(TARGETS_ASK_P99, r.sections),
                len(r.naive_ms),
                _ms(naive50),
                _ms(naive99),
                f"{percentile(ours, 0.5) / naive50:.3f}",
                f"{percentile(ours, 0.99) / naive99:.3f}",
            ]
        )
    ask = table(
        [
            "pack",
            "asks",
            "mean ms",
            "p50 ms",
            "p99 ms",
            "target mean ms",
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
                len(r.bot["autocomplete_ms"]),
                _ms(percentile(r.bot["autocomplete_ms"], 0.5)),
                _ms(percentile(r.bot["autocomplete_ms"], 0.99)),
                _target(TARGETS_AUTOCOMPLETE_P99, r.sections),
            ]
            for r in results
        ],
    )
    edited = [r for r in results if r.bot["edit_ms"]]
    edits = table(
        [
            "pack",
            "servers with own sections",
            "edits",
            "edit visible p50 ms",
            "edit visible p99 ms",
            "target ms",
            "refresh p50 ms",
            "full rebuild s (baseline)",
            "rebuild / edit p99",
            "max RSS with a rebuild MB",
        ],
        [
            [
                _label(r),
                f"{r.bot['overlays']:,}",
                len(r.bot["edit_ms"]),
                _ms(percentile(r.bot["edit_ms"], 0.5)),
                _ms(percentile(r.bot["edit_ms"], 0.99)),
                f"≤ {TARGET_EDIT_MS:g}",
                _ms(percentile(r.bot["refresh_ms"], 0.5)),
                f"{r.bot['rebuild_s']:.2f}",
                f"{r.bot['rebuild_s'] * 1000 / percentile(r.bot['edit_ms'], 0.99):,.0f}",
                _mb(r.bot["rebuild_max_rss_mb"]),
            ]
            for r in edited
        ],
    )
    _, alone50, alone99 = _stats(isolated.alone_ms)
    _, crowded50, crowded99 = _stats(isolated.crowded_ms)
    isolation_table = table(
        [
            "stuffed servers x topics",
            "questions",
            "clean server's answers unchanged",
            "alone p50 / p99 ms",
            "among them p50 / p99 ms",
            "stuffed servers answering their own",
        ],
        [
            [
                f"{isolated.servers:,} x {isolated.topics}",
                isolated.questions,
                f"{isolated.unchanged}/{isolated.questions}",
                f"{alone50} / {alone99}",
                f"{crowded50} / {crowded99}",
                f"{isolated.own_right}/{isolated.own_asked}",
            ]
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
            "temporary SQLite file; the bot's side runs in a process of its own",
            "(`bench.search_process`). Targets are goals shown for comparison, not asserted.",
            "",
            "### Import and load",
            "",
            build,
            "",
            "- import: `SectionStore.import_curated(pack)` (one transaction, fresh database).",
            "- load: `BriefingService.reload()` in the bot's process: the shared index read a",
            "  batch at a time, plus every server's overlay.",
            "- bot RSS: the resident set of the bot's process once loaded; bot max RSS: its",
            "  peak (VmHWM) after every ask, autocomplete and edit below, before the full",
            "  rebuild of the Edits table (the benchmark's own copies of the pack are in",
            "  another process, whose peak `ru_maxrss` would carry over).",
            "",
            "### ask",
            "",
            ask,
            "",
            "- ours: `BriefingService.ask(question, None, record=False)` in the bot's process",
            f"  (FTS5 bm25 candidates, then rescoring), after {WARMUP} warm-up asks. Questions:",
            "  ~50% a title or alias with words dropped, ~25% the same with typos, ~25% off topic.",
            "- naive: `rapidfuzz.process.extractOne(question, bodies)` (default WRatio, no",
            "  processor) over every body, on the first questions of the same list, stopping",
            f"  after {NAIVE_BUDGET_S:g} s per pack.",
            "- p99 is nearest-rank: with fewer than 100 samples it is the slowest one.",
            "",
            "### Autocomplete",
            "",
            autocomplete,
            "",
            "- `BriefingService.autocomplete(partial, None)` on prefixes of titles and aliases",
            "  (cut mid-word or after a space), prefixes with a typo, 2-5 letter word starts,",
            "  empty input and off-topic text.",
            "",
            "### Edits",
            "",
            edits,
            "",
            f"- The largest pack with {SERVERS:,} servers holding a topic of their own (every",
            f"  {OVERRIDE_EVERY}th also replacing a curated one). An edit: a moderator's new topic",
            "  saved (`save_for_guild`), that server's overlay rebuilt (`refresh`), and the next",
            "  question in that server answered with it; timed from the save to the answer.",
            "- full rebuild: `reload()` once, the whole catalog (what every edit cost before;",
            "  now only a pack import or a purge does it). While it runs the old catalog still",
            "  answers, so the process briefly holds both: the last column is its peak then.",
            "",
            "### Isolation",
            "",
            isolation_table,
            "",
            "- Every question of `tests/data/eval_questions.yaml` asked in a server that added",
            "  nothing, with the curated pack alone, then again after the stuffed servers each",
            "  imported topics whose titles, aliases and bodies repeat the pack's most asked",
            "  words; unchanged: the same answer, score, ranking and suggestions. Own: a stuffed",
            "  server asking one of its own topics' titles gets that topic.",
            "",
            "### Answers (a sanity check of what was timed, not a quality benchmark)",
            "",
            answers,
            "",
            "- right: the section the question was made from (synthetic sections share words, so",
            "  another can fairly win); declined: no confident answer.",
        ]
    )


async def _run_all(options: Options) -> tuple[list[SizeResult], Isolation]:
    curated = synthetic.curated_pack()
    results = [await measure(CURATED, curated, options, None)]
    sizes = _sizes(options)
    for size in sizes:
        started = time.perf_counter()
        pack = synthetic.PackGenerator(options.seed, curated).generate(size)
        generate_s = time.perf_counter() - started
        servers = 0
        if size == max(sizes):
            servers = QUICK_SERVERS if options.quick else SERVERS
        results.append(await measure(f"{size:,}", pack, options, generate_s, servers=servers))
        del pack
        gc.collect()
    return results, await isolation(options)


def run(options: Options) -> str:
    """The `search` benchmark: one Markdown section with its tables."""
    return render(*asyncio.run(_run_all(options)))
