"""The bot end to end through the fake Discord: `/ask` interactions and the daily fan-out.

Both benchmarks start the real bot with `tests.discord_support.running_bot` against
`tests.fakediscord.FakeDiscord` on 127.0.0.1, each against a fresh SQLite file in a temporary
folder. The fake, the bot and the load generator share one process and one event loop, so
every figure includes the fake's own work (building, compressing and sending gateway frames,
answering REST calls) as well as the bot's: it is an upper bound on the bot's overhead.

- `interactions`: `/ask` from distinct members (so the 5-per-30-s cooldown never applies) with
  questions from `tests/data/eval_questions.yaml`, first at a steady rate (sends scheduled at
  t0 + i/rate, never waiting for answers), then all at once.
- `fanout`: the daily explainer for many servers due in the same minute, one `Scheduler.tick`,
  once as is and once with 429s injected on `POST /channels/{id}/messages`.

Every wait is bounded: a lost interaction is one without a callback `LOST_AFTER_S` after it
was sent, and a tick is abandoned after `TICK_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import logging
import math
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import yaml

from bench.core import Options, percentile, table
from bot.briefing import CONCURRENCY
from bot.client import DEFER_AFTER
from bot.cogs.ask import COOLDOWN_RATE, COOLDOWN_SECONDS
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import FakeInteraction

QUESTIONS_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "eval_questions.yaml"

STEADY_COUNT = 1_000
STEADY_RATE = 200.0  # interactions per second
REFERENCE_COUNT = 500
REFERENCE_RATE = 100.0  # a rate below the knee, for comparison
BURST_COUNT = 1_000
QUICK_COUNT = 40
WARMUP = 20  # sequential asks from other members before timing: imports, caches, first sends
LOST_AFTER_S = 10.0
SETTLE_AFTER_S = 30.0  # longest wait for a phase's answers and follow-ups after its last send
DRAIN_S = 20.0  # longest wait for the bot's leftover tasks after a phase
POLL_S = 0.05  # how often the load generator checks for callbacks while waiting
DISCORD_DEADLINE_S = 3.0  # Discord drops an interaction not answered within 3 s
CALLBACK_ROUTE = "POST /interactions/{interaction_id}/{token}/callback"
TARGET_STEADY_P99_MS = 50.0
TARGET_BURST_RATE = 500.0

FANOUT_SERVERS = 1_000
QUICK_SERVERS = 30
FANOUT_429S = 50
QUICK_429S = 3
RETRY_AFTER_S = 0.1
TICK_TIMEOUT_S = 120.0
DISCORD_GLOBAL_RATE = 50  # requests per second per bot, Discord's global limit
MESSAGES_PATH = r"^/channels/\d+/messages$"
SET_AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
DUE_AT = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# shared helpers


class Clock:
    """The bot's injected clock: fixed until the benchmark moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextlib.contextmanager
def _profiling(enabled: bool, title: str, breakdown: list[str], items: int) -> Iterator[None]:
    """cProfile the block; print the top functions to stderr and append a breakdown table."""
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
        breakdown.append(_breakdown(stats, title, items))


# Where a function lives, by its file (first match wins). Functions elsewhere (the standard
# library, built-ins) are charged to whoever called them, in proportion to the calls' time.
_PLACES = (
    ("/work/main/bot/", "bot (bot/)"),
    ("/bot/", "bot (bot/)"),
    ("/fakediscord/", "fake Discord (tests/fakediscord/)"),
    ("/bench/", "load generator (bench/)"),
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


def _place(func: Func) -> str | None:
    filename, _line, name = func
    if filename == "~" and ("poll" in name or "select" in name):
        return _IDLE
    for needle, place in _PLACES:
        if needle in filename:
            return place
    return None


def _owners(raw: dict, func: Func, seen: frozenset[Func], memo: dict) -> dict[str, float]:
    """Shares of `func`'s time by owning package, following callers up to a known place."""
    place = _place(func)
    if place is not None:
        return {place: 1.0}
    if func in memo:
        return memo[func]
    callers = raw.get(func, (0, 0, 0.0, 0.0, {}))[4]
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
    raw = stats.stats  # type: ignore[attr-defined]
    totals: Counter[str] = Counter()
    memo: dict = {}
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


def _ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _check(ok: bool) -> str:
    return "✓" if ok else "✗ MISSED"


class LogCounter(logging.Handler):
    """Counts what the bot and discord.py log during a run, instead of printing it.

    Nothing configures logging in `python -m bench`, so warnings and errors (with their
    tracebacks) would otherwise land on stderr by the thousand under overload.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.rate_limit_retries = 0
        self.rate_limit_wait_s = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        template = str(record.msg)
        if record.levelno >= logging.WARNING:
            self.counts[(record.levelname, record.name, template.split("(")[0].strip())] += 1
        if template.startswith("We are being rate limited") and "Retrying in" in template:
            self.rate_limit_retries += 1
            if isinstance(record.args, tuple) and record.args:
                self.rate_limit_wait_s += float(record.args[-1])

    def summary(self, limit: int = 4) -> str:
        if not self.counts:
            return "none"
        return "; ".join(
            f"{n:,} × {level} {name}: '{text}'"
            for (level, name, text), n in self.counts.most_common(limit)
        )


@contextlib.contextmanager
def counting_logs() -> Iterator[LogCounter]:
    handler = LogCounter()
    saved = []
    for name in ("bot", "discord"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.propagate, logger.level))
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET or logger.level > logging.WARNING:
            logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        for logger, propagate, level in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate
            logger.setLevel(level)


async def _drain(conn: aiosqlite.Connection, expected: int) -> int:
    """Wait (at most DRAIN_S) until `expected` asks are recorded: the bot's leftover work,
    such as asks still running after their interaction failed, has finished."""
    loop = asyncio.get_running_loop()
    until = loop.time() + DRAIN_S
    while True:
        async with conn.execute("SELECT COUNT(*) FROM asks") as cursor:
            row = await cursor.fetchone()
        recorded = int(row[0]) if row else 0
        if recorded >= expected or loop.time() >= until:
            return recorded
        await asyncio.sleep(POLL_S)


# ---------------------------------------------------------------------------------------------
# interactions


def load_questions(path: Path = QUESTIONS_FILE) -> list[str]:
    """The evaluation questions, in file order (on topic, misspelled and off topic)."""
    data = yaml.safe_load(path.read_text("utf-8"))
    questions = [str(item["q"]) for item in data["questions"] if str(item.get("q", "")).strip()]
    if not questions:
        raise ValueError(f"{path} has no questions")
    return questions


@dataclass(slots=True)
class Phase:
    """One batch of `/ask` interactions and what came back."""

    name: str
    rate: float | None  # asked send rate; None for a burst
    interactions: list[FakeInteraction]
    scheduled_lag: list[float] = field(default_factory=list)  # actual - planned send time
    followup_at: dict[int, float] = field(default_factory=dict)  # ix id -> first follow-up
    # ix id -> accepted callback, as the fake's request log has it (a check on `lost`)
    callback_at: dict[int, float] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.interactions)

    @property
    def first_sent(self) -> float:
        return self.interactions[0].sent_at

    @property
    def last_sent(self) -> float:
        return self.interactions[-1].sent_at

    def latencies(self) -> list[float]:
        """First callback (the answer, or a 'thinking' defer) within LOST_AFTER_S."""
        return [
            ix.latency
            for ix in self.interactions
            if ix.latency is not None and ix.latency <= LOST_AFTER_S
        ]

    def answer_latencies(self) -> list[float]:
        """Until the member sees content: the callback, or the follow-up after a defer."""
        found = []
        for ix in self.interactions:
            if ix.response_type == 4 and ix.latency is not None:
                found.append(ix.latency)
            elif ix.response_type == 5 and ix.id in self.followup_at:
                found.append(self.followup_at[ix.id] - ix.sent_at)
        return found

    @property
    def deferred(self) -> int:
        return sum(1 for ix in self.interactions if ix.response_type == 5)

    @property
    def lost(self) -> int:
        """Interactions without an accepted callback within LOST_AFTER_S."""
        return sum(1 for ix in self.interactions if ix.latency is None or ix.latency > LOST_AFTER_S)

    @property
    def late(self) -> int:
        """Callbacks that came after Discord's 3-second deadline (the fake rejects those)."""
        return sum(1 for ix in self.interactions if ix.late_callbacks)

    @property
    def last_callback(self) -> float:
        times = [ix.responded_at for ix in self.interactions if ix.responded_at is not None]
        return max(times) if times else self.last_sent

    @property
    def send_rate(self) -> float:
        span = self.last_sent - self.first_sent
        return (self.count - 1) / span if span > 0 and self.count > 1 else float("inf")

    @property
    def answer_rate(self) -> float:
        span = self.last_callback - self.first_sent
        return len(self.latencies()) / span if span > 0 else float("nan")

    def kinds(self) -> Counter[str]:
        """What the members saw: a section card, the no-answer reply, or an error."""
        found: Counter[str] = Counter()
        for ix in self.interactions:
            data: dict = {}
            if ix.response_type == 4:
                data = (ix.response or {}).get("data") or {}
            elif ix.response_type == 5 and ix.followups:
                data = ix.followups[0]
            elif ix.response_type == 5:
                found["defer, no follow-up"] += 1
                continue
            else:
                found["none"] += 1
                continue
            content = str(data.get("content") or "")
            if data.get("embeds"):
                found["card"] += 1
            elif "asking quickly" in content:
                found["cooldown"] += 1
            elif "went wrong" in content:
                found["error"] += 1
            else:
                found["no answer"] += 1
        return found


def _settled(ix: FakeInteraction) -> bool:
    """Answered with content, deferred and followed up, or given up on (a late callback)."""
    return (
        ix.response_type == 4
        or (ix.response_type == 5 and bool(ix.followups))
        or ix.late_callbacks > 0
    )


async def _settle(fake: FakeDiscord, phase: Phase) -> None:
    """Poll (cheaply, every POLL_S) until every interaction settled or SETTLE_AFTER_S passed,
    so one phase's backlog does not spill into the next; then read the follow-up times."""
    loop = asyncio.get_running_loop()
    until = phase.last_sent + SETTLE_AFTER_S
    pending = [ix for ix in phase.interactions if not _settled(ix)]
    while pending and loop.time() < until:
        await asyncio.sleep(min(POLL_S, max(0.0, until - loop.time())))
        pending = [ix for ix in pending if not _settled(ix)]
    await asyncio.sleep(POLL_S)  # the callbacks' own HTTP responses
    by_token = {ix.token: ix.id for ix in phase.interactions}
    ids = set(by_token.values())
    for request in fake.requests:
        if request.route == CALLBACK_ROUTE and 200 <= request.status < 300:
            called = int(request.path.split("/")[2])
            if called in ids:
                phase.callback_at.setdefault(called, request.at)
        if request.method != "POST" or not request.path.startswith("/webhooks/"):
            continue
        token = request.path.rsplit("/", 1)[-1]
        ix_id = by_token.get(token)
        if ix_id is not None and 200 <= request.status < 300:
            phase.followup_at.setdefault(ix_id, request.at)


async def _ask(fake: FakeDiscord, guild_id: int, member: int, question: str) -> FakeInteraction:
    return await fake.send_slash(
        guild_id, user_id=member, name="ask", options={"question": question}
    )


async def _steady(
    fake: FakeDiscord,
    guild_id: int,
    members: Sequence[int],
    questions: Sequence[str],
    rate: float,
) -> Phase:
    loop = asyncio.get_running_loop()
    sent: list[FakeInteraction] = []
    lag: list[float] = []
    t0 = loop.time() + 0.05
    for i, member in enumerate(members):
        planned = t0 + i / rate
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.append(loop.time() - planned)
        sent.append(await _ask(fake, guild_id, member, questions[i % len(questions)]))
    phase = Phase(f"{rate:g}/s", rate, sent, lag)
    await _settle(fake, phase)
    return phase


async def _burst(
    fake: FakeDiscord, guild_id: int, members: Sequence[int], questions: Sequence[str]
) -> Phase:
    sent = [
        await _ask(fake, guild_id, member, questions[i % len(questions)])
        for i, member in enumerate(members)
    ]
    phase = Phase("burst", None, sent)
    await _settle(fake, phase)
    return phase


async def count_asks(db_path: Path) -> int:
    async with aiosqlite.connect(db_path) as conn, conn.execute("SELECT COUNT(*) FROM asks") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


@dataclass(slots=True)
class InteractionResults:
    steady: list[Phase]
    burst: Phase
    warmup: int
    asks_recorded: int
    asks_expected: int
    startup_s: float
    logs: str
    profiles: list[str]


async def _run_interactions(options: Options) -> InteractionResults:
    quick = options.quick
    rates = [(REFERENCE_RATE, QUICK_COUNT if quick else REFERENCE_COUNT)]
    rates.append((STEADY_RATE, QUICK_COUNT if quick else STEADY_COUNT))
    burst_n = QUICK_COUNT if quick else BURST_COUNT
    profile_n = QUICK_COUNT if quick else REFERENCE_COUNT
    warmup_n = 5 if quick else WARMUP
    questions = load_questions()
    profiles: list[str] = []
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        db_path = Path(folder) / "bench.sqlite3"
        async with FakeDiscord() as fake:
            guild = fake.add_guild(name="Busy server")
            started = time.perf_counter()
            with counting_logs() as logs:
                async with running_bot(fake, db_path) as bot:
                    startup_s = time.perf_counter() - started
                    total = warmup_n + sum(n for _, n in rates) + burst_n
                    total += profile_n if options.profile else 0
                    # Members join before timing (no member events: no member intent).
                    members = iter([guild.add_member().id for _ in range(total)])
                    for i in range(warmup_n):
                        ix = await _ask(fake, guild.id, next(members), questions[-1 - i])
                        await ix.wait_response(LOST_AFTER_S)
                    conn = bot.service.db.conn
                    asked = warmup_n
                    steady = []
                    for rate, count in rates:
                        batch = [next(members) for _ in range(count)]
                        steady.append(await _steady(fake, guild.id, batch, questions, rate))
                        asked += count
                        await _drain(conn, asked)
                    batch = [next(members) for _ in range(burst_n)]
                    burst = await _burst(fake, guild.id, batch, questions)
                    asked += burst_n
                    await _drain(conn, asked)
                    if options.profile:
                        batch = [next(members) for _ in range(profile_n)]
                        title = (
                            f"/ask at {REFERENCE_RATE:g}/s, {profile_n:,} more (per interaction)"
                        )
                        with _profiling(True, title, profiles, profile_n):
                            await _steady(fake, guild.id, batch, questions, REFERENCE_RATE)
                        asked += profile_n
                        await _drain(conn, asked)
            asks = await count_asks(db_path)
    return InteractionResults(
        steady=steady,
        burst=burst,
        warmup=warmup_n,
        asks_recorded=asks,
        asks_expected=total,
        startup_s=startup_s,
        logs=logs.summary(),
        profiles=profiles,
    )


def _target_p99(phase: Phase, p99: float) -> str:
    if phase.rate != STEADY_RATE:
        return "-"
    return f"≤ {TARGET_STEADY_P99_MS:g} {_check(p99 * 1000 <= TARGET_STEADY_P99_MS)}"


def render_interactions(r: InteractionResults) -> str:
    steady_rows = []
    for s in r.steady:
        lat, answer = s.latencies(), s.answer_latencies()
        p99 = percentile(lat, 0.99)
        steady_rows.append(
            [
                s.name,
                f"{s.count:,}",
                f"{s.send_rate:,.0f}",
                _ms(percentile(s.scheduled_lag, 0.99)),
                _ms(percentile(lat, 0.5)),
                _ms(p99),
                _ms(max(lat, default=math.nan)),
                _target_p99(s, p99),
                s.deferred,
                _ms(percentile(answer, 0.5)),
                _ms(percentile(answer, 0.99)),
                f"{s.lost} {_check(s.lost == 0)}",
                s.late,
            ]
        )
    steady = table(
        [
            "rate",
            "interactions",
            "sent /s",
            "send lag p99 ms",
            "p50 ms",
            "p99 ms",
            "max ms",
            "target p99 ms",
            "deferred",
            "answer p50 ms",
            "answer p99 ms",
            "lost",
            "late > 3 s",
        ],
        steady_rows,
    )
    b = r.burst
    b_lat, b_answer = b.latencies(), b.answer_latencies()
    burst = table(
        [
            "interactions",
            "dispatch s",
            "first send → last callback s",
            "answered /s",
            "target /s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "deferred",
            "answer p99 ms",
            "lost",
            "late > 3 s",
        ],
        [
            [
                f"{b.count:,}",
                f"{b.last_sent - b.first_sent:.2f}",
                f"{b.last_callback - b.first_sent:.2f}",
                f"{b.answer_rate:,.0f}",
                f"≥ {TARGET_BURST_RATE:g} {_check(b.answer_rate >= TARGET_BURST_RATE)}",
                _ms(percentile(b_lat, 0.5)),
                _ms(percentile(b_lat, 0.99)),
                _ms(max(b_lat, default=math.nan)),
                b.deferred,
                _ms(percentile(b_answer, 0.99)),
                f"{b.lost} {_check(b.lost == 0)}",
                b.late,
            ]
        ],
    )
    kinds = ("card", "no answer", "cooldown", "error", "defer, no follow-up", "none")
    answers = table(
        [
            "phase",
            "section card",
            "no-answer reply",
            "cooldown refusal",
            "error reply",
            "deferred, no follow-up",
            "no callback",
        ],
        [[p.name, *(p.kinds().get(k, 0) for k in kinds)] for p in (*r.steady, b)],
    )
    members = r.asks_expected
    lines = [
        "## Interactions (/ask through the fake gateway)",
        "",
        f"One server, {members:,} distinct members (the `/ask` cooldown is {COOLDOWN_RATE} per",
        f"{COOLDOWN_SECONDS:g} s per member, so it never applies), questions cycling through",
        "`tests/data/eval_questions.yaml` (on topic, misspelled and off topic). Fresh SQLite",
        f"file; bot start-up took {r.startup_s:.2f} s; {r.warmup} sequential warm-up asks from",
        "other members came first and are not counted. Each phase waits until the previous one",
        f"has settled (answered, or given up), at most {SETTLE_AFTER_S:g} s after its last send.",
        "Targets are shown, not asserted.",
        "",
        "### Steady rate",
        "",
        steady,
        "",
        "- p50/p99/max: `FakeInteraction.latency`, from the INTERACTION_CREATE being queued on",
        "  the fake's gateway to the bot's first callback (the answer, or a 'thinking' defer",
        f"  when the work takes over `DEFER_AFTER` = {DEFER_AFTER:g} s) reaching the fake. answer:",
        "  until the content arrives (the callback, or the follow-up after a defer).",
        "- sends are scheduled at t0 + i/rate and never wait for answers; send lag is how late",
        f"  the load generator (same event loop) got to each send. The {REFERENCE_RATE:g}/s row",
        "  is a reference below the knee, not one of the targets.",
        f"- lost: no accepted callback within {LOST_AFTER_S:g} s of the send; late: a callback",
        f"  after Discord's {DISCORD_DEADLINE_S:g} s deadline, rejected with 10062 (so also lost).",
        "",
        "### Burst: all at once",
        "",
        burst,
        "",
        "- dispatch: building and queueing every INTERACTION_CREATE, back to back.",
        "- answered /s: accepted callbacks / (last callback − first send).",
        "",
        "### Answers (a check of what was timed)",
        "",
        answers,
        "",
        f"- `asks` rows recorded in SQLite: {r.asks_recorded:,} of {r.asks_expected:,} asked",
        "  (warm-up and profiled asks included); after each phase the bot's leftover tasks",
        f"  get up to {DRAIN_S:g} s to finish (until every ask is recorded).",
        "- warnings and errors logged by the bot and discord.py (counted, not printed):",
        f"  {r.logs}.",
    ]
    for profile in r.profiles:
        lines += ["", profile, "", PROFILE_NOTE]
    return "\n".join(lines)


def run_interactions(options: Options) -> str:
    """The `interactions` benchmark: one Markdown section."""
    return render_interactions(asyncio.run(_run_interactions(options)))


# ---------------------------------------------------------------------------------------------
# fan-out


@dataclass(slots=True)
class FanoutRun:
    label: str
    servers: int
    injected: int
    got_429: int
    retried: int
    retried_wait_s: float
    setup_s: float
    to_last_post_s: float
    tick_s: float
    posted: int
    failed: int
    retried_later: int
    exactly_one: int
    messages: int
    second_tick_posted: int


async def _fanout_once(
    label: str, servers: int, injected: int, options: Options, profiles: list[str]
) -> FanoutRun:
    clock = Clock(SET_AT)
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        async with FakeDiscord() as fake:
            guilds = [fake.add_guild(name=f"Server {i}") for i in range(servers)]
            started = time.perf_counter()
            async with running_bot(fake, Path(folder) / "bench.sqlite3", clock=clock) as bot:
                for g in guilds:
                    await bot.service.set_schedule(g.id, g.text_channel_id, "08:00", "UTC", clock())
                setup_s = time.perf_counter() - started
                before = len(fake.requests)
                if injected:
                    fake.inject_429(
                        "POST", MESSAGES_PATH, count=injected, retry_after=RETRY_AFTER_S
                    )
                clock.now = DUE_AT
                loop = asyncio.get_running_loop()
                profile = options.profile and not injected
                with (
                    counting_logs() as limits,
                    _profiling(profile, f"fan-out tick, {servers:,} servers", profiles, servers),
                ):
                    tick_start = loop.time()
                    report = await asyncio.wait_for(bot.scheduler.tick(), TICK_TIMEOUT_S)
                    tick_s = loop.time() - tick_start
                second = await asyncio.wait_for(bot.scheduler.tick(), TICK_TIMEOUT_S)
                posts = [
                    r
                    for r in fake.requests[before:]
                    if r.method == "POST" and r.route == "POST /channels/{channel_id}/messages"
                ]
        ok = [r for r in posts if 200 <= r.status < 300]
        limited = [r for r in posts if r.status == 429]
        last_post = max((r.at for r in ok), default=tick_start)
        exactly_one = 0
        messages = 0
        for g in guilds:
            sent = fake.channel_messages(g.text_channel_id)
            messages += len(sent)
            claims = {str(m.get("nonce") or "")[:23] for m in sent}
            exactly_one += len(claims) == 1 and "" not in claims
    return FanoutRun(
        label=label,
        servers=servers,
        injected=injected,
        got_429=len(limited),
        retried=limits.rate_limit_retries,
        retried_wait_s=limits.rate_limit_wait_s,
        setup_s=setup_s,
        to_last_post_s=last_post - tick_start,
        tick_s=tick_s,
        posted=report.posted,
        failed=report.failed,
        retried_later=report.retried,
        exactly_one=exactly_one,
        messages=messages,
        second_tick_posted=second.posted,
    )


async def _run_fanout(options: Options) -> tuple[list[FanoutRun], list[str]]:
    servers = QUICK_SERVERS if options.quick else FANOUT_SERVERS
    injected = QUICK_429S if options.quick else FANOUT_429S
    profiles: list[str] = []
    runs = [
        await _fanout_once("no 429s", servers, 0, options, profiles),
        await _fanout_once(f"{injected} × 429", servers, injected, options, profiles),
    ]
    return runs, profiles


def render_fanout(runs: Sequence[FanoutRun], profiles: Sequence[str]) -> str:
    rows = []
    for r in runs:
        rows.append(
            [
                r.label,
                f"{r.servers:,}",
                f"{r.got_429} / {r.injected}",
                f"{r.retried} ({r.retried_wait_s:.1f} s)",
                f"{r.to_last_post_s:.2f}",
                f"{r.tick_s:.2f}",
                f"{r.posted / r.to_last_post_s:,.0f}" if r.to_last_post_s > 0 else "-",
                f"{r.posted:,} / {r.failed} / {r.retried_later}",
                f"{r.exactly_one:,} {_check(r.exactly_one == r.servers)}",
                f"{r.messages:,}",
                r.second_tick_posted,
                f"{r.setup_s:.1f}",
            ]
        )
    result = table(
        [
            "run",
            "servers",
            "429s answered / injected",
            "waited out by discord.py",
            "tick → last post s",
            "tick s",
            "posts /s",
            "posted / failed / retry later",
            "servers with exactly one post",
            "messages",
            "2nd tick posted",
            "setup s",
        ],
        rows,
    )
    servers = runs[0].servers if runs else 0
    lines = [
        "## Daily explainer fan-out",
        "",
        f"{servers:,} servers, each with its own #general, scheduled for 08:00 UTC; the injected",
        "clock moves to 08:00 and one `Scheduler.tick()` posts every server's explainer through",
        "`DiscordPoster` (discord.py `channel.send` with the claim's nonce). A second tick",
        "straight after must post nothing. Each run has its own fake, bot and fresh database.",
        "",
        result,
        "",
        "- tick → last post: from the tick's start to the fake receiving the last successful",
        "  `POST /channels/{id}/messages`; tick s also includes recording the last one.",
        "  posts /s = posted / (tick → last post).",
        f"- 429s: the fake answered the first N message posts with 429 (retry_after "
        f"{RETRY_AFTER_S:g} s,",
        "  Discord's headers); 'waited out' counts discord.py's 'Retrying in' warnings and",
        "  their summed sleeps: the limiter waited and retried, nothing reached the scheduler",
        "  (retry later = 0).",
        "- exactly one post: the server's channel holds messages of exactly one claim (nonce).",
        f"- setup: bot start-up with {servers:,} GUILD_CREATEs + `set_schedule` per server "
        "(not timed in the tick).",
        f"- `Scheduler` sends at most CONCURRENCY = {CONCURRENCY} posts at a time. Discord "
        f"allows {DISCORD_GLOBAL_RATE}",
        "  requests per second per bot globally, and the fake enforces the same limit, so "
        f"{servers:,} posts",
        f"  take about {servers / DISCORD_GLOBAL_RATE:,.0f} s here as there: the 429s answered "
        "beyond the injected ones",
        "  are the fake's global limit, and discord.py's rate limiter, not the bot, waits them "
        "out.",
    ]
    for profile in profiles:
        lines += ["", profile, "", PROFILE_NOTE]
    return "\n".join(lines)


def run_fanout(options: Options) -> str:
    """The `fanout` benchmark: one Markdown section."""
    return render_fanout(*asyncio.run(_run_fanout(options)))
