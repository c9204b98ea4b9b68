"""A PostgreSQL server for the benchmarks, found or started as the tests find or start theirs.

`BRIEFBOT_TEST_POSTGRES` names a server the benchmark may create databases on; without it, a
throwaway cluster (`tests.postgres.ThrowawayCluster`: a temporary folder, a Unix socket only,
owned by `nobody` under root) runs for the benchmark's length and is stopped and deleted
afterwards, also when the benchmark fails. Without either, `postgres_server` yields the reason
instead of a server, for the report to say.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from tests.postgres import NoServer, PostgresServer, empty_database, find_server

# A benchmark's database name: recognisable in the server's list if a run is killed.
DATABASE_PREFIX = "briefbot_bench_"
# The server settings the report shows: they decide what a commit costs.
SHOWN_SETTINGS = ("fsync", "synchronous_commit")


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer | NoServer]:
    """The server the tests would use (`tests.postgres.find_server`), for the benchmark's
    length; what went wrong stopping a throwaway cluster is said on stderr."""

    def stopped(failures: list[str]) -> None:
        for failure in failures:
            print(f"PostgreSQL: {failure}", file=sys.stderr)

    with find_server(stopped) as server:
        yield server


async def server_facts(server: PostgresServer) -> dict[str, str]:
    """The server's version and the settings that decide what a commit costs."""
    import asyncpg

    conn = await asyncpg.connect(server.dsn)
    try:
        facts = {"version": str(await conn.fetchval("SHOW server_version"))}
        for name in SHOWN_SETTINGS:
            facts[name] = str(await conn.fetchval(f"SHOW {name}"))
    finally:
        await conn.close()
    return facts


def fresh_database(server: PostgresServer) -> contextlib.AbstractAsyncContextManager[str]:
    """The URL of a new, empty database (Briefbot migrates it on open), dropped afterwards."""
    return empty_database(server, DATABASE_PREFIX)


async def database_mb(url: str) -> float:
    """The database's size on disk (pg_database_size), in MB."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return int(size) / (1024 * 1024)
