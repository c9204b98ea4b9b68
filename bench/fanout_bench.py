"""The daily explainer fan-out through the fake Discord: many servers due in the same minute.

The real bot is started with `tests.discord_support.running_bot` against
`tests.fakediscord.FakeDiscord` on 127.0.0.1, on a fresh SQLite file in a temporary folder (the
fake, the bot and the load generator share one process and one event loop). One
`Scheduler.tick` posts every server's explainer, once as is and once with 429s injected on
`POST /channels/{id}/messages`; a tick is abandoned after `TICK_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.core import PROFILE_NOTE, Clock, Options, check, counting_logs, profiling, table
from bot.briefing import CONCURRENCY, Scheduler
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord

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
    # Per server posted: from its first store call in the tick to its post recorded, and the
    # part of that spent in the store (seconds).
    post_s: list[float] = field(default_factory=list)
    store_s: list[float] = field(default_factory=list)


class StoreTimer:
    """Stands in for the scheduler's store: times every call, by the server it is about."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.spent: Counter[int] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not inspect.iscoroutinefunction(method):
            return method

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                guild = _guild_of(args)
                if guild is not None:
                    ended = time.perf_counter()
                    self.first.setdefault(guild, started)
                    self.last[guild] = ended
                    self.spent[guild] += ended - started

        return timed


def _guild_of(args: Sequence[Any]) -> int | None:
    """The server a store call is about: its first argument, a guild id or a schedule."""
    if not args:
        return None
    first = args[0]
    if isinstance(first, int):
        return first
    guild = getattr(first, "guild_id", None)
    return guild if isinstance(guild, int) else None


@contextlib.contextmanager
def timing_store(scheduler: Scheduler, timed: bool = True) -> Iterator[StoreTimer]:
    """Time the scheduler's store calls in the block (when `timed`; else the timer stays
    empty and the store is left alone)."""
    store = scheduler.store
    if not timed:
        yield StoreTimer(store)
        return
    timer = StoreTimer(store)
    scheduler.store = timer  # type: ignore[assignment]  # the same methods, timed
    try:
        yield timer
    finally:
        scheduler.store = store


async def _fanout_once(
    label: str,
    servers: int,
    injected: int,
    options: Options,
    profiles: list[str],
    *,
    location: str | None = None,
    timed: bool = False,
) -> FanoutRun:
    """One fan-out on a fresh database: a SQLite file in a temporary folder, unless
    `location` names an empty one (a path or a PostgreSQL URL) the caller owns. With `timed`,
    each server's store calls are timed too (`post_s`, `store_s`)."""
    clock = Clock(SET_AT)
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        # running_bot passes its database on to BriefingService.open, which takes either.
        database: Any = location or Path(folder) / "bench.sqlite3"
        async with FakeDiscord() as fake:
            guilds = [fake.add_guild(name=f"Server {i}") for i in range(servers)]
            started = time.perf_counter()
            async with running_bot(fake, database, clock=clock) as bot:
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
                    profiling(
                        profile,
                        f"fan-out tick, {servers:,} servers",
                        breakdowns=profiles,
                        items=servers,
                    ),
                ):
                    tick_start = loop.time()
                    with timing_store(bot.scheduler, timed) as timer:
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
        post_s=[timer.last[g] - timer.first[g] for g in timer.last],
        store_s=[timer.spent[g] for g in timer.last],
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
                f"{r.exactly_one:,} {check(r.exactly_one == r.servers)}",
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


def run(options: Options) -> str:
    """The `fanout` benchmark: one Markdown section."""
    return render_fanout(*asyncio.run(_run_fanout(options)))
