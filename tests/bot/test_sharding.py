"""Two processes, one shard each, sharing one database: each server's daily post happens once,
by the process that owns it; SIGTERM stops each cleanly with exit code 0.

The processes run `python -m bot run` on an injected clock (START, moving on with real time),
so the test never meets midnight, whatever the wall clock says.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.service import BriefingService
from bot.store.briefing import Schedule
from tests.discord_support import KNOWLEDGE
from tests.fakediscord import FakeDiscord

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
# `python -m bot run` whose Briefbot clock starts at argv[1]: the default clock is replaced
# before the modules that bind it are imported.
RUN_FROM = """
import sys, time
from datetime import datetime, timedelta
import bot.store.database as database
start, began = datetime.fromisoformat(sys.argv[1]), time.monotonic()
database.utcnow = lambda: start + timedelta(seconds=time.monotonic() - began)
from bot.__main__ import main
sys.exit(main(["run"]))
"""


def start(fake: FakeDiscord, db: Path, shard: int) -> subprocess.Popen[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "BRIEFBOT_DB": str(db),
        "BRIEFBOT_KNOWLEDGE": str(KNOWLEDGE),
        "BRIEFBOT_SHARD_COUNT": "2",
        "BRIEFBOT_SHARD_IDS": str(shard),
        "BRIEFBOT_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-c", RUN_FROM, START.isoformat()],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_two_shard_processes_post_each_server_once_and_stop_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        guilds = [fake.add_guild(name=f"S{i}", shard=(i % 2, 2)) for i in range(4)]
        service = await BriefingService.open(db, KNOWLEDGE, clock=lambda: START)
        now = START
        try:
            for guild in guilds:
                # Due a minute ago today: the first pass of whichever process owns it posts.
                await service.schedules.save(
                    Schedule(
                        guild_id=guild.id,
                        channel_id=guild.text_channel_id,
                        local_time=(now - timedelta(minutes=1)).strftime("%H:%M"),
                        timezone="UTC",
                        paused_reason=None,
                        next_due=now - timedelta(minutes=1),
                        next_local_date=now.date(),
                        next_topic=None,
                    )
                )
        finally:
            await service.close()
        processes = [start(fake, db, 0), start(fake, db, 1)]
        try:
            for guild in guilds:
                await fake.wait_for_messages(guild.text_channel_id, 1, timeout=30)
            await fake.wait_ready(count=2, timeout=30)
            shards = sorted(tuple(i["shard"]) for i in fake.identifies)
            for process in processes:
                process.send_signal(signal.SIGTERM)
            codes = [await asyncio.to_thread(p.wait, 20) for p in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        logs = [p.stderr.read() if p.stderr else "" for p in processes]
    assert codes == [0, 0], logs
    assert shards == [(0, 2), (1, 2)]
    assert [len(fake.channel_messages(g.text_channel_id)) for g in guilds] == [1, 1, 1, 1]
    for guild in guilds:  # posted on the injected clock's day, not the wall clock's
        [message] = fake.channel_messages(guild.text_channel_id)
        assert message["embeds"][0]["author"]["name"] == "Daily explainer — 2026-11-28"
    for text in logs:
        assert fake.token not in text
        for line in text.splitlines():
            json.loads(line)  # every log line is one JSON object


def test_a_process_owns_exactly_the_servers_of_its_shards() -> None:
    from bot.client import Briefbot
    from bot.config import Settings

    def owner(guild_id: int, ids: tuple[int, ...]) -> bool:
        bot = Briefbot.__new__(Briefbot)
        bot.settings = Settings(shard_count=4, shard_ids=ids)
        return bot.owns_guild(guild_id)

    guild_on_shard = {shard: (shard << 22) | 12345 for shard in range(4)}
    assert [owner(guild_on_shard[s], (1, 2)) for s in range(4)] == [False, True, True, False]
    assert all(owner(g, (0, 1, 2, 3)) for g in guild_on_shard.values())
