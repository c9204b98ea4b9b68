"""What Briefbot keeps, and for how long: old questions, expired drafts, removed servers' data.

Runs once when the bot starts and then every hour; every step reads the injected clock, so the
tests move time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from bot.config import DEFAULT_ASK_RETENTION_DAYS
from bot.store.asks import AskLog
from bot.store.database import Database
from bot.store.guilds import GuildData
from bot.store.moderation import ModerationStore

log = logging.getLogger(__name__)

# A server's data outlives Briefbot's removal from it by this long (adding the bot back within
# it keeps everything), then it is deleted.
REMOVED_GUILD_DAYS = 30
RUN_EVERY = 3600.0


@dataclass(slots=True)
class RetentionReport:
    asks_deleted: int = 0
    drafts_deleted: int = 0
    guilds_purged: list[int] = field(default_factory=list)
    guilds_kept: list[int] = field(default_factory=list)


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        ask_days: int = DEFAULT_ASK_RETENTION_DAYS,
        is_member: Callable[[int], bool] = lambda guild_id: False,
    ) -> None:
        """`is_member` says whether the bot is in a server now (a removal it missed the end of)."""
        self.db = db
        self.asks = AskLog(db)
        self.guilds = GuildData(db)
        self.drafts = ModerationStore(db)
        self.ask_days = ask_days
        self.is_member = is_member

    def _before(self, days: int) -> str:
        cutoff = self.db.clock().astimezone(UTC) - timedelta(days=days)
        return cutoff.isoformat(timespec="seconds")

    async def run_once(self) -> RetentionReport:
        report = RetentionReport()
        report.asks_deleted = await self.asks.prune(self._before(self.ask_days))
        report.drafts_deleted = await self.drafts.purge_expired_drafts()
        for guild_id in await self.guilds.removed_before(self._before(REMOVED_GUILD_DAYS)):
            if self.is_member(guild_id):
                await self.guilds.cancel_removal(guild_id)
                report.guilds_kept.append(guild_id)
                continue
            await self.guilds.purge(guild_id)
            report.guilds_purged.append(guild_id)
        if report.asks_deleted or report.drafts_deleted or report.guilds_purged:
            log.info(
                "retention: deleted %d old questions, %d expired drafts and the data of %d "
                "removed servers",
                report.asks_deleted,
                report.drafts_deleted,
                len(report.guilds_purged),
            )
        return report

    async def run(self, stop: asyncio.Event, every: float = RUN_EVERY) -> None:
        """Run now, then every `every` seconds until `stop` is set; a failed run is logged."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("retention run failed; trying again in %ss", every)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass
