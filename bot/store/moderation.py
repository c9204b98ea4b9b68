"""Per-server moderation settings, and drafts of forms that could not be saved.

A moderator keeps several drafts per server, newest first; each lives DRAFT_LIFETIME and a
moderator keeps at most DRAFTS_KEPT in one server (the oldest go first). Expired drafts are
never returned, and are deleted whenever a draft is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from bot.sections import Version
from bot.store.database import Connection, Database

# How long a kept draft can be reopened.
DRAFT_LIFETIME = timedelta(days=30)
# Drafts one moderator keeps in one server: one person cannot grow the table without bound.
DRAFTS_KEPT = 25

_SELECT_DRAFTS = "SELECT id, guild_id, user_id, slug, version, fields, created_at FROM kb_drafts "


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    mod_role_id: int | None = None
    log_channel_id: int | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    id: int
    guild_id: int
    user_id: int
    slug: str | None
    # The version the form was opened from (None: a new topic, or one found by slug).
    version: Version | None
    fields: dict[str, str]
    created_at: str

    @property
    def title(self) -> str:
        return self.fields.get("title", "").strip()


def _draft(row: Any) -> Draft:
    opened = json.loads(row[4]) if row[4] else None
    return Draft(
        row[0],
        row[1],
        row[2],
        row[3],
        Version(int(opened[0]), int(opened[1])) if opened else None,
        json.loads(row[5]),
        row[6],
    )


class ModerationStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def settings(self, guild_id: int) -> GuildSettings:
        async with self.db.conn.execute(
            "SELECT mod_role_id, log_channel_id FROM guild_settings WHERE guild_id = ?",
            (guild_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return GuildSettings(guild_id, row[0], row[1]) if row else GuildSettings(guild_id)

    async def update(self, guild_id: int, **values: int | None) -> GuildSettings:
        current = await self.settings(guild_id)
        merged: dict[str, Any] = {
            "mod_role_id": current.mod_role_id,
            "log_channel_id": current.log_channel_id,
            **values,
        }
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO guild_settings (guild_id, mod_role_id, log_channel_id) "
                "VALUES (?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
                "mod_role_id = excluded.mod_role_id, log_channel_id = excluded.log_channel_id",
                (guild_id, merged["mod_role_id"], merged["log_channel_id"]),
            )
        return await self.settings(guild_id)

    def _draft_cutoff(self) -> str:
        """Drafts kept before this moment have expired (timestamps compare as ISO text)."""
        return (self.db.clock().astimezone(UTC) - DRAFT_LIFETIME).isoformat(timespec="seconds")

    async def _delete_expired(self, conn: Connection) -> int:
        """Delete every expired draft, in the caller's transaction; returns how many."""
        cursor = await conn.execute(
            "DELETE FROM kb_drafts WHERE created_at < ?", (self._draft_cutoff(),)
        )
        return int(cursor.rowcount or 0)

    async def keep_draft(
        self,
        guild_id: int,
        user_id: int,
        slug: str | None,
        opened: Version | None,
        fields: dict[str, str],
        *,
        replaces: int | None = None,
    ) -> int:
        """Keep a form's text as a new draft; `replaces` is the draft the form was reopened from.

        In the same transaction: drafts expired anywhere are deleted, and this moderator's
        drafts in this server beyond the newest DRAFTS_KEPT.
        """
        async with self.db.transaction() as conn:
            await self._delete_expired(conn)
            if replaces is not None:
                await conn.execute(
                    "DELETE FROM kb_drafts WHERE id = ? AND guild_id = ? AND user_id = ?",
                    (replaces, guild_id, user_id),
                )
            async with conn.execute(
                "INSERT INTO kb_drafts (guild_id, user_id, slug, version, fields, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    guild_id,
                    user_id,
                    slug,
                    json.dumps(list(opened)) if opened else None,
                    json.dumps(fields),
                    self.db.now(),
                ),
            ) as cursor:
                row = await cursor.fetchone()
            draft_id = int(row[0])
            await conn.execute(
                "DELETE FROM kb_drafts WHERE guild_id = ? AND user_id = ? AND id NOT IN ("
                "SELECT id FROM kb_drafts WHERE guild_id = ? AND user_id = ? "
                "ORDER BY created_at DESC, id DESC LIMIT ?)",
                (guild_id, user_id, guild_id, user_id, DRAFTS_KEPT),
            )
            return draft_id

    async def draft(self, draft_id: int, guild_id: int, user_id: int) -> Draft | None:
        """A draft, only for the server and the person who typed it, and only until it expires."""
        async with self.db.conn.execute(
            _SELECT_DRAFTS + "WHERE id = ? AND guild_id = ? AND user_id = ? AND created_at >= ?",
            (draft_id, guild_id, user_id, self._draft_cutoff()),
        ) as cursor:
            row = await cursor.fetchone()
        return _draft(row) if row is not None else None

    async def drafts(
        self, guild_id: int, user_id: int, *, offset: int, limit: int
    ) -> tuple[list[Draft], int]:
        """One page of a moderator's unexpired drafts in a server, newest first, and their count."""
        cutoff = self._draft_cutoff()
        async with self.db.conn.execute(
            "SELECT count(*) FROM kb_drafts WHERE guild_id = ? AND user_id = ? AND created_at >= ?",
            (guild_id, user_id, cutoff),
        ) as cursor:
            row = await cursor.fetchone()
        total = int(row[0]) if row else 0
        async with self.db.conn.execute(
            _SELECT_DRAFTS + "WHERE guild_id = ? AND user_id = ? AND created_at >= ? "
            "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (guild_id, user_id, cutoff, limit, max(offset, 0)),
        ) as cursor:
            rows = await cursor.fetchall()
        return [_draft(r) for r in rows], total

    async def delete_draft(self, draft_id: int, guild_id: int, user_id: int) -> None:
        """Forget a draft once its text is saved (only the owner's, only in its server)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM kb_drafts WHERE id = ? AND guild_id = ? AND user_id = ?",
                (draft_id, guild_id, user_id),
            )

    async def purge_expired_drafts(self) -> int:
        """Delete every expired draft (what keeping a draft also does); returns how many."""
        async with self.db.transaction() as conn:
            return await self._delete_expired(conn)
