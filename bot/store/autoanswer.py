"""Help channels: the channels where a server turned answering on, and the replies made there.

A reply is claimed (one row per member's message) before it is sent, so a message is answered
at most once whatever replays its event. Claims hold ids only, and are kept CLAIM_LIFETIME: a
message older than that is never answered anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Literal

from bot.store.database import Database

ChannelKind = Literal["text", "forum"]

# How long a claim is kept: events are replayed minutes after a reconnect, never a day later.
CLAIM_LIFETIME = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class HelpChannel:
    guild_id: int
    channel_id: int
    kind: ChannelKind


class AutoanswerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all_channels(self) -> list[HelpChannel]:
        """Every server's help channels (read once at start-up; a few per server at most)."""
        async with self.db.conn.execute(
            "SELECT guild_id, channel_id, kind FROM autoanswer_channels "
            "ORDER BY guild_id, enabled_at, channel_id"
        ) as cursor:
            rows = await cursor.fetchall()
        return [HelpChannel(int(r[0]), int(r[1]), r[2]) for r in rows]

    async def channels(self, guild_id: int) -> list[HelpChannel]:
        """One server's help channels, in the order they were turned on."""
        async with self.db.conn.execute(
            "SELECT guild_id, channel_id, kind FROM autoanswer_channels WHERE guild_id = ? "
            "ORDER BY enabled_at, channel_id",
            (guild_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [HelpChannel(int(r[0]), int(r[1]), r[2]) for r in rows]

    async def enable(
        self, guild_id: int, channel_id: int, kind: ChannelKind, by: int, *, cap: int
    ) -> bool:
        """Turn answering on in a channel; False (and nothing written) when the server already
        has `cap` other channels. Turning on a channel already on only updates its kind."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT count(*) FROM autoanswer_channels WHERE guild_id = ? AND channel_id != ?",
                (guild_id, channel_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None and int(row[0]) >= cap:
                return False
            await conn.execute(
                "INSERT INTO autoanswer_channels (guild_id, channel_id, kind, enabled_by, "
                "enabled_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, channel_id) "
                "DO UPDATE SET kind = excluded.kind",
                (guild_id, channel_id, kind, by, self.db.now()),
            )
        return True

    async def disable(self, guild_id: int, channel_id: int) -> bool:
        """Turn answering off in a channel; True if it was on."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM autoanswer_channels WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
            return bool(cursor.rowcount)

    async def claim(self, guild_id: int, channel_id: int, message_id: int) -> bool:
        """Claim the reply to one message: True for the first caller only. Expired claims are
        deleted in the same transaction."""
        cutoff = (self.db.clock().astimezone(UTC) - CLAIM_LIFETIME).isoformat(timespec="seconds")
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM autoanswer_replies WHERE claimed_at < ?", (cutoff,))
            cursor = await conn.execute(
                "INSERT INTO autoanswer_replies (guild_id, message_id, channel_id, claimed_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, message_id) DO NOTHING",
                (guild_id, message_id, channel_id, self.db.now()),
            )
            return bool(cursor.rowcount)
