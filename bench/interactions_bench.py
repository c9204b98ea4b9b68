"""`/ask` interactions through the fake Discord: at a steady rate, then all at once.

The real bot is started with `tests.discord_support.running_bot` against
`tests.fakediscord.FakeDiscord` on 127.0.0.1, on a fresh SQLite file in a temporary folder. The
fake, the bot and the load generator share one process and one event loop, so every figure
includes the fake's own work (building, compressing and sending gateway frames, answering REST
calls) as well as the bot's: it is an upper bound on the bot's overhead.

`/ask` comes from distinct members (so the 5-per-30-s cooldown never applies) with questions
from `tests/data/eval_questions.yaml`, first at a steady rate (sends scheduled at t0 + i/rate,
never waiting for answers), then all at once. Every wait is bounded: a lost interaction is one
without a callback `LOST_AFTER_S` after it was sent.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from bench.core import (
    PROFILE_NOTE,
    Options,
    check,
    count_asks,
    counting_logs,
    load_questions,
    ms,
    percentile,
    profiling,
    table,
)
from bot.client import DEFER_AFTER
from bot.cogs.ask import COOLDOWN_RATE, COOLDOWN_SECONDS
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import FakeInteraction

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
            data: dict[str, Any] = {}
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
                        with profiling(True, title, breakdowns=profiles, items=profile_n):
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
    return f"≤ {TARGET_STEADY_P99_MS:g} {check(p99 * 1000 <= TARGET_STEADY_P99_MS)}"


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
                ms(percentile(s.scheduled_lag, 0.99)),
                ms(percentile(lat, 0.5)),
                ms(p99),
                ms(max(lat, default=math.nan)),
                _target_p99(s, p99),
                s.deferred,
                ms(percentile(answer, 0.5)),
                ms(percentile(answer, 0.99)),
                f"{s.lost} {check(s.lost == 0)}",
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
                f"≥ {TARGET_BURST_RATE:g} {check(b.answer_rate >= TARGET_BURST_RATE)}",
                ms(percentile(b_lat, 0.5)),
                ms(percentile(b_lat, 0.99)),
                ms(max(b_lat, default=math.nan)),
                b.deferred,
                ms(percentile(b_answer, 0.99)),
                f"{b.lost} {check(b.lost == 0)}",
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
        "- warnings and errors logged by the bot, discord.py and the libraries (counted, not",
        "  printed):",
        f"  {r.logs}.",
    ]
    for profile in r.profiles:
        lines += ["", profile, "", PROFILE_NOTE]
    return "\n".join(lines)


def run(options: Options) -> str:
    """The `interactions` benchmark: one Markdown section."""
    return render_interactions(asyncio.run(_run_interactions(options)))
