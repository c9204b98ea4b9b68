"""The sections' full text on PostgreSQL: what `bot.store.sections.SectionStore` does here
where SQLite uses its FTS5 table.

The curated pack is searched through the weighted tsvector `sections.search`
(migrations/001_initial.sql: title A, aliases B, body C), a column PostgreSQL generates from
the row. Its aliases part reads `sections.search_aliases`, which the store writes with every
section: the aliases and tags, exactly the text SQLite's FTS5 aliases column holds
(`bot.store.sections.fts_aliases`). `SectionStore` chooses this class itself when its database
is PostgreSQL; nothing else constructs it.

New sections take their ids from the identity sequence (never max(id) + 1: writers in other
processes share it), and a large pack is read for the search index a batch per statement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

from bot.lookup import Lookup
from bot.store.database import Connection, Database

# The text search configuration the column was built with: a query must stem alike.
CONFIG = "english"

# The aliases of section `s`, in order, as JSON text (as SQLite's json_group_array gives them).
ALIASES = (
    "coalesce((SELECT json_agg(a.alias ORDER BY a.position) FROM section_aliases AS a "
    "WHERE a.section_id = s.id), '[]')::text"
)
# The best matches of a lookup, each read whole in the same query: {tsquery} the lookup's
# tsquery (its words bound first, see `tsquery`), then the ids left out, then how many.
# ts_rank_cd's weights, in its order {D, C, B, A}, are SQLite's bm25(sections_fts, 6.0, 3.0,
# 1.0) scaled so that the title (A) weighs 1, the aliases (B) 1/2 and the body (C) 1/6; no
# length normalisation: of ts_rank_cd's (0, 1, 2, 4, 8, 32) none brought the best candidate
# closer to bm25's over the evaluation sets' lookups; 1, 2, 4 and 8 took it further away.
_MATCHING = """
WITH hits AS (
    SELECT s.id, ts_rank_cd('{{0, 0.1667, 0.5, 1}}', s.search, q.query) AS rank
    FROM sections AS s, (SELECT {tsquery} AS query) AS q
    WHERE s.guild_id IS NULL AND s.status = 'active' AND s.search @@ q.query
      AND s.id <> ALL(?::bigint[])
    ORDER BY rank DESC, s.id LIMIT ?
)
SELECT s.id, s.guild_id, s.slug, s.title, s.body, s.tags, s.sources, s.updated, s.position,
       s.status, s.revision, {aliases} AS aliases, -hits.rank AS score
FROM hits JOIN sections AS s ON s.id = hits.id
ORDER BY hits.rank DESC, s.id
"""
# The active curated sections after a place in rotation order (position, slug, id), a batch.
_INDEX_ROWS = """
SELECT s.id, s.slug, s.title, s.position, s.tags, s.body,
       array(SELECT a.alias FROM section_aliases AS a
             WHERE a.section_id = s.id ORDER BY a.position) AS aliases
FROM sections AS s
WHERE s.guild_id IS NULL AND s.status = 'active'
  AND (s.position, s.slug COLLATE "C", s.id) > (?, ?, ?)
ORDER BY s.position, s.slug COLLATE "C", s.id
LIMIT ?
"""


def tsquery(lookup: Lookup) -> tuple[str, list[str]]:
    """A lookup as a tsquery expression and its arguments, one `?` each, in order.

    Each spelling of each word is one bound argument read by `phraseto_tsquery` (plain text:
    no character of it is tsquery syntax; a word of several tokens is a phrase, as an FTS5
    string is), a word's spellings OR'd, the words OR'd, or AND'ed when a section must hold
    every one (`Lookup.spellings`, as `fts5_expression` reads it). The SQL holds placeholders
    only. ("", []) when there is nothing to look up. PostgreSQL's text is never NUL: a NUL
    becomes a space (no token holds one).
    """
    groups = lookup.spellings()
    args: list[str] = []

    def bound(spelling: str) -> str:
        args.append(spelling.replace("\x00", " "))
        return f"phraseto_tsquery('{CONFIG}', ?)"

    if not lookup.every:
        expression = " || ".join(bound(w) for group in groups for w in group)
    else:
        expression = " && ".join(
            "(" + " || ".join(bound(w) for w in group) + ")" for group in groups
        )
    return expression, args


def matching_sql(expression: str, aliases: str = ALIASES) -> str:
    """`_MATCHING` around a tsquery expression of placeholders (`tsquery`'s, never text)."""
    return _MATCHING.format(tsquery=expression, aliases=aliases)


class TsvectorIndex:
    """The sections store's full text and ids on PostgreSQL (see the module's docstring)."""

    aliases: ClassVar[str] = ALIASES
    in_row: ClassVar[bool] = True

    def __init__(self, db: Database) -> None:
        self.db = db

    async def new_ids(self, conn: Connection, count: int) -> list[int]:
        """`count` ids for new sections, from the identity column's sequence."""
        async with conn.execute(
            "SELECT nextval(pg_get_serial_sequence('sections', 'id')) "
            "FROM generate_series(1, CAST(? AS integer))",
            (count,),
        ) as cursor:
            return [int(row[0]) for row in await cursor.fetchall()]

    async def write(
        self, conn: Connection, entries: Sequence[tuple[int, bool, str, str, str]]
    ) -> None:
        """Nothing to keep apart: the tsvector is generated from the row, its aliases part
        from `search_aliases`, which the store writes with the row (`in_row`)."""

    async def matching(self, lookup: Lookup, limit: int, exclude: Sequence[int]) -> list[Any]:
        """The rows of the best matches, each a whole section with its `score` (the rank
        negated: lower is better, as bm25); none when the lookup holds nothing to look up."""
        expression, words = tsquery(lookup)
        if not expression:
            return []
        # The tsquery is placeholders and operators only (see `tsquery`); the words are bound.
        async with self.db.conn.execute(
            matching_sql(expression), (*words, list(exclude), limit)
        ) as cursor:
            return list(await cursor.fetchall())

    async def index_rows(self, batch: int) -> AsyncIterator[list[Any]]:
        """The active curated sections in rotation order, `batch` rows per statement (keyset
        pagination: no statement, connection or transaction is held between batches), each
        row (id, slug, title, position, tags as JSON text, body, aliases as a list)."""
        after: tuple[int, str, int] = (-(2**31), "", 0)
        while True:
            async with self.db.conn.execute(_INDEX_ROWS, (*after, batch)) as cursor:
                rows = list(await cursor.fetchall())
            if not rows:
                return
            yield rows
            if len(rows) < batch:
                return
            last = rows[-1]
            after = (last["position"], last["slug"], last["id"])
