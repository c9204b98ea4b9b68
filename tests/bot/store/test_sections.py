"""Sections in the store: idempotent import, revisions, retiring, restoring, atomicity.

Every test runs on SQLite and again on PostgreSQL (`database_location`, tests/postgres.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import asyncpg
import pytest

from bot.errors import PackError, SectionNotFound
from bot.lookup import Lookup, LookupWord
from bot.pack import load_pack
from bot.sections import SectionContent
from bot.store import Database, SectionStore, SqliteDatabase
from bot.store.sections import CURATED_AUTHOR, fts_aliases

# Each table of sections with the columns that identify a row, in order.
TABLES = {
    "sections": "id",
    "section_aliases": "section_id, position",
    "revisions": "id",
}
# What each backend indexes for the full text: SQLite's FTS5 table, PostgreSQL's columns the
# tsvector is generated from (a server's sections have none: `search` is NULL).
INDEXED = {
    "sqlite": "SELECT rowid, title, aliases, body FROM sections_fts ORDER BY rowid",
    "postgresql": "SELECT id, title, search_aliases, body FROM sections "
    "WHERE search IS NOT NULL AND status = 'active' ORDER BY id",
}
# What a write the database refuses raises, on either backend.
REFUSED = (sqlite3.DatabaseError, asyncpg.PostgresError)


async def rows(db: Database, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    async with db.conn.execute(sql, params) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every section table, and the full-text index, to compare a database
    before and after."""
    state = {}
    for table, key in TABLES.items():
        # Table names and keys are this module's constants.
        state[table] = await rows(db, f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608
    if db.dialect.name == "postgresql":
        state["search"] = await rows(db, "SELECT id, search::text FROM sections ORDER BY id")
    state["index"] = await rows(db, INDEXED[db.dialect.name])
    return state


async def revisions(db: Database, slug: str) -> list[dict[str, object]]:
    found = await rows(
        db,
        "SELECT r.number, r.action, r.changed, r.author, r.created_at, r.snapshot "
        "FROM revisions r JOIN sections s ON s.id = r.section_id "
        "WHERE s.slug = ? AND s.guild_id IS NULL ORDER BY r.number",
        (slug,),
    )
    return [
        {
            "number": r[0],
            "action": r[1],
            "changed": json.loads(str(r[2])),
            "author": r[3],
            "created_at": r[4],
            "snapshot": json.loads(str(r[5])),
        }
        for r in found
    ]


async def revision_count(db: Database) -> int:
    [(count,)] = await rows(db, "SELECT count(*) FROM revisions")
    return int(str(count))


async def fts_ids(store: SectionStore, word: str) -> set[int]:
    lookup = Lookup((LookupWord(word, 1.0),))
    return {hit.section_id for hit in await store.matching(lookup, 50)}


@asynccontextmanager
async def failing_update(db: Database, slug: str) -> AsyncIterator[None]:
    """Make the database itself refuse to update the section `slug`, while the block runs."""
    if db.dialect.name == "sqlite":
        await db.conn.execute(
            "CREATE TEMP TRIGGER fail_slug BEFORE UPDATE ON sections "
            f"WHEN NEW.slug = '{slug}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
        yield
        await db.conn.execute("DROP TRIGGER fail_slug")
        return
    async with db.transaction() as conn:
        await conn.execute(
            "CREATE FUNCTION fail_slug() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'injected failure'; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER fail_slug BEFORE UPDATE ON sections FOR EACH ROW "
            f"WHEN (NEW.slug = '{slug}') EXECUTE FUNCTION fail_slug()"
        )
    yield
    async with db.transaction() as conn:
        await conn.execute("DROP TRIGGER fail_slug ON sections")
        await conn.execute("DROP FUNCTION fail_slug()")


@pytest.fixture
def service_location(database_location: str) -> str:
    return database_location


@pytest.fixture
def store(db):
    return SectionStore(db)


@pytest.fixture
def pack(knowledge_dir) -> list[SectionContent]:
    return load_pack(knowledge_dir)


async def test_first_import_adds_every_section_with_a_created_revision(store, db, pack, now):
    report = await store.import_curated(pack)
    assert report.added == [s.slug for s in pack]
    assert report.changed
    stored = await store.all()
    assert [s.content for s in stored] == pack
    assert all(s.guild_id is None and s.status == "active" and s.revision == 1 for s in stored)
    history = await revisions(db, "berlin-talks")
    assert [(r["number"], r["action"], r["changed"]) for r in history] == [
        (1, "created", ["created"])
    ]
    assert history[0]["author"] == CURATED_AUTHOR
    assert history[0]["created_at"] == now.isoformat(timespec="seconds")
    berlin = next(c for c in pack if c.slug == "berlin-talks")
    assert history[0]["snapshot"] == {**berlin.to_json(), "status": "active"}


async def test_second_import_changes_nothing(store, db, pack):
    await store.import_curated(pack)
    before = await dump(db)
    report = await store.import_curated(pack)
    assert report.unchanged == [s.slug for s in pack]
    assert (report.added, report.updated, report.retired) == ([], [], [])
    assert not report.changed
    assert report.summary() == f"0 added, 0 updated, 0 retired, {len(pack)} unchanged"
    assert await dump(db) == before


async def test_aliases_are_stored_in_order(store, pack):
    await store.import_curated(pack)
    for content in pack:
        section = await store.get(None, content.slug)
        assert section is not None
        assert section.content.aliases == content.aliases


async def test_get_is_case_insensitive_and_scoped(store, pack):
    await store.import_curated(pack)
    found = await store.get(None, "Berlin-Talks")
    assert found is not None and found.slug == "berlin-talks"
    assert await store.get(123, "berlin-talks") is None
    assert await store.by_id(found.id) == found
    assert await store.by_id(10_000) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"body": "A rewritten body mentioning zanzibarian diplomacy."}, ["body"]),
        ({"title": "New title", "aliases": ("fresh alias",)}, ["title", "aliases"]),
        ({"position": 99}, ["position"]),
    ],
)
async def test_changed_section_is_updated_with_a_revision_naming_the_fields(
    store, db, pack, change, expected
):
    await store.import_curated(pack)
    edited = [replace(c, **change) if c.slug == "us-role" else c for c in pack]
    report = await store.import_curated(edited)
    assert report.updated == ["us-role"]
    assert len(report.unchanged) == len(pack) - 1
    section = await store.get(None, "us-role")
    assert section is not None
    assert section.revision == 2
    assert section.content == next(c for c in edited if c.slug == "us-role")
    history = await revisions(db, "us-role")
    assert [(r["number"], r["action"], r["changed"]) for r in history][-1] == (
        2,
        "updated",
        expected,
    )
    assert await revision_count(db) == len(pack) + 1


async def test_updated_body_replaces_the_index_row(store, db, pack):
    await store.import_curated(pack)
    us_role = await store.get(None, "us-role")
    assert us_role is not None
    assert await fts_ids(store, "zanzibarian") == set()
    new_body = "Zanzibarian envoys only."
    await store.import_curated(
        [replace(c, body=new_body) if c.slug == "us-role" else c for c in pack]
    )
    assert await fts_ids(store, "zanzibarian") == {us_role.id}
    assert [row[3] for row in (await dump(db))["index"] if row[0] == us_role.id] == [new_body]


async def test_removed_section_is_retired_kept_and_unsearchable(store, db, pack):
    await store.import_curated(pack)
    berlin = await store.get(None, "berlin-talks")
    assert berlin is not None
    assert berlin.id in await fts_ids(store, "berlin")
    report = await store.import_curated([c for c in pack if c.slug != "berlin-talks"])
    assert report.retired == ["berlin-talks"]
    assert report.added == report.updated == []
    kept = await store.get(None, "berlin-talks")
    assert kept is not None
    assert kept.status == "retired"
    assert kept.content == berlin.content
    assert [s.slug for s in await store.all()] == [c.slug for c in pack if c.slug != "berlin-talks"]
    assert await store.count(status="retired") == 1
    history = await revisions(db, "berlin-talks")
    assert [(r["action"], r["changed"]) for r in history][-1] == ("retired", ["status"])
    assert history[-1]["snapshot"]["status"] == "retired"
    assert berlin.id not in await fts_ids(store, "berlin")


async def test_retiring_twice_writes_one_revision(store, db, pack):
    await store.import_curated(pack)
    smaller = [c for c in pack if c.slug != "berlin-talks"]
    await store.import_curated(smaller)
    before = await dump(db)
    report = await store.import_curated(smaller)
    assert not report.changed
    assert await dump(db) == before


async def test_readding_a_retired_section_restores_it(store, db, pack):
    await store.import_curated(pack)
    berlin = await store.get(None, "berlin-talks")
    assert berlin is not None
    await store.import_curated([c for c in pack if c.slug != "berlin-talks"])
    report = await store.import_curated(pack)
    assert report.updated == ["berlin-talks"]
    restored = await store.get(None, "berlin-talks")
    assert restored is not None
    assert restored.id == berlin.id
    assert restored.status == "active"
    assert restored.revision == 3
    history = await revisions(db, "berlin-talks")
    assert [r["action"] for r in history] == ["created", "retired", "restored"]
    assert history[-1]["changed"] == ["status"]
    assert berlin.id in await fts_ids(store, "berlin")


async def test_import_is_one_transaction_when_a_write_fails(store, db, pack):
    await store.import_curated(pack)
    before = await dump(db)
    fifth = pack[4].slug
    edited = [replace(c, body=c.body + " Edited.") for c in pack]
    # Fail in the database itself when the fifth section is written, whatever the code's batching.
    async with failing_update(db, fifth):
        with pytest.raises(REFUSED, match="injected failure"):
            await store.import_curated(edited)
        if isinstance(db, SqliteDatabase):
            assert not db.conn.in_transaction
        assert await dump(db) == before
    report = await store.import_curated(edited)
    assert report.updated == [c.slug for c in pack]


async def test_import_violating_a_check_constraint_leaves_an_empty_store_empty(store, db, pack):
    unchecked = SectionContent(slug="zz-too-long", title="Too long", body="x" * 4001, position=99)
    with pytest.raises((sqlite3.IntegrityError, asyncpg.CheckViolationError)):
        await store.import_curated([*pack, unchecked])
    state = await dump(db)
    assert all(rows == [] for rows in state.values()), state


async def test_pack_refused_by_the_loader_changes_nothing(open_service, pack_dir, tmp_path):
    service = await open_service(knowledge=pack_dir)
    before = await dump(service.db)
    (pack_dir / "us-role.md").write_text("---\ntitle: Broken\n---\nno date\n", encoding="utf-8")
    (pack_dir / "berlin-talks.md").unlink()
    with pytest.raises(PackError):
        await service.import_pack(pack_dir)
    assert await dump(service.db) == before
    assert (await service.section("berlin-talks", None)).slug == "berlin-talks"


async def test_service_import_reloads_the_catalog(open_service, pack_dir):
    service = await open_service(knowledge=pack_dir)
    (pack_dir / "berlin-talks.md").unlink()
    report = await service.import_pack(pack_dir)
    assert report.retired == ["berlin-talks"]
    with pytest.raises(SectionNotFound):
        (await service.section("berlin-talks", None))
    answer = await service.ask("what are the berlin talks", None)
    assert answer.section is None or answer.section.slug != "berlin-talks"
    assert "berlin-talks" not in [h.slug for h in answer.results]
    assert "berlin-talks" not in [s.slug for s in service.topics(None)]


async def test_backup_holds_the_same_sections_and_history(pack, tmp_path, clock):
    # SQLite only: its backup is a file copy (PostgreSQL's is pg_dump, tested with the database).
    db = await SqliteDatabase.open(tmp_path / "store.sqlite3", clock=clock)
    store = SectionStore(db)
    await store.import_curated(pack)
    await store.import_curated([c for c in pack if c.slug != "us-role"])
    target = await db.backup(tmp_path / "backup.sqlite3")
    copy = await SqliteDatabase.open(target)
    try:
        copied = SectionStore(copy)
        statuses = ("active", "retired", "hidden")
        assert await copied.all(statuses=statuses) == await store.all(statuses=statuses)
        assert await dump(copy) == await dump(db)
    finally:
        await copy.close()
        await db.close()


async def test_the_index_holds_titles_aliases_tags_and_bodies_of_active_curated_sections(
    store, db, pack
):
    await store.import_curated(pack)
    await store.import_curated([c for c in pack if c.slug != "berlin-talks"])
    await store.save_for_guild(
        42,
        replace(pack[0], slug="our-own", title="Our own"),
        opened=None,
        author="m",
        author_id=7,
    )
    active = {s.id: s.content for s in await store.all() if s.guild_id is None}
    assert (await dump(db))["index"] == [
        (i, c.title, fts_aliases(c.aliases, c.tags), c.body) for i, c in sorted(active.items())
    ]
    # A tag is searched as the aliases are, on both backends.
    tagged = next(c for c in pack if c.tags and c.slug != "berlin-talks")
    word = tagged.tags[0].split("-")[0]
    section = await store.get(None, tagged.slug)
    assert section is not None and section.id in await fts_ids(store, word)


async def test_new_sections_take_fresh_ids_and_a_server_sees_its_own(store, pack):
    await store.import_curated(pack)
    curated = {s.id for s in await store.all()}
    mine = await store.save_for_guild(
        42,
        replace(pack[0], title="Ours"),
        opened=(await store.get(None, pack[0].slug)).version,
        author="m",
        author_id=7,
    )
    assert mine.id not in curated and mine.guild_id == 42
    seen = await store.visible_sections(42)
    assert [s.id for s in seen if s.slug == pack[0].slug] == [mine.id]
    assert [s.slug for s in seen] == [s.slug for s in await store.visible_sections(None)]
    assert await store.curated_by_slugs([pack[0].slug.upper()]) == [
        await store.get(None, pack[0].slug)
    ]
    newest, scopes = await store.changes_since(0)
    assert scopes == {None, 42} and newest == (await store.fingerprint())[0]
    assert await store.changes_since(newest) == (newest, set())
    assert [r.number for r in await store.revisions(mine.id)] == [1]
    assert [s.id for s in await store.server_sections([42])] == [mine.id]
    assert await store.server_sections([43]) == []


async def test_rotation_order_is_by_position_then_slug_bytes_in_any_batch_size(store):
    # Slugs a locale's collation would order otherwise ('-' sorts before letters by bytes only).
    slugs = ["ab", "a-c", "a", "b-1", "b1", "a-b-c", "zz", "z-z"]
    pack = [
        SectionContent(
            slug=slug, title=f"Title {slug}", body="Body.", position=1 if slug == "zz" else 0
        )
        for slug in slugs
    ]
    await store.import_curated(pack)
    expected = sorted(slugs, key=lambda slug: (slug == "zz", slug.encode()))
    assert [s.slug for s in await store.all()] == expected
    assert [s.slug for s in await store.visible_sections(None)] == expected
    for batch in (1, 3, 8, 100):
        batches = [[row.slug for row in rows] async for rows in store.curated_index_rows(batch)]
        assert [slug for rows in batches for slug in rows] == expected
        assert all(len(rows) <= batch for rows in batches)
