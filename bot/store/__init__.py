"""Storage: the database (SQLite, or PostgreSQL by a setting), migrations and repositories."""

from bot.store.database import Database, SqliteDatabase
from bot.store.sections import ImportReport, SectionStore

__all__ = ["Database", "ImportReport", "SectionStore", "SqliteDatabase"]
