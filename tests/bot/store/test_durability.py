"""Durability: `kill -9` at any moment loses no committed change and leaves no half-written section.

A real Briefbot process (crash_worker.py) imports a 2,100-section pack in one transaction, or
saves a burst of moderator edits one transaction each, and is killed with SIGKILL part-way.
The kill point is chosen two ways:

* after a fixed delay from the moment the work starts (parametrized, so each run covers the
  reading phase, the writing phase and the time after the commit), and
* deterministically: the worker stops inside SQLite's thread just before a chosen statement
  (say the 2,000th revision row, or the COMMIT) with its transaction open, says so, and is
  killed there. Pages of that transaction are then in the WAL without a commit record.

Afterwards the database is opened with plain sqlite3: `PRAGMA integrity_check` is ok, the
full-text index agrees with its content, each section's row, aliases, index row and latest
revision snapshot describe one and the same version, every change the worker reported as
committed is there, and Briefbot opens the file and answers from it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.sections import SectionContent, Source
from bot.service import BriefingService
from bot.store.sections import fts_aliases

REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("crash_worker.py")
LINE_TIMEOUT = 15.0  # seconds to wait for one line from the worker before failing
REAP_TIMEOUT = 10.0


def _load_worker() -> ModuleType:
    """crash_worker.py as a module: the test builds the same sections the worker writes."""
    spec = importlib.util.spec_from_file_location("briefbot_crash_worker", WORKER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


w = _load_worker()


# -- the worker process --


class Worker:
    """crash_worker.py in a subprocess; its stdout lines are read on a thread, with timeouts.

    Use as a context manager: on leaving, the process is killed if still alive and reaped.
    """

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.stderr_path = tmp_path / "worker-stderr.txt"
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text("utf-8", errors="replace")[-3000:]

    def expect(self, prefix: str, timeout: float = LINE_TIMEOUT) -> str:
        """Read lines until one starts with `prefix`; fail if the worker ends or is too slow."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0))
            except queue.Empty:
                pytest.fail(f"worker printed no {prefix!r} within {timeout}s\n{self.stderr()}")
            if line is None:
                self.proc.wait(timeout=REAP_TIMEOUT)
                pytest.fail(
                    f"worker ended (exit {self.proc.returncode}) before printing {prefix!r}; "
                    f"it printed {self.lines[-5:]}\n{self.stderr()}"
                )
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def kill(self) -> list[str]:
        """SIGKILL the worker, reap it, and return every line it printed before dying."""
        with suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=REAP_TIMEOUT)
        self._reader.join(timeout=REAP_TIMEOUT)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        assert self.proc.returncode == -signal.SIGKILL, (
            f"the worker was not killed by our SIGKILL (exit {self.proc.returncode}); "
            f"it printed {self.lines[-5:]}\n{self.stderr()}"
        )
        return self.lines

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.proc.poll() is None:
                with suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=REAP_TIMEOUT)
            self._reader.join(timeout=REAP_TIMEOUT)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self._stderr.close()


def wal_size(db_path: Path) -> int:
    wal = db_path.with_name(db_path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


# -- reading what the killed process left, with plain sqlite3 --


@dataclass(frozen=True)
class Stored:
    """One section as the database holds it, read independently of the store's code."""

    id: int
    curated: bool
    status: str
    revision: int
    content: SectionContent
    index_rows: list[tuple[str, str, str]]  # sections_fts rows with this rowid
    revisions: list[tuple[int, str, dict[str, Any]]]  # (number, action, snapshot), oldest first


def open_plain(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def check_integrity(conn: sqlite3.Connection) -> None:
    assert [tuple(r) for r in conn.execute("PRAGMA integrity_check")] == [("ok",)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    # FTS5 checks that its index matches its content; raises "database disk image is malformed".
    conn.execute("INSERT INTO sections_fts (sections_fts) VALUES ('integrity-check')")
    orphans = conn.execute(
        "SELECT rowid FROM sections_fts WHERE rowid NOT IN "
        "(SELECT id FROM sections WHERE status = 'active' AND guild_id IS NULL)"
    ).fetchall()
    assert orphans == [], "index rows without an active curated section"


def read_sections(conn: sqlite3.Connection, guild_id: int | None) -> dict[str, Stored]:
    rows = conn.execute(
        "SELECT * FROM sections WHERE guild_id IS ? ORDER BY id", (guild_id,)
    ).fetchall()
    aliases: dict[int, list[str]] = {}
    for section_id, alias in conn.execute(
        "SELECT section_id, alias FROM section_aliases ORDER BY section_id, position"
    ):
        aliases.setdefault(section_id, []).append(alias)
    index: dict[int, list[tuple[str, str, str]]] = {}
    for rowid, title, fts_alias, body in conn.execute(
        "SELECT rowid, title, aliases, body FROM sections_fts"
    ):
        index.setdefault(rowid, []).append((title, fts_alias, body))
    history: dict[int, list[tuple[int, str, dict[str, Any]]]] = {}
    for section_id, number, action, snapshot in conn.execute(
        "SELECT section_id, number, action, snapshot FROM revisions ORDER BY section_id, number"
    ):
        history.setdefault(section_id, []).append((number, action, json.loads(snapshot)))
    return {
        row["slug"]: stored(
            row,
            guild_id is None,
            aliases.get(row["id"], []),
            index.get(row["id"], []),
            history.get(row["id"], []),
        )
        for row in rows
    }


def stored(
    row: Any,
    curated: bool,
    aliases: list[str],
    index_rows: list[tuple[str, str, str]],
    revisions: list[tuple[int, str, dict[str, Any]]],
) -> Stored:
    """One section from its row of `sections` (either backend's, read by column name) and
    what other tables hold of it."""
    content = SectionContent(
        slug=row["slug"],
        title=row["title"],
        body=row["body"],
        aliases=tuple(aliases),
        tags=tuple(json.loads(row["tags"])),
        sources=tuple(Source(s["title"], s["url"]) for s in json.loads(row["sources"])),
        updated=date.fromisoformat(row["updated"]),
        position=row["position"],
    )
    return Stored(
        id=row["id"],
        curated=curated,
        status=row["status"],
        revision=row["revision"],
        content=content,
        index_rows=index_rows,
        revisions=revisions,
    )


def disagreements(stored: Stored) -> list[str]:
    """How a section's row, aliases, index row and latest revision fail to tell one story."""
    problems = []
    content = stored.content
    numbers = [number for number, _, _ in stored.revisions]
    if numbers != list(range(1, stored.revision + 1)):
        problems.append(f"revision {stored.revision} but revision rows {numbers}")
    elif stored.revisions[-1][2] != {**content.to_json(), "status": stored.status}:
        problems.append("the latest revision's snapshot differs from the row")
    expected_index = (
        [(content.title, fts_aliases(content.aliases, content.tags), content.body)]
        if stored.status == "active" and stored.curated
        else []
    )
    if stored.index_rows != expected_index:
        problems.append(f"index rows {len(stored.index_rows)} do not match the row")
    return problems


def assert_wholly_written(sections: dict[str, Stored]) -> None:
    problems = [f"{slug}: {p}" for slug, s in sections.items() for p in disagreements(s)]
    assert not problems, f"{len(problems)} half-written sections, e.g. {problems[:5]}"


def differences(actual: dict[str, Any], expected: dict[str, Any]) -> Counter[str]:
    """A short account of how two per-slug summaries differ (for failure messages)."""
    seen: Counter[str] = Counter()
    for slug in actual.keys() | expected.keys():
        if actual.get(slug) != expected.get(slug):
            seen[f"expected {expected.get(slug)}, found {actual.get(slug)}"] += 1
    return seen


async def _ask(db_path: Path | str, questions: list[tuple[str, int | None]]) -> list[Any]:
    service = await BriefingService.open(db_path, None, clock=lambda: w.FIXED_NOW)
    try:
        answers: list[Any] = [len(service.topics(None))]
        for question, guild_id in questions:
            answer = await service.ask(question, guild_id, record=False)
            top = answer.results[0] if answer.results else None
            answers.append((top.slug, top.title) if top is not None else None)
        return answers
    finally:
        await service.close()


def ask(db_path: Path, questions: list[tuple[str, int | None]]) -> list[Any]:
    """Open Briefbot on the file: [curated topics, the top hit's (slug, title) per question]."""
    return asyncio.run(_ask(db_path, questions))


# -- test 1: killed in the middle of a pack import --


def _summary(version: str, status: str, actions: list[str]) -> tuple[str, str, tuple[str, ...]]:
    return (version, status, tuple(actions))


OLD_STATE = {w.slug(i): _summary("v1", "active", ["created"]) for i in range(w.PACK_SIZE)}
NEW_STATE = {
    **{w.slug(i): _summary("v1", "retired", ["created", "retired"]) for i in range(w.REMOVED)},
    **{
        w.slug(i): _summary("v2", "active", ["created", "updated"])
        for i in range(w.REMOVED, w.PACK_SIZE)
    },
    **{
        w.slug(i): _summary("v2", "active", ["created"])
        for i in range(w.PACK_SIZE, w.PACK_SIZE + w.ADDED)
    },
}


def version_of(stored: Stored) -> str:
    """'v1' or 'v2' if every field is exactly that version of the section, else 'mixed'."""
    i = int(stored.content.slug.removeprefix("topic-"))
    for version in ("v1", "v2"):
        if stored.content == w.pack_section(i, version):
            return version
    return "mixed"


def judge_import(sections: dict[str, Stored], revisions: int) -> str:
    """What a killed import left, read by either backend's reader: 'old' (not committed) or
    'new' (committed); fails on anything between."""
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


def check_import(db_path: Path) -> str:
    """Check the database a killed import left; 'old' (not committed) or 'new' (committed)."""
    conn = open_plain(db_path)
    try:
        check_integrity(conn)
        [(revisions,)] = conn.execute("SELECT count(*) FROM revisions").fetchall()
        return judge_import(read_sections(conn, None), revisions)
    finally:
        conn.close()


KEPT, RETIRED, ADDED = w.REMOVED + 7, 3, w.PACK_SIZE + 5
# Asked after an import was killed: a kept, a retired and an added section's word.
IMPORT_QUESTIONS: list[tuple[str, int | None]] = [
    (f"what is {w.word(i)}?", None) for i in (KEPT, RETIRED, ADDED)
]


def judge_import_answers(outcome: str, answers: list[Any]) -> None:
    """What Briefbot answers `IMPORT_QUESTIONS` with, [topics, *answers], after the import
    was ('new') or was not ('old') committed."""
    topics, kept, retired, added = answers
    version = "v1" if outcome == "old" else "v2"
    assert topics == (w.PACK_SIZE if outcome == "old" else w.PACK_SIZE - w.REMOVED + w.ADDED)
    assert kept == (w.slug(KEPT), w.pack_section(KEPT, version).title)
    if outcome == "old":
        assert retired == (w.slug(RETIRED), w.pack_section(RETIRED, "v1").title)
        assert added is None or added[0] != w.slug(ADDED)
    else:
        assert retired is None or retired[0] != w.slug(RETIRED)
        assert added == (w.slug(ADDED), w.pack_section(ADDED, "v2").title)


def check_service_after_import(db_path: Path, outcome: str) -> None:
    judge_import_answers(outcome, ask(db_path, IMPORT_QUESTIONS))


@pytest.fixture(scope="module")
def pack_a_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding pack A, written once and closed cleanly (no WAL left beside it)."""
    path = tmp_path_factory.mktemp("durability") / "pack-a.sqlite3"
    done = subprocess.run(
        [sys.executable, str(WORKER), "seed", str(path)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == "SEEDED", done.stderr[-3000:]
    assert wal_size(path) == 0
    return path


@pytest.fixture
def db_path(pack_a_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "briefbot.sqlite3"
    shutil.copyfile(pack_a_db, path)
    return path


def test_pack_a_is_what_the_checks_call_old(pack_a_db: Path, tmp_path: Path) -> None:
    """The checker itself: the untouched seed database reads as wholly old."""
    path = tmp_path / "copy.sqlite3"
    shutil.copyfile(pack_a_db, path)
    assert check_import(path) == "old"


# The import takes about 0.3 s here: the early delays land while it reads the old pack, the
# middle ones while it writes, 400 ms usually after its commit. A fixed choice of kill points,
# not a wait for something to happen; every outcome is checked the same way.
@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.06, 0.12, 0.2, 0.4])
def test_kill_at_a_moment_during_a_pack_import(db_path: Path, tmp_path: Path, delay: float) -> None:
    with Worker(tmp_path, "import", str(db_path)) as worker:
        worker.expect("START")
        time.sleep(delay)
        lines = worker.kill()
    outcome = check_import(db_path)
    if any(line.startswith("COMMITTED") for line in lines):
        assert outcome == "new", "the import said it committed, but its changes are gone"
    check_service_after_import(db_path, outcome)


# Just before the statement is run, with the import's transaction open. Counts are rows of one
# `executemany`: pack B inserts 100 sections and updates 2,000 (1,900 changed, 100 retired),
# then writes 4,200 alias rows, 2,000 index rows and 2,100 revisions.
@pytest.mark.parametrize(
    "pause_at",
    [
        "UPDATE sections:950",
        "INSERT INTO section_aliases:1500",
        "INSERT INTO sections_fts:1000",
        "INSERT INTO revisions:2100",
        "COMMIT:1",
    ],
)
def test_kill_inside_the_import_transaction(db_path: Path, tmp_path: Path, pause_at: str) -> None:
    with Worker(tmp_path, "import", str(db_path), "--pause-at", pause_at) as worker:
        worker.expect("START")
        before = wal_size(db_path)
        worker.expect("PAUSED")
        uncommitted = wal_size(db_path) - before
        worker.kill()
    if pause_at == "COMMIT:1":
        # The premise of the test: the whole import was written, past SQLite's page cache, into
        # the WAL without a commit record, and recovery must ignore it. (If the page cache is
        # ever made larger than the import, grow the pack instead of dropping this.)
        assert uncommitted > 0, "the import's pages never reached the WAL before the commit"
    assert check_import(db_path) == "old"
    check_service_after_import(db_path, "old")


# -- test 2: killed in the middle of a burst of edits --


def edit_number(snapshot: dict[str, Any]) -> int:
    return int(str(snapshot["title"]).rsplit(" e", 1)[1])


def judge_edits(curated: dict[str, Stored], own: dict[str, Stored], lines: list[str]) -> int:
    """What a killed burst of edits left, read by either backend's reader (the curated pack
    and the server's own sections), against the lines the worker printed; the number of the
    last edit stored."""
    reported = [
        (int(n), slug, int(revision))
        for n, slug, revision in (line.split()[1:] for line in lines if line.startswith("EDIT "))
    ]
    assert_wholly_written(curated)
    assert {slug: (s.content, s.status, s.revision) for slug, s in curated.items()} == {
        content.slug: (content, "active", 1) for content in w.edit_pack()
    }
    assert_wholly_written(own)
    # Every edit in the database, from every revision of every section.
    found: dict[int, tuple[str, int]] = {}
    for slug, stored in own.items():
        for number, _, snapshot in stored.revisions:
            n = edit_number(snapshot)
            assert snapshot == {**w.edit_section(n).to_json(), "status": "active"}, (slug, n)
            assert w.slug(w.edit_target(n)) == slug
            assert n not in found, f"edit {n} stored twice"
            found[n] = (slug, number)
    last = max(found, default=0)
    # Edits commit one after another, so what survives is exactly edits 1..last.
    assert sorted(found) == list(range(1, last + 1)), "a committed edit is missing"
    lost = [(n, slug, rev) for n, slug, rev in reported if found.get(n) != (slug, rev)]
    assert not lost, f"edits reported as committed but not stored: {lost[:5]}"
    for slug, stored in own.items():
        latest = max(n for n, (s, _) in found.items() if s == slug)
        assert stored.content == w.edit_section(latest), f"{slug} is not its latest edit"
        assert stored.revision == found[latest][1]
    return last


def check_edits(db_path: Path, lines: list[str]) -> int:
    """Check the database a killed burst left; returns the number of the last edit in it."""
    conn = open_plain(db_path)
    try:
        check_integrity(conn)
        return judge_edits(read_sections(conn, None), read_sections(conn, w.GUILD), lines)
    finally:
        conn.close()


def edit_questions(last: int) -> list[tuple[str, int | None]]:
    """Asked after a burst was killed at edit `last`: each edited topic in the server, then
    each curated topic outside it."""
    targets = range(min(last, w.EDIT_SECTIONS))
    questions: list[tuple[str, int | None]] = [(f"what is {w.word(i)}?", w.GUILD) for i in targets]
    return questions + [(f"what is {w.word(i)}?", None) for i in range(w.EDIT_SECTIONS)]


def judge_edit_answers(last: int, answers: list[Any]) -> None:
    """What Briefbot answers `edit_questions(last)` with, [topics, *answers]."""
    topics, *found = answers
    targets = range(min(last, w.EDIT_SECTIONS))
    assert topics == w.EDIT_SECTIONS
    latest = {i: max(n for n in range(1, last + 1) if w.edit_target(n) == i) for i in targets}
    expected = [(w.slug(i), w.edit_section(latest[i]).title) for i in targets]
    expected += [(w.slug(i), w.pack_section(i, "v1").title) for i in range(w.EDIT_SECTIONS)]
    assert found == expected


def check_service_after_edits(db_path: Path, last: int) -> None:
    judge_edit_answers(last, ask(db_path, edit_questions(last)))


@pytest.mark.parametrize("after", [1, 40, 250])
def test_kill_in_the_middle_of_a_burst_of_edits(tmp_path: Path, after: int) -> None:
    db_path = tmp_path / "edits.sqlite3"
    with Worker(tmp_path, "edits", str(db_path)) as worker:
        worker.expect("START")
        worker.expect(f"EDIT {after} ")
        lines = worker.kill()
    assert "BURST OVER" not in lines
    last = check_edits(db_path, lines)
    assert last >= after
    check_service_after_edits(db_path, last)


# Edit 30 is the 30th revision row and the 30th COMMIT after START.
@pytest.mark.parametrize("pause_at", ["INSERT INTO revisions:30", "COMMIT:30"])
def test_kill_inside_one_edit_transaction(tmp_path: Path, pause_at: str) -> None:
    db_path = tmp_path / "edits.sqlite3"
    with Worker(tmp_path, "edits", str(db_path), "--pause-at", pause_at) as worker:
        worker.expect("START")
        worker.expect("PAUSED")
        lines = worker.kill()
    assert [line for line in lines if line.startswith("EDIT ")][-1].startswith("EDIT 29 ")
    assert check_edits(db_path, lines) == 29, "edit 30 never committed but is (partly) stored"
    check_service_after_edits(db_path, 29)
