"""Drafts of moderators' forms: several per moderator and server, newest first, 30 days, bounded."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.store.backends import open_database
from bot.store.database import SqliteDatabase, migrations
from bot.store.moderation import DRAFT_LIFETIME, DRAFTS_KEPT, GuildSettings, ModerationStore
from tests.clock import Clock

GUILD, OTHER_GUILD = 1001, 1002
MOD, OTHER_MOD = 7, 8


@pytest.fixture
def moving(now: datetime) -> Clock:
    return Clock(now)


@pytest.fixture
async def store(database_location: str, moving: Clock) -> AsyncIterator[ModerationStore]:
    """The test runs on SQLite, then on PostgreSQL."""
    db = await open_database(database_location, clock=moving)
    yield ModerationStore(db)
    await db.close()


def fields(title: str) -> dict[str, str]:
    return {"title": title, "aliases": "", "body": f"Body of {title}.", "sources": ""}


async def rows(store: ModerationStore) -> int:
    async with store.db.conn.execute("SELECT count(*) FROM kb_drafts") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def titles(store: ModerationStore, guild: int = GUILD, user: int = MOD) -> list[str]:
    drafts, total = await store.drafts(guild, user, offset=0, limit=100)
    assert total == len(drafts)
    return [d.title for d in drafts]


async def test_a_moderator_keeps_several_drafts_newest_first(
    store: ModerationStore, moving: Clock
) -> None:
    first = await store.keep_draft(GUILD, MOD, None, None, fields("First"))
    moving.advance(minutes=1)
    second = await store.keep_draft(GUILD, MOD, "us-role", (4, 2), fields("Second"))
    # The same second: the later draft still comes first.
    third = await store.keep_draft(GUILD, MOD, None, None, fields("Third"))
    assert await titles(store) == ["Third", "Second", "First"]
    kept = await store.draft(second, GUILD, MOD)
    assert kept is not None and kept.slug == "us-role" and kept.version == (4, 2)
    assert kept.fields == fields("Second")
    assert await store.draft(first, GUILD, MOD) is not None
    assert await store.draft(third, GUILD, MOD) is not None


async def test_drafts_are_private_to_their_author_and_server(store: ModerationStore) -> None:
    mine = await store.keep_draft(GUILD, MOD, None, None, fields("Mine"))
    await store.keep_draft(GUILD, OTHER_MOD, None, None, fields("Colleague's"))
    await store.keep_draft(OTHER_GUILD, MOD, None, None, fields("Elsewhere"))
    assert await titles(store) == ["Mine"]
    assert await store.draft(mine, GUILD, OTHER_MOD) is None
    assert await store.draft(mine, OTHER_GUILD, MOD) is None
    await store.delete_draft(mine, GUILD, OTHER_MOD)  # not theirs to delete
    assert await titles(store) == ["Mine"]
    await store.delete_draft(mine, GUILD, MOD)
    assert await titles(store) == []
    assert await titles(store, GUILD, OTHER_MOD) == ["Colleague's"]


async def test_drafts_expire_after_30_days_and_are_purged(
    store: ModerationStore, moving: Clock
) -> None:
    old = await store.keep_draft(GUILD, MOD, None, None, fields("Old"))
    await store.keep_draft(OTHER_GUILD, OTHER_MOD, None, None, fields("Old elsewhere"))
    moving.advance(days=29, hours=23)
    assert await titles(store) == ["Old"]
    moving.advance(hours=1, seconds=1)
    assert DRAFT_LIFETIME == timedelta(days=30)
    assert await store.draft(old, GUILD, MOD) is None
    assert await titles(store) == []
    assert await rows(store) == 2  # hidden at once, deleted by the next write
    await store.keep_draft(GUILD, OTHER_MOD, None, None, fields("New"))
    assert await rows(store) == 1
    moving.advance(days=31)
    assert await store.purge_expired_drafts() == 1
    assert await rows(store) == 0


async def test_a_moderator_keeps_at_most_the_newest_25_in_a_server(
    store: ModerationStore, moving: Clock
) -> None:
    for n in range(DRAFTS_KEPT + 5):
        await store.keep_draft(GUILD, MOD, None, None, fields(f"Draft {n}"))
        moving.advance(seconds=1)
    await store.keep_draft(GUILD, OTHER_MOD, None, None, fields("Colleague's"))
    await store.keep_draft(OTHER_GUILD, MOD, None, None, fields("Elsewhere"))
    kept = await titles(store)
    assert DRAFTS_KEPT == 25
    assert kept == [f"Draft {n}" for n in reversed(range(5, DRAFTS_KEPT + 5))]
    assert await rows(store) == DRAFTS_KEPT + 2
    page, total = await store.drafts(GUILD, MOD, offset=20, limit=10)
    assert total == DRAFTS_KEPT and [d.title for d in page] == [
        f"Draft {n}" for n in (9, 8, 7, 6, 5)
    ]


async def test_a_draft_kept_again_from_its_reopened_form_replaces_it(
    store: ModerationStore,
) -> None:
    first = await store.keep_draft(GUILD, MOD, None, None, fields("Typed"))
    other = await store.keep_draft(GUILD, MOD, None, None, fields("Another"))
    again = await store.keep_draft(GUILD, MOD, None, None, fields("Typed, fixed"), replaces=first)
    assert await store.draft(first, GUILD, MOD) is None
    assert await titles(store) == ["Typed, fixed", "Another"]
    # Only the author's own draft in this server can be replaced.
    await store.keep_draft(GUILD, OTHER_MOD, None, None, fields("Theirs"), replaces=other)
    assert await store.draft(other, GUILD, MOD) is not None and again != other


async def test_a_server_has_its_own_settings_and_an_update_keeps_what_it_does_not_name(
    store: ModerationStore,
) -> None:
    assert await store.settings(GUILD) == GuildSettings(GUILD)
    assert await store.update(GUILD, mod_role_id=5) == GuildSettings(GUILD, 5, None)
    assert await store.update(GUILD, log_channel_id=6) == GuildSettings(GUILD, 5, 6)
    await store.update(OTHER_GUILD, mod_role_id=2**62)  # a snowflake's size
    assert await store.update(GUILD, mod_role_id=None) == GuildSettings(GUILD, None, 6)
    assert await store.settings(OTHER_GUILD) == GuildSettings(OTHER_GUILD, 2**62, None)


async def test_a_draft_kept_before_the_upgrade_is_listed_after_it(
    tmp_path: Path, moving: Clock
) -> None:
    # SQLite only: its own later migrations carry a draft kept under schema version 4.
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        for migration in migrations()[:4]:
            conn.executescript(migration.sql)
        conn.execute("PRAGMA user_version = 4")
        conn.execute(
            "INSERT INTO kb_drafts (guild_id, user_id, slug, revision, fields, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                GUILD,
                MOD,
                "us-role",
                json.dumps([4, 1]),
                json.dumps(fields("Before")),
                moving.now.isoformat(timespec="seconds"),
            ),
        )
    db = await SqliteDatabase.open(path, clock=moving)
    try:
        store = ModerationStore(db)
        (draft,), total = await store.drafts(GUILD, MOD, offset=0, limit=10)
        assert total == 1 and draft.title == "Before" and draft.version == (4, 1)
        async with db.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'kb_drafts'"
        ) as cursor:
            indexes = {row[0] for row in await cursor.fetchall()}
        assert "kb_drafts_owner_time" in indexes
    finally:
        await db.close()
