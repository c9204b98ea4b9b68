"""Follower DMs through the fake Discord: one topic followed by 1,000 members, one edit.

The real bot is started with `tests.discord_support.running_bot` against
`tests.fakediscord.FakeDiscord` on 127.0.0.1, on a fresh SQLite file in a temporary folder (the
fake, the bot and the load generator share one process and one event loop). A moderator's
edit is saved as `/kb edit` saves it; the notifier (`bot.follows.Notifier`, its pool of
`POOL` sends) then owes and sends every follower one DM: once as is, and once with 429s
injected on the DM posts and "opening DMs too fast" (403, 40003) on DM channel opens, whose
back-off runs on the bot's injected clock (moved by the benchmark, reported apart).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from bench.core import Clock, Options, check, counting_logs, table
from bot.follows import LEASE, POOL
from bot.scope import CURATED
from bot.store.follows import FollowStore
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord

FOLLOWERS = 1_000
QUICK_FOLLOWERS = 30
INJECTED_429S = 50
QUICK_429S = 3
INJECTED_40003S = 2
RETRY_AFTER_S = 0.1
TOPIC = "berlin-talks"
DISCORD_GLOBAL_RATE = 50  # requests per second per bot, Discord's global limit
RUN_TIMEOUT_S = 300.0
# Passes before a run gives up (each moves the bot's clock to what the DMs left wait for).
MAX_PASSES = 20
DM_OPEN = "POST /users/@me/channels"
DM_POST = "POST /channels/{channel_id}/messages"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@dataclass(slots=True)
class FollowRun:
    label: str
    followers: int
    injected_429: int
    injected_40003: int
    got_429: int
    got_40003: int
    waited_out: int
    backoff_s: float  # on the bot's clock: the pauses 40003 (and retries) asked for
    passes: int
    to_last_dm_s: float
    sent: int
    exactly_one: int
    dms: int
    requests: int
    second_pass_sent: int
    errors: int


async def _follow_once(
    label: str, followers: int, injected_429: int, injected_40003: int
) -> FollowRun:
    clock = Clock(NOW)
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        async with FakeDiscord() as fake:
            guild = fake.add_guild(name="Newsroom")
            members = [guild.add_member().id for _ in range(followers)]
            async with running_bot(fake, Path(folder) / "bench.sqlite3", clock=clock) as bot:
                store = bot.follows.store
                await bot.notifier.tick()  # the feed starts before the edit
                for member in members:
                    await store.add(guild.id, member, TOPIC, cap=25)
                seen = await bot.service.sections.get(CURATED, TOPIC)
                assert seen is not None
                before = len(fake.requests)
                if injected_429:
                    fake.inject_429(
                        "POST", r"^/channels/\d+/messages$", injected_429, RETRY_AFTER_S
                    )
                if injected_40003:
                    fake.refuse_dm_opens(injected_40003)
                with counting_logs() as logs:
                    edit_at = asyncio.get_running_loop().time()
                    await bot.service.sections.save_for_guild(
                        guild.id,
                        replace(seen.content, body=seen.content.body + " Talks resume Monday."),
                        opened=seen.version,
                        author="bench moderator",
                        author_id=1,
                    )
                    backoff = 0.0
                    passes = 0
                    settled_before: dict[str, int] = {}
                    while passes < MAX_PASSES:
                        # The bot's own pass (every half second) may send some of them: the
                        # send record, not this pass's report, says what went out.
                        await asyncio.wait_for(bot.notifier.tick(), RUN_TIMEOUT_S)
                        passes += 1
                        states = await store.states()
                        if not states.get("pending") and not states.get("sending"):
                            break
                        # What is left waits for a time on the bot's clock: a pause after
                        # 40003, a retry, or the lease of a claim cut off. Move the clock there.
                        # Claims of the bot's own pass in flight need no move: the next pass
                        # waits for it.
                        wait = await _next_wait(bot.notifier.paused_until, store, clock.now)
                        if wait is None and states == settled_before:
                            wait = clock.now + LEASE  # a claim no pass settles: cut off
                        settled_before = states
                        if wait is not None:
                            backoff += (wait - clock.now).total_seconds()
                            clock.now = wait
                second = await bot.notifier.tick()
                sent = (await store.states()).get("sent", 0)
                requests = fake.requests[before:]
        ok = [r for r in requests if r.route == DM_POST and 200 <= r.status < 300]
        last = max((r.at for r in ok), default=edit_at)
        per_member = _dms_per_member(fake, members)
    return FollowRun(
        label=label,
        followers=followers,
        injected_429=injected_429,
        injected_40003=injected_40003,
        got_429=sum(1 for r in requests if r.status == 429),
        got_40003=sum(1 for r in requests if r.route == DM_OPEN and r.status == 403),
        waited_out=logs.rate_limit_retries,
        backoff_s=backoff,
        passes=passes,
        to_last_dm_s=last - edit_at,
        sent=sent,
        exactly_one=sum(1 for n in per_member if n == 1),
        dms=sum(per_member),
        requests=len(requests),
        second_pass_sent=second.sent,
        errors=logs.total(40),
    )


async def _next_wait(paused: datetime | None, store: FollowStore, now: datetime) -> datetime | None:
    """When, on the bot's clock, the DMs left may go: the notifier's pause, or the earliest
    retry (None: they may go now)."""
    if paused is not None and paused > now:
        return paused
    due = await store.next_due()
    if due is not None and datetime.fromisoformat(due) > now:
        return datetime.fromisoformat(due)
    return None


def _dms_per_member(fake: FakeDiscord, members: Sequence[int]) -> list[int]:
    """How many messages each member's DM channel holds (one pass over the fake's messages:
    reading each channel apart would sort them all once per member)."""
    channels = {fake.dm_channel(m).id: i for i, m in enumerate(members)}
    counts = [0] * len(members)
    for message in fake.messages.values():
        i = channels.get(int(message["channel_id"]))
        if i is not None and not message.get("_deleted"):
            counts[i] += 1
    return counts


async def _run_follow(options: Options) -> list[FollowRun]:
    followers = QUICK_FOLLOWERS if options.quick else FOLLOWERS
    injected = QUICK_429S if options.quick else INJECTED_429S
    return [
        await _follow_once("no faults", followers, 0, 0),
        await _follow_once(
            f"{injected} × 429, {INJECTED_40003S} × 40003",
            followers,
            injected,
            INJECTED_40003S,
        ),
    ]


def render_follow(runs: Sequence[FollowRun]) -> str:
    rows = []
    for r in runs:
        rows.append(
            [
                r.label,
                f"{r.followers:,}",
                f"{r.to_last_dm_s:.2f}",
                f"{r.sent / r.to_last_dm_s:,.0f}" if r.to_last_dm_s > 0 else "-",
                f"{r.got_429} / {r.injected_429}",
                f"{r.waited_out}",
                f"{r.got_40003} / {r.injected_40003}",
                f"{r.backoff_s:.0f}",
                r.passes,
                f"{r.exactly_one:,} {check(r.exactly_one == r.followers)}",
                f"{r.dms:,}",
                r.second_pass_sent,
                f"{r.requests:,}",
                r.errors,
            ]
        )
    result = table(
        [
            "run",
            "followers",
            "edit → last DM s",
            "DMs / s",
            "429s answered / injected",
            "waited out by discord.py",
            "40003s answered / injected",
            "back-off s (bot clock)",
            "passes",
            "followers with exactly one DM",
            "DMs",
            "2nd pass sent",
            "requests",
            "errors logged",
        ],
        rows,
    )
    followers = runs[0].followers if runs else 0
    lines = [
        "## Follower DMs",
        "",
        f"{followers:,} members of one server follow one topic; a moderator's edit of it is saved",
        "and the notifier's passes (`Notifier.tick`) owe and send every follower one DM: the",
        "change feed read from its cursor, a send row per follower, each claimed, sent",
        f"(`POST /users/@me/channels`, then the DM) and settled, {POOL} at a time. Each run has",
        "its own fake, bot and fresh database; a second pass straight after must send nothing.",
        "",
        result,
        "",
        "- edit → last DM: from the edit's save (its time included) to the fake receiving the",
        "  last successful DM; the back-off 40003 asks for runs on the bot's injected clock,",
        "  which the benchmark moves (its seconds are in 'back-off s', not in the wall time).",
        "- exactly one DM: the member's DM channel holds exactly one message.",
        f"- Each DM is two requests the first time (open the DM channel, post), and Discord allows "
        f"{DISCORD_GLOBAL_RATE}",
        "  requests a second per bot; the fake enforces the same limit, so the DMs' rate is",
        f"  bounded near {DISCORD_GLOBAL_RATE // 2}/s here as on Discord, and the 429s beyond "
        "the injected ones are that limit,",
        "  waited out by discord.py's rate limiter.",
    ]
    return "\n".join(lines)


def run(options: Options) -> str:
    """The `follow` benchmark: one Markdown section."""
    return render_follow(asyncio.run(_run_follow(options)))
