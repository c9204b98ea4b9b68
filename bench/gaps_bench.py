"""`/kb review`'s unanswered groups over 100,000 unanswered questions, and `/ask` in other
servers while it runs.

A fresh SQLite file in a temporary folder gets the curated pack (`BriefingService.open`) and an
ask log written straight into its table: in one server, GAPS_ASKS unanswered questions over the
report's 7 days, plus answered ones and older ones outside the window; in OTHER_SERVERS other
servers, OTHER_ASKS more. The questions are drawn from INTENTS things members want to know (the
evaluation questions, off-topic ones and generated ones in the synthetic packs' words), the
most asked far more often than the rest (Zipf), each asking worded its own way: an opener or
not, capitals or not, a question mark or not, sometimes a typo.

Then, in one run:
- the first report, which starts the worker process (`bot/gaps_worker.py`), untimed by the
  rest; it asks for FOUND_TOP groups, to check them against what was asked;
- the report alone: `Editor.gaps(server, 7, now, top=50)`, what `/kb review` awaits, REPORTS
  times;
- `/ask` alone and with a report, taking turns REPORTS times (so whatever else the machine
  runs meanwhile falls on both alike): ASKS / REPORTS asks with no report running
  (`BriefingService.ask(question, other server)`, recorded, as `/ask` does, one at a time at
  ASK_RATE a second), then a report with the same paced asks from other servers for as long
  as it runs.

Asks are paced (each starts at its slot, or at once when the one before ran late) and at most
MAX_ASKS_PER_REPORT per report, so every loop is bounded. The worker's resident memory is read
(Linux) after the last report, with its peak.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import synthetic
from bench.core import Clock, Options, check, load_questions, ms, percentile, table
from bot.client import settle_heap
from bot.editing import Editor
from bot.gaps import Gap, GapsReport
from bot.learning import REVIEW_GAPS
from bot.service import BriefingService
from bot.text import clean, words

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAYS = 7
SERVER = 1_000_001
GAPS_ASKS = 100_000
QUICK_GAPS_ASKS = 3_000
ANSWERED_SHARE = 0.2  # answered questions in the server besides its unanswered ones
OLDER_SHARE = 0.1  # unanswered ones before the window (not yet pruned)
OTHER_SERVERS = 200
OTHER_ASKS = 20_000
QUICK_OTHER_ASKS = 1_200  # asks alone in all, ASKS / REPORTS before each report
INTENTS = 5_000
QUICK_INTENTS = 300
ZIPF_EXPONENT = 1.0
TYPO_SHARE = 0.25
LOWER_SHARE = 0.6
MARK_SHARE = 0.5
REPORTS = 20
QUICK_REPORTS = 2
ASK_RATE = 100.0  # asks a second from other servers, one at a time
ASKS = 1_200  # asks alone in all, ASKS / REPORTS before each report
QUICK_ASKS = 30
MAX_ASKS_PER_REPORT = 1_000
TARGET_REPORT_S = 1.0
TOP = 20  # the most asked questions whose groups are checked against what was asked
FOUND_TOP = 200  # groups the first report sends back, among which those TOP are looked for


@dataclass(slots=True)
class Seeded:
    """What was written to the ask log, and what the report should find."""

    unanswered: int  # in the server, in the window
    worded: int  # those with a word (a question of punctuation alone is no gap)
    texts: int  # distinct texts among them
    rows: int  # every row written, all servers
    top: list[tuple[str, int]]  # the TOP most asked intents and how often each was asked
    intent_of: dict[str, Counter[str]]  # a cleaned text -> the intents it was asked for
    seed_s: float


@dataclass(slots=True)
class GapsResult:
    seeded: Seeded
    first_s: float  # the first report, which starts the worker process
    alone_s: list[float]  # the report alone
    together_s: list[float]  # the report while other servers ask
    ask_alone_ms: list[float]
    ask_together_ms: list[float]
    found: GapsReport  # the first report's, FOUND_TOP groups
    in_process: bool  # the report ran in a worker process (the database is a file)
    worker_mb: tuple[float, float] | None  # the worker's resident memory after, and its peak


def process_memory_mb(pid: int) -> tuple[float, float] | None:
    """A process's resident memory now and at its peak, in MB (Linux only: None elsewhere)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    try:
        return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]
    except (KeyError, ValueError):
        return None


def intents(rng: random.Random, count: int) -> list[str]:
    """`count` distinct questions, shuffled (their order is their popularity)."""
    english = [w for w in synthetic.english_words() if w not in synthetic.OFFTOPIC_VOCABULARY]
    names = [n.capitalize() for n in synthetic.invented_names(400, rng, set(english))]
    found = dict.fromkeys(q.rstrip("?") or q for q in load_questions())
    for template in synthetic.OFFTOPIC_TEMPLATES:
        for _ in range(4):
            filled = {k: rng.choice(v) for k, v in synthetic.OFFTOPIC_WORDS.items()}
            found[template.format(**filled).rstrip("?")] = None
    common = english[:1500]
    while len(found) < count:
        template = rng.choice(synthetic.TITLE_TEMPLATES)
        text = template.format(
            a=rng.choice(common),
            b=rng.choice(common),
            c=rng.choice(english),
            x=rng.choice(english),
            p=rng.choice(names),
            v=rng.choice(synthetic.VERBS),
            j=rng.choice(synthetic.ADJECTIVES),
        )
        found[text.rstrip("?")] = None
    chosen = list(found)[:count]
    rng.shuffle(chosen)
    return chosen


def worded(intent: str, rng: random.Random) -> str:
    """One member's wording of `intent`."""
    tokens = intent.split()
    if tokens and rng.random() < TYPO_SHARE:
        i = rng.randrange(len(tokens))
        tokens[i] = synthetic.typo(tokens[i], rng)
    text = rng.choice(synthetic.QUESTION_OPENERS) + " ".join(tokens)
    if rng.random() < LOWER_SHARE:
        text = text.lower()
    return text + "?" if rng.random() < MARK_SHARE else text


def _stamp(rng: random.Random, days_from: float, days_to: float) -> str:
    at = NOW - timedelta(days=rng.uniform(days_from, days_to))
    return at.isoformat(timespec="seconds")


async def seed(service: BriefingService, options: Options) -> Seeded:
    """Write the ask log of every server straight into the table (one transaction)."""
    started = time.perf_counter()
    rng = random.Random(f"{options.seed}:gaps")
    pool = intents(rng, QUICK_INTENTS if options.quick else INTENTS)
    weights = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(pool))]
    unanswered = QUICK_GAPS_ASKS if options.quick else GAPS_ASKS
    picked = rng.choices(pool, weights=weights, k=unanswered)
    rows: list[tuple[int, str, str | None, str]] = []
    intent_of: dict[str, Counter[str]] = {}
    for intent in picked:
        text = worded(intent, rng)
        intent_of.setdefault(clean(text), Counter())[intent] += 1
        rows.append((SERVER, text, None, _stamp(rng, 0, DAYS - 0.01)))
    texts = len({text for _, text, _, _ in rows})
    with_words = sum(1 for _, text, _, _ in rows if words(text))
    for intent in rng.choices(pool, weights=weights, k=int(unanswered * ANSWERED_SHARE)):
        rows.append((SERVER, worded(intent, rng), "nato-purpose", _stamp(rng, 0, DAYS - 0.01)))
    for intent in rng.choices(pool, weights=weights, k=int(unanswered * OLDER_SHARE)):
        rows.append((SERVER, worded(intent, rng), None, _stamp(rng, DAYS + 0.01, 30)))
    other_asks = QUICK_OTHER_ASKS if options.quick else OTHER_ASKS
    for n, intent in enumerate(rng.choices(pool, weights=weights, k=other_asks)):
        answered = None if rng.random() < 0.5 else "us-role"
        rows.append((_other(n), worded(intent, rng), answered, _stamp(rng, 0, 30)))
    rows.sort(key=lambda row: row[3])  # ids in the order the questions were asked
    async with service.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO asks (guild_id, question, answered, asked_at) VALUES (?, ?, ?, ?)", rows
        )
    return Seeded(
        unanswered=unanswered,
        worded=with_words,
        texts=texts,
        rows=len(rows),
        top=Counter(picked).most_common(TOP),
        intent_of=intent_of,
        seed_s=time.perf_counter() - started,
    )


def _other(n: int) -> int:
    """The n-th ask's server among the other servers."""
    return SERVER + 1 + n % OTHER_SERVERS


async def _ask_paced(
    service: BriefingService, questions: Sequence[str], start: int, latencies: list[float]
) -> int:
    """One paced ask from another server, timed; returns the next question's index."""
    question = questions[start % len(questions)]
    began = time.perf_counter()
    await service.ask(question, _other(start))
    latencies.append((time.perf_counter() - began) * 1000)
    return start + 1


async def _asks_alone(
    service: BriefingService, questions: Sequence[str], count: int
) -> list[float]:
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    n = 0
    while n < count:
        await asyncio.sleep(max(0.0, t0 + n / ASK_RATE - loop.time()))
        n = await _ask_paced(service, questions, n, latencies)
    return latencies


async def _report_with_asks(
    editor: Editor, service: BriefingService, questions: Sequence[str], latencies: list[float]
) -> float:
    """One report while other servers ask at ASK_RATE until it is done; its time in seconds."""
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    report = asyncio.create_task(editor.gaps(SERVER, DAYS, NOW, top=REVIEW_GAPS))
    t0 = loop.time()
    n = 0
    while not report.done() and n < MAX_ASKS_PER_REPORT:
        n = await _ask_paced(service, questions, n, latencies)
        if not report.done():
            await asyncio.wait([report], timeout=max(0.0, t0 + n / ASK_RATE - loop.time()))
    await report
    return time.perf_counter() - began


async def _run_gaps(options: Options) -> GapsResult:
    reports = QUICK_REPORTS if options.quick else REPORTS
    asks = QUICK_ASKS if options.quick else ASKS
    questions = load_questions()
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        service = await BriefingService.open(
            Path(folder) / "bench.sqlite3", synthetic.KNOWLEDGE_DIR, clock=Clock(NOW)
        )
        try:
            seeded = await seed(service, options)
            settle_heap()  # what the bot does after loading: the catalog out of full collections
            editor = Editor(service)
            try:
                began = time.perf_counter()
                found = await editor.gaps(SERVER, DAYS, NOW, top=FOUND_TOP)
                first_s = time.perf_counter() - began
                alone_s = []
                for _ in range(reports):
                    began = time.perf_counter()
                    await editor.gaps(SERVER, DAYS, NOW, top=REVIEW_GAPS)
                    alone_s.append(time.perf_counter() - began)
                ask_alone: list[float] = []
                ask_together: list[float] = []
                together_s = []
                for _ in range(reports):
                    ask_alone += await _asks_alone(service, questions, asks // reports)
                    together_s.append(
                        await _report_with_asks(editor, service, questions, ask_together)
                    )
                worker = editor.gaps_worker.pid
                worker_mb = process_memory_mb(worker) if worker is not None else None
            finally:
                await editor.close()
        finally:
            await service.close()
    return GapsResult(
        seeded,
        first_s,
        alone_s,
        together_s,
        ask_alone,
        ask_together,
        found,
        in_process=worker is not None,
        worker_mb=worker_mb,
    )


def _found(result: GapsResult) -> list[str]:
    """For each of the most asked questions, its group's count against how often it was asked
    (the group whose shown wording was asked for it most)."""
    by_intent: dict[str, Gap] = {}
    for gap in result.found.gaps:
        asked_for = result.seeded.intent_of.get(gap.question)
        if asked_for:
            by_intent.setdefault(asked_for.most_common(1)[0][0], gap)
    ratios = [
        by_intent[intent].count / asked if intent in by_intent else 0.0
        for intent, asked in result.seeded.top
    ]
    return [f"{min(ratios):.3f}", f"{max(ratios):.3f}"]


def render_gaps(result: GapsResult) -> str:
    s = result.seeded
    alone_p99 = percentile(result.alone_s, 0.99)
    together_p99 = percentile(result.together_s, 0.99)
    reports = table(
        ["report", "runs", "p50 ms", "p99 ms", f"≤ {TARGET_REPORT_S:g} s"],
        [
            [
                "first (starts the worker)" if result.in_process else "first",
                1,
                ms(result.first_s),
                ms(result.first_s),
                check(result.first_s <= TARGET_REPORT_S),
            ],
            [
                "alone",
                len(result.alone_s),
                ms(percentile(result.alone_s, 0.5)),
                ms(alone_p99),
                check(alone_p99 <= TARGET_REPORT_S),
            ],
            [
                "while other servers ask",
                len(result.together_s),
                ms(percentile(result.together_s, 0.5)),
                ms(together_p99),
                check(together_p99 <= TARGET_REPORT_S),
            ],
        ],
    )
    alone = result.ask_alone_ms
    together = result.ask_together_ms
    asks = table(
        ["/ask in other servers", "asks", "p50 ms", "p99 ms"],
        [
            ["no report running", len(alone), f"{percentile(alone, 0.5):.2f}", _p99(alone)],
            ["a report running", len(together), f"{percentile(together, 0.5):.2f}", _p99(together)],
            [
                "ratio (running / not)",
                "",
                _ratio(percentile(together, 0.5), percentile(alone, 0.5)),
                _ratio(percentile(together, 0.99), percentile(alone, 0.99)),
            ],
        ],
    )
    low, high = _found(result)
    counts = table(
        [
            "unanswered in the window",
            "with a word",
            "distinct texts",
            "counted in the report",
            "groups",
            f"top {TOP} asked: group count / asked (min, max)",
        ],
        [
            [
                f"{s.unanswered:,}",
                f"{s.worded:,}",
                f"{s.texts:,}",
                f"{result.found.asked:,}",
                f"{result.found.groups:,}",
                f"{low}, {high}",
            ]
        ],
    )
    return "\n".join(
        [
            "## /kb review's unanswered groups over a large ask log",
            "",
            f"One server's ask log holds {s.unanswered:,} unanswered questions in the last {DAYS}"
            f" days ({s.texts:,} distinct texts), among {s.rows:,} rows in",
            f"{OTHER_SERVERS + 1} servers (seeded in {s.seed_s:.1f} s). The report is"
            f" `Editor.gaps(top={REVIEW_GAPS})`, what `/kb review` awaits:",
            _where(result),
            f"Other servers ask at {ASK_RATE:g}/s, one at a time, through"
            " `BriefingService.ask` (recorded, as `/ask` does).",
            "",
            reports,
            "",
            asks,
            "",
            counts,
            "",
            _worker_memory(result),
            "- counted in the report: the groups' counts summed; it equals the window's questions"
            " with a word",
            "  (punctuation alone is no gap) when nothing was left out and no other server's"
            " question came in.",
            f"- top {TOP} asked: for each of the {TOP} questions asked most, the count of the"
            " group shown by its",
            "  wording against how often it was asked (1 = every asking in one group, nothing"
            " else in it).",
        ]
    )


def _where(result: GapsResult) -> str:
    if result.in_process:
        return (
            "a worker process reads the counts through its own read-only connection, groups"
            " them and sends back the groups shown and the totals."
        )
    return "the store counts the texts a page at a time, and a thread groups them."


def _worker_memory(result: GapsResult) -> str:
    if result.worker_mb is None:
        return "- the worker process's memory: not measured (not a worker process, or not Linux)"
    now, peak = result.worker_mb
    return (
        f"- the worker process's resident memory after the last report: {now:.0f} MB"
        f" (peak {peak:.0f} MB)"
    )


def _p99(values: Sequence[float]) -> str:
    return f"{percentile(values, 0.99):.2f}"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base > 0 else "-"


def run(options: Options) -> str:
    """The `gaps` benchmark: one Markdown section."""
    return render_gaps(asyncio.run(_run_gaps(options)))
