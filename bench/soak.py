"""Soak: a steady mixed load on the real bot for minutes, through the fake Discord.

    python -m bench.soak [--minutes 10] [--servers 1000]     (`make soak`)
    python -m bench.soak --quick                             (1 minute, 100 servers)

The real bot is started with `tests.discord_support.running_bot` against
`tests.fakediscord.FakeDiscord` (127.0.0.1), on a fresh SQLite file, with the scheduler's own
poll loop running as in production. For the whole run it gets, at once:

- `/ask` at ASK_RATE per second, questions from `tests/data/eval_questions.yaml`, from
  ACTIVE_SERVERS × MEMBERS_PER_SERVER members (so the 5-per-30-s cooldown never applies);
- `/explain` autocompletes at AUTOCOMPLETE_RATE per second;
- a `/kb edit` every EDIT_EVERY_S seconds: the modal opens, its prefilled text is changed and
  submitted by a member with Manage Server, over EDIT_SERVERS servers × every topic;
- the daily explainer in every server: the injected clock moves on by one day at the start
  of every minute and `bot.scheduler.tick()` is called (the poll loop may tick too).

Sends are scheduled at t0 + i/rate and never wait for answers. Every REAP_EVERY_S,
interactions older than REAP_AFTER_S are checked and then dropped from the fake's records,
and the daily posts are counted (by channel and day) and dropped, so the fake's own
bookkeeping stays small and the memory figure is the bot's (plus a steady fake): the fake
runs in the same process, and records it kept for long would also fragment the heap. Every
SAMPLE_EVERY_S, memory is the process's resident set (/proc/self/statm) after `gc.collect()`.

Pass: nothing lost (every interaction answered within LOST_AFTER_S; every answered `/ask`
recorded), no error replies and no ERROR log records, exactly one post per server per day,
and RSS growth after the warm-up (the first minute) below GROWTH_LIMIT_PCT. The report is a
Markdown table; the exit status is 1 if any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import platform
import re
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.core import (
    Clock,
    LogCounter,
    count_asks,
    counting_logs,
    current_rss_mb,
    load_questions,
    table,
)
from bot.briefing import POLL_SECONDS
from tests.discord_support import KNOWLEDGE, modal_values, running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.models import FakeInteraction
from tests.fakediscord.payloads import Perm

ASK_RATE = 20.0  # per second
AUTOCOMPLETE_RATE = 10.0  # per second
EDIT_EVERY_S = 3.0
ACTIVE_SERVERS = 20  # servers the asks, autocompletes and edits go to
MEMBERS_PER_SERVER = 10  # each member asks every ~10 s: under the 5-per-30-s cooldown
EDIT_SERVERS = 3
LOST_AFTER_S = 10.0
REAP_AFTER_S = LOST_AFTER_S + 5.0
REAP_EVERY_S = 1.0
SAMPLE_EVERY_S = 10.0
GROWTH_LIMIT_PCT = 10.0
QUICK_WARMUP_S = 20.0  # a 1-minute run cannot have a 1-minute warm-up
TICK_TIMEOUT_S = 50.0
DB_DRAIN_S = 10.0
RESUME_BUFFER_KEPT = 200  # frames of the fake's gateway RESUME buffer kept at each reap

SET_AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
DUE_AT = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
DAILY_TIME = "08:00"
MODERATOR = int(Perm.MANAGE_GUILD | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
MODAL = 9
AUTOCOMPLETE_RESULT = 8
MESSAGE = 4
DEFERRED = 5
FALLBACK_TEXT = "went wrong"
COOLDOWN_TEXT = "asking quickly"
HEADER_RE = re.compile(r"Daily explainer — (\d{4}-\d{2}-\d{2})")
EDIT_MARK_RE = re.compile(r"\n\nSoak edit \d+\.$")
PARTIALS = (
    "nato",
    "natto",
    "berl",
    "berlin talks",
    "secur",
    "guarant",
    "us r",
    "united st",
    "russ",
    "ukr",
    "territ",
    "peace",
    "europ",
    "expan",
    "",
)

KINDS = ("ask", "autocomplete", "edit: open form", "edit: submit")


@dataclass(slots=True)
class Tally:
    sent: int = 0
    answered: int = 0
    deferred: int = 0
    lost: int = 0
    late: int = 0
    errors: int = 0
    not_sent: int = 0


@dataclass(slots=True)
class Sample:
    at_s: float
    rss_mb: float


@dataclass(slots=True)
class DayCount:
    day: date
    exactly_one: int = 0
    none: int = 0
    several: int = 0
    tick_s: float = 0.0
    tick_posted: int = 0


@dataclass(slots=True)
class Soak:
    """What the load generator sent and what came back, by kind and by minute."""

    fake: FakeDiscord
    start: float
    kinds: dict[int, tuple[str, int]] = field(default_factory=dict)  # ix id -> (kind, minute)
    tallies: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    per_minute: defaultdict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    error_samples: list[str] = field(default_factory=list)
    max_send_lag_s: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    days: list[DayCount] = field(default_factory=list)
    posts: Counter[tuple[int, str]] = field(default_factory=Counter)  # (channel, date) -> n
    stray_posts: int = 0
    asks_recorded: int = 0

    def minute(self, at: float) -> int:
        return int((at - self.start) // 60)

    def track(self, kind: str, ix: FakeInteraction) -> None:
        minute = self.minute(ix.sent_at)
        self.kinds[ix.id] = (kind, minute)
        self.tallies[kind].sent += 1
        self.per_minute[minute][f"{kind} sent"] += 1

    def not_sent(self, kind: str, exc: BaseException) -> None:
        self.tallies[kind].not_sent += 1
        self._error_sample(f"{kind}: not sent ({type(exc).__name__}: {exc})")

    def _error_sample(self, text: str) -> None:
        if len(self.error_samples) < 10:
            self.error_samples.append(text[:300])

    # -- checking and forgetting what the fake recorded -----------------------------------

    def judge(self, kind: str, ix: FakeInteraction) -> tuple[bool, str | None]:
        """(answered in time, the error it showed if any)."""
        first_ok = ix.latency is not None and ix.latency <= LOST_AFTER_S
        data: dict[str, Any] = {}
        if ix.response_type == MESSAGE:
            data = (ix.response or {}).get("data") or {}
        elif ix.response_type == DEFERRED:
            if not ix.followups:
                return False, None
            data = ix.followups[0]
        content = str(data.get("content") or "")
        if kind == "autocomplete":
            return first_ok and ix.response_type == AUTOCOMPLETE_RESULT, None
        if kind == "edit: open form":
            if ix.response_type == MODAL:
                return first_ok, None
            return first_ok, f"no form: {content[:120]!r}" if ix.response else None
        if ix.response is None:
            return False, None
        if FALLBACK_TEXT in content or COOLDOWN_TEXT in content:
            return first_ok, content[:120]
        if kind == "edit: submit" and not content.startswith("Saved"):
            return first_ok, f"not saved: {content[:120]!r}"
        return first_ok, None

    def reap(self, older_than: float) -> None:
        """Judge interactions sent before `older_than`, then drop them from the fake."""
        fake = self.fake
        gone: set[int] = set()
        for ix in list(fake.interactions.values()):
            if ix.sent_at >= older_than:
                continue
            gone.add(ix.id)
            tracked = self.kinds.pop(ix.id, None)
            if tracked is None:
                continue
            kind, minute = tracked
            tally = self.tallies[kind]
            answered, error = self.judge(kind, ix)
            if ix.late_callbacks:
                tally.late += 1
            if ix.response_type == DEFERRED:
                tally.deferred += 1
            if answered:
                tally.answered += 1
                self.per_minute[minute][f"{kind} answered"] += 1
            else:
                tally.lost += 1
                self.per_minute[minute]["lost"] += 1
                self._error_sample(f"{kind}: no answer within {LOST_AFTER_S:g} s")
            if error is not None:
                tally.errors += 1
                self.per_minute[minute]["error replies"] += 1
                self._error_sample(f"{kind}: {error}")
        for ix_id in gone:
            ix = fake.interactions.pop(ix_id)
            fake.interactions_by_token.pop(ix.token, None)
        for custom_id, (ix, _modal) in list(fake.modals.items()):
            if ix.id in gone:
                del fake.modals[custom_id]
        for message_id, message in list(fake.messages.items()):
            if message.get("_interaction_id") in gone:
                del fake.messages[message_id]
        fake.requests.clear()
        fake.allowed_mentions_log.clear()
        fake.gateway_received.clear()
        for session in fake.gateway.sessions.values():
            # The RESUME buffer (up to 5,000 frames) would otherwise fill over the first
            # minutes and read as the bot's growth; a RESUME from before these is refused.
            while len(session.buffer) > RESUME_BUFFER_KEPT:
                session.buffer.popleft()

    def count_posts(self) -> None:
        """Count the daily posts (by channel and the date in their header), then drop them."""
        for message_id, message in list(self.fake.messages.items()):
            if message.get("_source") != "channel":
                continue
            embeds = message.get("embeds") or [{}]
            found = HEADER_RE.search(str((embeds[0].get("author") or {}).get("name") or ""))
            if found:
                self.posts[(int(message["channel_id"]), found.group(1))] += 1
            else:
                self.stray_posts += 1
            del self.fake.messages[message_id]

    def close_day(self, day: DayCount, channels: Sequence[int]) -> None:
        for channel in channels:
            n = self.posts.pop((channel, day.day.isoformat()), 0)
            if n == 1:
                day.exactly_one += 1
            elif n == 0:
                day.none += 1
            else:
                day.several += 1
        self.days.append(day)


def sample_memory(soak: Soak, now: float) -> None:
    gc.collect()
    rss = current_rss_mb()
    if rss is not None:
        soak.samples.append(Sample(now - soak.start, rss))


async def paced(
    rate: float, start: float, end: float, soak: Soak, send: Callable[[int], Awaitable[None]]
) -> None:
    """Call `send(i)` at start + i/rate until `end`, never waiting for answers."""
    loop = asyncio.get_running_loop()
    i = 0
    while (planned := start + i / rate) < end:
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            soak.max_send_lag_s = max(soak.max_send_lag_s, -delay)
        await send(i)
        i += 1


@dataclass(slots=True)
class Result:
    minutes: int
    servers: int
    warmup_s: float
    soak: Soak
    logs: LogCounter
    setup_s: float


async def run(minutes: int, servers: int) -> Result:
    loop = asyncio.get_running_loop()
    clock = Clock(SET_AT)
    questions = load_questions()
    slugs = sorted(p.stem for p in KNOWLEDGE.glob("*.md"))
    with (
        counting_logs() as logs,
        tempfile.TemporaryDirectory(prefix="briefbot-soak-") as folder,
    ):
        db_path = Path(folder) / "soak.sqlite3"
        async with FakeDiscord() as fake:
            guilds = [fake.add_guild(name=f"Server {i}") for i in range(servers)]
            active = guilds[: min(servers, ACTIVE_SERVERS)]
            askers = [
                (g.id, g.add_member(username=f"reader{n}").id)
                for n in range(MEMBERS_PER_SERVER)
                for g in active
            ]
            editors = [(g.id, slug) for slug in slugs for g in active[:EDIT_SERVERS]]
            channels = [g.text_channel_id for g in guilds]
            setup_started = loop.time()
            async with running_bot(fake, db_path, clock=clock, poll_seconds=POLL_SECONDS) as bot:
                for g in guilds:
                    await bot.service.set_schedule(
                        g.id, g.text_channel_id, DAILY_TIME, "UTC", SET_AT
                    )
                setup_s = loop.time() - setup_started
                start = loop.time()
                end = start + minutes * 60
                soak = Soak(fake, start)

                async def ask(i: int) -> None:
                    guild_id, member = askers[i % len(askers)]
                    question = questions[i % len(questions)]
                    try:
                        ix = await fake.send_slash(
                            guild_id, user_id=member, name="ask", options={"question": question}
                        )
                    except Exception as exc:
                        soak.not_sent("ask", exc)
                        return
                    soak.track("ask", ix)

                async def autocomplete(i: int) -> None:
                    guild_id = active[i % len(active)].id
                    partial = PARTIALS[i % len(PARTIALS)]
                    try:
                        ix = await fake.send_autocomplete(
                            guild_id, name="explain", options={"topic": partial}, focused="topic"
                        )
                    except Exception as exc:
                        soak.not_sent("autocomplete", exc)
                        return
                    soak.track("autocomplete", ix)

                async def edit(i: int) -> None:
                    guild_id, slug = editors[i % len(editors)]
                    try:
                        opened = await fake.send_slash(
                            guild_id,
                            name="kb",
                            subcommand="edit",
                            options={"topic": slug},
                            member_permissions=MODERATOR,
                        )
                    except Exception as exc:
                        soak.not_sent("edit: open form", exc)
                        return
                    soak.track("edit: open form", opened)
                    try:
                        response = await opened.wait_response(timeout=LOST_AFTER_S)
                    except TimeoutError:
                        return  # counted as lost when reaped
                    if response.get("type") != MODAL:
                        return  # counted as an error when reaped
                    modal = response["data"]
                    fields = modal_values(modal)
                    body = EDIT_MARK_RE.sub("", fields["body"])
                    fields["body"] = f"{body}\n\nSoak edit {i}."
                    try:
                        submitted = await fake.submit_modal(
                            modal["custom_id"],
                            fields,
                            interaction=opened,
                            member_permissions=MODERATOR,
                        )
                    except Exception as exc:
                        soak.not_sent("edit: submit", exc)
                        return
                    soak.track("edit: submit", submitted)
                    try:
                        await submitted.wait_response(timeout=LOST_AFTER_S)
                    except TimeoutError:
                        pass

                async def daily() -> None:
                    day_count: DayCount | None = None
                    for day in range(minutes):
                        delay = start + day * 60 - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        if day_count is not None:
                            soak.count_posts()
                            soak.close_day(day_count, channels)
                        clock.now = DUE_AT + timedelta(days=day)
                        day_count = DayCount(clock.now.date())
                        began = loop.time()
                        try:
                            report = await asyncio.wait_for(bot.scheduler.tick(), TICK_TIMEOUT_S)
                            day_count.tick_posted = report.posted
                        except TimeoutError:
                            soak._error_sample(f"tick for {clock.now.date()} timed out")
                        day_count.tick_s = loop.time() - began
                    await asyncio.sleep(max(0.0, end - loop.time()))
                    if day_count is not None:
                        soak.count_posts()
                        soak.close_day(day_count, channels)

                async def reaper() -> None:
                    next_sample = start + SAMPLE_EVERY_S
                    while (now := loop.time()) < end:
                        await asyncio.sleep(min(REAP_EVERY_S, max(0.0, end - now)))
                        soak.reap(loop.time() - REAP_AFTER_S)
                        soak.count_posts()
                        if loop.time() >= next_sample or loop.time() >= end:
                            sample_memory(soak, loop.time())
                            next_sample += SAMPLE_EVERY_S

                sample_memory(soak, start)
                await asyncio.gather(
                    paced(ASK_RATE, start, end, soak, ask),
                    paced(AUTOCOMPLETE_RATE, start, end, soak, autocomplete),
                    paced(1 / EDIT_EVERY_S, start, end, soak, edit),
                    daily(),
                    reaper(),
                )
                # Give the last interactions their LOST_AFTER_S, then judge everything.
                settle_until = loop.time() + LOST_AFTER_S
                for ix in list(fake.interactions.values()):
                    if ix.response is None:
                        with contextlib.suppress(TimeoutError):
                            await ix.wait_response(max(0.01, settle_until - loop.time()))
                await asyncio.sleep(0.5)
                soak.reap(float("inf"))
                answered_asks = soak.tallies["ask"].answered
                drain_until = loop.time() + DB_DRAIN_S
                while True:
                    soak.asks_recorded = await count_asks(db_path)
                    if soak.asks_recorded >= answered_asks or loop.time() > drain_until:
                        break
                    await asyncio.sleep(0.2)
    warmup_s = 60.0 if minutes >= 2 else QUICK_WARMUP_S
    return Result(minutes, servers, warmup_s, soak, logs, setup_s)


# ---------------------------------------------------------------------------------------------
# the report


def _ok(ok: bool) -> str:
    return "✓" if ok else "✗ FAIL"


def growth(result: Result) -> tuple[float, float, float, float]:
    """(baseline MB at the end of the warm-up, final MB, final growth %, peak growth %)."""
    samples = result.soak.samples
    after = [s for s in samples if s.at_s >= result.warmup_s - 1]
    if len(after) < 2:
        return float("nan"), float("nan"), float("nan"), float("nan")
    base, final = after[0].rss_mb, after[-1].rss_mb
    peak = max(s.rss_mb for s in after)
    return base, final, 100 * (final - base) / base, 100 * (peak - base) / base


def verdict(result: Result) -> list[tuple[str, str, str, bool]]:
    soak = result.soak
    t = soak.tallies
    sent = sum(x.sent for x in t.values())
    answered = sum(x.answered for x in t.values())
    not_sent = sum(x.not_sent for x in t.values())
    lost = sum(x.lost for x in t.values()) + not_sent
    error_replies = sum(x.errors for x in t.values())
    errors_logged = result.logs.total(logging.ERROR)
    days_ok = sum(d.exactly_one for d in soak.days)
    days_expected = result.servers * result.minutes
    base, final, final_pct, _peak = growth(result)
    return [
        ("interactions answered / sent", f"{answered:,} / {sent:,}", "all", lost == 0),
        ("lost (no answer in time, or not sent)", f"{lost:,}", "0", lost == 0),
        (
            "late callbacks (after 3 s)",
            f"{sum(x.late for x in t.values()):,}",
            "0",
            sum(x.late for x in t.values()) == 0,
        ),
        ("error replies", f"{error_replies:,}", "0", error_replies == 0),
        ("ERROR log records", f"{errors_logged:,}", "0", errors_logged == 0),
        (
            "/ask recorded in SQLite / answered",
            f"{soak.asks_recorded:,} / {t['ask'].answered:,}",
            "all",
            soak.asks_recorded >= t["ask"].answered,
        ),
        (
            "server-days with exactly one post",
            f"{days_ok:,} / {days_expected:,}",
            "all",
            days_ok == days_expected and soak.stray_posts == 0 and not soak.posts,
        ),
        (
            f"RSS growth after warm-up ({result.warmup_s:g} s)",
            f"{final_pct:+.1f}% ({base:.1f} → {final:.1f} MB)",
            f"< {GROWTH_LIMIT_PCT:g}%",
            final_pct < GROWTH_LIMIT_PCT,  # NaN (no samples) fails
        ),
    ]


def render(result: Result) -> str:
    soak = result.soak
    checks = verdict(result)
    kinds = table(
        ["kind", "sent", "answered", "deferred", "lost", "not sent", "late", "error replies"],
        [
            [k, f"{x.sent:,}", f"{x.answered:,}", x.deferred, x.lost, x.not_sent, x.late, x.errors]
            for k, x in soak.tallies.items()
        ],
    )
    rows = []
    for minute in range(result.minutes):
        counts = soak.per_minute.get(minute, Counter())
        day = soak.days[minute] if minute < len(soak.days) else None
        sample = next((s for s in reversed(soak.samples) if s.at_s <= (minute + 1) * 60 + 1), None)
        rows.append(
            [
                minute + 1,
                f"{counts['ask answered']:,} / {counts['ask sent']:,}",
                f"{counts['autocomplete answered']:,} / {counts['autocomplete sent']:,}",
                f"{counts['edit: submit answered']:,} / {counts['edit: open form sent']:,}",
                day.day.isoformat() if day else "-",
                f"{day.exactly_one:,} / {result.servers:,}" if day else "-",
                f"{day.tick_s:.1f}" if day else "-",
                counts["lost"],
                counts["error replies"],
                f"{sample.rss_mb:.1f}" if sample else "-",
            ]
        )
    minutes = table(
        [
            "minute",
            "asks answered / sent",
            "autocompletes",
            "edits saved / opened",
            "day",
            "servers with one post",
            "tick s",
            "lost",
            "error replies",
            "RSS MB (end)",
        ],
        rows,
    )
    base, final, final_pct, peak_pct = growth(result)
    memory = table(
        ["at s", "RSS MB"],
        [[f"{s.at_s:.0f}", f"{s.rss_mb:.1f}"] for s in soak.samples],
    )
    warnings = result.logs.counts.most_common(8)
    lines = [
        "# Briefbot soak",
        "",
        f"- {result.minutes} min, {result.servers:,} servers (daily explainer in each),"
        f" python {platform.python_version()}; setup (start-up, {result.servers:,}"
        f" GUILD_CREATEs, schedules) {result.setup_s:.1f} s, not in the figures.",
        f"- load: /ask {ASK_RATE:g}/s, /explain autocomplete {AUTOCOMPLETE_RATE:g}/s over"
        f" {min(result.servers, ACTIVE_SERVERS)} servers; /kb edit + modal every"
        f" {EDIT_EVERY_S:g} s; one simulated day per minute. Worst send lag"
        f" {soak.max_send_lag_s * 1000:.0f} ms.",
        "",
        "## Checks",
        "",
        table(["check", "value", "target", "ok"], [[a, b, c, _ok(d)] for a, b, c, d in checks]),
        "",
        "## By kind",
        "",
        kinds,
        "",
        "## By minute",
        "",
        minutes,
        "",
        f"Memory: baseline {base:.1f} MB at the end of the warm-up, final {final:.1f} MB"
        f" ({final_pct:+.1f}%), peak after warm-up {peak_pct:+.1f}%.",
        "",
        memory,
        "",
        "Log records at WARNING and above: "
        + (
            "; ".join(f"{n:,} × {lvl} {name}: '{text}'" for (lvl, name, text), n in warnings)
            or "none"
        )
        + ".",
    ]
    if soak.error_samples:
        lines += ["", "First problems seen:", *(f"- {e}" for e in soak.error_samples)]
    if soak.stray_posts or soak.posts:
        lines.append(
            f"- posts without a day's header: {soak.stray_posts}; posts for other days: "
            f"{sum(soak.posts.values())}"
        )
    passed = all(ok for *_, ok in checks)
    lines += ["", f"**{'PASS' if passed else 'FAIL'}**"]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--minutes", type=int, default=10, help="how long to run (default 10)")
    parser.add_argument(
        "--servers", type=int, default=1000, help="servers with a daily explainer (default 1000)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: --minutes 1 --servers 100"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.servers = 1, 100
    if args.minutes < 1 or args.servers < 1:
        parser.error("--minutes and --servers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    result = asyncio.run(run(args.minutes, args.servers))
    print(render(result))
    return 0 if all(ok for *_, ok in verdict(result)) else 1


if __name__ == "__main__":
    sys.exit(main())
