"""A Briefbot process for test_durability to kill with SIGKILL at a chosen moment.

Run from the repository root (the test does):

DB is a SQLite file or a PostgreSQL URL (tests/bot/store/test_durability_postgres.py):

    python tests/bot/store/crash_worker.py seed DB
    python tests/bot/store/crash_worker.py import DB [--pause-at PREFIX:N]
    python tests/bot/store/crash_worker.py edits DB [--pause-at PREFIX:N]

`seed` writes pack A and closes cleanly. `import` opens a database holding pack A, prints
START, imports pack B (one transaction), prints COMMITTED and then waits to be killed.
`edits` imports a small curated pack, prints START, then saves one server's edits one after
another (one transaction each), printing `EDIT n slug revision` right after each commit.

`--pause-at PREFIX:N` makes the process stop inside SQLite's thread just before it runs the
N-th statement (counted from START) whose SQL starts with PREFIX, print `PAUSED ...` and wait
to be killed there: a transaction is open and has written part of its rows.

The content generators live here so the test and the worker build exactly the same sections.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bot.sections import SectionContent, Source, validate  # noqa: E402
from bot.store import Database, SectionStore, SqliteDatabase  # noqa: E402
from bot.store.backends import open_database  # noqa: E402

PACK_SIZE = 2000  # sections in pack A
REMOVED = 100  # pack A's first REMOVED sections are not in pack B (retired by the import)
ADDED = 100  # pack B has ADDED sections pack A lacks
EDIT_SECTIONS = 4  # curated sections the edit burst works on, in turn
GUILD = 4242
MAX_EDITS = 20_000  # the burst's bound; the test kills the worker long before
WAIT_LIMIT = 30.0  # seconds a worker waits to be killed before giving up on its own
FIXED_NOW = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_FILLER = (
    "The talks resumed after a pause and the delegations compared drafts line by line while "
    "observers waited for a statement on the next round."
)


def word(i: int) -> str:
    """A made-up word unique to index `i` (what a search for section i asks about)."""
    syllables = []
    for _ in range(3):
        i, rest = divmod(i, len(_CONSONANTS) * len(_VOWELS))
        c, v = divmod(rest, len(_VOWELS))
        syllables.append(_CONSONANTS[c] + _VOWELS[v])
    return "qu" + "".join(syllables) + "x"


def slug(i: int) -> str:
    return f"topic-{i:05d}"


def pack_section(i: int, version: str) -> SectionContent:
    """Section i of a pack; every field carries `version` ('v1' or 'v2')."""
    sentences = " ".join(f"{version} {_FILLER}" for _ in range(6))
    return validate(
        SectionContent(
            slug=slug(i),
            title=f"{word(i).capitalize()} {version} briefing {i}",
            body=f"{word(i)} {version}. Section {i} {version}. {sentences}",
            aliases=(f"{word(i)} {version}", f"alias {i} {version}"),
            tags=(f"tag-{version}", f"group-{i % 10}-{version}"),
            sources=(Source(f"Source {i} {version}", f"https://example.org/{version}/{i}"),),
            updated=date(2026, 1, 1) if version == "v1" else date(2026, 2, 1),
            position=i,
        )
    )


def pack_a() -> list[SectionContent]:
    return [pack_section(i, "v1") for i in range(PACK_SIZE)]


def pack_b() -> list[SectionContent]:
    return [pack_section(i, "v2") for i in range(REMOVED, PACK_SIZE + ADDED)]


def edit_pack() -> list[SectionContent]:
    """The curated sections the edit burst overrides for GUILD."""
    return [pack_section(i, "v1") for i in range(EDIT_SECTIONS)]


def edit_target(n: int) -> int:
    """The index of the section edit number n (1, 2, ...) changes."""
    return (n - 1) % EDIT_SECTIONS


def edit_section(n: int) -> SectionContent:
    """Edit number n; every field carries `e{n}`, and the body's length varies with n."""
    i = edit_target(n)
    marker = f"e{n}"
    body = f"{word(i)} {marker}. " + " ".join(f"{marker} {_FILLER}" for _ in range(1 + n * 7 % 25))
    return validate(
        SectionContent(
            slug=slug(i),
            title=f"{word(i).capitalize()} edit {marker}",
            body=body[:4000],
            aliases=(f"{word(i)} {marker}", f"alias {marker}"),
            tags=(f"edit-{marker}",),
            sources=(Source(f"Source {marker}", f"https://example.org/edits/{n}"),),
            updated=date(2026, 3, 1) + timedelta(days=n % 28),
            position=i,
        )
    )


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_to_be_killed() -> None:
    time.sleep(WAIT_LIMIT)
    say("NOT KILLED")
    os._exit(3)


class PauseAt:
    """A trace callback: stop before the nth statement whose SQL starts with `prefix`."""

    def __init__(self, spec: str) -> None:
        prefix, _, nth = spec.rpartition(":")
        self.prefix = prefix.upper()
        self.nth = int(nth)
        self.seen = 0

    def __call__(self, sql: str) -> None:
        if sql.lstrip().upper().startswith(self.prefix):
            self.seen += 1
            if self.seen == self.nth:
                say(f"PAUSED {self.prefix} {self.nth}")
                wait_to_be_killed()  # in SQLite's thread, with the transaction open


async def open_db(path: str, pause: str | None) -> Database:
    """The database at `path` (a SQLite file or a PostgreSQL URL); pausing is SQLite's only."""
    db = await open_database(path, clock=lambda: FIXED_NOW)
    if pause is not None:
        assert isinstance(db, SqliteDatabase), "--pause-at traces SQLite's statements"
        await db.conn.set_trace_callback(PauseAt(pause))
    return db


async def seed(path: str) -> None:
    db = await open_db(path, None)
    try:
        await SectionStore(db).import_curated(pack_a())
    finally:
        await db.close()
    say("SEEDED")


async def import_b(path: str, pause: str | None) -> None:
    contents = pack_b()
    db = await open_db(path, pause)
    store = SectionStore(db)
    say("START")
    started = time.perf_counter()
    report = await store.import_curated(contents)
    say(f"COMMITTED {report.summary()} in {time.perf_counter() - started:.3f}s")
    wait_to_be_killed()


async def edit_burst(path: str, pause: str | None) -> None:
    db = await open_db(path, None)
    store = SectionStore(db)
    await store.import_curated(edit_pack())
    visible = {}
    for i in range(EDIT_SECTIONS):
        section = await store.get(None, slug(i))
        assert section is not None
        visible[i] = section
    if pause is not None:
        assert isinstance(db, SqliteDatabase), "--pause-at traces SQLite's statements"
        await db.conn.set_trace_callback(PauseAt(pause))
    say("START")
    for n in range(1, MAX_EDITS + 1):
        i = edit_target(n)
        opened = (visible[i].id, visible[i].revision)
        saved = await store.save_for_guild(
            GUILD, edit_section(n), opened=opened, author="crash worker", author_id=7
        )
        say(f"EDIT {n} {saved.slug} {saved.revision}")
        visible[i] = saved
    say("BURST OVER")
    wait_to_be_killed()


def main(argv: list[str]) -> None:
    mode, path, *rest = argv
    pause = None
    if rest:
        flag, pause = rest
        assert flag == "--pause-at", rest
    if mode == "seed":
        asyncio.run(seed(path))
    elif mode == "import":
        asyncio.run(import_b(path, pause))
    elif mode == "edits":
        asyncio.run(edit_burst(path, pause))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
