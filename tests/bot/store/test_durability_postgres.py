"""Durability on PostgreSQL: `kill -9` of a Briefbot process at any moment loses no committed
change and leaves no half-written section, as on SQLite (test_durability.py).

The same worker (crash_worker.py) imports a 2,100-section pack in one transaction, or saves a
burst of moderator edits one transaction each, on a PostgreSQL database, and is killed with
SIGKILL part-way (after fixed delays, or after a given edit). Afterwards the rows are read
with asyncpg, independently of the store's code: each section's row, aliases, full-text text
and latest revision describe one and the same version, the import is wholly there or wholly
absent, every edit the worker reported as committed is there, and Briefbot opens the database
and answers from it. (Stopping inside a statement, `--pause-at`, traces SQLite's statements
and is SQLite's alone.)

Skipped without PostgreSQL, except under CI (tests/postgres.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.bot.store.test_durability import (
    IMPORT_QUESTIONS,
    REPO_ROOT,
    WORKER,
    Stored,
    Worker,
    _ask,
    edit_questions,
    judge_edit_answers,
    judge_edits,
    judge_import,
    judge_import_answers,
    stored,
    w,
)


def seed(url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(WORKER), "seed", url],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "SEEDED", done.stderr[-3000:]


async def read_sections(url: str, guild_id: int | None) -> tuple[dict[str, Stored], int]:
    """Every section of one scope as PostgreSQL holds it, and the number of revision rows."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id, slug, title, body, tags::text AS tags, sources::text AS sources, updated,"
            " position, status, revision, search_aliases, search IS NOT NULL AS indexed"
            " FROM sections WHERE guild_id IS NOT DISTINCT FROM $1 ORDER BY id",
            guild_id,
        )
        aliases: dict[int, list[str]] = {}
        for row in await conn.fetch(
            "SELECT section_id, alias FROM section_aliases ORDER BY section_id, position"
        ):
            aliases.setdefault(row["section_id"], []).append(row["alias"])
        history: dict[int, list[tuple[int, str, dict[str, Any]]]] = {}
        for row in await conn.fetch(
            "SELECT section_id, number, action, snapshot::text AS snapshot FROM revisions"
            " ORDER BY section_id, number"
        ):
            history.setdefault(row["section_id"], []).append(
                (row["number"], row["action"], json.loads(row["snapshot"]))
            )
        revisions = int(await conn.fetchval("SELECT count(*) FROM revisions"))
    finally:
        await conn.close()
    found = {}
    for row in rows:
        # What the full-text search reads of the row: its text, when it is indexed at all
        # (the generated vector exists for curated rows only, and is read for active ones).
        indexed = row["indexed"] and row["status"] == "active"
        text = [(row["title"], row["search_aliases"], row["body"])] if indexed else []
        found[row["slug"]] = stored(
            row, guild_id is None, aliases.get(row["id"], []), text, history.get(row["id"], [])
        )
    return found, revisions


async def check_import(url: str) -> str:
    """Check what a killed import left: 'old' (not committed) or 'new' (committed)."""
    return judge_import(*await read_sections(url, None))


# The import takes about 2 s here (1.7 s to seed pack A): the early delays land while it reads
# the old pack, the middle ones while it writes, 4 s after its commit. A fixed choice of kill
# points, not a wait for something to happen; every outcome is checked the same way.
@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8, 1.4, 2.0, 4.0])
async def test_kill_at_a_moment_during_a_pack_import(
    postgres_url: str, tmp_path: Path, delay: float
) -> None:
    seed(postgres_url)
    with Worker(tmp_path, "import", postgres_url) as worker:
        worker.expect("START")
        time.sleep(delay)  # noqa: ASYNC251 - a fixed kill point, not a wait for an event
        lines = worker.kill()
    outcome = await check_import(postgres_url)
    if any(line.startswith("COMMITTED") for line in lines):
        assert outcome == "new", "the import said it committed, but its changes are gone"
    judge_import_answers(outcome, await _ask(postgres_url, IMPORT_QUESTIONS))


async def check_edits(url: str, lines: list[str]) -> int:
    """Check what a killed burst of edits left; the number of the last edit in it."""
    (curated, _), (own, _) = await read_sections(url, None), await read_sections(url, w.GUILD)
    return judge_edits(curated, own, lines)


@pytest.mark.parametrize("after", [1, 40])
async def test_kill_in_the_middle_of_a_burst_of_edits(
    postgres_url: str, tmp_path: Path, after: int
) -> None:
    with Worker(tmp_path, "edits", postgres_url) as worker:
        worker.expect("START", timeout=60)
        worker.expect(f"EDIT {after} ", timeout=60)
        lines = worker.kill()
    assert "BURST OVER" not in lines
    last = await check_edits(postgres_url, lines)
    assert last >= after
    judge_edit_answers(last, await _ask(postgres_url, edit_questions(last)))
