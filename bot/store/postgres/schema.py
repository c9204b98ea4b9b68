"""The PostgreSQL schema's numbered migrations, and the runner that applies them.

Like SQLite's (`bot/store/database.py`): `migrations/NNN_name.sql`, applied in order, each in
one transaction. PostgreSQL has no `PRAGMA user_version`, so the version applied is the one row
of `schema_version`. Several processes may start at once against one server: each migration
is applied under a transaction-level advisory lock, and the version is read again under it, so
each is applied once.

This module needs no driver: `migrate` takes any connection shaped like asyncpg's (the
optional `postgres` extra), so the bot imports and runs without asyncpg installed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from importlib import resources
from typing import Any, Protocol

from bot.errors import StorageError
from bot.store.database import MIGRATION_RE, Migration

log = logging.getLogger(__name__)

# The key of the advisory lock that migrating processes take in turn (any number no other
# part of Briefbot uses; it reads "BRIEFBOT" in ASCII).
MIGRATION_LOCK = 0x4252_4945_4642_4F54

# One row, created by the runner before the first migration (so no migration can lose it).
VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   integer NOT NULL CHECK (version >= 0)
)
"""


class Connection(Protocol):
    """What the runner needs of a connection: asyncpg's `Connection` has it."""

    async def execute(self, query: str, *args: Any) -> str: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


def migrations() -> list[Migration]:
    """The packaged migrations, in version order; versions must run 1, 2, 3... without gaps."""
    folder = resources.files("bot.store.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.name for m in found]}")
    return found


async def schema_version(conn: Connection) -> int:
    """The version applied: 0 for a database no migration has touched."""
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT version FROM schema_version")
    return 0 if version is None else int(version)


async def _refuse_a_stranger(conn: Connection) -> None:
    """A database with tables but no `schema_version` belongs to something else: Briefbot's
    migrations would collide with its tables (or, worse, fill them). Refuse it."""
    if await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
        return
    tables = await conn.fetchval(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    if tables:
        raise StorageError(
            f"The PostgreSQL database holds {tables} table(s) but none of Briefbot's records "
            "(no schema_version table): it is not a Briefbot database. Give Briefbot an empty "
            "database of its own."
        )


async def migrate(conn: Connection, known: Sequence[Migration] | None = None) -> tuple[int, int]:
    """Apply every migration above the recorded version, each in its own transaction.

    Returns the versions before and after. `known` replaces the packaged migrations (tests).
    A migration that fails is rolled back whole, version included, and its error raised."""
    plan = migrations() if known is None else list(known)
    await _refuse_a_stranger(conn)
    before: int | None = None
    while True:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(VERSION_TABLE)
            current = await conn.fetchval("SELECT version FROM schema_version")
            if current is None:
                current = 0
                await conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            if before is None:
                before = current
            if current > len(plan):
                raise StorageError(
                    f"The PostgreSQL database has schema version {current}, newer than this "
                    f"Briefbot knows ({len(plan)}). Upgrade Briefbot or use another database."
                )
            if current == len(plan):
                return before, current
            migration = plan[current]
            # No arguments: asyncpg sends the file as one simple query, all its statements.
            await conn.execute(migration.sql)
            await conn.execute("UPDATE schema_version SET version = $1", migration.version)
        log.info("applied PostgreSQL migration %s", migration.name)
