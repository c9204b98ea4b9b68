"""A PostgreSQL server for the benchmarks, found or started as the tests find or start theirs.

`BRIEFBOT_TEST_POSTGRES` names a server the benchmark may create databases on; without it, a
throwaway cluster (`tests.postgres.ThrowawayCluster`: a temporary folder, a Unix socket only,
owned by `nobody` under root) runs for the benchmark's length and is stopped and deleted
afterwards, also when the benchmark fails. Without either, `postgres_server` yields the reason
instead of a server, for the report to say.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from tests.postgres import (
    DEBIAN_BINARIES,
    ENV,
    UNPRIVILEGED_USER,
    PostgresServer,
    ThrowawayCluster,
    database_url,
    find_binaries,
)

# A benchmark's database name: recognisable in the server's list if a run is killed.
DATABASE_PREFIX = "briefbot_bench_"
# The server settings the report shows: they decide what a commit costs.
SHOWN_SETTINGS = ("fsync", "synchronous_commit", "shared_buffers")


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why the benchmark has no PostgreSQL."""

    reason: str


def _named_server(dsn: str) -> PostgresServer:
    shown = re.sub(r"//[^@/]*@", "//…@", dsn)  # no password in the report
    return PostgresServer(dsn, f"the server {ENV} names ({shown})", throwaway=False)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer | Unavailable]:
    """The server named by `BRIEFBOT_TEST_POSTGRES`, else a throwaway cluster for the block."""
    try:
        import asyncpg  # noqa: F401 (the optional extra)
    except ImportError:
        yield Unavailable("asyncpg (the `postgres` extra) is not installed")
        return
    dsn = os.environ.get(ENV, "").strip()
    if dsn:
        yield _named_server(dsn)
        return
    binaries = find_binaries()
    if binaries is None:
        yield Unavailable(
            f"{ENV} is not set and initdb/pg_ctl are neither on the PATH nor under "
            f"{DEBIAN_BINARIES}"
        )
        return
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            yield Unavailable(f"running as root and there is no user {UNPRIVILEGED_USER!r}")
            return
    cluster = ThrowawayCluster(binaries)
    try:
        try:
            cluster.start()  # inside the try: a half-started cluster is stopped and deleted too
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            yield Unavailable(f"the throwaway cluster in {cluster.folder} did not start: {first}")
            return
        yield PostgresServer(cluster.dsn, cluster.description, throwaway=True)
    finally:
        cluster.stop()


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


@contextlib.asynccontextmanager
async def fresh_database(server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a new, empty database (Briefbot migrates it on open), dropped afterwards."""
    import asyncpg

    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(server, name)
    finally:
        admin = await asyncpg.connect(server.dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def database_mb(url: str) -> float:
    """The database's size on disk (pg_database_size), in MB."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        size = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return int(size) / (1024 * 1024)
