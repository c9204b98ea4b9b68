"""The curated sections on PostgreSQL (issue 15, in progress): enough to run the search on.

`PgSectionStore` imports the curated pack, reads it back (whole sections, and the rows the
search's shared index is built from) and answers the search's full-text lookups from the
weighted tsvector `sections.search` (migrations/001_initial.sql). What it writes and reads is
what `bot.store.sections.SectionStore` writes and reads in SQLite, through the same helpers
(`section_fields`, `revision_fields`, `curated_import`, `section_of_row`), so the two cannot
drift apart. Nothing in the bot uses it yet: `BRIEFBOT_DB` still selects SQLite alone.

One difference remains in what is indexed: SQLite's aliases column holds the tags too
(`fts_aliases`), the tsvector's aliases part (`search_aliases`, kept by a trigger) does not yet.

Like `schema.py` it needs no driver to import: it takes any pool shaped like asyncpg's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC
from typing import Any, Protocol

from bot.lookup import Lookup
from bot.sections import Section, SectionContent, Status
from bot.store.database import Clock, utcnow
from bot.store.sections import (
    INDEX_BATCH,
    FtsHit,
    ImportReport,
    IndexRow,
    curated_import,
    revision_fields,
    section_fields,
    section_of_row,
)

log = logging.getLogger(__name__)

# The text search configuration the column was built with: a query must stem alike.
CONFIG = "english"

_COLUMNS = """
SELECT s.id, s.guild_id, s.slug, s.title, s.body, s.tags::text AS tags,
       s.sources::text AS sources, s.updated, s.position, s.status, s.revision,
       array(SELECT a.alias FROM section_aliases AS a
             WHERE a.section_id = s.id ORDER BY a.position) AS aliases
"""
# The best matches of a lookup, read whole in the same query (as `_COLUMNS`): $1 the ids left
# out, $2 how many, {tsquery} the lookup's tsquery (placeholders from $3 on, see `tsquery`).
# ts_rank_cd's weights, in its order {D, C, B, A}, are SQLite's bm25(sections_fts, 6.0, 3.0,
# 1.0) scaled so that the title (A) weighs 1, the aliases (B) 1/2 and the body (C) 1/6; no
# length normalisation: of ts_rank_cd's (0, 1, 2, 4, 8, 32) none brought the best candidate
# closer to bm25's over the evaluation sets' lookups; 1, 2, 4 and 8 took it further away.
_MATCHING = """
WITH hits AS (
    SELECT s.id, ts_rank_cd('{{0, 0.1667, 0.5, 1}}', s.search, q.query) AS rank
    FROM sections AS s, (SELECT {tsquery} AS query) AS q
    WHERE s.guild_id IS NULL AND s.status = 'active' AND s.search @@ q.query
      AND s.id <> ALL($1::bigint[])
    ORDER BY rank DESC, s.id LIMIT $2
)
SELECT s.id, s.guild_id, s.slug, s.title, s.body, s.tags::text AS tags,
       s.sources::text AS sources, s.updated, s.position, s.status, s.revision,
       array(SELECT a.alias FROM section_aliases AS a
             WHERE a.section_id = s.id ORDER BY a.position) AS aliases,
       hits.rank
FROM hits JOIN sections AS s ON s.id = hits.id
ORDER BY hits.rank DESC, s.id
"""


class Connection(Protocol):
    """What the store needs of a connection: asyncpg's `Connection` has it."""

    async def execute(self, query: str, *args: Any) -> str: ...

    async def executemany(self, command: str, args: Any) -> None: ...

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...

    def cursor(self, query: str, *args: Any, prefetch: int | None = None) -> Any: ...


class Pool(Protocol):
    """What the store needs of a pool: asyncpg's `Pool` has it."""

    def acquire(self) -> AbstractAsyncContextManager[Connection]: ...


def tsquery(lookup: Lookup, first: int = 1) -> tuple[str, list[str]]:
    """A lookup as a tsquery expression and its arguments, numbered from `$first`.

    Each spelling of each word is one bound argument read by `phraseto_tsquery` (plain text:
    no character of it is tsquery syntax; a word of several tokens is a phrase, as an FTS5
    string is), a word's spellings OR'd, the words OR'd, or AND'ed when a section must hold
    every one; of any word each spelling is looked up once, where it first comes, as in
    `fts5_expression`. The SQL holds placeholders only. ("", []) when there is nothing to look
    up. PostgreSQL's text is never NUL: a NUL becomes a space (no token holds one).
    """
    seen: set[str] = set()
    groups: list[list[str]] = []
    for word in lookup.words:
        spelled = [w for w in dict.fromkeys((word.word, *word.forms)) if w and w not in seen]
        if not lookup.every:
            seen.update(spelled)
        if spelled:
            groups.append(spelled)
    args: list[str] = []

    def bound(spelling: str) -> str:
        args.append(spelling.replace("\x00", " "))
        return f"phraseto_tsquery('{CONFIG}', ${first + len(args) - 1})"

    if not lookup.every:
        expression = " || ".join(bound(w) for group in groups for w in group)
    else:
        expression = " && ".join(
            "(" + " || ".join(bound(w) for w in group) + ")" for group in groups
        )
    return expression, args


class PgSectionStore:
    """The curated sections in PostgreSQL: import, read, and the full-text lookups."""

    def __init__(self, pool: Pool, *, clock: Clock = utcnow) -> None:
        self.pool = pool
        self.clock = clock

    def now(self) -> str:
        """The time a revision records, formatted as `Database.now` formats it."""
        return self.clock().astimezone(UTC).isoformat(timespec="seconds")

    async def _fetch(
        self, conn: Connection | None, where: str, args: Sequence[Any]
    ) -> list[Section]:
        """Sections with their aliases, in one query."""
        query = _COLUMNS + "FROM sections AS s " + where
        if conn is not None:
            rows = await conn.fetch(query, *args)
        else:
            async with self.pool.acquire() as acquired:
                rows = await acquired.fetch(query, *args)
        return [section_of_row(row, tuple(row["aliases"])) for row in rows]

    async def by_id(self, section_id: int) -> Section | None:
        found = await self._fetch(None, "WHERE s.id = $1", (section_id,))
        return found[0] if found else None

    async def count(self, *, status: Status = "active") -> int:
        async with self.pool.acquire() as conn:
            found = await conn.fetchval("SELECT count(*) FROM sections WHERE status = $1", status)
        return int(found)

    async def matching(
        self, lookup: Lookup, limit: int, exclude: Sequence[int] = ()
    ) -> list[FtsHit]:
        """The curated sections that best match a lookup, at most `limit`, leaving out those
        in `exclude` (a server's replaced or hidden ones), each read whole in the same query:
        what the search reads of the curated index (`bot.search.FullText`).

        Ranked by `ts_rank_cd` over the weighted tsvector, weighted as SQLite's columns are
        (see `_MATCHING`). A hit's `bm25` is that rank negated, so that lower is better as in
        SQLite and whatever orders hits by it needs no second path. Only curated rows have a
        vector, and only active ones are read: no server's row can take a place."""
        expression, words = tsquery(lookup, first=3)
        if not expression:
            return []
        # The tsquery is placeholders and operators only (see `tsquery`); the words are bound.
        query = _MATCHING.format(tsquery=expression)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(query, list(exclude), limit, *words)
        return [
            FtsHit(section_of_row(row, tuple(row["aliases"])), -float(row["rank"])) for row in rows
        ]

    async def curated_index_rows(self, batch: int = INDEX_BATCH) -> AsyncIterator[list[IndexRow]]:
        """The active curated sections in rotation order, `batch` at a time, as the search
        index needs them (a server-side cursor: a large pack is never held whole)."""
        query = (
            "SELECT s.id, s.slug, s.title, s.position, s.tags::text AS tags, s.body,"
            " array(SELECT a.alias FROM section_aliases AS a"
            " WHERE a.section_id = s.id ORDER BY a.position) AS aliases"
            " FROM sections AS s WHERE s.guild_id IS NULL AND s.status = 'active'"
            " ORDER BY s.position, s.slug"
        )
        async with self.pool.acquire() as conn, conn.transaction():
            cursor = await conn.cursor(query)
            while rows := await cursor.fetch(batch):
                yield [
                    IndexRow(
                        id=r["id"],
                        slug=r["slug"],
                        title=r["title"],
                        position=r["position"],
                        aliases=tuple(r["aliases"]),
                        tags=tuple(json.loads(r["tags"])),
                        body=r["body"],
                    )
                    for r in rows
                ]

    async def import_curated(self, pack: Sequence[SectionContent]) -> ImportReport:
        """Make the curated scope equal to `pack` in one transaction; idempotent. Writes what
        the SQLite store writes: sections (new ids from the identity column), their aliases
        and a revision each."""
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await self._fetch(
                conn, "WHERE s.guild_id IS NULL ORDER BY s.position, s.slug FOR UPDATE", ()
            )
            changes, report = curated_import(existing, pack)
            now = self.now()
            ids: list[int] = []
            updates: list[tuple[Any, ...]] = []
            for change in changes:
                fields = section_fields(change)
                if change.old is None:
                    section_id = int(
                        await conn.fetchval(
                            "INSERT INTO sections (guild_id, slug, title, body, tags, sources,"
                            " updated, position, status, revision)"
                            " VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, 1)"
                            " RETURNING id",
                            change.guild_id,
                            *fields,
                        )
                    )
                else:
                    section_id = change.old.id
                    updates.append((*fields, change.old.revision + 1, section_id))
                ids.append(section_id)
            await conn.executemany(
                "UPDATE sections SET slug = $1, title = $2, body = $3, tags = $4::jsonb,"
                " sources = $5::jsonb, updated = $6, position = $7, status = $8, revision = $9"
                " WHERE id = $10",
                updates,
            )
            await conn.execute("DELETE FROM section_aliases WHERE section_id = ANY($1)", ids)
            await conn.executemany(
                "INSERT INTO section_aliases (section_id, position, alias) VALUES ($1, $2, $3)",
                [
                    (section_id, position, alias)
                    for section_id, change in zip(ids, changes, strict=True)
                    for position, alias in enumerate(change.content.aliases)
                ],
            )
            await conn.executemany(
                "INSERT INTO revisions (section_id, number, author, author_id, created_at,"
                " action, changed, snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)",
                [
                    (section_id, *revision_fields(change, now))
                    for section_id, change in zip(ids, changes, strict=True)
                ],
            )
        if report.changed:
            log.info("imported the curated pack into PostgreSQL (%s)", report.summary())
        return report
