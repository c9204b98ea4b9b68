"""A PostgreSQL server for the tests, and a fresh database on it for each test that asks.

Where the server comes from, in order:

1. `BRIEFBOT_TEST_POSTGRES`, a DSN naming a server the tests may create databases on;
2. a throwaway cluster: `initdb` and `pg_ctl` found on the PATH or where Debian keeps them
   (`/usr/lib/postgresql/<version>/bin`), a cluster made in a temporary folder, listening only
   on a Unix socket in that folder (no TCP), stopped and deleted after the session, also when
   tests fail. `initdb` and `pg_ctl` refuse to run as root, so under root (CI) the cluster
   belongs to the unprivileged user `nobody`;
3. neither: the tests that need PostgreSQL are skipped, saying why (under CI they fail instead:
   CI installs PostgreSQL, so a skip there would hide that they never ran).

Loaded by tests/conftest.py as a plugin: the fixtures `postgres_server` (the session's server),
`postgres_db` (an asyncpg connection to a new, empty database, dropped after the test),
`postgres_url` (the URL of a new database with Briefbot's schema, dropped after the test),
`database_location` (parametrized: a SQLite file, then a PostgreSQL URL: the store and service
suites run once on each backend), `db` (the database there, on the test's clock) and `open_db`
(more handles on it, as other processes would open it), and
a line in pytest's summary saying whether the PostgreSQL tests ran, and where, or why not.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

ENV = "BRIEFBOT_TEST_POSTGRES"
DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"
# Who owns the throwaway cluster when the tests run as root.
UNPRIVILEGED_USER = "nobody"
# With TCP off the port only names the socket file (.s.PGSQL.5432) in the cluster's folder.
PORT = 5432
START_TIMEOUT_S = 60
# Throwaway data: no durability needed, so none paid for.
SETTINGS = {
    "listen_addresses": "''",
    "port": str(PORT),
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"true", "1"}


@dataclass
class PostgresServer:
    """Where the tests' databases are made: an admin DSN, and what it is, for the summary."""

    dsn: str
    description: str
    throwaway: bool


@dataclass
class _Outcome:
    """What the summary line says: the server used, or why there was none."""

    server: str | None = None
    skipped: str | None = None
    broken: str | None = None
    databases: int = 0
    failures: list[str] = field(default_factory=list)


_OUTCOME = _Outcome()


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: the PATH's first, else Debian's newest version."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        folder = Path(on_path).resolve().parent
        if (folder / "initdb").is_file():
            return folder
    candidates = []
    for found in glob.glob(DEBIAN_BINARIES):
        folder = Path(found)
        version = folder.parent.name
        if version.isdigit() and (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            candidates.append((int(version), folder))
    return max(candidates)[1] if candidates else None


class ThrowawayCluster:
    """A cluster in a temporary folder, on a Unix socket only, run by an unprivileged user."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.owner = pwd.getpwnam(UNPRIVILEGED_USER) if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="briefbot-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.started = False
        self.version = ""

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@/postgres?host={self.folder}&port={PORT}"

    @property
    def description(self) -> str:
        who = f", run as {self.owner.pw_name}" if self.owner else ""
        return f"a throwaway cluster ({self.version}, {self.binaries}{who}, socket {self.folder})"

    def _run(self, *args: str) -> str:
        """Run one of the server's programs as the cluster's owner; its output, or an error."""
        owner: dict[str, Any] = {}
        if self.owner:
            owner = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        env = {**os.environ, "HOME": str(self.folder), "LC_ALL": "C"}
        env.pop("PGDATA", None)
        with tempfile.TemporaryFile(mode="w+") as output:
            # Output to a file, not a pipe: the server pg_ctl starts outlives it.
            result = subprocess.run(
                [str(self.binaries / args[0]), *args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env=env,
                check=False,
                **owner,
            )
            output.seek(0)
            text = output.read()
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {result.returncode}:\n{text}")
        return text

    def start(self) -> None:
        if self.owner:
            os.chown(self.folder, self.owner.pw_uid, self.owner.pw_gid)
        version = self._run("initdb", "--version").strip()
        self.version = version.replace("initdb (PostgreSQL)", "PostgreSQL")
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            "postgres",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        settings = {**SETTINGS, "unix_socket_directories": f"'{self.folder}'"}
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# Briefbot's tests: a throwaway cluster on a Unix socket only.\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
        try:
            self._run(
                "pg_ctl",
                "--pgdata",
                str(self.data),
                "--log",
                str(self.log),
                "--wait",
                "--timeout",
                str(START_TIMEOUT_S),
                "start",
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\nserver log:\n{self._server_log()}") from None
        self.started = True

    def stop(self) -> list[str]:
        """Stop the server (if it started) and delete the folder; never raises: what went
        wrong is returned, for the caller to say."""
        failures = []
        if self.started or (self.data / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                try:
                    self._run(
                        "pg_ctl", "--pgdata", str(self.data), "--mode", mode, "--wait", "stop"
                    )
                    break
                except RuntimeError as exc:
                    failures.append(f"stopping the cluster ({mode}): {exc}")
        self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)
        return failures

    def _server_log(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text("utf-8", errors="replace")
        return "(no log)"


def _unavailable(reason: str) -> NoReturn:
    if under_ci():
        pytest.fail(f"{reason}; CI={os.environ['CI']} must run the PostgreSQL tests")
    _OUTCOME.skipped = reason
    pytest.skip(reason)


@dataclass(frozen=True)
class NoServer:
    """Why there is no PostgreSQL server: none to be found (`broken` False), or one that
    would not start (`broken` True)."""

    reason: str
    broken: bool = False


@contextlib.contextmanager
def find_server(stopped: Callable[[list[str]], None]) -> Iterator[PostgresServer | NoServer]:
    """The server `BRIEFBOT_TEST_POSTGRES` names, else a throwaway cluster for the block
    (stopped and deleted after it, also when it fails; `stopped` is told what went wrong
    stopping it), else why there is none. The tests' fixture and the benchmarks use it."""
    try:
        import asyncpg  # noqa: F401 - the optional extra
    except ImportError:
        yield NoServer("asyncpg (the `postgres` extra) is not installed")
        return
    dsn = os.environ.get(ENV, "").strip()
    if dsn:
        shown = re.sub(r"//[^@/]*@", "//…@", dsn)  # no password in a summary or report
        yield PostgresServer(dsn, f"the server {ENV} names ({shown})", throwaway=False)
        return
    binaries = find_binaries()
    if binaries is None:
        yield NoServer(
            f"no PostgreSQL: {ENV} is not set and initdb/pg_ctl are neither on the PATH nor "
            f"under {DEBIAN_BINARIES} (install PostgreSQL, e.g. apt-get install postgresql)"
        )
        return
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            yield NoServer(
                f"running as root and there is no user {UNPRIVILEGED_USER!r} to own the cluster"
            )
            return
    cluster = ThrowawayCluster(binaries)
    try:
        try:
            cluster.start()  # inside the try: a half-started cluster is stopped and deleted too
        except Exception as exc:
            yield NoServer(f"the throwaway cluster in {cluster.folder} did not start: {exc}", True)
            return
        yield PostgresServer(cluster.dsn, cluster.description, throwaway=True)
    finally:
        stopped(cluster.stop())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (see the module's docstring for where it comes from)."""
    with find_server(_OUTCOME.failures.extend) as server:
        if isinstance(server, NoServer):
            if server.broken:
                _OUTCOME.broken = server.reason
                raise RuntimeError(server.reason)
            _unavailable(server.reason)
        _OUTCOME.server = server.description
        try:
            yield server
        finally:
            if not server.throwaway and server.dsn in _template_ready:
                asyncio.run(_drop_template(server))


@contextlib.asynccontextmanager
async def empty_database(
    server: PostgresServer, prefix: str = "briefbot_test_"
) -> AsyncIterator[str]:
    """The URL of a new, empty database on the server, dropped (connections and all) after."""
    import asyncpg  # the optional extra: imported only once a server was found

    name = f"{prefix}{uuid.uuid4().hex[:12]}"
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


@pytest.fixture
async def postgres_db(postgres_server: PostgresServer) -> AsyncIterator[Any]:
    """An asyncpg connection to a new, empty database, dropped (connections and all) after."""
    import asyncpg

    async with empty_database(postgres_server) as url:
        _OUTCOME.databases += 1
        conn = await asyncpg.connect(url)
        try:
            yield conn
        finally:
            await conn.close()


# A database holding Briefbot's schema, made once per session; each test's database is a copy
# of it (CREATE DATABASE ... TEMPLATE), which is much faster than migrating each one.
# Named for this session, so that sessions sharing a server never drop each other's; dropped
# when the session ends (a throwaway cluster goes whole anyway).
_TEMPLATE = f"briefbot_template_{uuid.uuid4().hex[:12]}"
_template_ready: set[str] = set()


async def _schema_template(server: PostgresServer) -> str:
    import asyncpg

    from bot.store.postgres.schema import migrate

    if server.dsn in _template_ready:
        return _TEMPLATE
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{_TEMPLATE}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(server.dsn, database=_TEMPLATE)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    _template_ready.add(server.dsn)
    return _TEMPLATE


async def _drop_template(server: PostgresServer) -> None:
    import asyncpg

    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{_TEMPLATE}" WITH (FORCE)')
    finally:
        await admin.close()


def database_url(server: PostgresServer, name: str) -> str:
    """The URL of database `name` on the server (the admin DSN with another database)."""
    parts = urlsplit(server.dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a new database holding Briefbot's schema, dropped (connections and all)
    after the test. More of them: `postgres_urls`."""
    async with _databases(postgres_server) as make:
        yield await make()


@pytest.fixture
async def postgres_urls(
    postgres_server: PostgresServer,
) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Make any number of new databases holding Briefbot's schema (each dropped after)."""
    async with _databases(postgres_server) as make:
        yield make


@contextlib.asynccontextmanager
async def _databases(server: PostgresServer) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    import asyncpg

    template = await _schema_template(server)
    made: list[str] = []

    async def make() -> str:
        name = f"briefbot_test_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(server.dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await admin.close()
        made.append(name)
        _OUTCOME.databases += 1
        return database_url(server, name)

    try:
        yield make
    finally:
        if made:
            admin = await asyncpg.connect(server.dsn)
            try:
                for name in made:
                    with contextlib.suppress(asyncpg.InvalidCatalogNameError):
                        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            finally:
                await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_location(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Where a store or service test keeps its data: a SQLite file, then (the same test again)
    a new PostgreSQL database. The PostgreSQL run is skipped without a server (not under CI)."""
    if request.param == "sqlite":
        yield str(tmp_path / "db.sqlite3")
        return
    server = request.getfixturevalue("postgres_server")
    async with _databases(server) as make:
        yield await make()


@pytest.fixture
async def db(database_location: str, clock: Any) -> AsyncIterator[Any]:
    """The database at `database_location`, on the test's `clock`: a store test asking for it
    runs on SQLite, then on PostgreSQL. A module needing another database defines its own."""
    from bot.store.backends import open_database

    opened = await open_database(database_location, clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
async def open_db(
    database_location: str, clock: Any
) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """Open the test's database (`database_location`) as many times as asked, as separate
    processes would; all are closed after the test."""
    from bot.store.backends import open_database

    opened: list[Any] = []

    async def factory() -> Any:
        db = await open_database(database_location, clock=clock)
        opened.append(db)
        return db

    yield factory
    for db in opened:
        await db.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: whether the PostgreSQL tests ran, and where, or why they were skipped."""
    if _OUTCOME.server is None and _OUTCOME.skipped is None and _OUTCOME.broken is None:
        return  # no selected test asked for PostgreSQL
    terminalreporter.section("PostgreSQL")
    if _OUTCOME.broken is not None:
        terminalreporter.write_line(f"PostgreSQL tests DID NOT RUN: {_OUTCOME.broken}", red=True)
    elif _OUTCOME.server is not None:
        terminalreporter.write_line(
            f"PostgreSQL tests RAN: {_OUTCOME.databases} database(s) on {_OUTCOME.server}"
        )
    else:
        terminalreporter.write_line(f"PostgreSQL tests SKIPPED: {_OUTCOME.skipped}", yellow=True)
    for failure in _OUTCOME.failures:
        terminalreporter.write_line(failure, red=True)
