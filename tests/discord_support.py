"""Starting Briefbot against the fake Discord exactly as `python -m bot run` starts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.client import Briefbot, create_bot
from bot.config import Secret, Settings
from bot.service import BriefingService
from tests.fakediscord import FakeDiscord

KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"
FIXED_NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


class FastBriefbot(Briefbot):
    """The real bot, minus discord.py's 5-second pause before a second IDENTIFY."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


def settings_for(fake: FakeDiscord, db_path: Path | str, **overrides: Any) -> Settings:
    """Settings for a bot on the fake: `db_path` a SQLite file or a PostgreSQL URL."""
    location = str(db_path)
    database: dict[str, Any] = (
        {"db_url": Secret(location)}
        if location.startswith("postgresql")
        else {"db_path": Path(location)}
    )
    base = Settings(
        **database,
        knowledge_dir=KNOWLEDGE,
        token=Secret(fake.token),
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
    )
    return replace(base, **overrides)


def modal_values(modal: dict[str, Any]) -> dict[str, str]:
    """The text inputs' prefilled values (action rows or type-18 labels)."""
    found = {}
    for row in modal["components"]:
        for item in row.get("components") or [row.get("component") or {}]:
            if "custom_id" in item:
                found[item["custom_id"]] = item.get("value") or ""
    return found


@asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    db_path: Path | str,
    *,
    clock: Callable[[], datetime] = lambda: FIXED_NOW,
    poll_seconds: float | None = None,
    **overrides: Any,
) -> AsyncIterator[Briefbot]:
    """Open the service and start the bot on the fake; wait for ready; always close both."""
    settings = settings_for(fake, db_path, **overrides)
    service = await BriefingService.open(settings.database, settings.knowledge_dir, clock=clock)
    bot = create_bot(
        service, settings, clock=clock, poll_seconds=poll_seconds, guild_ready_timeout=0.05
    )
    bot.__class__ = FastBriefbot
    assert settings.token is not None
    task = asyncio.create_task(bot.start(settings.token.reveal()))
    try:
        async with asyncio.timeout(15):
            while not bot.is_ready():
                if task.done():
                    task.result()
                    raise RuntimeError("the bot stopped before it was ready")
                await asyncio.sleep(0.02)
        yield bot
    finally:
        await bot.close()
        try:
            async with asyncio.timeout(10):
                await task
        except (asyncio.CancelledError, TimeoutError):
            pass
        await service.close()
