"""The database both stores stand on: what a store module may ask of it, and SQLite's.

Every store module (`bot/store/*.py`) reads and writes through a `Database`: `conn` for reads,
`transaction()` for writes, each a connection shaped like aiosqlite's (`execute` returning a
cursor, `executemany`), with `?` placeholders. Where the two dialects differ, the store asks
`db.dialect` for the fragment (a list parameter, a JSON array aggregate). `SqliteDatabase` is
one aiosqlite connection to one file; `bot.store.postgres.database.PostgresDatabase` is an
asyncpg pool. `bot.store.backends.open_database` picks one by the location's form.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Protocol

import aiosqlite

from bot.errors import StorageError

log = logging.getLogger(__name__)

MIGRATION_RE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5000

Clock = Callable[[], datetime]


class Row(Protocol):
    """A row read by name or position: aiosqlite's `Row` and asyncpg's `Record` both are one."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class Cursor(Protocol):
    """The rows of one statement (or how many rows it changed): aiosqlite's cursor has it."""

    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Iterable[Any]: ...

    async def fetchmany(self, size: int) -> Iterable[Any]: ...


class Statement(Protocol):
    """What `execute` returns: awaited, or entered with `async with`, it is the cursor."""

    def __await__(self) -> Generator[Any, None, Cursor]: ...

    async def __aenter__(self) -> Cursor: ...

    async def __aexit__(self, *exc: Any) -> Any: ...


class Connection(Protocol):
    """A connection as store modules use it, `?` placeholders: aiosqlite's has it, and
    PostgreSQL's adapter (bot/store/postgres/database.py) is shaped like it."""

    def execute(self, sql: str, parameters: Iterable[Any] = ..., /) -> Statement: ...

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> Any: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The packaged migrations, in version order; versions must run 1, 2, 3... without gaps."""
    folder = resources.files("bot.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.name for m in found]}")
    return found


class Dialect:
    """The SQL fragments that differ between the backends; SQLite's here."""

    name: ClassVar[str] = "sqlite"

    def any_of(self, expression: str) -> str:
        """`expression` is one of the values bound to the one `?` this adds (see `values`)."""
        # The expression is the store's own SQL, never input; the values are bound.
        return f"{expression} IN (SELECT value FROM json_each(?))"  # noqa: S608

    def values(self, items: Iterable[Any]) -> Any:
        """The parameter `any_of`'s placeholder takes: a JSON array here."""
        return json.dumps(list(items))

    def json_array(self, expression: str) -> str:
        """An aggregate of `expression` as JSON array text ('[]' over no rows)."""
        return f"json_group_array({expression})"

    def same(self, expression: str) -> str:
        """`expression` equals the value bound to the one `?` this adds, NULL equalling NULL."""
        return f"{expression} IS ?"

    def scope(self, column: str) -> str:
        """A section's scope, the curated pack's being 0, spelt as the unique index on (scope,
        slug) is: SQLite uses an indexed expression only when it is spelt the same."""
        return f"ifnull({column}, 0)"

    def text_order(self, expression: str) -> str:
        """`expression` ordered as SQLite orders text: by its bytes."""
        return expression

    # What a LIMIT is bound to for no limit.
    no_limit: ClassVar[int | None] = -1

    def plain(self, column: str) -> str:
        """A column compared with an indexed expression: SQLite's unary plus drops its
        affinity, without which SQLite cannot use the expression's index for it."""
        return f"+{column}"

    def lowered(self) -> str:
        """A subquery of the values bound to its one `?` (`values`), each lowered by the
        database (whose lower() and Python's disagree beyond ASCII)."""
        return "SELECT lower(value) FROM json_each(?)"

    def indexed(self, table: str, index: str) -> str:
        """`table` read along `index`: SQLite is told (its planner can pick a worse one)."""
        return f"{table} INDEXED BY {index}"

    # The tables holding a column named by the one `?` (a store's purge reads the schema).
    tables_with_column = (
        "SELECT m.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS c "
        "WHERE m.type = 'table' AND c.name = ? ORDER BY m.name"
    )


SQLITE = Dialect()


class Database(ABC):
    """What a store module may ask of a database, whichever the backend.

    `conn` answers reads (each `execute` its own statement, autocommitted); `transaction()`
    yields the connection of one write transaction, committed when the block ends and rolled
    back on any error. Writers take turns: on SQLite its one writer, on PostgreSQL a lock every
    write transaction takes first, so what a store reads inside a transaction stays true until
    it commits (version checks, caps, claims), across processes and hosts alike.
    """

    dialect: Dialect = SQLITE

    def __init__(self, location: str, clock: Clock) -> None:
        self.location = location  # what messages may show: never a password
        self.clock = clock

    @property
    @abstractmethod
    def conn(self) -> Connection:
        """The reading connection: `execute(sql, params)` as aiosqlite's."""

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """One write transaction, yielding its connection."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def migrate(self) -> tuple[int, int]:
        """Apply every migration above the recorded version; the versions before and after."""

    @property
    @abstractmethod
    def latest_version(self) -> int: ...

    @abstractmethod
    async def backup(self, target: str | Path) -> Path: ...

    @abstractmethod
    async def data_version(self) -> int:
        """A number that moves when another process commits (and only costs a look)."""

    @property
    def database_file(self) -> Path | None:
        """The file another process may open read-only (SQLite on disk), else None."""
        return None

    async def same_as(self, other: Database) -> bool:
        """Whether `other` is this very database (opened again, perhaps spelt otherwise)."""
        mine, theirs = self.database_file, other.database_file
        if mine is not None and theirs is not None:
            return mine.resolve() == theirs.resolve()
        return self.location == other.location

    async def get_meta(self, key: str) -> str | None:
        async with self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def now(self) -> str:
        return self.clock().astimezone(UTC).isoformat(timespec="seconds")


class SqliteDatabase(Database):
    """One aiosqlite connection. Writes go through `transaction()`, which serialises them."""

    def __init__(self, conn: aiosqlite.Connection, path: str, clock: Clock) -> None:
        super().__init__(path, clock)
        self._conn = conn
        self.path = path
        self._write_lock = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        return self._conn

    @property
    def database_file(self) -> Path | None:
        return None if self.path == ":memory:" else Path(self.path)

    @classmethod
    async def open(
        cls, path: str | Path, *, clock: Clock = utcnow, migrate: bool = True
    ) -> SqliteDatabase:
        """Open (creating folders as needed) and bring the schema up to date."""
        location = str(path)
        if location != ":memory:":
            _prepare_path(Path(location))
        try:
            conn = await aiosqlite.connect(location, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"Cannot open the database {location}: {exc}. {_REMEDY}") from None
        db = cls(conn, location, clock)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA foreign_keys = ON")
            if location != ":memory:":
                await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = NORMAL")
            if migrate:
                await db.migrate()
        except sqlite3.DatabaseError as exc:
            await conn.close()
            raise StorageError(
                f"{location} is not a usable SQLite database ({exc}). Move it aside or restore a "
                "backup, then start again."
            ) from None
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def schema_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> tuple[int, int]:
        """Apply every migration above PRAGMA user_version, each in its own transaction."""
        before = current = await self.schema_version()
        known = migrations()
        if current > len(known):
            raise StorageError(
                f"{self.path} has schema version {current}, newer than this Briefbot knows "
                f"({len(known)}). Upgrade Briefbot or use another database file."
            )
        async with self._write_lock:
            for migration in known[current:]:
                # executescript runs the whole file; BEGIN/COMMIT make it all-or-nothing.
                script = (
                    f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                    f"PRAGMA user_version = {migration.version};\nCOMMIT;"
                )
                try:
                    await self.conn.executescript(script)
                except sqlite3.Error:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
                log.info("applied migration %s", migration.name)
                current = migration.version
        return before, current

    @property
    def latest_version(self) -> int:
        return len(migrations())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; one writer at a time."""
        async with self._write_lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                # A COMMIT can fail too (a full disk, a deferred constraint); it must not leave
                # the connection inside the transaction, or every later write would fail.
                await self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                await self._rollback()
                if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                    raise StorageError(
                        f"The database {self.path} is full (no room left on its disk), so "
                        "nothing was saved. Free some space; writing resumes by itself."
                    ) from exc
                raise
            except BaseException:
                await self._rollback()
                raise

    async def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it does after some errors)."""
        if not self.conn.in_transaction:
            return
        try:
            await self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.exception("ROLLBACK failed on %s", self.path)

    async def backup(self, target: str | Path) -> Path:
        """Copy the live database with SQLite's online backup API, then move it into place."""
        destination = _backup_destination(Path(target), self.clock())
        partial = destination.with_name(destination.name + ".partial")
        await asyncio.to_thread(partial.unlink, missing_ok=True)
        try:
            async with aiosqlite.connect(partial) as copy:
                await self.conn.backup(copy)
        except sqlite3.Error as exc:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            raise StorageError(f"Cannot write the backup to {destination}: {exc}") from None
        await asyncio.to_thread(partial.replace, destination)
        return destination

    async def data_version(self) -> int:
        """SQLite's counter of commits made by other connections (other processes included)."""
        async with self.conn.execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0


def connect_read_only(path: str | Path) -> sqlite3.Connection:
    """A plain, read-only sqlite3 connection to the database file, for a worker process that
    reads beside the bot (WAL lets it read while the bot writes). It never migrates."""
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


_REMEDY = "Set BRIEFBOT_DB to a writable file path (the default is data/briefbot.sqlite3)."


def _backup_destination(target: Path, now: datetime) -> Path:
    """The backup file: `target`, or a time-stamped file inside it if it is a folder."""
    if target.is_dir():
        return target / f"briefbot-{now.strftime('%Y%m%dT%H%M%SZ')}.sqlite3"
    if not target.parent.is_dir():
        raise StorageError(f"Cannot write the backup: the folder {target.parent} does not exist.")
    return target


def _prepare_path(path: Path) -> None:
    if path.is_dir():
        raise StorageError(f"The database path {path} is a folder, not a file. {_REMEDY}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"Cannot create the folder {path.parent} for the database: {exc.strerror}. {_REMEDY}"
        ) from None
    if path.exists():
        try:
            with path.open("rb+"):
                pass
        except OSError as exc:
            raise StorageError(
                f"Cannot write the database {path}: {exc.strerror}. {_REMEDY}"
            ) from None
    else:
        probe = path.parent / f".{path.name}.probe"
        try:
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise StorageError(
                f"Cannot create the database in {path.parent}: {exc.strerror}. {_REMEDY}"
            ) from None
