"""Per-server moderation settings, and drafts of forms that could not be saved."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.store.database import Database


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
    revision: tuple[int, int] | None
    fields: dict[str, str]


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

    async def keep_draft(
        self,
        guild_id: int,
        user_id: int,
        slug: str | None,
        opened: tuple[int, int] | None,
        fields: dict[str, str],
    ) -> int:
        async with self.db.transaction() as conn:
            # A moderator's older drafts are replaced: one form in flight per person is plenty.
            await conn.execute(
                "DELETE FROM kb_drafts WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
            )
            cursor = await conn.execute(
                "INSERT INTO kb_drafts (guild_id, user_id, slug, revision, fields, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    guild_id,
                    user_id,
                    slug,
                    json.dumps(list(opened)) if opened else None,
                    json.dumps(fields),
                    self.db.now(),
                ),
            )
            return int(cursor.lastrowid or 0)

    async def draft(self, draft_id: int, guild_id: int, user_id: int) -> Draft | None:
        """A draft, only for the server and the person who typed it."""
        async with self.db.conn.execute(
            "SELECT id, guild_id, user_id, slug, revision, fields FROM kb_drafts "
            "WHERE id = ? AND guild_id = ? AND user_id = ?",
            (draft_id, guild_id, user_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        opened = json.loads(row[4]) if row[4] else None
        return Draft(
            row[0], row[1], row[2], row[3], tuple(opened) if opened else None, json.loads(row[5])
        )
