"""Shared fixtures for the Briefbot suite: the repository paths, a fixed clock and the service.

The suite runs without ``tests/__init__.py``: this file puts the repository root on
``sys.path`` so ``import bot`` works however pytest is invoked.
"""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bot.service import BriefingService  # noqa: E402
from tests.fakediscord.models import InvalidPayload  # noqa: E402
from tests.fakediscord.server import refusal_log  # noqa: E402

# The PostgreSQL fixtures (postgres_server, postgres_db) and the summary line saying whether the
# PostgreSQL tests ran.
pytest_plugins = ("tests.postgres",)

KNOWLEDGE = REPO_ROOT / "knowledge"
FIXED_NOW = datetime(2026, 11, 28, 9, 30, 15, tzinfo=UTC)

# The curated pack's rotation order, as the editors defined it.
EXPECTED_SLUGS = (
    "nato-purpose",
    "ukraine-nato-bid",
    "security-guarantees",
    "us-role",
    "russia-relations",
    "nato-expansion",
    "ceding-territory",
    "past-peace-talks",
    "berlin-talks",
    "european-allies",
)

_REPORT = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = []


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Figures recorded with the `report` fixture, shown whether or not output is captured."""
    lines = config.stash.get(_REPORT, [])
    if lines:
        terminalreporter.section("Briefbot figures")
        for line in lines:
            terminalreporter.write_line(line)


def refused_payloads_failure(refused: list[InvalidPayload]) -> str | None:
    """The failure message for payloads a fake refused as invalid (None when there were none)."""
    if not refused:
        return None
    lines = "\n".join(f"  {entry.describe()}" for entry in refused)
    return (
        f"the fake Discord refused {len(refused)} payload(s) with 400 Invalid Form Body"
        f" (code 50035), as Discord would:\n{lines}\n"
        "(a test that sends one on purpose wraps it in `with fake.expect_invalid():`)"
    )


@pytest.fixture(autouse=True)
def _no_invalid_discord_payloads() -> Iterator[None]:
    """Fail any test during which a FakeDiscord refused a payload (400, code 50035).

    Injected faults (429, 403, 404, ...) never reach the log, nor do refusals inside
    ``fake.expect_invalid()``."""
    mark = refusal_log.mark()
    yield
    message = refused_payloads_failure(refusal_log.take_since(mark))
    if message:
        pytest.fail(message, pytrace=False)


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Undo `setup_logging` after each test that ran the CLI.

    It replaces the root logger's handlers with one on `sys.stderr`, which under pytest is a
    capture stream closed after that test; a later test's log records would then fail to write
    ("--- Logging error ---" on stderr), and tests that read stderr would see it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print a line and keep it for the end-of-run summary (visible without `-s`)."""

    def emit(line: str) -> None:
        print(line)
        kept = request.config.stash[_REPORT]
        if line not in kept:
            kept.append(line)

    return emit


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def knowledge_dir() -> Path:
    return KNOWLEDGE


@pytest.fixture
def expected_slugs() -> list[str]:
    return list(EXPECTED_SLUGS)


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The injected clock: always FIXED_NOW, so timestamps in the database are predictable."""
    return lambda: FIXED_NOW


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A private, editable copy of the curated pack."""
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


@pytest.fixture
def service_location(tmp_path: Path) -> str:
    """The database `open_service` opens by default: a SQLite file. A test module that runs on
    both backends overrides it with `database_location` (tests/postgres.py)."""
    return str(tmp_path / "db.sqlite3")


@pytest.fixture
async def open_service(
    service_location: str, clock: Callable[[], datetime]
) -> AsyncIterator[Callable[..., Awaitable[BriefingService]]]:
    """Open any number of services (on `service_location` unless told another database); all
    are closed after the test."""
    opened: list[BriefingService] = []

    async def factory(
        db_path: str | Path | None = None, knowledge: Path | None = KNOWLEDGE
    ) -> BriefingService:
        svc = await BriefingService.open(db_path or service_location, knowledge, clock=clock)
        opened.append(svc)
        return svc

    yield factory
    for svc in opened:
        await svc.close()


@pytest.fixture
async def service(
    open_service: Callable[..., Awaitable[BriefingService]],
) -> BriefingService:
    """The service over a fresh tmp database holding the curated pack."""
    return await open_service()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No Briefbot or Discord settings inherited from the developer's shell."""
    for name in (
        "DISCORD_TOKEN",
        "DISCORD_TOKEN_FILE",
        "BRIEFBOT_DB",
        "BRIEFBOT_KNOWLEDGE",
        "BRIEFBOT_DEV_GUILD",
        "DISCORD_API_BASE",
        "DISCORD_GATEWAY_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
