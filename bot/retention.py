"""What Briefbot keeps, and for how long: old questions, expired drafts, removed servers' data.

Runs once the bot is connected (it knows its servers then) and then every hour; every step reads
the injected clock, so the tests move time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from bot.config import DEFAULT_ASK_RETENTION_DAYS
from bot.store.asks import AskLog
from bot.store.database import Database
from bot.store.guilds import GuildData
from bot.store.learning import LearningStore
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
    signals_deleted: int = 0  # members' signals, outdated flags and unsettled review items
    guilds_purged: list[int] = field(default_factory=list)
    guilds_kept: list[int] = field(default_factory=list)


async def _nothing() -> None:
    """No catalog to reload, no connection to wait for (a store used without a bot)."""


class Retention:
    def __init__(
        self,
        db: Database,
        *,
        ask_days: int = DEFAULT_ASK_RETENTION_DAYS,
        is_member: Callable[[int], bool] = lambda guild_id: False,
        owns: Callable[[int], bool] = lambda guild_id: True,
        reload: Callable[[], Awaitable[None]] = _nothing,
    ) -> None:
        """`is_member` says whether the bot is in a server now (a removal it missed the end of).

        It is only meaningful once the gateway is ready, and only for the servers this
        process serves: `owns` says which (with several shard processes on one database, a
        removed server is purged by the process that owns it, never by another that merely
        does not see it). `reload` rebuilds the answering catalog after a purge deleted
        sections, since this process's own commits do not wake the data_version poller.
        """
        self.db = db
        self.asks = AskLog(db)
        self.guilds = GuildData(db)
        self.drafts = ModerationStore(db)
        self.learning = LearningStore(db)
        self.ask_days = ask_days
        self.is_member = is_member
        self.owns = owns
        self.reload = reload

    def _before(self, days: int) -> str:
        cutoff = self.db.clock().astimezone(UTC) - timedelta(days=days)
        return cutoff.isoformat(timespec="seconds")

    async def run_once(self) -> RetentionReport:
        report = RetentionReport()
        report.asks_deleted = await self.asks.prune(self._before(self.ask_days))
        # Members' signals are kept as long as the questions they are about.
        report.signals_deleted = await self.learning.prune(self._before(self.ask_days))
        report.drafts_deleted = await self.drafts.purge_expired_drafts()
        sections_deleted = False
        for guild_id in await self.guilds.removed_before(self._before(REMOVED_GUILD_DAYS)):
            if not self.owns(guild_id):
                continue  # another shard process serves it and decides
            if self.is_member(guild_id):
                await self.guilds.cancel_removal(guild_id)
                report.guilds_kept.append(guild_id)
                continue
            deleted = await self.guilds.purge(guild_id)
            # Its own sections and its taught questions are in the answering catalog.
            sections_deleted = sections_deleted or bool(
                {"sections", "topic_additions"} & set(deleted)
            )
            report.guilds_purged.append(guild_id)
        if sections_deleted:
            await self.reload()
        if report.asks_deleted or report.drafts_deleted or report.guilds_purged:
            log.info(
                "retention: deleted %d old questions, %d expired drafts and the data of %d "
                "removed servers",
                report.asks_deleted,
                report.drafts_deleted,
                len(report.guilds_purged),
            )
        return report

    async def run(
        self,
        stop: asyncio.Event,
        every: float = RUN_EVERY,
        *,
        ready: Callable[[], Awaitable[None]] = _nothing,
    ) -> None:
        """Once `ready` returns, run, then every `every` seconds until `stop` is set.

        The bot passes its wait_until_ready: before the gateway's READY it knows none of its
        servers, and a server it was added back to while offline would look removed.
        A failed run is logged.
        """
        waiting = asyncio.ensure_future(ready())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            # A bot closed before it ever connected stops here instead of waiting forever.
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            stopping.cancel()
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("retention run failed; trying again in %ss", every)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass
