"""Discord's side of the interactions benchmark: the fake Discord, one busy server and the load
generator, together in a process of their own (see `bench.worker`).

As on Discord, this side sends every interaction and times the bot's callback on its own clock;
the bot under test runs in another process and meets this one only through the gateway and
REST on 127.0.0.1. What comes back to the benchmark is plain data: a `Phase` of `Sample`s.

`/ask` comes from distinct members (so no per-member cooldown ever applies) with questions from
`tests/data/eval_questions.yaml`, at a steady rate (sends scheduled at t0 + i/rate, never
waiting for answers) or all at once. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.core import LogCounter, counting_logs, load_questions
from tests.fakediscord import FakeDiscord, FakeInteraction

SETTLE_AFTER_S = 30.0  # longest wait for a phase's answers and follow-ups after its last send
POLL_S = 0.05  # how often the load generator looks for callbacks while waiting
CALLBACK_ROUTE = "POST /interactions/{interaction_id}/{token}/callback"
COMMAND = "ask"
KINDS = ("card", "no answer", "cooldown", "error", "defer, no follow-up", "none")


@dataclass(frozen=True, slots=True)
class Address:
    """Where a bot logs in to the fake, and with what token."""

    token: str
    api_base: str
    gateway_url: str


@dataclass(frozen=True, slots=True)
class Sample:
    """One interaction as Discord saw it (seconds on the fake's clock)."""

    id: int
    sent_at: float
    latency: float | None  # until the accepted callback (an answer, or a "thinking" defer)
    answer_latency: float | None  # until the member saw content: the callback or the follow-up
    responded_at: float | None
    response_type: int | None  # 4: answered at once, 5: deferred
    kind: str  # one of KINDS: what the member saw
    late: bool  # a callback came after Discord's 3 s deadline (refused)
    logged_latency: float | None  # the fake's request log's accepted callback, a cross-check


@dataclass(slots=True)
class Phase:
    """One batch of `/ask` interactions and what came back."""

    name: str
    rate: float | None  # asked send rate; None for a burst
    samples: list[Sample]
    scheduled_lag: list[float] = field(default_factory=list)  # actual - planned send time

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def first_sent(self) -> float:
        return self.samples[0].sent_at

    @property
    def last_sent(self) -> float:
        return self.samples[-1].sent_at

    def latencies(self) -> list[float]:
        """Until the first accepted callback (an answer or a defer)."""
        return [s.latency for s in self.samples if s.latency is not None]

    def answer_latencies(self) -> list[float]:
        """Until the member sees content: the callback, or the follow-up after a defer."""
        return [s.answer_latency for s in self.samples if s.answer_latency is not None]

    @property
    def deferred(self) -> int:
        return sum(1 for s in self.samples if s.response_type == 5)

    @property
    def lost(self) -> int:
        """Interactions without an accepted callback (Discord shows "did not respond")."""
        return sum(1 for s in self.samples if s.latency is None)

    @property
    def unanswered(self) -> int:
        """Interactions whose member never saw content (lost, or deferred without follow-up)."""
        return sum(1 for s in self.samples if s.answer_latency is None)

    @property
    def late(self) -> int:
        return sum(1 for s in self.samples if s.late)

    @property
    def send_span(self) -> float:
        return self.last_sent - self.first_sent

    @property
    def send_rate(self) -> float:
        span = self.send_span
        return (self.count - 1) / span if span > 0 and self.count > 1 else float("inf")

    @property
    def callback_rate(self) -> float:
        """Accepted callbacks (answers or defers) per second, first send to last callback."""
        ends = [s.responded_at for s in self.samples if s.responded_at is not None]
        span = max(ends, default=self.first_sent) - self.first_sent
        return len(ends) / span if span > 0 else float("nan")

    @property
    def answer_rate(self) -> float:
        """Members who saw their answer, per second from the first send to the last answer."""
        ends = [s.sent_at + s.answer_latency for s in self.samples if s.answer_latency is not None]
        span = max(ends, default=self.first_sent) - self.first_sent
        return len(ends) / span if span > 0 else float("nan")

    def kinds(self) -> Counter[str]:
        return Counter(s.kind for s in self.samples)


@dataclass(slots=True)
class DiscordSide:
    """What lives in the fake's process between calls."""

    fake: FakeDiscord
    guild_id: int
    members: Iterator[int]
    questions: list[str]
    logs: LogCounter
    asked: int = 0


@asynccontextmanager
async def discord_side(members: int) -> AsyncIterator[DiscordSide]:
    """The fake Discord on 127.0.0.1 with one server of `members` members (the worker's host).

    Members join before anything is timed (a bot without the members intent gets no events).
    """
    with counting_logs() as logs:
        async with FakeDiscord() as fake:
            guild = fake.add_guild(name="Busy server")
            ids = [guild.add_member().id for _ in range(members)]
            yield DiscordSide(fake, guild.id, iter(ids), load_questions(), logs)


async def address(side: DiscordSide) -> Address:
    fake = side.fake
    return Address(fake.token, fake.api_base, fake.gateway_url)


async def wait_for_the_bot(side: DiscordSide, within: float) -> None:
    """Until the bot has synced /ask and a gateway session owns the server."""
    fake = side.fake
    await fake.wait_for(
        lambda: (
            fake.command(COMMAND) is not None
            and bool(fake.gateway.sessions_for_guild(side.guild_id))
        ),
        within,
    )


async def logs(side: DiscordSide) -> str:
    """Warnings and errors logged in the fake's process (the fake, aiohttp), counted."""
    return side.logs.summary()


async def _ask(side: DiscordSide) -> FakeInteraction:
    question = side.questions[side.asked % len(side.questions)]
    side.asked += 1
    return await side.fake.send_slash(
        side.guild_id, user_id=next(side.members), name=COMMAND, options={"question": question}
    )


async def warm_up(side: DiscordSide, count: int, answer_within: float) -> int:
    """`count` asks one after another (imports, caches, first sends); how many were answered."""
    answered = 0
    for _ in range(count):
        ix = await _ask(side)
        try:
            await ix.wait_response(answer_within)
        except TimeoutError:
            continue
        answered += 1
    return answered


async def steady(side: DiscordSide, count: int, rate: float) -> Phase:
    """`count` asks sent at `rate` per second on schedule, whatever came back meanwhile."""
    loop = asyncio.get_running_loop()
    sent: list[FakeInteraction] = []
    lag: list[float] = []
    t0 = loop.time() + 0.05
    for i in range(count):
        planned = t0 + i / rate
        delay = planned - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.append(loop.time() - planned)
        sent.append(await _ask(side))
    return await _settle(side, f"{rate:g}/s", rate, sent, lag)


async def burst(side: DiscordSide, count: int) -> Phase:
    """`count` asks sent at once (as fast as this process can build and send them)."""
    sent = [await _ask(side) for _ in range(count)]
    return await _settle(side, "burst", None, sent, [])


def _settled(ix: FakeInteraction) -> bool:
    """Answered with content, deferred and followed up, or given up on (a late callback)."""
    return (
        ix.response_type == 4
        or (ix.response_type == 5 and bool(ix.followups))
        or ix.late_callbacks > 0
    )


def _kind(ix: FakeInteraction) -> str:
    """What the member saw: a section card, the no-answer reply, a refusal or an error."""
    data: dict[str, Any]
    if ix.response_type == 4:
        data = (ix.response or {}).get("data") or {}
    elif ix.response_type == 5 and ix.followups:
        data = ix.followups[0]
    elif ix.response_type == 5:
        return "defer, no follow-up"
    else:
        return "none"
    content = str(data.get("content") or "")
    if data.get("embeds"):
        return "card"
    if "asking quickly" in content:
        return "cooldown"
    if "went wrong" in content:
        return "error"
    return "no answer"


async def _settle(
    side: DiscordSide,
    name: str,
    rate: float | None,
    sent: list[FakeInteraction],
    lag: list[float],
) -> Phase:
    """Poll (cheaply, every POLL_S) until every interaction settled or SETTLE_AFTER_S passed,
    so one phase's backlog does not spill into the next; then read the times off the fake."""
    loop = asyncio.get_running_loop()
    until = sent[-1].sent_at + SETTLE_AFTER_S
    pending = [ix for ix in sent if not _settled(ix)]
    while pending and loop.time() < until:
        await asyncio.sleep(min(POLL_S, max(0.0, until - loop.time())))
        pending = [ix for ix in pending if not _settled(ix)]
    await asyncio.sleep(POLL_S)  # the callbacks' own HTTP responses
    by_token = {ix.token: ix for ix in sent}
    by_id = {ix.id: ix for ix in sent}
    logged: dict[int, float] = {}
    followed: dict[int, float] = {}
    for request in side.fake.requests:
        if not 200 <= request.status < 300:
            continue
        if request.route == CALLBACK_ROUTE:
            called = by_id.get(int(request.path.split("/")[2]))
            if called is not None:
                logged.setdefault(called.id, request.at)
        elif request.method == "POST" and request.path.startswith("/webhooks/"):
            followed_ix = by_token.get(request.path.rsplit("/", 1)[-1])
            if followed_ix is not None:
                followed.setdefault(followed_ix.id, request.at)
    samples = []
    for ix in sent:
        answered_at: float | None = None
        if ix.response_type == 4:
            answered_at = ix.responded_at
        elif ix.response_type == 5:
            answered_at = followed.get(ix.id)
        samples.append(
            Sample(
                id=ix.id,
                sent_at=ix.sent_at,
                latency=ix.latency,
                answer_latency=None if answered_at is None else answered_at - ix.sent_at,
                responded_at=ix.responded_at,
                response_type=ix.response_type,
                kind=_kind(ix),
                late=ix.late_callbacks > 0,
                logged_latency=logged[ix.id] - ix.sent_at if ix.id in logged else None,
            )
        )
    return Phase(name, rate, samples, lag)
