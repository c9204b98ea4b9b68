"""SQLite and PostgreSQL side by side: `ask` at 10,000 sections and the 1,000-server fan-out,
on each backend in the same run, through the same code as the `search` and `fanout` benchmarks.

For each backend: the synthetic pack is imported into a fresh database
(`search_bench.measure`), a process of its own (`bench.search_process`) opens it as the bot
does and times `ask` without and then with the ask log written; then the real bot posts every
server's daily explainer through the fake Discord on another fresh database
(`fanout_bench._fanout_once`). SQLite is a file in a temporary folder; PostgreSQL is the server
`BRIEFBOT_TEST_POSTGRES` names or a throwaway cluster on a Unix socket (`bench.postgres`),
each database dropped afterwards. Without PostgreSQL the table says why and shows SQLite alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import synthetic
from bench.core import Options, check, percentile, table
from bench.fanout_bench import FanoutRun, _fanout_once
from bench.postgres import NoServer, database_mb, fresh_database, postgres_server, server_facts
from bench.search_bench import WARMUP, SizeResult, measure
from bot.sections import SectionContent
from bot.store.asks import FLUSH_AT, FLUSH_SECONDS
from tests.postgres import PostgresServer

SECTIONS = 10_000
QUICK_SECTIONS = 200
SERVERS = 1_000
QUICK_SERVERS = 50
SQLITE = "SQLite"
POSTGRESQL = "PostgreSQL"
# What a commit costs on SQLite here (bot.store.database.SqliteDatabase's pragmas).
SQLITE_COMMITS = "WAL, synchronous=NORMAL"


@dataclass(slots=True)
class BackendRun:
    """One backend's figures."""

    search: SizeResult
    database_mb: float
    fanout: FanoutRun


@dataclass(slots=True)
class Column:
    """A column of the table: a backend's figures, or why there are none."""

    name: str
    runs_on: str
    commits: str
    run: BackendRun | None = None
    missing: str | None = None  # why `run` is None


def _sizes(options: Options) -> tuple[int, int]:
    """(sections, servers)."""
    if options.sizes is not None:
        sections = max(options.sizes)
    else:
        sections = QUICK_SECTIONS if options.quick else SECTIONS
    return sections, QUICK_SERVERS if options.quick else SERVERS


def _sqlite_mb(folder: Path) -> float:
    """The database file with its write-ahead log and shared memory, in MB."""
    return sum(f.stat().st_size for f in folder.glob("ask.sqlite3*")) / (1024 * 1024)


async def _measure(pack: list[SectionContent], options: Options, location: str) -> SizeResult:
    return await measure(
        f"{len(pack):,}", pack, options, None, location=location, baseline=False, recorded=True
    )


async def _fanout(options: Options, servers: int, location: str | None) -> FanoutRun:
    return await _fanout_once("no 429s", servers, 0, options, [], location=location, timed=True)


async def _on_sqlite(pack: list[SectionContent], options: Options, servers: int) -> BackendRun:
    with tempfile.TemporaryDirectory(prefix="briefbot-bench-") as folder:
        search = await _measure(pack, options, str(Path(folder) / "ask.sqlite3"))
        size = _sqlite_mb(Path(folder))
    return BackendRun(search, size, await _fanout(options, servers, None))


async def _on_postgres(
    server: PostgresServer, pack: list[SectionContent], options: Options, servers: int
) -> BackendRun:
    async with fresh_database(server) as url:
        search = await _measure(pack, options, url)
        size = await database_mb(url)
    async with fresh_database(server) as url:
        fanout = await _fanout(options, servers, url)
    return BackendRun(search, size, fanout)


def _failure(exc: BaseException) -> str:
    """The table's line for a PostgreSQL run that failed; its traceback goes to stderr."""
    print("The PostgreSQL run failed:", file=sys.stderr)
    traceback.print_exception(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"the run failed: {type(exc).__name__}: {first[:200]}"


async def _run_all(options: Options, server: PostgresServer | NoServer) -> tuple[list[Column], str]:
    sections, servers = _sizes(options)
    pack = synthetic.PackGenerator(options.seed, synthetic.curated_pack()).generate(sections)
    sqlite = Column(SQLITE, f"SQLite {sqlite3.sqlite_version}", SQLITE_COMMITS)
    sqlite.run = await _on_sqlite(pack, options, servers)
    if isinstance(server, NoServer):
        postgres = Column(POSTGRESQL, "-", "-", missing=f"skipped: {server.reason}")
        return [sqlite, postgres], ""
    postgres = Column(POSTGRESQL, "-", "-")
    try:  # the SQLite figures stand whatever happens here; the table says what failed
        facts = await server_facts(server)
        postgres.runs_on = f"PostgreSQL {facts['version']}"
        postgres.commits = (
            f"fsync={facts['fsync']}, synchronous_commit={facts['synchronous_commit']}"
        )
        postgres.run = await _on_postgres(server, pack, options, servers)
    except Exception as exc:
        postgres.missing = _failure(exc)
    return [sqlite, postgres], server.description


# -- the table ------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _latency(values: Sequence[float]) -> dict[str, float]:
    """mean, p50 and p99 (nearest rank) of milliseconds."""
    if not values:
        return {}
    return {
        "mean": statistics.fmean(values),
        "p50": percentile(values, 0.5),
        "p99": percentile(values, 0.99),
    }


# A row's figure: a number, a text shown as is, or None when there is none.
Figure = float | int | str | None


def _rows(run: BackendRun) -> list[tuple[str, Figure, str]]:
    """(label, value, format) for every row; format "" means the value is shown as is."""
    bot = run.search.bot
    asks = _latency(bot["ask_ms"])
    recorded = _latency(bot["ask_recorded_ms"])
    fan = run.fanout
    post = _latency([s * 1000 for s in fan.post_s])
    store = _latency([s * 1000 for s in fan.store_s])
    rate = fan.posted / fan.to_last_post_s if fan.to_last_post_s > 0 else None
    return [
        ("sections imported (import s)", run.search.import_s, "s"),
        ("bot loads the catalog (load s)", bot["load_s"], "s"),
        ("ask, record=False: asks", len(bot["ask_ms"]), "n"),
        ("ask, record=False: mean ms", asks.get("mean"), "ms"),
        ("ask, record=False: p50 ms", asks.get("p50"), "ms"),
        ("ask, record=False: p99 ms", asks.get("p99"), "ms"),
        ("ask, record=True: asks", len(bot["ask_recorded_ms"]), "n"),
        ("ask, record=True: mean ms", recorded.get("mean"), "ms"),
        ("ask, record=True: p50 ms", recorded.get("p50"), "ms"),
        ("ask, record=True: p99 ms", recorded.get("p99"), "ms"),
        ("ask, record=True: rows in the ask log", bot["asks_logged"], "n"),
        ("ask, record=True: the log's last flush ms", bot["ask_log_flush_ms"], "ms"),
        ("ask: on-topic answered right", _share(run.search.right.get("on-topic")), ""),
        ("ask: typo'd answered right", _share(run.search.right.get("typo")), ""),
        ("ask: off-topic declined", _share(run.search.right.get("off-topic")), ""),
        ("bot RSS after load MB", bot["rss_loaded_mb"], "mb"),
        ("bot max RSS MB", bot["max_rss_mb"], "mb"),
        ("database on disk after the asks MB", run.database_mb, "mb"),
        ("fan-out: servers", fan.servers, "n"),
        ("fan-out: tick → last post s", fan.to_last_post_s, "s"),
        ("fan-out: posts /s", rate, "rate"),
        ("fan-out: per post p50 ms", post.get("p50"), "ms"),
        ("fan-out: per post p99 ms", post.get("p99"), "ms"),
        ("fan-out: store time per post p50 ms", store.get("p50"), "ms"),
        ("fan-out: store time per post p99 ms", store.get("p99"), "ms"),
        (
            "fan-out: posted / failed / retry later",
            f"{fan.posted:,} / {fan.failed} / {fan.retried_later}",
            "",
        ),
        (
            "fan-out: servers with exactly one post",
            f"{fan.exactly_one:,} {check(fan.exactly_one == fan.servers)}",
            "",
        ),
        ("fan-out: 2nd tick posted", fan.second_tick_posted, "n"),
        ("fan-out: setup s", fan.setup_s, "s"),
    ]


def _share(counts: tuple[int, int] | None) -> str:
    good, total = counts or (0, 0)
    return f"{good}/{total}" if total else "-"


def _show(value: Figure, kind: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, str) or not kind:
        return str(value)
    if kind == "n":
        return f"{value:,}"
    if kind == "ms":
        return _ms(float(value))
    if kind == "s":
        return f"{value:.2f}"
    if kind == "rate":
        return f"{value:,.0f}"
    return f"{value:,.1f}"  # mb


def _ratio(sqlite: Figure, postgres: Figure, kind: str) -> str:
    """PostgreSQL's figure over SQLite's, for measured quantities (not counts or text)."""
    if (
        kind in ("", "n", "rate")  # a rate above 1 is faster: no "slower" ratio for it
        or not isinstance(sqlite, float | int)
        or not isinstance(postgres, float | int)
    ):
        return "-"
    return f"{postgres / sqlite:.2f}" if sqlite > 0 else "-"


def _same_answers(columns: Sequence[Column]) -> str | None:
    runs = [c.run for c in columns if c.run is not None]
    if len(runs) < 2:
        return None
    first, second = (r.search.bot["answers"] for r in runs[:2])
    same = sum(a == b for a, b in zip(first, second, strict=True))
    return f"{same}/{len(first)}"


def render(columns: Sequence[Column], where: str, options: Options, throwaway: bool = True) -> str:
    """The section: one table, a column per backend and their ratio, then what it means."""
    sqlite, postgres = columns
    assert sqlite.run is not None
    head = [
        ["runs on", sqlite.runs_on, postgres.runs_on, "-"],
        ["commits", sqlite.commits, postgres.commits, "-"],
    ]
    if postgres.missing is not None:
        head.append(["PostgreSQL figures", "-", postgres.missing, "-"])
    ours = _rows(sqlite.run)
    theirs = _rows(postgres.run) if postgres.run is not None else None
    body = []
    for i, (label, value, kind) in enumerate(ours):
        other = theirs[i][1] if theirs is not None else None
        body.append([label, _show(value, kind), _show(other, kind), _ratio(value, other, kind)])
    same = _same_answers(columns)
    if same is not None:
        body.append(["ask: the same answer on both", same, same, "-"])
    sections, servers = _sizes(options)
    ran_on = where or "none (the table says why)"
    return "\n".join(
        [
            "## SQLite and PostgreSQL side by side",
            "",
            f"`ask` at {sections:,} synthetic sections and the daily explainer fanned out to",
            f"{servers:,} servers, on each backend in the same run, the same pack, questions and",
            "servers on both. ratio = PostgreSQL / SQLite (above 1: PostgreSQL is slower or",
            "bigger).",
            "",
            table(["", SQLITE, POSTGRESQL, "PostgreSQL / SQLite"], [*head, *body]),
            "",
            f"- PostgreSQL: {ran_on}. SQLite: a file in a temporary folder.",
            f"- machine: {os.cpu_count()} CPUs, {platform.platform()}; "
            + (
                "the bot, the benchmark\n  and PostgreSQL share it, and PostgreSQL is reached "
                "over its Unix socket, never\n  TCP. A throwaway cluster does not wait for the "
                "disk (fsync=off), so its commits\n  cost less than a production server's would."
                if throwaway
                else "the bot and the benchmark\n  run on it; PostgreSQL is the server named "
                "above, with the commit settings the\n  table shows."
            ),
            "- import: `SectionStore.import_curated(pack)` into an empty database; load:",
            "  `BriefingService.reload()` in the bot's process (`bench.search_process`).",
            "- ask: `BriefingService.ask` in that process after "
            f"{WARMUP} warm-up asks. record=False:",
            "  `ask(question, None, record=False)`, the search alone (what the `search`",
            "  benchmark times). record=True: as many other questions of the same kinds, asked",
            "  after those in a server with no topics of its own (an ask outside a server",
            "  is never logged) and logged as the bot logs them: queued, and written by a",
            f"  background task in one transaction every {FLUSH_SECONDS:g} s or {FLUSH_AT} "
            "questions, in the",
            "  same event loop, so what the writes cost lands on the asks timed meanwhile; the",
            "  last flush writes what was still queued at the end. p99 is nearest-rank.",
            "- right: the section the question was made from (synthetic sections share words,",
            "  so another can fairly win); declined: no confident answer.",
            "- RSS: the bot's process (the catalog lives there on both backends; PostgreSQL's",
            "  own memory is the server's). Database on disk: the SQLite file with its WAL, or",
            "  `pg_database_size`, after the import and the recorded asks.",
            "- fan-out: as in the fan-out benchmark's 'no 429s' run (the real bot, the fake",
            "  Discord at Discord's 50 requests/s, one `Scheduler.tick()`), on a fresh database",
            "  per backend. Per post: from a server's first store call in the tick to its post",
            "  recorded as sent (the Discord send and the rate limiter's waits included); store",
            "  time: the part spent in the store's calls (claim, rotation, record), waiting for",
            "  the writer's turn included.",
            "- the same answer: the ask (record=False) questions answered with the same section",
            "  on both backends.",
        ]
    )


def run(options: Options) -> str:
    """The `backends` benchmark: one Markdown section."""
    options = dataclasses.replace(options, profile=False)
    with postgres_server() as server:
        columns, where = asyncio.run(_run_all(options, server))
        throwaway = not isinstance(server, PostgresServer) or server.throwaway
    return render(columns, where, options, throwaway)
