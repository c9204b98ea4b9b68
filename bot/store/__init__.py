"""Storage on one SQLite file through aiosqlite: the connection, migrations and repositories."""

from bot.store.database import Database
from bot.store.sections import ImportReport, SectionStore

__all__ = ["Database", "ImportReport", "SectionStore"]
