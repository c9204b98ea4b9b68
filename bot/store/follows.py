"""Follows and their DMs: who follows which topic in which server, the change feed over the
`revisions` table (its cursor in `meta`), and the send record of every DM a change owes.

A follow is one member's, in one server, of one slug. A send row is written together with the
feed's cursor, claimed before its DM goes out and settled after, and is unique per member,
server, topic and revision: a crash, a restart or a second process can never make a second one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, NamedTuple

from bot.sections import SectionContent
from bot.store.database import Database, Dialect

# The newest revision id the notifier has looked at (every section write adds a revision).
CURSOR_KEY = "follows_cursor"

# Start the feed at the newest revision, unless it has started (meta's values are text).
_START_FEED = (
    "INSERT INTO meta (key, value) SELECT CAST(? AS TEXT), CAST(coalesce(max(id), 0) AS TEXT) "
    "FROM revisions WHERE true ON CONFLICT (key) DO NOTHING"
)

# One send row owed to each follower a change reaches (the change's revision, the one before
# it and the times are bound, typed: PostgreSQL cannot tell their types in a select list),
# but not to those who followed after it, nor in a server Briefbot was removed from; a row
# already owed is left alone.
_OWE = (
    "INSERT INTO follow_sends (guild_id, user_id, slug, revision_id, previous_id, not_before, "
    "updated_at) SELECT f.guild_id, f.user_id, f.slug, CAST(? AS BIGINT), CAST(? AS BIGINT), "
    "CAST(? AS TEXT), CAST(? AS TEXT) FROM follows AS f WHERE {reached} AND f.since < ? "
    "AND f.guild_id NOT IN (SELECT guild_id FROM guild_removals) ON CONFLICT DO NOTHING"
)
# A server's change reaches its own followers of the topic.
_OWE_SERVER = _OWE.format(reached="f.guild_id = ? AND f.slug = ?")


def _owe_curated(dialect: Dialect) -> str:
    """A curated change reaches the topic's followers in servers without a copy of their own.

    The copy is looked up through the unique index on (scope, slug), spelt as each backend's
    index is. On SQLite the follower's columns are compared as `+f.guild_id` and `+f.slug`:
    the unary plus drops their column affinity, without which SQLite cannot compare them
    with the index's expressions and scanned every section for every follower.
    """
    copy = (
        f"{dialect.scope('s.guild_id')} = {dialect.plain('f.guild_id')} "
        f"AND lower(s.slug) = {dialect.plain('f.slug')}"
    )
    return _OWE.format(
        reached=f"f.slug = ? AND NOT EXISTS (SELECT 1 FROM sections AS s WHERE {copy})"  # noqa: S608
    )


Added = Literal["added", "already", "full"]
Claim = Literal["claimed", "taken", "gone"]


class Snapshot(NamedTuple):
    """A section as one revision saved it."""

    revision_id: int
    content: SectionContent
    status: str


@dataclass(frozen=True, slots=True)
class FeedRevision:
    """One revision of the change feed with what its followers saw before it (None: nothing,
    a topic new to them)."""

    revision_id: int
    guild_id: int | None  # CURATED (None): a curated pack change, seen where not overridden
    slug: str
    after: Snapshot
    before: Snapshot | None


@dataclass(frozen=True, slots=True)
class Owed:
    """One queued DM: a member, a server, a topic and the revision that changed it."""

    send_id: int
    guild_id: int
    user_id: int
    slug: str
    revision_id: int
    previous_id: int | None
    state: str
    attempts: int
    updated_at: str


class FollowStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._owe_curated = _owe_curated(db.dialect)

    # -- members' follows --

    async def add(self, guild_id: int, user_id: int, slug: str, *, cap: int) -> Added:
        """Follow `slug` in `guild_id`, unless the member already follows `cap` topics there."""
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT count(*), count(CASE WHEN slug = ? THEN 1 END) FROM follows "
                "WHERE guild_id = ? AND user_id = ?",
                (slug, guild_id, user_id),
            ) as cursor:
                row = await cursor.fetchone()
            held, already = (int(row[0]), int(row[1] or 0)) if row else (0, 0)
            if already:
                return "already"
            if held >= cap:
                return "full"
            await conn.execute(
                "INSERT INTO follows (guild_id, user_id, slug, created_at, since) "
                "VALUES (?, ?, ?, ?, (SELECT coalesce(max(id), 0) FROM revisions))",
                (guild_id, user_id, slug, self.db.now()),
            )
            # The feed must start no later than the first follow, or a change made before the
            # notifier's first look would be skipped as history.
            await conn.execute(_START_FEED, (CURSOR_KEY,))
        return "added"

    async def remove(self, guild_id: int, user_id: int, slug: str) -> bool:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM follows WHERE guild_id = ? AND user_id = ? AND slug = ?",
                (guild_id, user_id, slug),
            )
            return cursor.rowcount > 0

    async def of_member(self, guild_id: int, user_id: int) -> list[str]:
        """The slugs a member follows in one server, oldest follow first."""
        async with self.db.conn.execute(
            "SELECT slug FROM follows WHERE guild_id = ? AND user_id = ? ORDER BY id",
            (guild_id, user_id),
        ) as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    async def followers(self, guild_id: int, slug: str) -> int:
        async with self.db.conn.execute(
            "SELECT count(*) FROM follows WHERE guild_id = ? AND slug = ?", (guild_id, slug)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def failures(self, guild_id: int, user_id: int, slug: str) -> int | None:
        """DMs refused in a row for this follow; None if there is no such follow."""
        async with self.db.conn.execute(
            "SELECT failures FROM follows WHERE guild_id = ? AND user_id = ? AND slug = ?",
            (guild_id, user_id, slug),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else None

    # -- the change feed --

    async def cursor(self) -> int:
        """Where the feed stands; on first use, the newest revision (history is not news)."""
        value = await self.db.get_meta(CURSOR_KEY)
        if value is not None:
            return int(value)
        async with self.db.transaction() as conn:
            await conn.execute(_START_FEED, (CURSOR_KEY,))
        value = await self.db.get_meta(CURSOR_KEY)
        return int(value or 0)

    async def newest_revision(self) -> int:
        async with self.db.conn.execute("SELECT coalesce(max(id), 0) FROM revisions") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def feed(self, after: int, limit: int) -> tuple[int, list[FeedRevision]]:
        """The next `limit` revisions after `after`: the last one's id (`after` at the feed's
        end), and those of them someone follows, oldest first, each with the text its
        followers saw before: the section's previous revision, or, for a server's first copy
        of a curated topic, the curated text as it stood then.

        Revisions of topics no one follows (most of a large pack import) are passed over in
        SQL, their snapshots never read."""
        async with self.db.conn.execute(
            "SELECT coalesce(max(id), ?) FROM "
            "(SELECT id FROM revisions WHERE id > ? ORDER BY id LIMIT ?) AS batch",
            (after, after, limit),
        ) as cursor:
            row = await cursor.fetchone()
        upto = int(row[0]) if row else after
        if upto == after:
            return after, []
        async with self.db.conn.execute(
            "SELECT r.id, s.guild_id, r.section_id, r.number, r.snapshot FROM revisions AS r "
            "JOIN sections AS s ON s.id = r.section_id WHERE r.id > ? AND r.id <= ? "
            "AND EXISTS (SELECT 1 FROM follows AS f WHERE f.slug = lower(s.slug) "
            "AND (s.guild_id IS NULL OR f.guild_id = s.guild_id)) ORDER BY r.id",
            (after, upto),
        ) as cursor:
            rows = await cursor.fetchall()
        found = []
        for revision_id, guild_id, section_id, number, raw in rows:
            after_snap = _snapshot(int(revision_id), str(raw))
            slug = after_snap.content.slug.casefold()
            if number > 1:
                before = await self._one(
                    "SELECT id, snapshot FROM revisions WHERE section_id = ? AND number = ?",
                    (section_id, number - 1),
                )
            elif guild_id is not None:
                before = await self._one(
                    "SELECT r.id, r.snapshot FROM revisions AS r JOIN sections AS s "
                    "ON s.id = r.section_id WHERE s.guild_id IS NULL AND lower(s.slug) = ? "
                    "AND r.id < ? ORDER BY r.id DESC LIMIT 1",
                    (slug, revision_id),
                )
            else:
                before = None
            found.append(FeedRevision(int(revision_id), guild_id, slug, after_snap, before))
        return upto, found

    async def _one(self, sql: str, params: tuple[object, ...]) -> Snapshot | None:
        async with self.db.conn.execute(sql, params) as cursor:
            row = await cursor.fetchone()
        return _snapshot(int(row[0]), str(row[1])) if row else None

    async def snapshot(self, revision_id: int) -> Snapshot | None:
        return await self._one("SELECT id, snapshot FROM revisions WHERE id = ?", (revision_id,))

    async def enqueue(self, changed: list[FeedRevision], cursor: int) -> int:
        """Owe one DM per follower for each changed revision and move the cursor to `cursor`,
        in one transaction; rows already owed (another process found them) are left alone.

        A curated change reaches the followers in servers that have no copy of their own
        under that slug (an override or a hiding); a server's change, its own followers.
        Members who followed after the revision are not owed it, nor followers in a server
        Briefbot was removed from (its follows are kept 30 days in case it is added back, but
        it shows its members nothing now).
        """
        now = self.db.now()
        queued = 0
        async with self.db.transaction() as conn:
            for change in changed:
                before = change.before.revision_id if change.before else None
                owed = (change.revision_id, before, now, now)
                if change.guild_id is None:
                    result = await conn.execute(
                        self._owe_curated, (*owed, change.slug, change.revision_id)
                    )
                else:
                    result = await conn.execute(
                        _OWE_SERVER, (*owed, change.guild_id, change.slug, change.revision_id)
                    )
                queued += max(result.rowcount, 0)
            # Never backwards: another process may have moved it further meanwhile.
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value "
                "WHERE CAST(excluded.value AS BIGINT) > CAST(meta.value AS BIGINT)",
                (CURSOR_KEY, str(cursor)),
            )
        return queued

    # -- the send record --

    async def due(self, now: str, stale_before: str, limit: int, *, after: int = 0) -> list[Owed]:
        """DMs to send now (pending and due), and claims left unsettled since `stale_before`
        (a crash or a cut connection between claim and settle), oldest first, from after the
        send row `after` (a pass pages through them once)."""
        async with self.db.conn.execute(
            "SELECT id, guild_id, user_id, slug, revision_id, previous_id, state, attempts, "
            "updated_at FROM follow_sends WHERE id > ? AND "
            "((state = 'pending' AND not_before <= ?) OR (state = 'sending' AND updated_at < ?)) "
            "ORDER BY id LIMIT ?",
            (after, now, stale_before, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            Owed(
                send_id=int(r[0]),
                guild_id=int(r[1]),
                user_id=int(r[2]),
                slug=str(r[3]),
                revision_id=int(r[4]),
                previous_id=None if r[5] is None else int(r[5]),
                state=str(r[6]),
                attempts=int(r[7]),
                updated_at=str(r[8]),
            )
            for r in rows
        ]

    async def next_due(self) -> str | None:
        """When the earliest pending DM may go (None: nothing pending)."""
        async with self.db.conn.execute(
            "SELECT min(not_before) FROM follow_sends WHERE state = 'pending'"
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else str(row[0])

    async def claim(self, owed: Owed) -> Claim:
        """Take `owed` for sending, if no one else has and its member still follows the topic:
        claimed, taken (someone else's), or gone (unfollowed: dropped, nothing to send)."""
        now = self.db.now()
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT 1 FROM follows WHERE guild_id = ? AND user_id = ? AND slug = ?",
                (owed.guild_id, owed.user_id, owed.slug),
            ) as cursor:
                following = await cursor.fetchone() is not None
            result = await conn.execute(
                "UPDATE follow_sends SET state = ?, attempts = attempts + ?, updated_at = ? "
                "WHERE id = ? AND state = ? AND updated_at = ?",
                (
                    "sending" if following else "dropped",
                    1 if following else 0,
                    now,
                    owed.send_id,
                    owed.state,
                    owed.updated_at,
                ),
            )
        if result.rowcount != 1:
            return "taken"
        return "claimed" if following else "gone"

    async def sent(self, owed: Owed, message_id: int) -> None:
        """The DM reached the member: settle it and forget earlier refusals."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE follow_sends SET state = 'sent', message_id = ?, updated_at = ? "
                "WHERE id = ?",
                (message_id, self.db.now(), owed.send_id),
            )
            await conn.execute(
                "UPDATE follows SET failures = 0 WHERE guild_id = ? AND user_id = ? AND slug = ?",
                (owed.guild_id, owed.user_id, owed.slug),
            )

    async def later(self, owed: Owed, not_before: str, *, attempted: bool = True) -> None:
        """Not sent, to be tried again from `not_before`. Not `attempted`: nothing reached
        Discord (it refused to open the DM channel), so the claim's attempt is given back."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE follow_sends SET state = 'pending', not_before = ?, updated_at = ?, "
                "attempts = attempts - ? WHERE id = ?",
                (not_before, self.db.now(), 0 if attempted else 1, owed.send_id),
            )

    async def give_up(self, owed: Owed) -> None:
        """Not sent, and not to be tried again (the error was not the member's doing)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE follow_sends SET state = 'failed', updated_at = ? WHERE id = ?",
                (self.db.now(), owed.send_id),
            )

    async def refused(self, owed: Owed, limit: int) -> bool:
        """The member's DMs are closed: settle the send as failed, count it against the
        follow, and unfollow at `limit` refusals in a row. True if it was unfollowed."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE follow_sends SET state = 'failed', updated_at = ? WHERE id = ?",
                (self.db.now(), owed.send_id),
            )
            key = (owed.guild_id, owed.user_id, owed.slug)
            await conn.execute(
                "UPDATE follows SET failures = failures + 1 "
                "WHERE guild_id = ? AND user_id = ? AND slug = ?",
                key,
            )
            result = await conn.execute(
                "DELETE FROM follows WHERE guild_id = ? AND user_id = ? AND slug = ? "
                "AND failures >= ?",
                (*key, limit),
            )
            return result.rowcount > 0

    async def prune(self, before: str) -> int:
        """Forget settled sends last touched before `before`: the feed's cursor is long past
        their revisions, so nothing can owe them again."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM follow_sends WHERE state IN ('sent', 'failed', 'dropped') "
                "AND updated_at < ?",
                (before,),
            )
            return cursor.rowcount

    async def states(self) -> dict[str, int]:
        """How many send rows are in each state (tests, the benchmark)."""
        async with self.db.conn.execute(
            "SELECT state, count(*) FROM follow_sends GROUP BY state"
        ) as cursor:
            return {str(r[0]): int(r[1]) for r in await cursor.fetchall()}


def _snapshot(revision_id: int, raw: str) -> Snapshot:
    data = json.loads(raw)
    return Snapshot(revision_id, SectionContent.from_json(data), str(data.get("status", "active")))
