"""`/ask` through a fake Discord in a process of its own, Briefbot beside a bare discord.py bot.

Two contenders, each a pair of processes started fresh for the run (`bench.worker`): a fake
Discord with one busy server and the load generator (`bench.discord_side`: as on Discord, it
sends each interaction and times the callback), and the bot logged in to it (`bench.bot_side`):
Briefbot exactly as `python -m bot run` starts it, on a fresh SQLite file, or the bare
discord.py bot of `bench.bare_bot` (one fixed embed, no lookup, no database). The benchmark's
own process only tells them what to do and reads the results. Neither bot's process runs
anything of the fake's, so each figure is the bot's cost plus the loopback network's.

The contenders take turns, phase by phase (the one that went first goes second next time), so
a machine that gets busier or quieter during the run affects both: warm-up, a steady rate below
the knee, the steady rate of the targets, then all at once. The ratios Briefbot / bare are the
figures the targets are on; they are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from operator import attrgetter

from bench import bot_side, discord_side
from bench.bot_side import BotSide, BotSummary
from bench.core import PROFILE_NOTE, Options, check, ms, percentile, table
from bench.discord_side import KINDS, SETTLE_AFTER_S, Address, DiscordSide, Phase
from bench.worker import Worker
from bot.cogs.ask import COOLDOWN_RATE, COOLDOWN_SECONDS
from bot.deadline import DEFER_BY, WORK_LIMIT

# The phases: (interactions, sends per second); a burst sends them all at once.
REFERENCE = (500, 100.0)  # below the knee, for comparison
STEADY = (1_000, 200.0)  # the rate the p99 target is on
BURST_COUNT = 1_000
QUICK_COUNT = 40
WARMUP = 20  # sequential asks before timing: imports, caches, first sends
QUICK_WARMUP = 5
# The targets, on Briefbot / bare in the same run.
TARGET_P99_RATIO = 2.0  # at most this many times the bare bot's p99 at STEADY's rate
TARGET_BURST_RATIO = 0.9  # at least this share of the bare bot's answers per second in a burst

DRAIN_S = 20.0  # longest wait for a bot's leftover work (asks still being logged) after a phase
ANSWER_S = 10.0  # longest wait for one warm-up answer
CONNECT_S = 60.0  # longest wait for a bot to log in and sync /ask
PHASE_MARGIN_S = 60.0  # beyond a phase's own send time and settling, before giving up on it
DISCORD_DEADLINE_S = 3.0  # Discord refuses an interaction's first callback after 3 s

BRIEFBOT = "Briefbot"
BARE = "bare discord.py"


@dataclass(slots=True)
class Contender:
    """One bot and its own fake Discord, each in its own process."""

    name: str
    discord: Worker[DiscordSide]
    bot: Worker[BotSide]
    asked: int = 0
    warmed: int = 0
    phases: list[Phase] = field(default_factory=list)
    recorded: list[int | None] = field(default_factory=list)  # asks logged after each phase
    profile: str | None = None


@dataclass(frozen=True, slots=True)
class ContenderResults:
    name: str
    phases: list[Phase]
    warmup: int
    warmed: int
    asked: int
    recorded: list[int | None]
    summary: BotSummary
    discord_logs: str
    profile: str | None

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)

    @property
    def lost(self) -> int:
        return sum(p.lost for p in self.phases)

    @property
    def unanswered(self) -> int:
        return sum(p.unanswered for p in self.phases)


@dataclass(frozen=True, slots=True)
class InteractionResults:
    contenders: list[ContenderResults]
    quick: bool

    def of(self, name: str) -> ContenderResults:
        return next(c for c in self.contenders if c.name == name)


BotHost = Callable[[Address], AbstractAsyncContextManager[BotSide]]


@asynccontextmanager
async def _contender(name: str, host: BotHost, members: int) -> AsyncIterator[Contender]:
    """Start a fake Discord, then the bot on it; wait until /ask is synced; stop both after."""
    async with Worker(f"fake Discord ({name})", discord_side.discord_side, members) as fake:
        address = await fake.call(discord_side.address, within=CONNECT_S)
        async with Worker(name, host, address, start_timeout=CONNECT_S) as bot:
            await fake.call(discord_side.wait_for_the_bot, CONNECT_S, within=CONNECT_S + 5)
            yield Contender(name, fake, bot)


def _phase_timeout(count: int, rate: float | None) -> float:
    sending = count / rate if rate else count * 0.01
    return sending + SETTLE_AFTER_S + PHASE_MARGIN_S


async def _run_phase(c: Contender, count: int, rate: float | None) -> Phase:
    """One phase through the contender's fake, then its bot's leftover work (bounded)."""
    timeout = _phase_timeout(count, rate)
    if rate is None:
        phase = await c.discord.call(discord_side.burst, count, within=timeout)
    else:
        phase = await c.discord.call(discord_side.steady, count, rate, within=timeout)
    c.asked += count
    c.recorded.append(await c.bot.call(bot_side.settle, c.asked, DRAIN_S, within=DRAIN_S + 10))
    return phase


async def _profile(c: Contender, count: int, rate: float) -> str:
    title = f"{c.name}: /ask at {rate:g}/s, {count:,} more (per interaction)"
    await c.bot.call(bot_side.profile_begin, title, count, within=10)
    await _run_phase(c, count, rate)
    profile: str = await c.bot.call(bot_side.profile_end, within=60)
    return profile


async def _run_interactions(options: Options) -> InteractionResults:
    quick = options.quick
    reference, steady = REFERENCE, STEADY
    burst_n = BURST_COUNT
    if quick:
        reference, steady, burst_n = (QUICK_COUNT, reference[1]), (QUICK_COUNT, steady[1]), 40
    warmup_n = QUICK_WARMUP if quick else WARMUP
    profile_n = reference[0] if options.profile else 0
    members = warmup_n + reference[0] + steady[0] + burst_n + profile_n
    results = []
    async with contextlib.AsyncExitStack() as stack:
        contenders = await asyncio.gather(
            stack.enter_async_context(_contender(BARE, bot_side.bare_side, members)),
            stack.enter_async_context(_contender(BRIEFBOT, bot_side.briefbot_side, members)),
        )
        for c in contenders:
            c.warmed = await c.discord.call(
                discord_side.warm_up, warmup_n, ANSWER_S, within=warmup_n * ANSWER_S + 10
            )
            c.asked += warmup_n
            c.recorded.append(
                await c.bot.call(bot_side.settle, c.asked, DRAIN_S, within=DRAIN_S + 10)
            )
        for turn, (count, rate) in enumerate([reference, steady, (burst_n, None)]):
            order: Sequence[Contender] = contenders if turn % 2 == 0 else contenders[::-1]
            for c in order:
                c.phases.append(await _run_phase(c, count, rate))
        if options.profile:
            for c in contenders:
                c.profile = await _profile(c, profile_n, reference[1])
        for c in contenders:
            results.append(
                ContenderResults(
                    name=c.name,
                    phases=c.phases,
                    warmup=warmup_n,
                    warmed=c.warmed,
                    asked=c.asked,
                    recorded=c.recorded,
                    summary=await c.bot.call(bot_side.summary, within=30),
                    discord_logs=await c.discord.call(discord_side.logs, within=30),
                    profile=c.profile,
                )
            )
    return InteractionResults(results, quick)


# -- the report -----------------------------------------------------------------------------------


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs > 0 and math.isfinite(theirs) else math.nan


def _side_by_side(r: InteractionResults) -> str:
    ours, bare = r.of(BRIEFBOT), r.of(BARE)
    rows = []
    for name in (f"{REFERENCE[1]:g}/s", f"{STEADY[1]:g}/s"):
        o, b = ours.phase(name).latencies(), bare.phase(name).latencies()
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            mine, theirs = percentile(o, fraction), percentile(b, fraction)
            ratio = _ratio(mine, theirs)
            target = "-"
            if name == f"{STEADY[1]:g}/s" and label == "p99":
                target = f"≤ {TARGET_P99_RATIO:g} {check(ratio <= TARGET_P99_RATIO)}"
            rows.append([f"{label} ms at {name}", ms(theirs), ms(mine), f"{ratio:.2f}", target])
    o_burst, b_burst = ours.phase("burst"), bare.phase("burst")
    for label in ("answers", "callbacks"):
        rate = attrgetter(f"{label[:-1]}_rate")
        mine, theirs = float(rate(o_burst)), float(rate(b_burst))
        ratio = _ratio(mine, theirs)
        rows.append(
            [
                f"burst of {o_burst.count:,}: {label} /s",
                f"{theirs:,.0f}",
                f"{mine:,.0f}",
                f"{ratio:.2f}",
                f"≥ {TARGET_BURST_RATIO:g} {check(ratio >= TARGET_BURST_RATIO)}",
            ]
        )
    rows.append(
        [
            "lost or unanswered, all phases",
            f"{bare.lost} / {bare.unanswered}",
            f"{ours.lost} / {ours.unanswered}",
            "-",
            f"0 {check(ours.lost == ours.unanswered == 0)}",
        ]
    )
    return table(["", BARE, BRIEFBOT, "Briefbot / bare", "target"], rows)


def _steady_rows(c: ContenderResults) -> list[list[object]]:
    rows: list[list[object]] = []
    for p in c.phases:
        if p.rate is None:
            continue
        lat, answer = p.latencies(), p.answer_latencies()
        rows.append(
            [
                c.name,
                p.name,
                f"{p.count:,}",
                f"{p.send_rate:,.0f}",
                ms(percentile(p.scheduled_lag, 0.99)),
                ms(percentile(lat, 0.5)),
                ms(percentile(lat, 0.99)),
                ms(max(lat, default=math.nan)),
                p.deferred,
                ms(percentile(answer, 0.99)),
                p.lost,
                p.late,
            ]
        )
    return rows


def _burst_row(c: ContenderResults) -> list[object]:
    b = c.phase("burst")
    lat = b.latencies()
    return [
        c.name,
        f"{b.count:,}",
        f"{b.send_span:.2f}",
        f"{b.callback_rate:,.0f}",
        f"{b.answer_rate:,.0f}",
        ms(percentile(lat, 0.5)),
        ms(percentile(lat, 0.99)),
        b.deferred,
        ms(percentile(b.answer_latencies(), 0.99)),
        b.lost,
        b.unanswered,
        b.late,
    ]


def render_interactions(r: InteractionResults) -> str:
    steady = table(
        [
            "bot",
            "rate",
            "interactions",
            "sent /s",
            "send lag p99 ms",
            "p50 ms",
            "p99 ms",
            "max ms",
            "deferred",
            "answer p99 ms",
            "lost",
            "late > 3 s",
        ],
        [row for c in r.contenders for row in _steady_rows(c)],
    )
    burst = table(
        [
            "bot",
            "interactions",
            "dispatch s",
            "callbacks /s",
            "answers /s",
            "p50 ms",
            "p99 ms",
            "deferred",
            "answer p99 ms",
            "lost",
            "unanswered",
            "late > 3 s",
        ],
        [_burst_row(c) for c in r.contenders],
    )
    answers = table(
        [
            "bot",
            "phase",
            "card",
            "no-answer reply",
            "cooldown refusal",
            "error reply",
            "deferred, no follow-up",
            "no callback",
        ],
        [
            [c.name, p.name, *(p.kinds().get(k, 0) for k in KINDS)]
            for c in r.contenders
            for p in c.phases
        ],
    )
    ours = r.of(BRIEFBOT)
    lines = [
        "## Interactions: Briefbot's /ask beside a bare discord.py bot",
        "",
        "Each bot runs in a process of its own, logged in to a fake Discord that runs in",
        "another process with the load generator: as on Discord, that side sends each",
        "interaction and times the callback. The bare bot answers every `/ask` with one fixed",
        "embed and looks nothing up. One server each, a distinct member per question (the",
        f"`/ask` cooldown, {COOLDOWN_RATE} per {COOLDOWN_SECONDS:g} s per member, never applies),",
        "questions cycling through `tests/data/eval_questions.yaml`, after",
        f"{ours.warmup} sequential warm-up asks that are not counted. The bots take turns phase",
        "by phase; each phase waits until the previous one settled (at most",
        f"{SETTLE_AFTER_S:g} s after its last send) and the bot's leftover work finished (at",
        f"most {DRAIN_S:g} s). Targets are printed, not asserted.",
        "",
        "### Side by side",
        "",
        _side_by_side(r),
        "",
        "- p50/p99: from the INTERACTION_CREATE being queued on the fake's gateway to the bot's",
        "  first callback reaching the fake (the answer, or a 'thinking' defer).",
        "- answers /s: members who saw their answer (the callback, or the follow-up after a",
        "  defer) / (last answer − first send); callbacks /s counts a 'thinking' defer as",
        "  answered, which it is not for the member.",
        "- lost: no accepted callback (Discord shows 'did not respond'); unanswered: lost, or",
        "  deferred and never followed up.",
        "",
        "### Steady rate",
        "",
        steady,
        "",
        "- sends are scheduled at t0 + i/rate and never wait for answers; send lag is how late",
        "  the load generator got to each send.",
        f"- Briefbot defers an answer not ready {DEFER_BY:g} s after Discord created the",
        "  interaction, or predictably not by then behind the answers ahead of it (computed",
        f"  {WORK_LIMIT} at a time); answer p99 is until the content arrived.",
        f"- late: a callback after Discord's {DISCORD_DEADLINE_S:g} s deadline, refused (so lost).",
        "",
        "### Burst: all at once",
        "",
        burst,
        "",
        "- dispatch: building and queueing every INTERACTION_CREATE, back to back.",
        "- callbacks /s: accepted callbacks / (last callback − first send).",
        "",
        "### Answers (a check of what was timed)",
        "",
        answers,
        "",
    ]
    for c in r.contenders:
        warm = f"{c.warmed} of {c.warmup} warm-up asks answered"
        if c.summary.asks_recorded is not None:
            lines.append(
                f"- {c.name}: {warm}; `asks` rows in SQLite: {c.summary.asks_recorded:,} of"
                f" {c.asked:,} asked; unexpected errors: {c.summary.failed}."
            )
        else:
            lines.append(f"- {c.name}: {warm}.")
        lines.append(f"  Warnings and errors logged in its process: {c.summary.logs}.")
        lines.append(f"  In its fake Discord's process: {c.discord_logs}.")
    for c in r.contenders:
        if c.profile is not None:
            lines += ["", c.profile, "", PROFILE_NOTE]
    return "\n".join(lines)


def run(options: Options) -> str:
    """The `interactions` benchmark: one Markdown section."""
    return render_interactions(asyncio.run(_run_interactions(options)))
