"""The bot's side of the interactions benchmark, in a process of its own (see `bench.worker`):
Briefbot started exactly as `python -m bot run` starts it, or the bare discord.py bot of
`bench.bare_bot`, logged in to a fake Discord in another process; and what the benchmark asks
of either between phases (wait for its leftover work, a profile, its logs).

Nothing of the fake or of the load generator runs here: this process's event loop does only
what the bot does in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import discord

from bench.bare_bot import BareBot
from bench.core import LogCounter, counting_logs, profiling
from bench.discord_side import Address
from bot.client import interaction_tasks, point_at
from bot.config import Settings
from bot.store.database import Database
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord

READY_S = 30.0  # longest wait for the bot to log in, sync its commands and be ready
POLL_S = 0.05  # how often to look at the bot's leftover work between phases


@dataclass(slots=True)
class BotSide:
    """What lives in the bot's process between calls."""

    client: discord.Client
    logs: LogCounter
    db: Database | None  # Briefbot's database; the bare bot has none
    profiler: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    profiles: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Interactions that ended in an unexpected error (Briefbot counts them)."""
        return int(getattr(self.client, "failed_interactions", 0))


@dataclass(frozen=True, slots=True)
class BotSummary:
    asks_recorded: int | None  # rows in Briefbot's `asks`; None for the bare bot
    failed: int
    logs: str


@asynccontextmanager
async def briefbot_side(address: Address) -> AsyncIterator[BotSide]:
    """Briefbot on a fresh SQLite file in a temporary folder (the worker's host)."""
    with (
        counting_logs() as logs,
        tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder,
    ):
        # running_bot reads only the token and the two addresses off the fake.
        fake = cast(FakeDiscord, address)
        async with running_bot(fake, Path(folder) / "bench.sqlite3") as bot:
            yield BotSide(bot, logs, bot.service.db)


@asynccontextmanager
async def bare_side(address: Address) -> AsyncIterator[BotSide]:
    """The bare discord.py bot (the worker's host)."""
    point_at(Settings(api_base=address.api_base, gateway_url=address.gateway_url))
    client = BareBot()
    with counting_logs() as logs:
        task = asyncio.create_task(client.start(address.token), name="bare-bot")
        try:
            async with asyncio.timeout(READY_S):
                while not client.is_ready():
                    if task.done():
                        task.result()
                        raise RuntimeError("the bare bot stopped before it was ready")
                    await asyncio.sleep(POLL_S)
            yield BotSide(client, logs, None)
        finally:
            await client.close()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(10):
                    await task


async def _recorded(db: Database) -> int:
    async with db.conn.execute("SELECT COUNT(*) FROM asks") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def settle(side: BotSide, asked: int, within: float) -> int | None:
    """Wait (at most `within` seconds) until the bot's leftover work is done: no interaction still
    running and, for Briefbot, all `asked` questions in its ask log. The asks recorded."""
    loop = asyncio.get_running_loop()
    until = loop.time() + within
    while True:
        recorded = None if side.db is None else await _recorded(side.db)
        busy = bool(interaction_tasks()) or (recorded is not None and recorded < asked)
        if not busy or loop.time() >= until:
            return recorded
        await asyncio.sleep(POLL_S)


async def profile_begin(side: BotSide, title: str, items: int) -> None:
    """cProfile this process until `profile_end` (top functions go to its stderr)."""
    side.profiler.enter_context(profiling(True, title, breakdowns=side.profiles, items=items))


async def profile_end(side: BotSide) -> str:
    """The profile's own time by package, as a Markdown table."""
    side.profiler.close()
    return side.profiles[-1]


async def summary(side: BotSide) -> BotSummary:
    recorded = None if side.db is None else await _recorded(side.db)
    return BotSummary(recorded, side.failed, side.logs.summary())
