"""Sections, their aliases and revisions, and the full-text index kept in step with them.

Every change goes through `_save`, inside the caller's transaction, so a section, its aliases,
its index row and its revision row are written together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import aiosqlite

from bot.sections import Section, SectionContent, Source, Status
from bot.store.database import Database

CURATED_AUTHOR = "knowledge pack"

_SELECT = """
SELECT s.id, s.guild_id, s.slug, s.title, s.body, s.tags, s.sources, s.updated, s.position,
       s.status, s.revision,
       (SELECT json_group_array(alias) FROM
            (SELECT alias FROM section_aliases WHERE section_id = s.id ORDER BY position)) AS aliases
FROM sections AS s
"""


@dataclass(frozen=True, slots=True)
class FtsHit:
    section_id: int
    bm25: float
    title: str
    aliases: str
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


def _row_to_section(row: aiosqlite.Row) -> Section:
    content = SectionContent(
        slug=row["slug"],
        title=row["title"],
        body=row["body"],
        aliases=tuple(json.loads(row["aliases"] or "[]")),
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


def fts_aliases(content: SectionContent) -> str:
    """The text indexed in the aliases column: aliases and tags (tags read as words)."""
    return " ; ".join([*content.aliases, *(t.replace("-", " ") for t in content.tags)])


class SectionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _fetch(self, where: str, params: Sequence[Any]) -> list[Section]:
        async with self.db.conn.execute(_SELECT + where, params) as cursor:
            return [_row_to_section(row) for row in await cursor.fetchall()]

    async def all(self, *, statuses: Iterable[Status] = ("active",)) -> list[Section]:
        """Every section of every scope with one of `statuses`, in rotation order."""
        wanted = list(statuses)
        marks = ",".join("?" * len(wanted))
        return await self._fetch(
            f"WHERE s.status IN ({marks}) ORDER BY s.position, s.slug, s.id", wanted
        )

    async def in_scope(self, guild_id: int | None) -> list[Section]:
        """Every section of one scope (None: the curated pack), whatever its status."""
        return await self._fetch(
            "WHERE s.guild_id IS ? ORDER BY s.position, s.slug", (guild_id,)
        )

    async def get(self, guild_id: int | None, slug: str) -> Section | None:
        found = await self._fetch(
            "WHERE s.guild_id IS ? AND lower(s.slug) = lower(?)", (guild_id, slug)
        )
        return found[0] if found else None

    async def by_id(self, section_id: int) -> Section | None:
        found = await self._fetch("WHERE s.id = ?", (section_id,))
        return found[0] if found else None

    async def count(self, *, status: Status = "active") -> int:
        async with self.db.conn.execute(
            "SELECT count(*) FROM sections WHERE status = ?", (status,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def fts(self, match: str, limit: int) -> list[FtsHit]:
        """Best bm25 matches for an FTS5 expression built by the search module (never user text)."""
        sql = (
            "SELECT rowid, bm25(sections_fts, 6.0, 3.0, 1.0), title, aliases, body "
            "FROM sections_fts WHERE sections_fts MATCH ? ORDER BY rank LIMIT ?"
        )
        async with self.db.conn.execute(sql, (match, limit)) as cursor:
            rows = await cursor.fetchall()
        return [FtsHit(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    async def import_curated(self, pack: Sequence[SectionContent]) -> ImportReport:
        """Make the curated scope equal to `pack` in one transaction; idempotent."""
        report = ImportReport()
        async with self.db.transaction() as conn:
            existing = {s.slug: s for s in await self.in_scope(None)}
            for content in pack:
                old = existing.pop(content.slug, None)
                if old is None:
                    await self._save(conn, None, content, None, "active", "created", CURATED_AUTHOR)
                    report.added.append(content.slug)
                elif old.status != "active":
                    await self._save(conn, None, content, old, "active", "restored", CURATED_AUTHOR)
                    report.updated.append(content.slug)
                elif content.changed_fields(old.content):
                    await self._save(conn, None, content, old, "active", "updated", CURATED_AUTHOR)
                    report.updated.append(content.slug)
                else:
                    report.unchanged.append(content.slug)
            for old in existing.values():
                if old.status == "active":
                    await self._save(
                        conn, None, old.content, old, "retired", "retired", CURATED_AUTHOR
                    )
                    report.retired.append(old.slug)
        return report

    async def _save(
        self,
        conn: aiosqlite.Connection,
        guild_id: int | None,
        content: SectionContent,
        old: Section | None,
        status: Status,
        action: str,
        author: str,
        author_id: int | None = None,
    ) -> int:
        """Write one section state with its aliases, index row and revision. Returns its id."""
        row = (
            content.slug,
            content.title,
            content.body,
            json.dumps(list(content.tags)),
            json.dumps([{"title": s.title, "url": s.url} for s in content.sources]),
            content.updated.isoformat(),
            content.position,
            status,
        )
        if old is None:
            cursor = await conn.execute(
                "INSERT INTO sections (slug, title, body, tags, sources, updated, position, "
                "status, guild_id, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                (*row, guild_id),
            )
            section_id = cast(int, cursor.lastrowid)
            number = 1
            changed = ["created"]
        else:
            section_id = old.id
            number = old.revision + 1
            await conn.execute(
                "UPDATE sections SET slug = ?, title = ?, body = ?, tags = ?, sources = ?, "
                "updated = ?, position = ?, status = ?, revision = ? WHERE id = ?",
                (*row, number, section_id),
            )
            await conn.execute("DELETE FROM section_aliases WHERE section_id = ?", (section_id,))
            changed = content.changed_fields(old.content)
            if status != old.status:
                changed.append("status")
        await conn.executemany(
            "INSERT INTO section_aliases (section_id, position, alias) VALUES (?, ?, ?)",
            [(section_id, i, alias) for i, alias in enumerate(content.aliases)],
        )
        await conn.execute("DELETE FROM sections_fts WHERE rowid = ?", (section_id,))
        if status == "active":
            await conn.execute(
                "INSERT INTO sections_fts (rowid, title, aliases, body) VALUES (?, ?, ?, ?)",
                (section_id, content.title, fts_aliases(content), content.body),
            )
        await conn.execute(
            "INSERT INTO revisions (section_id, number, author, author_id, created_at, action, "
            "changed, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                section_id,
                number,
                author,
                author_id,
                self.db.now(),
                action,
                json.dumps(changed),
                json.dumps({**content.to_json(), "status": status}),
            ),
        )
        return section_id
