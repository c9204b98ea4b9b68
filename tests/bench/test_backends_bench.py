"""The backends benchmark runs end to end in --quick mode, on SQLite and on PostgreSQL when
there is one, and prints one table with a column per backend.

Only correctness and the report's shape are checked, never speed: the figures come from
`python -m bench --only backends`.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import tests.postgres
from bench import backends_bench, fanout_bench
from bench import postgres as bench_postgres
from bench.__main__ import BENCHMARKS
from bench.core import Options
from tests.postgres import ENV, NoServer, PostgresServer, find_binaries, under_ci

QUICK = Options(quick=True)
COLUMNS = ["", "SQLite", "PostgreSQL", "PostgreSQL / SQLite"]
TIMED = (
    "ask, record=False: p50 ms",
    "ask, record=False: p99 ms",
    "ask, record=True: p50 ms",
    "ask, record=True: p99 ms",
    "bot RSS after load MB",
    "database on disk after the asks MB",
    "fan-out: tick → last post s",
    "fan-out: per post p50 ms",
    "fan-out: per post p99 ms",
    "fan-out: store time per post p99 ms",
)


def postgres_expected() -> bool:
    """Whether PostgreSQL should have run: a server is named or can be started, or this is CI
    (which installs PostgreSQL: there a missing one fails the test rather than skipping it)."""
    return bool(os.environ.get(ENV, "").strip()) or find_binaries() is not None or under_ci()


def table(report: str) -> tuple[list[str], dict[str, list[str]]]:
    """The report's one table: its header and each row's cells by the row's label."""
    lines = [line for line in report.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    header, _rule, *rows = cells
    return header, {row[0]: row[1:] for row in rows}


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


@pytest.fixture(scope="module")
def side_by_side() -> str:
    return backends_bench.run(QUICK)


def test_the_benchmark_is_registered() -> None:
    assert BENCHMARKS["backends"] is backends_bench.run


def test_one_table_with_a_column_per_backend_and_their_ratio(side_by_side: str) -> None:
    assert side_by_side.startswith("## SQLite and PostgreSQL side by side")
    header, rows = table(side_by_side)
    assert header == COLUMNS
    sqlite = {label: cells[0] for label, cells in rows.items()}
    assert sqlite["runs on"].startswith("SQLite 3.")
    assert sqlite["ask, record=False: asks"] == sqlite["ask, record=True: asks"] == "40"
    assert sqlite["ask, record=True: rows in the ask log"] == "40"
    assert number(sqlite["ask, record=True: the log's last flush ms"]) >= 0  # may be empty
    right, asked = sqlite["ask: on-topic answered right"].split("/")
    assert 0 < int(right) <= int(asked) < 40
    for label in TIMED:
        assert number(sqlite[label]) > 0, label
    servers = f"{backends_bench.QUICK_SERVERS}"
    assert sqlite["fan-out: servers"] == servers
    assert sqlite["fan-out: posted / failed / retry later"] == f"{servers} / 0 / 0"
    assert sqlite["fan-out: servers with exactly one post"] == f"{servers} ✓"
    assert sqlite["fan-out: 2nd tick posted"] == "0"


@pytest.mark.skipif(not postgres_expected(), reason="no PostgreSQL on this machine")
def test_postgresql_ran_beside_sqlite_and_answered_the_same(side_by_side: str) -> None:
    _header, rows = table(side_by_side)
    assert "PostgreSQL figures" not in rows, rows.get("PostgreSQL figures")
    postgres = {label: cells[1] for label, cells in rows.items()}
    assert postgres["runs on"].startswith("PostgreSQL ")
    for label in TIMED:
        assert number(postgres[label]) > 0, label
        assert number(rows[label][2]) > 0, label  # the ratio
    assert postgres["ask, record=True: rows in the ask log"] == "40"
    servers = f"{backends_bench.QUICK_SERVERS}"
    assert postgres["fan-out: posted / failed / retry later"] == f"{servers} / 0 / 0"
    assert postgres["fan-out: servers with exactly one post"] == f"{servers} ✓"
    same, asked = rows["ask: the same answer on both"][0].split("/")
    # Each backend finds its candidates by its own full-text search: nearly always the same.
    assert asked == "40" and int(same) >= 36
    assert "- PostgreSQL: " in side_by_side and "Unix socket" in side_by_side


def test_without_postgresql_the_table_says_why_and_shows_sqlite_alone() -> None:
    columns, where = asyncio.run(backends_bench._run_all(QUICK, NoServer("no server in this test")))
    assert where == ""
    text = backends_bench.render(columns, where, QUICK)
    header, rows = table(text)
    assert header == COLUMNS
    assert rows["runs on"][1] == "-"
    assert rows["PostgreSQL figures"][1] == "skipped: no server in this test"
    assert number(rows["ask, record=False: p50 ms"][0]) > 0
    assert rows["ask, record=False: p50 ms"][1:] == ["-", "-"]
    assert "ask: the same answer on both" not in rows


def test_a_postgresql_run_that_fails_is_reported_in_the_table_beside_sqlites_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = PostgresServer(f"postgresql://bench@/postgres?host={tmp_path}", "nowhere", False)
    columns, where = asyncio.run(backends_bench._run_all(QUICK, nowhere))
    _header, rows = table(backends_bench.render(columns, where, QUICK))
    assert rows["PostgreSQL figures"][1].startswith("the run failed: ")
    assert number(rows["ask, record=False: p50 ms"][0]) > 0
    assert rows["ask, record=False: p50 ms"][1] == "-"
    assert "The PostgreSQL run failed:" in capsys.readouterr().err


def test_no_server_is_found_without_the_setting_or_the_programs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(tests.postgres, "find_binaries", lambda: None)
    with bench_postgres.postgres_server() as server:
        assert isinstance(server, NoServer)
        assert ENV in server.reason and "initdb" in server.reason


def test_the_named_server_is_used_as_is_and_its_password_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "postgresql://bench:secret@/postgres?host=/nowhere")
    with bench_postgres.postgres_server() as server:
        assert isinstance(server, PostgresServer) and not server.throwaway
        assert server.dsn.endswith("host=/nowhere")
        assert "secret" not in server.description


@pytest.mark.skipif(find_binaries() is None, reason="no initdb/pg_ctl on this machine")
def test_the_throwaway_cluster_is_stopped_and_deleted_also_after_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    folder: Path | None = None
    with pytest.raises(RuntimeError, match="the benchmark broke"):
        with bench_postgres.postgres_server() as server:
            assert isinstance(server, PostgresServer) and server.throwaway
            folder = Path(server.dsn.split("host=")[1].split("&")[0])
            assert (folder / "data" / "postmaster.pid").is_file()
            raise RuntimeError("the benchmark broke")
    assert folder is not None and not folder.exists()


async def test_the_fanout_times_each_servers_post_and_its_store_calls() -> None:
    servers = 8
    run = await fanout_bench._fanout_once("no 429s", servers, 0, QUICK, [], timed=True)
    assert run.posted == run.exactly_one == servers
    assert len(run.post_s) == len(run.store_s) == servers
    untimed = await fanout_bench._fanout_once("no 429s", servers, 0, QUICK, [])
    assert untimed.posted == servers and untimed.post_s == untimed.store_s == []
    assert all(0 < store <= post for store, post in zip(run.store_s, run.post_s, strict=True))
