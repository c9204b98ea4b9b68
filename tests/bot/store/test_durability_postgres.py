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
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.sections import SectionContent, Source
from tests.bot.store.test_durability import (
    NEW_STATE,
    OLD_STATE,
    REPO_ROOT,
    WORKER,
    Stored,
    Worker,
    _ask,
    _summary,
    assert_wholly_written,
    differences,
    edit_number,
    version_of,
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
        content = SectionContent(
            slug=row["slug"],
            title=row["title"],
            body=row["body"],
            aliases=tuple(aliases.get(row["id"], ())),
            tags=tuple(json.loads(row["tags"])),
            sources=tuple(Source(s["title"], s["url"]) for s in json.loads(row["sources"])),
            updated=date.fromisoformat(row["updated"]),
            position=row["position"],
        )
        # What the full-text search reads of the row: its text, when it is indexed at all
        # (the generated vector exists for curated rows only, and is read for active ones).
        indexed = row["indexed"] and row["status"] == "active"
        found[row["slug"]] = Stored(
            id=row["id"],
            curated=guild_id is None,
            status=row["status"],
            revision=row["revision"],
            content=content,
            index_rows=[(row["title"], row["search_aliases"], row["body"])] if indexed else [],
            revisions=history.get(row["id"], []),
        )
    return found, revisions


async def check_import(url: str) -> str:
    """Check what a killed import left: 'old' (not committed) or 'new' (committed)."""
    sections, revisions = await read_sections(url, None)
    assert_wholly_written(sections)
    state = {
        slug: _summary(version_of(s), s.status, [action for _, action, _ in s.revisions])
        for slug, s in sections.items()
    }
    mixed = [slug for slug, (version, _, _) in state.items() if version == "mixed"]
    assert not mixed, f"{len(mixed)} sections mix old and new fields, e.g. {mixed[:5]}"
    if state == OLD_STATE:
        assert revisions == w.PACK_SIZE
        return "old"
    versions = Counter(version for version, _, _ in state.values())
    assert state == NEW_STATE, (
        f"neither wholly before nor wholly after the import ({dict(versions)}): "
        f"{differences(state, NEW_STATE).most_common(4)}"
    )
    assert revisions == w.PACK_SIZE + (w.PACK_SIZE - w.REMOVED) + w.REMOVED + w.ADDED
    return "new"


async def check_service_after_import(url: str, outcome: str) -> None:
    kept, retired, added = w.REMOVED + 7, 3, w.PACK_SIZE + 5
    version = "v1" if outcome == "old" else "v2"
    questions: list[tuple[str, int | None]] = [
        (f"what is {w.word(i)}?", None) for i in (kept, retired, added)
    ]
    topics, *answers = await _ask(url, questions)  # type: ignore[arg-type]
    assert topics == (w.PACK_SIZE if outcome == "old" else w.PACK_SIZE - w.REMOVED + w.ADDED)
    assert answers[0] == (w.slug(kept), w.pack_section(kept, version).title)
    if outcome == "new":
        assert answers[2] == (w.slug(added), w.pack_section(added, "v2").title)


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
    await check_service_after_import(postgres_url, outcome)


async def check_edits(url: str, lines: list[str]) -> int:
    """Check what a killed burst of edits left; the number of the last edit in it."""
    reported = [
        (int(n), slug, int(revision))
        for n, slug, revision in (line.split()[1:] for line in lines if line.startswith("EDIT "))
    ]
    curated, _ = await read_sections(url, None)
    assert_wholly_written(curated)
    assert {slug: (s.content, s.status, s.revision) for slug, s in curated.items()} == {
        content.slug: (content, "active", 1) for content in w.edit_pack()
    }
    own, _ = await read_sections(url, w.GUILD)
    assert_wholly_written(own)
    found: dict[int, tuple[str, int]] = {}
    for slug, stored in own.items():
        for number, _, snapshot in stored.revisions:
            n = edit_number(snapshot)
            assert snapshot == {**w.edit_section(n).to_json(), "status": "active"}, (slug, n)
            assert n not in found, f"edit {n} stored twice"
            found[n] = (slug, number)
    last = max(found, default=0)
    assert sorted(found) == list(range(1, last + 1)), "a committed edit is missing"
    lost = [(n, slug, rev) for n, slug, rev in reported if found.get(n) != (slug, rev)]
    assert not lost, f"edits reported as committed but not stored: {lost[:5]}"
    for slug, stored in own.items():
        latest = max(n for n, (s, _) in found.items() if s == slug)
        assert stored.content == w.edit_section(latest), f"{slug} is not its latest edit"
    return last


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
    targets = range(min(last, w.EDIT_SECTIONS))
    topics, *answers = await _ask(
        postgres_url,  # type: ignore[arg-type]
        [(f"what is {w.word(i)}?", w.GUILD) for i in targets],
    )
    assert topics == w.EDIT_SECTIONS
    latest = {i: max(n for n in range(1, last + 1) if w.edit_target(n) == i) for i in targets}
    assert answers == [(w.slug(i), w.edit_section(latest[i]).title) for i in targets]
