"""PostgreSQL as the store's database: an asyncpg pool shaped like the SQLite connection.

Store modules write their SQL once, with `?` placeholders, and run it on either backend
(`bot.store.database.Database`). Here each statement's `?` become `$1, $2...` (outside quoted
text), `execute` returns a cursor with `fetchone`/`fetchall`/`fetchmany` and `rowcount`, and
the few fragments that differ come from `PG_DIALECT`.

Writers take turns, as SQLite's one writer does: within a process on an asyncio lock (so a
waiting writer holds no pooled connection), across processes and hosts on one
transaction-level advisory lock (`WRITE_LOCK`), held until it commits or rolls back. What a
store reads inside its transaction (a topic's revision before an edit, a server's count before
a cap, a claim) therefore stays true until it commits, in every process on every host: two
moderators saving one topic at once get one save and one conflict. Reads never wait for it.

Every write transaction also sends a notification on `CHANGES_CHANNEL`, delivered when it
commits; each process listens on a connection of its own, and `data_version` counts the
notifications other processes sent (SQLite's `PRAGMA data_version` counts their commits), so
the service's change follower sees another host's change at its next look.

asyncpg is the optional `postgres` extra: it is imported when a PostgreSQL database is opened,
so the bot runs on SQLite without it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

from bot.config import shown_url
from bot.errors import StorageError
from bot.store.database import Clock, Database, Dialect, utcnow
from bot.store.postgres import schema

log = logging.getLogger(__name__)

# The key of the lock every write transaction takes first ("BRIEFBOW" in ASCII: any number
# no other part of Briefbot uses; migrations take schema.MIGRATION_LOCK).
WRITE_LOCK = 0x4252_4945_4642_4F57
# Where write transactions announce themselves; the payload is the sending process's token.
CHANGES_CHANNEL = "briefbot_changes"
# Connections per process: reads run side by side, writes take turns anyway.
POOL_MIN = 1
POOL_MAX = 5
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 10.0
# The listening connection is asked to answer when it has been quiet this long.
LISTEN_PROBE_S = 30.0
PROBE_TIMEOUT_S = 5.0
SCHEMES = ("postgresql://", "postgres://")

# What a `?` inside is not a placeholder: quoted text, a quoted name, a comment.
_PLACEHOLDER = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\?""", re.DOTALL)
# A statement that returns rows (its cursor is read) rather than a count of rows changed. The
# store's SQL keeps to these shapes: a data-modifying WITH ends in RETURNING, or is not used.
_ROWS = re.compile(r"^\s*(SELECT|WITH|VALUES)\b|\bRETURNING\b", re.IGNORECASE)


def is_postgres(location: str | Path) -> bool:
    return str(location).lower().startswith(SCHEMES)


@lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2...`; a `?` inside quoted text, a quoted name
    or a comment is left alone."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(0) != "?":
            return match.group(0)
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


class PgDialect(Dialect):
    name: ClassVar[str] = "postgresql"

    def any_of(self, expression: str) -> str:
        return f"{expression} = ANY(?)"

    def values(self, items: Iterable[Any]) -> Any:
        return list(items)

    def json_array(self, expression: str) -> str:
        # json_agg is NULL over no rows, json_group_array '[]'; the text is read as JSON.
        return f"coalesce(json_agg({expression}), '[]')::text"

    def same(self, expression: str) -> str:
        return f"{expression} IS NOT DISTINCT FROM ?"

    def scope(self, column: str) -> str:
        return f"coalesce({column}, 0)"

    def text_order(self, expression: str) -> str:
        # Byte order whatever the database's collation.
        return f'{expression} COLLATE "C"'

    # LIMIT NULL is no limit here (SQLite wants -1).
    no_limit: ClassVar[int | None] = None

    def plain(self, column: str) -> str:
        return column

    def lowered(self) -> str:
        return "SELECT lower(value) FROM unnest(?::text[]) AS value"

    def indexed(self, table: str, index: str) -> str:
        # PostgreSQL takes no hints: it picks by its statistics.
        return table

    tables_with_column = (
        "SELECT c.table_name::text FROM information_schema.columns AS c "
        "JOIN information_schema.tables AS t "
        "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "AND c.column_name = ? ORDER BY 1"
    )


PG_DIALECT = PgDialect()


@dataclass(slots=True)
class PgCursor:
    """The rows (or the row count) of one statement, as an aiosqlite cursor reads them."""

    rows: list[Any]
    rowcount: int
    _next: int = 0

    async def fetchone(self) -> Any:
        if self._next >= len(self.rows):
            return None
        self._next += 1
        return self.rows[self._next - 1]

    async def fetchall(self) -> list[Any]:
        rest = self.rows[self._next :]
        self._next = len(self.rows)
        return rest

    async def fetchmany(self, size: int) -> list[Any]:
        chunk = self.rows[self._next : self._next + size]
        self._next += len(chunk)
        return chunk


class _Statement:
    """What `execute` returns: awaited, or entered (`async with`), it is the cursor."""

    def __init__(self, run: Any) -> None:
        self._run = run

    def __await__(self) -> Any:
        return self._run.__await__()

    async def __aenter__(self) -> PgCursor:
        cursor: PgCursor = await self._run
        return cursor

    async def __aexit__(self, *exc: object) -> None:
        return None


async def _run(conn: Any, sql: str, params: Sequence[Any]) -> PgCursor:
    query = numbered(sql)
    if _ROWS.search(query):
        rows = list(await conn.fetch(query, *params))
        return PgCursor(rows, len(rows))
    status = await conn.execute(query, *params)
    tail = status.rsplit(" ", 1)[-1] if status else ""
    return PgCursor([], int(tail) if tail.isdigit() else -1)


class PgConnection:
    """One pooled connection inside a write transaction, shaped like aiosqlite's."""

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Iterable[Any] = (), /) -> _Statement:
        return _Statement(_run(self.raw, sql, tuple(params)))

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]], /) -> None:
        batch = [tuple(row) for row in rows]
        if batch:
            await self.raw.executemany(numbered(sql), batch)


class PgReader:
    """Reads outside a transaction: each statement on a connection borrowed for it."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def execute(self, sql: str, params: Iterable[Any] = (), /) -> _Statement:
        return _Statement(self._read(sql, tuple(params)))

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]], /) -> None:
        async with self._pool.acquire() as conn:
            await PgConnection(conn).executemany(sql, rows)

    async def _read(self, sql: str, params: Sequence[Any]) -> PgCursor:
        async with self._pool.acquire() as conn:
            return await _run(conn, sql, params)


class PostgresDatabase(Database):
    """An asyncpg pool on one PostgreSQL database, and a listener for other processes' commits."""

    dialect = PG_DIALECT

    def __init__(self, pool: Any, dsn: str, password: str | None, clock: Clock) -> None:
        super().__init__(shown_url(dsn), clock)
        self.pool = pool
        self._dsn = dsn
        self._password = password
        self._reader = PgReader(pool)
        self._token = uuid.uuid4().hex  # this process's commits, known by it
        self._listener: Any = None
        self._heard = 0
        self._closed = False
        self._probed = 0.0  # when the listening connection last answered
        # This process's writers wait here, holding no connection, before they borrow one
        # and wait for WRITE_LOCK: were they to wait holding connections, a transaction
        # reading through `conn` (another connection) could find the pool empty for good.
        self._write_turn = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        password: str | None = None,
        clock: Clock = utcnow,
        migrate: bool = True,
        pool_max: int = POOL_MAX,
    ) -> PostgresDatabase:
        try:
            import asyncpg
        except ImportError:
            raise StorageError(
                "BRIEFBOT_DB names a PostgreSQL database, but asyncpg is not installed: install "
                "Briefbot with its `postgres` extra (pip install '.[postgres]')."
            ) from None
        shown = shown_url(dsn)
        refused: tuple[type[BaseException], ...] = (TimeoutError, OSError, *_driver_errors(asyncpg))
        malformed: tuple[type[BaseException], ...] = (*refused, ValueError)  # an unreadable DSN
        try:
            pool = await asyncpg.create_pool(
                dsn,
                password=password,
                min_size=min(POOL_MIN, pool_max),
                max_size=pool_max,
                timeout=CONNECT_TIMEOUT_S,
            )
        except malformed as exc:
            raise StorageError(
                f"Cannot connect to the PostgreSQL database {shown}: {_reason(exc)}. Check "
                "BRIEFBOT_DB (and BRIEFBOT_DB_PASSWORD_FILE), and that the server is running."
            ) from None
        db = cls(pool, dsn, password, clock)
        try:
            if migrate:
                await db.migrate()
            await db._listen()
        except refused as exc:
            await db.close()
            raise StorageError(
                f"The PostgreSQL database {shown} could not be prepared: {_reason(exc)}."
            ) from None
        except BaseException:
            await db.close()
            raise
        return db

    @property
    def conn(self) -> PgReader:
        return self._reader

    async def close(self) -> None:
        self._closed = True
        if self._listener is not None:
            listener, self._listener = self._listener, None
            try:
                await listener.close(timeout=2)
            except Exception:
                listener.terminate()
        try:
            # Borrowed connections are waited for, a while: a stuck one must not hold the exit.
            await asyncio.wait_for(self.pool.close(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.warning("closing the PostgreSQL pool took over %s s: cut", CLOSE_TIMEOUT_S)
            self.pool.terminate()

    async def schema_version(self) -> int:
        async with self.pool.acquire() as conn:
            return await schema.schema_version(conn)

    async def migrate(self) -> tuple[int, int]:
        async with self.pool.acquire() as conn:
            return await schema.migrate(conn)

    @property
    def latest_version(self) -> int:
        return len(schema.migrations())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        """One write transaction, after the writers' lock; other processes hear of it when it
        commits."""
        async with self._write_turn, self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            yield PgConnection(conn)
            await conn.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, self._token)

    async def backup(self, target: str | Path) -> Path:
        """pg_dump is PostgreSQL's backup tool: run it when it is here, else say how."""
        destination = Path(target)
        if await asyncio.to_thread(destination.is_dir):
            stamp = self.clock().strftime("%Y%m%dT%H%M%SZ")
            destination = destination / f"briefbot-{stamp}.pgdump"
        command = (
            "pg_dump --format=custom --file=<backup file> --dbname=<BRIEFBOT_DB>"
            " (restore with pg_restore)"
        )
        program = shutil.which("pg_dump")
        if program is None:
            raise StorageError(
                "On PostgreSQL, back up with PostgreSQL's own tool, which is not installed here: "
                f"{command}. Briefbot's `db backup` copies SQLite files."
            )
        # The password goes by the environment, never on a command line others can read.
        dsn, in_url = _without_password(self._dsn)
        env = {**os.environ}
        password = self._password if self._password is not None else in_url
        if password is not None:
            env["PGPASSWORD"] = password
        partial = destination.with_name(destination.name + ".partial")
        process = await asyncio.create_subprocess_exec(
            program,
            "--format=custom",
            f"--file={partial}",
            f"--dbname={dsn}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        _, errors = await process.communicate()
        if process.returncode != 0:
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            text = errors.decode("utf-8", "replace").strip()
            raise StorageError(f"pg_dump could not back up {self.location}: {text}")
        await asyncio.to_thread(partial.replace, destination)
        return destination

    async def same_as(self, other: Database) -> bool:
        """Another URL (`localhost` or `127.0.0.1`, with a password or without) may name this
        same database: it is the same when it cannot take an advisory lock this one holds
        (advisory locks belong to one database of one server)."""
        if not isinstance(other, PostgresDatabase):
            return False
        key = secrets.randbits(62)
        async with self.pool.acquire() as mine:
            await mine.execute("SELECT pg_advisory_lock($1)", key)
            try:
                async with other.pool.acquire() as theirs:
                    taken = await theirs.fetchval("SELECT pg_try_advisory_lock($1)", key)
                    if taken:
                        await theirs.execute("SELECT pg_advisory_unlock($1)", key)
            finally:
                await mine.execute("SELECT pg_advisory_unlock($1)", key)
        return not taken

    async def data_version(self) -> int:
        """How many commits of other processes this one has heard of. A lost listening
        connection is opened again, and counts as a change (what was missed is unknown); one
        that has been quiet for LISTEN_PROBE_S is asked to answer, so that a connection a
        network fault left half open is found out too."""
        if self._closed:
            return self._heard
        listener = self._listener
        if listener is not None and not listener.is_closed():
            if time.monotonic() - self._probed < LISTEN_PROBE_S:
                return self._heard
            try:
                await listener.fetchval("SELECT 1", timeout=PROBE_TIMEOUT_S)
                self._probed = time.monotonic()
                return self._heard
            except Exception:
                listener.terminate()
        try:
            await self._listen()
            self._heard += 1
        except Exception:
            log.warning("cannot listen for other processes' changes yet; trying again")
        return self._heard

    async def _listen(self) -> None:
        import asyncpg

        listener = await asyncpg.connect(
            self._dsn, password=self._password, timeout=CONNECT_TIMEOUT_S
        )
        if self._closed:  # closed while it connected: nobody else would close it
            await listener.close()
            return
        await listener.add_listener(CHANGES_CHANNEL, self._heard_of)
        self._listener, self._probed = listener, time.monotonic()

    def _heard_of(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if payload != self._token:
            self._heard += 1


def _without_password(dsn: str) -> tuple[str, str | None]:
    """The DSN without its password, and the password (None when it has none)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn, None
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}{host}")), unquote(parts.password)


def _driver_errors(asyncpg: Any) -> tuple[type[Exception], ...]:
    """What asyncpg raises for a server's refusal or a connection's failure."""
    return (asyncpg.PostgresError, asyncpg.InterfaceError)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.rstrip(".")
