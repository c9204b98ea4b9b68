"""Sections, their aliases and revisions, and the full-text index kept in step with them.

Every change goes through `_save_many`, inside the caller's transaction, so a section, its
aliases, its index entry and its revision row are written together or not at all.

One store runs on both backends. Its SQL is written once; where the two must differ it asks
`db.dialect` for the fragment, and the full text (SQLite's FTS5 table, PostgreSQL's weighted
tsvector) with the few spellings that follow from it is a small strategy `SectionStore` picks
by `db.dialect.name`: `Fts5Index` here, `TsvectorIndex` in bot/store/postgres/sections.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar, NamedTuple, Protocol, cast

from bot.lookup import Lookup
from bot.scope import CURATED
from bot.sections import Section, SectionContent, Source, Status, Version
from bot.store.database import Connection, Database
from bot.store.postgres.sections import TsvectorIndex

CURATED_AUTHOR = "knowledge pack"
# Curated sections read per trip when the search index is built.
INDEX_BATCH = 2000

# The aliases of section `s`, in order, as JSON text.
_ALIASES = """(SELECT json_group_array(alias) FROM (SELECT alias FROM section_aliases AS a
        WHERE a.section_id = s.id ORDER BY a.position))"""
_COLUMNS = """s.id, s.guild_id, s.slug, s.title, s.body, s.tags, s.sources, s.updated, s.position,
       s.status, s.revision"""
# The best bm25 matches of the curated index, each read whole in the same query.
_FTS = """
WITH hits AS (
    SELECT rowid AS id, bm25(sections_fts, 6.0, 3.0, 1.0) AS score FROM sections_fts
    WHERE sections_fts MATCH ? AND rowid NOT IN (SELECT value FROM json_each(?))
    ORDER BY score LIMIT ?
)
SELECT s.id, s.guild_id, s.slug, s.title, s.body, s.tags, s.sources, s.updated, s.position,
       s.status, s.revision,
       (SELECT json_group_array(alias) FROM (SELECT alias FROM section_aliases AS a
        WHERE a.section_id = s.id ORDER BY a.position)) AS aliases,
       hits.score
FROM hits JOIN sections AS s ON s.id = hits.id
ORDER BY hits.score
"""


# A section's row written (INSERT, UPDATE), without or with `search_aliases` (`TextIndex.in_row`).
_INSERT = (
    "INSERT INTO sections (id, guild_id, slug, title, body, tags, sources, updated, position, "
    "status, revision{column}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1{value})"
)
_UPDATE = (
    "UPDATE sections SET slug = ?, title = ?, body = ?, tags = ?, sources = ?, updated = ?, "
    "position = ?, status = ?, revision = ?{column} WHERE id = ?"
)
_WRITES = {
    False: (_INSERT.format(column="", value=""), _UPDATE.format(column="")),
    True: (
        _INSERT.format(column=", search_aliases", value=", ?"),
        _UPDATE.format(column=", search_aliases = ?"),
    ),
}


@dataclass(frozen=True, slots=True)
class FtsHit:
    """A curated section the full-text index matched, whole (so showing it needs no more
    reads), with its bm25 (lower is better)."""

    section: Section
    bm25: float

    @property
    def section_id(self) -> int:
        return self.section.id


class IndexRow(NamedTuple):
    """What the search index reads of one curated section (no sources, no history)."""

    id: int
    slug: str
    title: str
    position: int
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    body: str


@dataclass(slots=True)
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.retired)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.retired)} retired, {len(self.unchanged)} unchanged"
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One section state to write: what `_save_many` turns into rows."""

    guild_id: int | None
    content: SectionContent
    old: Section | None
    status: Status
    action: str
    author: str
    author_id: int | None = None


@dataclass(frozen=True, slots=True)
class Revision:
    section_id: int
    number: int
    author: str
    author_id: int | None
    created_at: str
    action: str
    changed: tuple[str, ...]
    content: SectionContent
    status: str


class EditConflict(Exception):
    """The section changed since the form was opened; `current` is what is there now."""

    def __init__(self, current: Section | None) -> None:
        super().__init__("the section changed since it was opened")
        self.current = current


class SectionRow(Protocol):
    """A row read by name: SQLite's `Row` and asyncpg's `Record` both are one."""

    def __getitem__(self, key: str, /) -> Any: ...


def section_of_row(row: SectionRow, aliases: tuple[str, ...]) -> Section:
    """A section from a row of `sections` (tags and sources as JSON text), any store's."""
    content = SectionContent(
        slug=row["slug"],
        title=row["title"],
        body=row["body"],
        aliases=aliases,
        tags=tuple(json.loads(row["tags"])),
        sources=tuple(Source(s["title"], s["url"]) for s in json.loads(row["sources"])),
        updated=date.fromisoformat(row["updated"]),
        position=row["position"],
    )
    return Section(
        id=row["id"],
        guild_id=row["guild_id"],
        content=content,
        status=cast(Status, row["status"]),
        revision=row["revision"],
    )


def _hit(row: SectionRow) -> FtsHit:
    """A full-text match read with its section's columns, its aliases and its `score`."""
    return FtsHit(section_of_row(row, tuple(json.loads(row["aliases"]))), float(row["score"]))


def fts5_expression(lookup: Lookup) -> str:
    """The FTS5 query of a lookup: each word and form an FTS5 string (quoted, so no word is
    ever FTS syntax, whatever it holds), a word's forms OR'd with it, the words OR'd, or
    AND'ed when a section must hold every one (`Lookup.spellings`); "" when there is nothing
    to look for."""
    groups = [[_fts5_string(w) for w in spelled] for spelled in lookup.spellings()]
    if not lookup.every:
        return " OR ".join(w for group in groups for w in group)
    return " AND ".join(
        group[0] if len(group) == 1 else "(" + " OR ".join(group) + ")" for group in groups
    )


def _fts5_string(word: str) -> str:
    """An FTS5 string: in double quotes, a double quote in it doubled. FTS5 reads its query
    as a C string, so a NUL would end it mid-string: it becomes a space (no token holds one)."""
    return '"' + word.replace('"', '""').replace("\x00", " ") + '"'


def fts_aliases(aliases: Sequence[str], tags: Sequence[str]) -> str:
    """The text indexed in the aliases column: aliases and tags (tags read as words)."""
    return " ; ".join([*aliases, *(t.replace("-", " ") for t in tags)])


class TextIndex(Protocol):
    """What the store does differently on each backend: the full-text index of the curated
    pack, new sections' ids, and the few spellings that follow (see the module's docstring)."""

    aliases: ClassVar[str]  # the aliases of section `s`, in order, as JSON text
    # Whether the full text reads the aliases text (`fts_aliases`) from the section's own row,
    # its column `search_aliases`, written with the row; else `write` keeps an index of its own.
    in_row: ClassVar[bool]

    async def new_ids(self, conn: Connection, count: int) -> list[int]: ...

    async def write(
        self, conn: Connection, entries: Sequence[tuple[int, bool, str, str, str]]
    ) -> None: ...

    async def matching(self, lookup: Lookup, limit: int, exclude: Sequence[int]) -> list[Any]: ...

    def index_rows(self, batch: int) -> AsyncIterator[list[Any]]: ...


class Fts5Index:
    """SQLite's: the FTS5 table `sections_fts`, written by the store beside each section."""

    aliases: ClassVar[str] = _ALIASES
    in_row: ClassVar[bool] = False

    def __init__(self, db: Database) -> None:
        self.db = db

    async def new_ids(self, conn: Connection, count: int) -> list[int]:
        """Ids after the largest: SQLite's one writer makes that safe, and every table can
        then be written with one `executemany` (one trip to SQLite's thread each)."""
        async with conn.execute("SELECT coalesce(max(id), 0) FROM sections") as cursor:
            row = await cursor.fetchone()
        first = int(row[0]) + 1 if row else 1
        return list(range(first, first + count))

    async def write(
        self, conn: Connection, entries: Sequence[tuple[int, bool, str, str, str]]
    ) -> None:
        """Keep the index in step with sections just written, each (id, indexed, title,
        aliases text, body): every one's old row goes, the indexed ones get a new one."""
        await conn.executemany(
            "DELETE FROM sections_fts WHERE rowid = ?", [(entry[0],) for entry in entries]
        )
        await conn.executemany(
            "INSERT INTO sections_fts (rowid, title, aliases, body) VALUES (?, ?, ?, ?)",
            [(i, title, aliases, body) for i, indexed, title, aliases, body in entries if indexed],
        )

    async def matching(self, lookup: Lookup, limit: int, exclude: Sequence[int]) -> list[Any]:
        expression = fts5_expression(lookup)
        return await self.fts(expression, limit, exclude) if expression else []

    async def fts(self, match: str, limit: int, exclude: Sequence[int]) -> list[Any]:
        args = (match, json.dumps(list(exclude)), limit)
        async with self.db.conn.execute(_FTS, args) as cursor:
            return list(await cursor.fetchall())

    async def index_rows(self, batch: int) -> AsyncIterator[list[Any]]:
        """The active curated sections in rotation order, `batch` rows at a time from one
        statement, each (id, slug, title, position, tags as JSON text, body, aliases)."""
        sql = (
            "SELECT s.id, s.slug, s.title, s.position, s.tags, s.body, "
            "(SELECT group_concat(alias, char(31)) FROM "
            "(SELECT alias FROM section_aliases AS a WHERE a.section_id = s.id "
            "ORDER BY a.position)) "
            "FROM sections AS s WHERE s.guild_id IS NULL AND s.status = 'active' "
            "ORDER BY s.position, s.slug"
        )
        async with self.db.conn.execute(sql) as cursor:
            while rows := await cursor.fetchmany(batch):
                yield [(*r[:6], r[6].split("\x1f") if r[6] else ()) for r in rows]


class SectionStore:
    """Sections on either backend; the full text is chosen by the database's dialect."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.text_index: TextIndex = (
            TsvectorIndex(db) if db.dialect.name == "postgresql" else Fts5Index(db)
        )
        dialect = db.dialect
        # Section `s` is in the scope bound to the one `?`, spelt as the unique index on
        # (scope, slug) is, so that the index finds it (the id read as bigint on PostgreSQL).
        self._scope = f"{dialect.scope('s.guild_id')} = {dialect.scope('CAST(? AS bigint)')}"
        self._slug_order = dialect.text_order("s.slug")
        # A section written, with its full text's aliases text when the row holds it.
        self._insert, self._update = _WRITES[self.text_index.in_row]
        # Every section read: its columns and its aliases (the backend's own SQL), then the
        # caller's WHERE.
        self._select = (
            f"SELECT {_COLUMNS}, {self.text_index.aliases} AS aliases "  # noqa: S608
            "FROM sections AS s "
        )

    async def _fetch(self, where: str, params: Sequence[Any]) -> list[Section]:
        """Sections with their aliases, in one query (one trip to SQLite's thread)."""
        async with self.db.conn.execute(self._select + where, params) as cursor:
            rows = await cursor.fetchall()
        return [section_of_row(row, tuple(json.loads(row["aliases"]))) for row in rows]

    async def all(self, *, statuses: Iterable[Status] = ("active",)) -> list[Section]:
        """Every section of every scope with one of `statuses`, in rotation order."""
        dialect = self.db.dialect
        return await self._fetch(
            f"WHERE {dialect.any_of('s.status')} ORDER BY s.position, {self._slug_order}, s.id",
            [dialect.values(statuses)],
        )

    async def in_scope(self, guild_id: int | None) -> list[Section]:
        """Every section of one scope (CURATED: the curated pack), whatever its status."""
        order = f"ORDER BY s.position, {self._slug_order}"
        if guild_id is CURATED:
            return await self._fetch(f"WHERE s.guild_id IS NULL {order}", ())
        # `=` (not `IS`) so that the index on a server's rows is used.
        return await self._fetch(f"WHERE s.guild_id = ? {order}", (guild_id,))

    async def get(self, guild_id: int | None, slug: str) -> Section | None:
        found = await self._fetch(
            # Spelt as the unique index on (scope, slug) is, so that it finds the row directly.
            f"WHERE {self._scope} AND {self.db.dialect.same('s.guild_id')} "
            "AND lower(s.slug) = lower(?)",
            (guild_id, guild_id, slug),
        )
        return found[0] if found else None

    async def slugs(self, guild_id: int) -> set[str]:
        """Every slug of a server's own sections, removed ones too."""
        async with self.db.conn.execute(
            "SELECT lower(slug) FROM sections WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            return {str(row[0]) for row in await cursor.fetchall()}

    async def by_id(self, section_id: int) -> Section | None:
        found = await self._fetch("WHERE s.id = ?", (section_id,))
        return found[0] if found else None

    async def count(self, *, status: Status = "active") -> int:
        async with self.db.conn.execute(
            "SELECT count(*) FROM sections WHERE status = ?", (status,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def matching(
        self, lookup: Lookup, limit: int, exclude: Sequence[int] = ()
    ) -> list[FtsHit]:
        """The curated sections that best match a lookup, at most `limit`, leaving out those
        in `exclude` (a server's replaced or hidden ones), each read whole in the same query:
        what the search reads of the curated index (`bot.search.FullText`). Ranked by bm25
        on SQLite, by ts_rank_cd over the weighted tsvector on PostgreSQL, weighted alike; a
        hit's `bm25` is lower for a better match on both. Only curated sections are indexed:
        no server's rows can take a place."""
        rows = await self.text_index.matching(lookup, limit, exclude)
        return [_hit(row) for row in rows]

    async def fts(self, match: str, limit: int, exclude: Sequence[int] = ()) -> list[FtsHit]:
        """SQLite only: best bm25 matches in the curated pack for an FTS5 expression
        (`fts5_expression` of a lookup: never user text), as `matching` reads them."""
        if not isinstance(self.text_index, Fts5Index):
            raise TypeError("an FTS5 expression is SQLite's: use matching() with a Lookup")
        return [_hit(row) for row in await self.text_index.fts(match, limit, exclude)]

    async def curated_index_rows(self, batch: int = INDEX_BATCH) -> AsyncIterator[list[IndexRow]]:
        """The active curated sections in rotation order, `batch` at a time, as the search
        index needs them: a large pack is never held in memory as whole sections."""
        async for rows in self.text_index.index_rows(batch):
            yield [
                IndexRow(
                    id=r[0],
                    slug=r[1],
                    title=r[2],
                    position=r[3],
                    aliases=tuple(r[6]),
                    tags=tuple(json.loads(r[4])),
                    body=r[5],
                )
                for r in rows
            ]

    async def server_sections(self, guild_ids: Iterable[int] | None = None) -> list[Section]:
        """Every section of the given servers (None: of every server), whatever its status."""
        if guild_ids is None:
            return await self._fetch("WHERE s.guild_id IS NOT NULL ORDER BY s.guild_id, s.id", ())
        return await self._fetch(
            f"WHERE {self.db.dialect.any_of('s.guild_id')} ORDER BY s.guild_id, s.id",
            [self.db.dialect.values(guild_ids)],
        )

    async def curated_by_slugs(self, slugs: Iterable[str]) -> list[Section]:
        """The active curated sections under these slugs (those servers replaced or hid)."""
        # Slugs are ASCII (`bot.sections.SLUG_RE`): Python's lower() is SQL's.
        return await self._fetch(
            f"WHERE {self._scope} AND s.guild_id IS NULL AND s.status = 'active' "
            f"AND {self.db.dialect.any_of('lower(s.slug)')}",
            [None, self.db.dialect.values(sorted({slug.lower() for slug in slugs}))],
        )

    async def visible_sections(
        self, guild_id: int | None, *, updated_before: date | None = None
    ) -> list[Section]:
        """What a server sees (CURATED: the curated pack), in rotation order, read from the
        database: its own active sections and the curated ones it has not replaced or hidden.
        With `updated_before`, only the sections last updated on or before that day."""
        return await self._fetch(
            "WHERE s.status = 'active' AND s.updated <= ? "  # noqa: S608 - the dialect's
            f"AND ({self.db.dialect.same('s.guild_id')} OR (s.guild_id IS NULL "
            "AND CAST(? AS bigint) IS NOT NULL AND lower(s.slug) NOT IN "
            "(SELECT lower(slug) FROM sections WHERE guild_id = ?))) "
            f"ORDER BY s.position, {self._slug_order}",
            (
                (updated_before or date.max).isoformat(),
                guild_id,
                guild_id,
                guild_id,
            ),
        )

    async def changes_since(self, revision_id: int) -> tuple[int, set[int | None]]:
        """The newest revision id and the scopes (CURATED or a server) written after
        `revision_id`: every write adds a revision, so this is what another process changed."""
        async with self.db.conn.execute(
            "SELECT coalesce(max(r.id), ?), "  # noqa: S608 - the dialect's fragment
            f"{self.db.dialect.json_array('DISTINCT s.guild_id')} "
            "FROM revisions AS r JOIN sections AS s ON s.id = r.section_id WHERE r.id > ?",
            (revision_id, revision_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return revision_id, set()
        return int(row[0]), set(json.loads(row[1]))

    async def revisions(
        self, section_id: int, *, limit: int | None = None, offset: int = 0
    ) -> list[Revision]:
        """A section's history, newest first: all of it, or `limit` revisions after `offset`."""
        async with self.db.conn.execute(
            "SELECT section_id, number, author, author_id, created_at, action, changed, snapshot "
            "FROM revisions WHERE section_id = ? ORDER BY number DESC LIMIT ? OFFSET ?",
            (section_id, self.db.dialect.no_limit if limit is None else limit, offset),
        ) as cursor:
            rows = await cursor.fetchall()
        found = []
        for row in rows:
            snapshot = json.loads(row[7])
            found.append(
                Revision(
                    section_id=row[0],
                    number=row[1],
                    author=row[2],
                    author_id=row[3],
                    created_at=row[4],
                    action=row[5],
                    changed=tuple(json.loads(row[6])),
                    content=SectionContent.from_json(snapshot),
                    status=str(snapshot.get("status", "active")),
                )
            )
        return found

    async def _visible(self, guild_id: int, slug: str) -> tuple[Section | None, Section | None]:
        """(the server's own row for `slug`, whatever its status; the row the server sees)."""
        own = await self.get(guild_id, slug)
        if own is not None:
            return own, own if own.status == "active" else None
        curated = await self.get(CURATED, slug)
        return None, curated if curated is not None and curated.status == "active" else None

    async def save_for_guild(
        self,
        guild_id: int,
        content: SectionContent,
        *,
        opened: Version | None,
        author: str,
        author_id: int | None,
        action: str = "updated",
        revive: bool = False,
    ) -> Section:
        """Create or edit a server's section (an edit of a curated one becomes an override).

        `opened` is the version the moderator's form was filled from, or None
        for a new section; if what the server sees now differs, nothing is written and
        EditConflict says what is there. With `revive` (a revert), `opened` may also be the
        server's own removed section, which becomes active again.
        """
        async with self.db.transaction() as conn:
            own, visible = await self._visible(guild_id, content.slug)
            current = own if revive and visible is None else visible
            if opened is None:
                if visible is not None:
                    raise EditConflict(visible)
            elif current is None or current.version != opened:
                raise EditConflict(visible)
            change = Change(
                guild_id,
                content,
                own,
                "active",
                action if own is not None else ("created" if opened is None else action),
                author,
                author_id,
            )
            (section_id,) = await self._save_many(conn, [change])
        saved = await self.by_id(section_id)
        assert saved is not None
        return saved

    async def hide_for_guild(
        self, guild_id: int, slug: str, *, author: str, author_id: int | None
    ) -> Section:
        """Hide a section in one server only: its own row, or a hiding override of a curated one."""
        async with self.db.transaction() as conn:
            own, visible = await self._visible(guild_id, slug)
            if visible is None:
                raise EditConflict(None)
            change = Change(guild_id, visible.content, own, "hidden", "hidden", author, author_id)
            (section_id,) = await self._save_many(conn, [change])
        hidden = await self.by_id(section_id)
        assert hidden is not None
        return hidden

    async def import_curated(self, pack: Sequence[SectionContent]) -> ImportReport:
        """Make the curated scope equal to `pack` in one transaction; idempotent."""
        async with self.db.transaction() as conn:
            changes, report = curated_import(await self.in_scope(CURATED), pack)
            await self._save_many(conn, changes)
        return report

    async def import_for_guild(
        self,
        guild_id: int,
        pack: Sequence[SectionContent],
        *,
        author: str,
        check: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Make `pack` what one server sees, as its own topics and overrides, in one transaction.

        The curated scope is never written. A section equal to the curated one the server
        would see anyway needs no override and is left alone; topics not in `pack` stay as
        they are (an import adds and updates, it never removes). Before anything is written,
        `check` is called with how many active topics of its own the server would then hold:
        if it raises, nothing is written.
        """
        report = ImportReport()
        changes: list[Change] = []
        async with self.db.transaction() as conn:
            own = {s.slug.casefold(): s for s in await self.in_scope(guild_id)}
            curated = {s.slug.casefold(): s for s in await self.in_scope(CURATED)}
            for content in pack:
                old = own.get(content.slug.casefold())
                shared = curated.get(content.slug.casefold())
                if (
                    old is None
                    and shared is not None
                    and shared.status == "active"
                    and not content.changed_fields(shared.content)
                ):
                    report.unchanged.append(content.slug)  # the curated text is what it sees
                    continue
                _import_one(guild_id, content, old, author, changes, report)
            if check is not None:
                active = sum(1 for s in own.values() if s.status == "active")
                restored = sum(1 for c in changes if c.action == "restored")
                check(active + len(report.added) + restored)
            await self._save_many(conn, changes)
        return report

    async def fingerprint(self) -> tuple[int, int]:
        """Changes whenever any section is written or deleted (every write adds a revision)."""
        async with self.db.conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM revisions), (SELECT count(*) FROM sections)"
        ) as cursor:
            row = await cursor.fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def _save_many(self, conn: Connection, changes: Sequence[Change]) -> list[int]:
        """Write section states with their aliases, index rows and revisions, in bulk.

        New sections get their ids first (`TextIndex.new_ids`), so that every table is written
        with one `executemany` (one trip to SQLite's thread each, not one per section). The
        caller's transaction makes it all or nothing.
        """
        if not changes:
            return []
        added = sum(1 for change in changes if change.old is None)
        new_ids = iter(await self.text_index.new_ids(conn, added) if added else ())
        now = self.db.now()
        ids: list[int] = []
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        aliases: list[tuple[int, int, str]] = []
        index: list[tuple[int, bool, str, str, str]] = []
        revisions: list[tuple[Any, ...]] = []
        in_row = self.text_index.in_row
        for change in changes:
            content = change.content
            fields = section_fields(change)
            text = fts_aliases(content.aliases, content.tags)
            row_text = (text,) if in_row else ()
            if change.old is None:
                section_id = next(new_ids)
                inserts.append((section_id, change.guild_id, *fields, *row_text))
            else:
                section_id = change.old.id
                updates.append((*fields, change.old.revision + 1, *row_text, section_id))
            ids.append(section_id)
            aliases.extend((section_id, i, alias) for i, alias in enumerate(content.aliases))
            if not in_row:
                indexed = change.status == "active" and change.guild_id is CURATED
                index.append((section_id, indexed, content.title, text, content.body))
            revisions.append((section_id, *revision_fields(change, now)))
        await conn.executemany(self._insert, inserts)
        await conn.executemany(self._update, updates)
        touched = [(section_id,) for section_id in ids]
        await conn.executemany("DELETE FROM section_aliases WHERE section_id = ?", touched)
        await conn.executemany(
            "INSERT INTO section_aliases (section_id, position, alias) VALUES (?, ?, ?)", aliases
        )
        if not in_row:
            await self.text_index.write(conn, index)
        await conn.executemany(
            "INSERT INTO revisions (section_id, number, author, author_id, created_at, action, "
            "changed, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            revisions,
        )
        return ids


def section_fields(change: Change) -> tuple[Any, ...]:
    """The columns of `sections` a change writes, in order: slug, title, body, tags, sources,
    updated, position, status (tags and sources as JSON text)."""
    content = change.content
    return (
        content.slug,
        content.title,
        content.body,
        json.dumps(list(content.tags)),
        json.dumps([{"title": s.title, "url": s.url} for s in content.sources]),
        content.updated.isoformat(),
        content.position,
        change.status,
    )


def revision_fields(change: Change, now: str) -> tuple[Any, ...]:
    """The revision row a change adds, but its section's id: number, author, author_id,
    created_at, action, changed and snapshot (both JSON text)."""
    content = change.content
    if change.old is None:
        number, changed = 1, ["created"]
    else:
        number = change.old.revision + 1
        changed = content.changed_fields(change.old.content)
        if change.status != change.old.status:
            changed.append("status")
    return (
        number,
        change.author,
        change.author_id,
        now,
        change.action,
        json.dumps(changed),
        json.dumps({**content.to_json(), "status": change.status}),
    )


def curated_import(
    existing: Iterable[Section], pack: Sequence[SectionContent]
) -> tuple[list[Change], ImportReport]:
    """What making the curated scope (`existing`, every status) equal to `pack` writes."""
    report = ImportReport()
    changes: list[Change] = []
    by_slug = {s.slug: s for s in existing}
    for content in pack:
        old = by_slug.pop(content.slug, None)
        _import_one(CURATED, content, old, CURATED_AUTHOR, changes, report)
    for old in by_slug.values():
        if old.status == "active":
            changes.append(Change(CURATED, old.content, old, "retired", "retired", CURATED_AUTHOR))
            report.retired.append(old.slug)
    return changes, report


def _import_one(
    guild_id: int | None,
    content: SectionContent,
    old: Section | None,
    author: str,
    changes: list[Change],
    report: ImportReport,
) -> None:
    """What importing `content` over `old` (None: a new topic) writes, and how it is reported."""
    if old is None:
        changes.append(Change(guild_id, content, None, "active", "created", author))
        report.added.append(content.slug)
    elif old.status != "active":
        changes.append(Change(guild_id, content, old, "active", "restored", author))
        report.updated.append(content.slug)
    elif content.changed_fields(old.content):
        changes.append(Change(guild_id, content, old, "active", "updated", author))
        report.updated.append(content.slug)
    else:
        report.unchanged.append(content.slug)
