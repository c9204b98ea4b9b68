"""Two moderators in two processes save one topic at once: one save, one conflict.

Each worker (tests/bot/store/edit_worker.py, a real OS process with its own connections) reads
the topic a server sees, says so, and waits; once both have read, both are told to save the
same topic from the same version at once. Exactly one save is written and the other worker
gets `EditConflict`; the history holds exactly one new revision. On PostgreSQL (writers take
turns by an advisory lock) and on SQLite (two processes on one file).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.pack import load_pack
from bot.store import Database, SectionStore
from bot.store.backends import open_database

WORKER = Path(__file__).with_name("edit_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[3]
KNOWLEDGE = REPO_ROOT / "knowledge"
GUILD = 1_234_567_890_123_456_789  # a snowflake: beyond 32 bits
SLUG = "berlin-talks"
TIMEOUT_S = 60.0


@pytest.fixture
async def db(database_location: str) -> AsyncIterator[Database]:
    opened = await open_database(database_location)
    await SectionStore(opened).import_curated(load_pack(KNOWLEDGE))
    yield opened
    await opened.close()


async def revision_count(db: Database) -> int:
    async with db.conn.execute("SELECT count(*) FROM revisions") as cursor:
        row = await cursor.fetchone()
    return int(row[0])


async def race(location: str, names: tuple[str, ...]) -> list[str]:
    """Start a worker per name, let all read, then tell all to save; what each printed last."""
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            location,
            str(GUILD),
            SLUG,
            name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO_ROOT,
        )
        for name in names
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), TIMEOUT_S)
            assert line.startswith(b"READ "), line
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        outcomes = []
        for worker in workers:
            out, _ = await asyncio.wait_for(worker.communicate(), TIMEOUT_S)
            assert worker.returncode == 0, out
            outcomes.append(out.decode().strip())
        return outcomes
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


@pytest.mark.parametrize("own", [False, True], ids=["override of a curated topic", "own topic"])
async def test_one_of_two_simultaneous_saves_wins_and_the_other_conflicts(
    db: Database, database_location: str, own: bool
) -> None:
    store = SectionStore(db)
    curated = await store.get(None, SLUG)
    assert curated is not None
    if own:  # the server already has its own text: both edit that revision
        content = dataclasses.replace(curated.content, title="Ours")
        await store.save_for_guild(
            GUILD, content, opened=curated.version, author="setup", author_id=None
        )
    before = await store.get(GUILD, SLUG)
    revisions = await revision_count(db)
    outcomes = await race(database_location, ("alice", "bob"))
    winners = [
        name for name, said in zip(("alice", "bob"), outcomes, strict=True) if "SAVED" in said
    ]
    assert sorted(outcomes) == ["CONFLICT", f"SAVED {2 if own else 1}"], outcomes
    saved = await store.get(GUILD, SLUG)
    assert saved is not None and saved.content.title == f"Edited by {winners[0]}"
    assert saved.revision == (before.revision + 1 if before else 1)
    assert await revision_count(db) == revisions + 1
    history = await store.revisions(saved.id)
    assert history[0].author == winners[0]
    assert [r.author for r in history] == [winners[0], *(["setup"] if own else [])]
