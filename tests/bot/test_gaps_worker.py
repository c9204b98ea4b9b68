"""The gaps report's worker process: the same report as in the bot, one at a time, no token
passed on, replaced when it dies or overruns, gone after close."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import LimitReached
from bot.gaps import report_gaps
from bot.gaps_worker import WORKER_NICENESS, GapsWorker, GapsWorkerFailed, worker_environment
from bot.store.asks import AskLog
from bot.store.database import SqliteDatabase

GUILD, OTHER = 11, 12
ASKED_AT = "2026-11-30T12:00:00+00:00"
SINCE = "2026-11-24T12:00:00+00:00"
TOKEN = "MTIz.not-a-real-token.but-long-enough-to-look-like-one"


@pytest.fixture
async def db_file(tmp_path: Path) -> AsyncIterator[Path]:
    """A database file with a server's unanswered questions (and another server's)."""
    path = tmp_path / "db.sqlite3"
    db = await SqliteDatabase.open(path, clock=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    rows = [(GUILD, f"where is the cafeteria {'?' * (n % 2)}") for n in range(30)]
    rows += [(GUILD, "parking permit"), (GUILD, "Parking permit?"), (GUILD, "lost my badge")]
    rows += [(GUILD, f"{word} vending machine") for word in ("broken", "empty", "jammed")]
    rows += [(OTHER, "where is the cafeteria")] * 500
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO asks (guild_id, question, asked_at) VALUES (?, ?, ?)",
            [(*row, ASKED_AT) for row in rows],
        )
    yield path
    await db.close()


@pytest.fixture
async def worker() -> AsyncIterator[GapsWorker]:
    started = GapsWorker()
    yield started
    await started.close()


async def expected(path: Path, top: int):  # type: ignore[no-untyped-def]
    """The report as the bot's own process would make it: the store counts, the thread groups."""
    db = await SqliteDatabase.open(path)
    try:
        asked = await AskLog(db).unanswered_counts(GUILD, SINCE)
    finally:
        await db.close()
    return report_gaps(asked, top)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_the_worker_reports_what_the_bot_would_and_only_the_top_groups(
    db_file: Path, worker: GapsWorker
) -> None:
    report = await worker.report(str(db_file), GUILD, SINCE, top=2)
    assert report == await expected(db_file, 2)
    assert [(g.question, g.count) for g in report.gaps] == [
        ("where is the cafeteria", 30),
        ("empty vending machine", 3),  # three wordings of one question, the shortest shown
    ]
    assert report.asked == 36 and report.groups > 2  # the totals count what was not sent
    assert worker.pid is not None and worker.pid != os.getpid()


async def test_the_worker_is_kept_for_the_next_report_and_gone_after_close(db_file: Path) -> None:
    worker = GapsWorker()
    await worker.report(str(db_file), GUILD, SINCE, top=5)
    pid = worker.pid
    assert pid is not None
    await worker.report(str(db_file), GUILD, SINCE, top=5)
    assert worker.pid == pid
    await worker.close()
    assert worker.pid is None and gone(pid)
    with pytest.raises(GapsWorkerFailed):
        await worker.report(str(db_file), GUILD, SINCE, top=5)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="Unix scheduling priority")
async def test_the_worker_yields_the_processor_to_the_bot(
    db_file: Path, worker: GapsWorker
) -> None:
    await worker.report(str(db_file), GUILD, SINCE, top=1)
    assert worker.pid is not None
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, worker.pid) == min(19, ours + WORKER_NICENESS)


def test_the_worker_environment_holds_no_token_or_setting() -> None:
    environ = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_TOKEN_FILE": "/run/secrets/token",
        "BRIEFBOT_DB": "data/briefbot.sqlite3",
    }
    assert worker_environment(environ) == {"PATH": "/usr/bin", "LANG": "C.UTF-8"}


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)")
async def test_the_running_worker_was_never_given_the_token(
    db_file: Path, worker: GapsWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    await worker.report(str(db_file), GUILD, SINCE, top=1)
    assert worker.pid is not None
    environ = await asyncio.to_thread(Path(f"/proc/{worker.pid}/environ").read_bytes)
    assert b"PATH=" in environ  # what it was started with is readable
    assert TOKEN.encode() not in environ and b"DISCORD_TOKEN" not in environ


async def test_an_error_in_the_worker_is_raised_and_the_worker_goes_on(
    db_file: Path, worker: GapsWorker, tmp_path: Path
) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("not SQLite at all\n" * 100)
    with pytest.raises(GapsWorkerFailed, match="not a database"):
        await worker.report(str(not_a_database), GUILD, SINCE, top=5)
    pid = worker.pid
    assert (await worker.report(str(db_file), GUILD, SINCE, top=1)).asked == 36
    assert worker.pid == pid


async def test_an_overdue_report_kills_the_worker_and_the_next_starts_a_fresh_one(
    db_file: Path, worker: GapsWorker
) -> None:
    await worker.report(str(db_file), GUILD, SINCE, top=1)
    first = worker.pid
    assert first is not None
    worker.timeout = 0.0  # overdue at its first wait, before the reply can come
    with pytest.raises(TimeoutError):
        await worker.report(str(db_file), GUILD, SINCE, top=1)
    assert worker.pid is None and gone(first)
    worker.timeout = 30.0
    # The late reply died with the old worker: this report gets its own answer.
    assert await worker.report(str(db_file), GUILD, SINCE, top=3) == await expected(db_file, 3)
    assert worker.pid not in (None, first)


async def test_a_worker_that_died_is_replaced(db_file: Path, worker: GapsWorker) -> None:
    await worker.report(str(db_file), GUILD, SINCE, top=1)
    first = worker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    # The report that finds it dead may fail (if its death is not noticed yet); the next works.
    with contextlib.suppress(GapsWorkerFailed, ConnectionError):
        await worker.report(str(db_file), GUILD, SINCE, top=1)
    assert (await worker.report(str(db_file), GUILD, SINCE, top=1)).asked == 36
    assert worker.pid not in (None, first)


async def test_one_report_at_a_time_a_few_wait_and_more_are_refused() -> None:
    worker = GapsWorker()  # MAX_WAITING: one waits
    order: list[str] = []
    running, release = asyncio.Event(), asyncio.Event()

    async def report(name: str) -> None:
        async with worker.turn():
            order.append(name)
            running.set()
            await release.wait()

    first = asyncio.create_task(report("first"))
    await running.wait()
    second = asyncio.create_task(report("second"))
    await asyncio.sleep(0)  # one step of the loop: the second task starts and waits
    assert worker.waiting == 1
    with pytest.raises(LimitReached, match="try again"):
        async with worker.turn():
            pass
    assert order == ["first"]  # the second waits its turn
    release.set()
    await asyncio.gather(first, second)
    assert order == ["first", "second"]
    async with worker.turn():  # nobody waits now: a new report goes ahead
        pass


def test_only_a_database_file_is_read_by_the_worker_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db.sqlite3").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert GapsWorker.database_file("db.sqlite3") == str(tmp_path / "db.sqlite3")
    assert GapsWorker.database_file(":memory:") is None
    assert GapsWorker.database_file("missing.sqlite3") is None
    assert GapsWorker.database_file(str(tmp_path)) is None  # a folder
