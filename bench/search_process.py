"""The bot's side of the search benchmark, run in a process of its own.

Reads a JSON job on stdin (a database already filled by the benchmark, a SQLite path or a
PostgreSQL URL; the questions and autocomplete inputs to time, the servers to edit in), opens
the database the way the bot does (`BriefingService` + `reload`), times what it was asked to,
and prints one JSON object. Run apart from the benchmark so that its memory is what a bot
holding that database holds, not the benchmark's own copies of the pack.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import date
from typing import Any

from bench.core import current_rss_mb, peak_rss_mb
from bot.client import settle_heap
from bot.sections import SectionContent
from bot.service import BriefingService
from bot.store.backends import open_database
from bot.store.database import Database

# The server the logged asks are asked in: one with no topics of its own, so it is answered
# from the shared pack alone (an ask outside any server is never logged).
RECORDED_IN = 1


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _logged(db: Database) -> int:
    """The rows of the ask log."""
    async with db.conn.execute("SELECT count(*) FROM asks") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def edit_content(number: int) -> SectionContent:
    """A new topic a moderator adds, found by a word nothing else holds."""
    return SectionContent(
        slug=f"bench-edit-{number}",
        title=f"What is the zqedit{number} briefing?",
        body=f"The zqedit{number} briefing was added by a moderator a moment ago.",
        updated=date(2026, 12, 1),
        position=10_000_000 + number,
    )


async def run(job: dict[str, Any]) -> dict[str, Any]:
    db = await open_database(job["db"])
    service = BriefingService(db, None)
    service.after_reload = settle_heap  # as the bot's process does
    try:
        started = time.perf_counter()
        await service.reload()
        load_s = time.perf_counter() - started
        rss_loaded = current_rss_mb()

        for question in job["warmup"]:
            await service.ask(question, None, record=False)
        ask_ms: list[float] = []
        answers: list[str | None] = []
        for question in job["questions"]:
            started = time.perf_counter()
            answer = await service.ask(question, None, record=False)
            ask_ms.append(_ms(started))
            answers.append(answer.section.slug if answer.section else None)
        # Then, when the job has them, asks logged as the bot's own are (queued, written in
        # batches in the background): after the others, so that no write of theirs lands on
        # the search alone.
        ask_recorded_ms: list[float] = []
        for other in job.get("recorded", []):
            started = time.perf_counter()
            await service.ask(other, RECORDED_IN, record=True)
            ask_recorded_ms.append(_ms(started))
        log_flush_ms = None
        if ask_recorded_ms:
            started = time.perf_counter()
            await service.asks.flush()  # what is still queued
            log_flush_ms = _ms(started)
        autocomplete_ms = []
        for partial in job["partials"]:
            started = time.perf_counter()
            service.autocomplete(partial, None)
            autocomplete_ms.append(_ms(started))

        edit_ms: list[float] = []
        refresh_ms: list[float] = []
        for number, guild_id in enumerate(job["edit_guilds"]):
            content = edit_content(number)
            started = time.perf_counter()
            await service.sections.save_for_guild(
                guild_id, content, opened=None, author="bench", author_id=None
            )
            refreshing = time.perf_counter()
            await service.refresh(guild_id)
            refresh_ms.append(_ms(refreshing))
            answer = await service.ask(f"zqedit{number} briefing", guild_id, record=False)
            edit_ms.append(_ms(started))
            if answer.section is None or answer.section.slug != content.slug:
                raise RuntimeError(f"edit {number} in server {guild_id} was not visible")
        max_rss = peak_rss_mb()
        rebuild_s = None
        if job["edit_guilds"]:
            started = time.perf_counter()
            await service.reload()  # what every edit cost before overlays
            rebuild_s = time.perf_counter() - started
        return {
            "load_s": load_s,
            "overlays": len(service.catalog.overlays),
            "rss_loaded_mb": rss_loaded,
            "ask_ms": ask_ms,
            "answers": answers,
            "ask_recorded_ms": ask_recorded_ms,
            "ask_log_flush_ms": log_flush_ms,
            "asks_logged": await _logged(db) if ask_recorded_ms else 0,
            "autocomplete_ms": autocomplete_ms,
            "edit_ms": edit_ms,
            "refresh_ms": refresh_ms,
            "rebuild_s": rebuild_s,
            "max_rss_mb": max_rss,  # before the rebuild below
            "rebuild_max_rss_mb": peak_rss_mb(),
        }
    finally:
        await db.close()


def main() -> int:
    job = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(job))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
