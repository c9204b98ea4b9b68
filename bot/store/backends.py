"""Which database a location names: a `postgresql://` URL is PostgreSQL, anything else a file.

The one place that knows both backends, so that neither knows the other.
"""

from __future__ import annotations

from pathlib import Path

from bot.store.database import Clock, Database, SqliteDatabase, utcnow
from bot.store.postgres.database import PostgresDatabase, is_postgres

__all__ = ["is_postgres", "open_database"]


async def open_database(
    location: str | Path,
    *,
    password: str | None = None,
    clock: Clock = utcnow,
    migrate: bool = True,
) -> Database:
    """Open (and, unless told not to, migrate) the database at `location`. `password` is
    PostgreSQL's when it is not in the URL (BRIEFBOT_DB_PASSWORD_FILE)."""
    if is_postgres(location):
        return await PostgresDatabase.open(
            str(location), password=password, clock=clock, migrate=migrate
        )
    return await SqliteDatabase.open(location, clock=clock, migrate=migrate)
