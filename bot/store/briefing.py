"""Daily-explainer state: schedules, the rotation, and the claimed posts.

`claim` is the heart of "exactly once": in one transaction it inserts the (server, local date)
row, marks the section shown and moves the schedule to the next day. A second claim of the same
day finds the row and does nothing, whatever crashed or retried in between.

Every change to a schedule is a read-modify-write inside one transaction: `update` for the
moderators' commands, and `claim` / `skip` for the scheduler, which only write if the schedule
is still the one the scheduler decided on. So a command and the scheduler's advance can never
undo each other, in one process or in several sharing the database.

A claim is also a lease: the process that holds it is the only one sending until `retry_at`.
Another process (overlapping shard settings, a restart) takes a pending claim over only once
the lease has run out, and only one of them can (`take_over`).

A server may ask for a discussion thread on each post. The thread is asked for only in the
transaction that records the post as sent (`finish` with a thread name): a post retried after a
crash is still claimed, so it cannot have asked yet. A thread still to open is leased the same
way (`take_thread`), and `thread_opened` / `thread_failed` settle it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, NamedTuple

from bot.store.database import Connection, Database, Row

PostStatus = Literal["claimed", "sent", "failed", "skipped"]
# A post's discussion thread: still to open, opened, or given up on (the reason kept).
ThreadState = Literal["pending", "opened", "failed"]
# What a claim attempt found: the day is ours now, it was claimed before (by us or another
# process), or the schedule changed since the scheduler read it (nothing was written).
ClaimResult = Literal["claimed", "taken", "changed"]
# Local dates around the one a command asks about whose posts are looked up with the schedule.
TAKEN_WINDOW = timedelta(days=2)


class ThreadRequest(NamedTuple):
    """A discussion thread asked for with a post recorded as sent: where the post went, the
    thread's name, and until when the process recording it holds it."""

    channel_id: int
    name: str
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    guild_id: int
    channel_id: int | None
    local_time: str
    timezone: str
    paused_reason: str | None
    next_due: datetime
    next_local_date: date
    next_topic: str | None
    thread: bool = False  # open a discussion thread on each daily post


@dataclass(frozen=True, slots=True)
class Post:
    guild_id: int
    local_date: date
    slug: str | None
    channel_id: int | None
    nonce: str
    status: PostStatus
    claimed_at: str
    sent_at: str | None
    message_id: int | None
    attempts: int
    retry_at: datetime | None
    error: str | None
    recovery: str | None = None
    thread_state: ThreadState | None = None
    thread_name: str | None = None
    thread_id: int | None = None
    thread_error: str | None = None
    thread_attempts: int = 0
    thread_retry_at: datetime | None = None


def _schedule(row: Row) -> Schedule:
    return Schedule(
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        local_time=row["local_time"],
        timezone=row["timezone"],
        paused_reason=row["paused_reason"],
        next_due=datetime.fromisoformat(row["next_due_utc"]),
        next_local_date=date.fromisoformat(row["next_local_date"]),
        next_topic=row["next_topic"],
        thread=bool(row["thread"]),
    )


def _post(row: Row) -> Post:
    return Post(
        guild_id=row["guild_id"],
        local_date=date.fromisoformat(row["local_date"]),
        slug=row["slug"],
        channel_id=row["channel_id"],
        nonce=row["nonce"],
        status=row["status"],
        claimed_at=row["claimed_at"],
        sent_at=row["sent_at"],
        message_id=row["message_id"],
        attempts=row["attempts"],
        retry_at=datetime.fromisoformat(row["retry_at"]) if row["retry_at"] else None,
        error=row["error"],
        recovery=row["recovery"],
        thread_state=row["thread_state"],
        thread_name=row["thread_name"],
        thread_id=row["thread_id"],
        thread_error=row["thread_error"],
        thread_attempts=row["thread_attempts"],
        thread_retry_at=(
            datetime.fromisoformat(row["thread_retry_at"]) if row["thread_retry_at"] else None
        ),
    )


ScheduleEdit = Callable[[Schedule | None, frozenset[date]], Schedule | None]
"""Given the schedule as it is now (or None) and the local dates near it that already have a
post row, the schedule to write (or None to write nothing); may raise to change nothing."""


async def _current(conn: Connection, guild_id: int) -> Schedule | None:
    async with conn.execute(
        "SELECT * FROM briefing_schedules WHERE guild_id = ?", (guild_id,)
    ) as cursor:
        row = await cursor.fetchone()
    return _schedule(row) if row else None


class BriefingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, guild_id: int) -> Schedule | None:
        async with self.db.conn.execute(
            "SELECT * FROM briefing_schedules WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return _schedule(row) if row else None

    async def save(self, schedule: Schedule) -> None:
        """Write `schedule` as it is (set-up and tests; commands go through `update`)."""
        async with self.db.transaction() as conn:
            await self._write(conn, schedule)

    async def _write(self, conn: Connection, schedule: Schedule) -> None:
        await conn.execute(
            "INSERT INTO briefing_schedules (guild_id, channel_id, local_time, timezone, "
            "paused_reason, next_due_utc, next_local_date, next_topic, thread, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
            "channel_id = excluded.channel_id, local_time = excluded.local_time, "
            "timezone = excluded.timezone, paused_reason = excluded.paused_reason, "
            "next_due_utc = excluded.next_due_utc, next_local_date = excluded.next_local_date, "
            "next_topic = excluded.next_topic, thread = excluded.thread, "
            "updated_at = excluded.updated_at",
            (
                schedule.guild_id,
                schedule.channel_id,
                schedule.local_time,
                schedule.timezone,
                schedule.paused_reason,
                schedule.next_due.isoformat(),
                schedule.next_local_date.isoformat(),
                schedule.next_topic,
                int(schedule.thread),
                self.db.now(),
            ),
        )

    async def update(self, guild_id: int, edit: ScheduleEdit, *, around: date) -> Schedule | None:
        """Read, edit and write one server's schedule in one transaction.

        `edit` sees the schedule as committed now (including any advance the scheduler made a
        moment ago) and the local dates within TAKEN_WINDOW of `around` that already have a
        post; what it returns is written before any other writer can run. Returns the
        schedule as it is afterwards.
        """
        async with self.db.transaction() as conn:
            current = await _current(conn, guild_id)
            async with conn.execute(
                "SELECT local_date FROM briefing_posts WHERE guild_id = ? "
                "AND local_date BETWEEN ? AND ?",
                (
                    guild_id,
                    (around - TAKEN_WINDOW).isoformat(),
                    (around + TAKEN_WINDOW).isoformat(),
                ),
            ) as cursor:
                taken = frozenset(date.fromisoformat(row[0]) for row in await cursor.fetchall())
            changed = edit(current, taken)
            if changed is None or changed == current:
                return current
            await self._write(conn, changed)
            return changed

    async def delete(self, guild_id: int) -> bool:
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "DELETE FROM briefing_schedules WHERE guild_id = ?", (guild_id,)
            )
            return cursor.rowcount > 0

    async def due(self, now: datetime) -> list[Schedule]:
        """Running schedules whose next post is due at `now` (UTC), most overdue first."""
        async with self.db.conn.execute(
            "SELECT * FROM briefing_schedules WHERE paused_reason IS NULL AND next_due_utc <= ? "
            "ORDER BY next_due_utc",
            (now.isoformat(),),
        ) as cursor:
            return [_schedule(row) for row in await cursor.fetchall()]

    async def pending(self, now: datetime) -> list[Post]:
        """Claimed posts not yet confirmed sent whose (re)try time has come."""
        async with self.db.conn.execute(
            "SELECT * FROM briefing_posts WHERE status = 'claimed' AND retry_at <= ? "
            "ORDER BY retry_at",
            (now.isoformat(),),
        ) as cursor:
            return [_post(row) for row in await cursor.fetchall()]

    async def shown(self, guild_id: int) -> set[str]:
        async with self.db.conn.execute(
            "SELECT slug FROM briefing_rotation WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            return {row[0] for row in await cursor.fetchall()}

    async def last_post(self, guild_id: int) -> Post | None:
        async with self.db.conn.execute(
            "SELECT * FROM briefing_posts WHERE guild_id = ? AND status != 'skipped' "
            "ORDER BY local_date DESC LIMIT 1",
            (guild_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return _post(row) if row else None

    async def post(self, guild_id: int, local_date: date) -> Post | None:
        async with self.db.conn.execute(
            "SELECT * FROM briefing_posts WHERE guild_id = ? AND local_date = ?",
            (guild_id, local_date.isoformat()),
        ) as cursor:
            row = await cursor.fetchone()
        return _post(row) if row else None

    async def posts(self, guild_id: int) -> list[Post]:
        async with self.db.conn.execute(
            "SELECT * FROM briefing_posts WHERE guild_id = ? ORDER BY local_date", (guild_id,)
        ) as cursor:
            return [_post(row) for row in await cursor.fetchall()]

    async def claim(
        self,
        schedule: Schedule,
        local_date: date,
        *,
        slug: str,
        nonce: str,
        new_cycle: bool,
        next_due: datetime,
        next_local_date: date,
        now: datetime,
        lease: timedelta,
    ) -> ClaimResult:
        """Claim `local_date`'s post and advance the rotation and schedule, all or nothing.

        "changed" (nothing written) if the schedule is no longer `schedule` (a command changed
        it after the scheduler read it: the next pass decides again); "taken" (only the
        schedule moves on) if the day was already claimed. The claim is leased to the caller
        until now + `lease`.
        """
        async with self.db.transaction() as conn:
            if await _current(conn, schedule.guild_id) != schedule:
                return "changed"
            cursor = await conn.execute(
                "INSERT INTO briefing_posts (guild_id, local_date, slug, channel_id, nonce, "
                "status, claimed_at, retry_at) VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?) "
                "ON CONFLICT (guild_id, local_date) DO NOTHING",
                (
                    schedule.guild_id,
                    local_date.isoformat(),
                    slug,
                    schedule.channel_id,
                    nonce,
                    now.isoformat(),
                    (now + lease).isoformat(),
                ),
            )
            claimed = cursor.rowcount == 1
            if claimed:
                if new_cycle:
                    await conn.execute(
                        "DELETE FROM briefing_rotation WHERE guild_id = ?", (schedule.guild_id,)
                    )
                await conn.execute(
                    "INSERT INTO briefing_rotation (guild_id, slug, shown_on) VALUES (?, ?, ?) "
                    "ON CONFLICT (guild_id, slug) DO UPDATE SET shown_on = excluded.shown_on",
                    (schedule.guild_id, slug, local_date.isoformat()),
                )
            await conn.execute(
                "UPDATE briefing_schedules SET next_due_utc = ?, next_local_date = ?, "
                "next_topic = CASE WHEN ? THEN NULL ELSE next_topic END WHERE guild_id = ?",
                (next_due.isoformat(), next_local_date.isoformat(), claimed, schedule.guild_id),
            )
        return "claimed" if claimed else "taken"

    async def take_over(self, post: Post, now: datetime, lease: timedelta) -> bool:
        """Take a pending claim whose (re)try time has come; False if another process has it.

        The update only matches the row as `post` saw it, so of several processes resuming the
        same claim exactly one gets it, and holds it until now + `lease`.
        """
        if post.retry_at is None:
            return False
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE briefing_posts SET retry_at = ? WHERE guild_id = ? AND local_date = ? "
                "AND status = 'claimed' AND retry_at = ? AND retry_at <= ?",
                (
                    (now + lease).isoformat(),
                    post.guild_id,
                    post.local_date.isoformat(),
                    post.retry_at.isoformat(),
                    now.isoformat(),
                ),
            )
            return cursor.rowcount == 1

    async def record_message(self, guild_id: int, local_date: date, message_id: int) -> None:
        """Note the first message of a claimed post as soon as Discord returned its id."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE briefing_posts SET message_id = ? WHERE guild_id = ? AND local_date = ? "
                "AND status = 'claimed'",
                (message_id, guild_id, local_date.isoformat()),
            )

    async def skip(
        self,
        schedule: Schedule,
        local_date: date,
        *,
        reason: str,
        next_due: datetime,
        next_local_date: date,
        now: datetime,
    ) -> bool:
        """Record a day that was not posted (missed while down) and move the schedule on.

        False (nothing written) if the schedule changed since the scheduler read it.
        """
        async with self.db.transaction() as conn:
            if await _current(conn, schedule.guild_id) != schedule:
                return False
            await conn.execute(
                "INSERT INTO briefing_posts (guild_id, local_date, channel_id, nonce, status, "
                "claimed_at, error) VALUES (?, ?, ?, '', 'skipped', ?, ?) "
                "ON CONFLICT (guild_id, local_date) DO NOTHING",
                (
                    schedule.guild_id,
                    local_date.isoformat(),
                    schedule.channel_id,
                    now.isoformat(),
                    reason,
                ),
            )
            await conn.execute(
                "UPDATE briefing_schedules SET next_due_utc = ?, next_local_date = ? "
                "WHERE guild_id = ?",
                (next_due.isoformat(), next_local_date.isoformat(), schedule.guild_id),
            )
        return True

    async def finish(
        self,
        guild_id: int,
        local_date: date,
        status: PostStatus,
        *,
        now: datetime,
        message_id: int | None = None,
        error: str | None = None,
        pause_reason: str | None = None,
        recovery: str | None = None,
        thread: ThreadRequest | None = None,
    ) -> None:
        """Mark a claimed post sent, failed or skipped; a failure may pause the server.

        `thread`, on a post recorded as sent, asks for its discussion thread in the same
        transaction (only if none was asked for before); the caller holds it until the
        lease ends, then anyone may take it over (`take_thread`).
        """
        wants_thread = thread is not None and status == "sent"
        channel_id = thread.channel_id if thread is not None and wants_thread else None
        name = thread.name if thread is not None and wants_thread else None
        lease = thread.lease_until if thread is not None and wants_thread else None
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE briefing_posts SET status = ?, sent_at = ?, "
                "message_id = COALESCE(?, message_id), error = ?, retry_at = NULL, "
                "recovery = COALESCE(?, recovery), "
                "thread_state = CASE WHEN ? AND thread_state IS NULL THEN 'pending' "
                "ELSE thread_state END, "
                "thread_name = COALESCE(thread_name, ?), "
                "channel_id = COALESCE(?, channel_id), "
                "thread_retry_at = CASE WHEN ? AND thread_state IS NULL THEN ? "
                "ELSE thread_retry_at END "
                "WHERE guild_id = ? AND local_date = ?",
                (
                    status,
                    now.isoformat() if status == "sent" else None,
                    message_id,
                    error,
                    recovery,
                    wants_thread,
                    name,
                    channel_id,
                    wants_thread,
                    lease.isoformat() if lease else None,
                    guild_id,
                    local_date.isoformat(),
                ),
            )
            if pause_reason is not None:
                await conn.execute(
                    "UPDATE briefing_schedules SET paused_reason = ? WHERE guild_id = ?",
                    (pause_reason, guild_id),
                )

    async def retry_later(
        self,
        guild_id: int,
        local_date: date,
        *,
        retry_at: datetime,
        error: str,
        recovery: str | None = None,
    ) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE briefing_posts SET attempts = attempts + 1, retry_at = ?, error = ?, "
                "recovery = COALESCE(?, recovery) "
                "WHERE guild_id = ? AND local_date = ? AND status = 'claimed'",
                (retry_at.isoformat(), error, recovery, guild_id, local_date.isoformat()),
            )

    # -- discussion threads --

    async def threads_pending(self, now: datetime) -> list[Post]:
        """Sent posts whose discussion thread is still to open and whose (re)try time has come."""
        async with self.db.conn.execute(
            "SELECT * FROM briefing_posts WHERE thread_state = 'pending' AND status = 'sent' "
            "AND thread_retry_at <= ? ORDER BY thread_retry_at",
            (now.isoformat(),),
        ) as cursor:
            return [_post(row) for row in await cursor.fetchall()]

    async def take_thread(self, post: Post, now: datetime, lease: timedelta) -> bool:
        """Take a pending thread whose (re)try time has come; False if another process has it.

        Like `take_over`: the update only matches the row as `post` saw it, so one process
        opens the thread, holding it until now + `lease`.
        """
        if post.thread_retry_at is None:
            return False
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE briefing_posts SET thread_retry_at = ? WHERE guild_id = ? "
                "AND local_date = ? AND thread_state = 'pending' AND thread_retry_at = ? "
                "AND thread_retry_at <= ?",
                (
                    (now + lease).isoformat(),
                    post.guild_id,
                    post.local_date.isoformat(),
                    post.thread_retry_at.isoformat(),
                    now.isoformat(),
                ),
            )
            return cursor.rowcount == 1

    async def thread_opened(self, guild_id: int, local_date: date, thread_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE briefing_posts SET thread_state = 'opened', thread_id = ?, "
                "thread_error = NULL, thread_retry_at = NULL "
                "WHERE guild_id = ? AND local_date = ? AND thread_state = 'pending'",
                (thread_id, guild_id, local_date.isoformat()),
            )

    async def thread_failed(self, guild_id: int, local_date: date, reason: str) -> None:
        """Give up on a post's thread; the reason is what /briefing show says."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE briefing_posts SET thread_state = 'failed', thread_error = ?, "
                "thread_retry_at = NULL "
                "WHERE guild_id = ? AND local_date = ? AND thread_state = 'pending'",
                (reason, guild_id, local_date.isoformat()),
            )

    async def thread_later(
        self, guild_id: int, local_date: date, *, retry_at: datetime, error: str
    ) -> None:
        """A thread that may open on a later try (Discord's 5xx, the network)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE briefing_posts SET thread_attempts = thread_attempts + 1, "
                "thread_retry_at = ?, thread_error = ? "
                "WHERE guild_id = ? AND local_date = ? AND thread_state = 'pending'",
                (retry_at.isoformat(), error, guild_id, local_date.isoformat()),
            )
