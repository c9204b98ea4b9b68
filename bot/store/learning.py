"""The learning loop's tables: members' signals on answers, outdated flags, the questions
moderators taught as aliases (and "still accurate" reviews), and the review items they settled.

Every row is one server's; no query here reads across servers except the statistics and the
retention, which only count or delete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple

from bot.store.database import Connection, Database

SignalKind = Literal["helpful", "wrong", "pick"]
ItemKind = Literal["unanswered", "misanswered", "outdated"]
Settled = Literal["taught", "dismissed"]


class AlreadyTaught(Exception):
    """That question is already taught to that topic in this server (nothing was written)."""


class TooManyTaught(Exception):
    """The topic holds the most taught questions one server may give it (nothing written)."""


class NotUndoable(Exception):
    """The addition asked for does not exist here, is already undone, or is itself an undo."""


class AskedRecord(NamedTuple):
    """A logged question found by its card's reference."""

    question: str
    answered: str | None


@dataclass(frozen=True, slots=True)
class Addition:
    """One numbered change a server made to a topic without copying it."""

    guild_id: int
    slug: str
    number: int
    action: str  # taught, reviewed, undone
    detail: str  # the alias taught, the review's date, or what an undo undid
    target: int | None  # the number an undo undid
    active: bool
    author: str
    created_at: str


class Mark(NamedTuple):
    """Members' "Not what I asked" marks on one wording of a question and one answer."""

    question: str
    answered: str | None
    picked: str | None
    times: int
    last: str


class Flagged(NamedTuple):
    """A topic members flagged as outdated since its last update or review."""

    slug: str
    times: int
    last: str


class ItemState(NamedTuple):
    """A review item as last seen, and how it was settled (if it was)."""

    kind: str
    question: str
    answered: str | None
    times: int
    settled: str | None


class LearningStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- members' signals --

    async def asked(self, guild_id: int, ref: int) -> AskedRecord | None:
        """The question a card answered, by the interaction that asked it (in this server)."""
        async with self.db.conn.execute(
            "SELECT question, answered FROM asks WHERE guild_id = ? AND ref = ? "
            "ORDER BY id DESC LIMIT 1",
            (guild_id, ref),
        ) as cursor:
            row = await cursor.fetchone()
        return AskedRecord(row[0], row[1]) if row is not None else None

    async def signal(
        self,
        guild_id: int,
        ref: int,
        user_id: int,
        kind: SignalKind,
        question: str,
        answered: str | None,
        picked: str | None = None,
    ) -> bool:
        """Record one member's signal; False if they had already given this one (a pick or a
        "not what I asked" choice is replaced by the newer one, still counted once)."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT picked FROM signals WHERE guild_id = ? AND ref = ? AND user_id = ? "
                "AND kind = ?",
                (guild_id, ref, user_id, kind),
            )
            before = await cursor.fetchone()
            if before is None:
                await conn.execute(
                    "INSERT INTO signals (guild_id, ref, user_id, kind, question, answered, "
                    "picked, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (guild_id, ref, user_id, kind, question, answered, picked, self.db.now()),
                )
                return True
            if before[0] != picked:
                await conn.execute(
                    "UPDATE signals SET picked = ? WHERE guild_id = ? AND ref = ? "
                    "AND user_id = ? AND kind = ?",
                    (picked, guild_id, ref, user_id, kind),
                )
            return False

    async def withdraw_pick(self, guild_id: int, ref: int, user_id: int, slug: str) -> None:
        """A member's pick of `slug` for question `ref` (a topic opened after no answer) is
        withdrawn: they said that topic was not what they asked."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM signals WHERE guild_id = ? AND ref = ? AND user_id = ? "
                "AND kind = 'pick' AND picked = ?",
                (guild_id, ref, user_id, slug),
            )

    async def flag_outdated(self, guild_id: int, slug: str, user_id: int) -> bool:
        """One member flags a topic; False if they had flagged it since its last update."""
        since = await self.last_update(guild_id, slug)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT flagged_at FROM outdated_flags WHERE guild_id = ? AND slug = ? "
                "AND user_id = ?",
                (guild_id, slug.casefold(), user_id),
            )
            before = await cursor.fetchone()
            if before is not None and before[0] > since:
                return False
            await conn.execute(
                "INSERT INTO outdated_flags (guild_id, slug, user_id, flagged_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id, slug, user_id) "
                "DO UPDATE SET flagged_at = excluded.flagged_at",
                (guild_id, slug.casefold(), user_id, self.db.now()),
            )
            return True

    async def last_update(self, guild_id: int, slug: str) -> str:
        """When the topic this server sees under `slug` last changed or was reviewed here
        (ISO time; "" if never): the server's own copy's newest revision, else the curated
        one's, or the server's newest standing review if later."""
        # Spelt as the unique index on (scope, slug) is, so that it is used.
        scope = self.db.dialect.scope("s.guild_id")
        async with self.db.conn.execute(
            "SELECT max(r.created_at) FROM revisions AS r JOIN sections AS s "  # noqa: S608
            f"ON s.id = r.section_id WHERE {scope} = ? AND lower(s.slug) = ?",
            (guild_id, slug.casefold()),
        ) as cursor:
            own = await cursor.fetchone()
        changed = own[0] if own is not None else None
        if changed is None:
            async with self.db.conn.execute(
                "SELECT max(r.created_at) FROM revisions AS r JOIN sections AS s "  # noqa: S608
                f"ON s.id = r.section_id WHERE {scope} = 0 AND s.guild_id IS NULL "
                "AND lower(s.slug) = ?",
                (slug.casefold(),),
            ) as cursor:
                curated = await cursor.fetchone()
            changed = curated[0] if curated is not None else None
        async with self.db.conn.execute(
            "SELECT max(created_at) FROM topic_additions WHERE guild_id = ? AND slug = ? "
            "AND action = 'reviewed' AND active = 1",
            (guild_id, slug.casefold()),
        ) as cursor:
            reviewed = await cursor.fetchone()
        return max(changed or "", (reviewed[0] if reviewed is not None else None) or "")

    async def flagged(self, guild_id: int) -> list[Flagged]:
        """Topics flagged outdated by at least one member since their last update, most first."""
        async with self.db.conn.execute(
            "SELECT slug, flagged_at FROM outdated_flags WHERE guild_id = ?", (guild_id,)
        ) as cursor:
            rows = [(str(r[0]), str(r[1])) for r in await cursor.fetchall()]
        by_slug: dict[str, list[str]] = {}
        for slug, when in rows:
            by_slug.setdefault(slug, []).append(when)
        found = []
        for slug, times in by_slug.items():
            since = await self.last_update(guild_id, slug)
            recent = [t for t in times if t > since]
            if recent:
                found.append(Flagged(slug, len(recent), max(recent)))
        found.sort(key=lambda f: (-f.times, f.slug))
        return found

    async def marks(self, guild_id: int, since: str) -> list[Mark]:
        """ "Not what I asked" marks since `since`, by wording, answer and the topic picked."""
        async with self.db.conn.execute(
            "SELECT question, answered, picked, count(*), max(created_at) FROM signals "
            "WHERE guild_id = ? AND kind = 'wrong' AND created_at >= ? "
            "GROUP BY question, answered, picked",
            (guild_id, since),
        ) as cursor:
            return [Mark(*row) for row in await cursor.fetchall()]

    async def marks_after(self, guild_id: int, signal_id: int) -> list[Mark]:
        """ "Not what I asked" marks given after signal `signal_id`, grouped like `marks`."""
        async with self.db.conn.execute(
            "SELECT question, answered, picked, count(*), max(created_at) FROM signals "
            "WHERE guild_id = ? AND kind = 'wrong' AND id > ? "
            "GROUP BY question, answered, picked",
            (guild_id, signal_id),
        ) as cursor:
            return [Mark(*row) for row in await cursor.fetchall()]

    async def picks(self, guild_id: int, questions: Iterable[str], since: str) -> list[str]:
        """Topics members picked for these wordings ("not what I asked" choices, and topics
        opened from the closest ones after no answer), most picked first."""
        # The wordings are lowered by the database, as the signals' are: its lower() and
        # Python's disagree beyond ASCII.
        wordings = self.db.dialect.lowered()
        async with self.db.conn.execute(
            "SELECT picked, count(*) FROM signals WHERE guild_id = ? AND kind IN ('wrong', "  # noqa: S608
            "'pick') AND picked IS NOT NULL AND created_at >= ? AND lower(question) IN "
            f"({wordings}) GROUP BY picked ORDER BY 2 DESC, 1",
            (guild_id, since, self.db.dialect.values(sorted(set(questions)))),
        ) as cursor:
            return [str(row[0]) for row in await cursor.fetchall()]

    # -- what moderators add to a topic --

    async def add(
        self,
        guild_id: int,
        slug: str,
        action: Literal["taught", "reviewed"],
        detail: str,
        *,
        author: str,
        author_id: int | None,
        max_taught: int | None = None,
    ) -> Addition:
        """Number and write one addition. A taught question already standing for the topic
        raises AlreadyTaught; one more than `max_taught` raises TooManyTaught."""
        slug = slug.casefold()
        async with self.db.transaction() as conn:
            if action == "taught":
                cursor = await conn.execute(
                    "SELECT detail FROM topic_additions WHERE guild_id = ? AND slug = ? "
                    "AND action = 'taught' AND active = 1",
                    (guild_id, slug),
                )
                standing = [str(r[0]).casefold() for r in await cursor.fetchall()]
                if detail.casefold() in standing:
                    raise AlreadyTaught(detail)
                if max_taught is not None and len(standing) >= max_taught:
                    raise TooManyTaught(slug)
            number = await self._next_number(conn, guild_id, slug)
            now = self.db.now()
            await conn.execute(
                "INSERT INTO topic_additions (guild_id, slug, number, action, detail, author, "
                "author_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (guild_id, slug, number, action, detail, author, author_id, now),
            )
        return Addition(guild_id, slug, number, action, detail, None, True, author, now)

    async def undo(
        self, guild_id: int, slug: str, number: int, *, author: str, author_id: int | None
    ) -> tuple[Addition, Addition]:
        """Undo addition `number` (a teaching or a review): (the undone one, the undo)."""
        slug = slug.casefold()
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                _SELECT_ADDITIONS + "WHERE guild_id = ? AND slug = ? AND number = ?",
                (guild_id, slug, number),
            )
            row = await cursor.fetchone()
            if row is None or not row[6] or row[4] == "undone":
                raise NotUndoable(number)
            undone = _addition(row)
            await conn.execute(
                "UPDATE topic_additions SET active = 0 WHERE guild_id = ? AND slug = ? "
                "AND number = ?",
                (guild_id, slug, number),
            )
            new = await self._next_number(conn, guild_id, slug)
            now = self.db.now()
            await conn.execute(
                "INSERT INTO topic_additions (guild_id, slug, number, action, detail, target, "
                "author, author_id, created_at) VALUES (?, ?, ?, 'undone', ?, ?, ?, ?, ?)",
                (guild_id, slug, new, undone.detail, number, author, author_id, now),
            )
        undo = Addition(guild_id, slug, new, "undone", undone.detail, number, True, author, now)
        return undone, undo

    @staticmethod
    async def _next_number(conn: Connection, guild_id: int, slug: str) -> int:
        cursor = await conn.execute(
            "SELECT coalesce(max(number), 0) + 1 FROM topic_additions WHERE guild_id = ? "
            "AND slug = ?",
            (guild_id, slug),
        )
        row = await cursor.fetchone()
        return int(row[0])

    async def additions(
        self, guild_id: int, slug: str, limit: int = 10, offset: int = 0
    ) -> list[Addition]:
        """A topic's additions in this server, newest first, `offset` newest ones skipped."""
        async with self.db.conn.execute(
            _SELECT_ADDITIONS + "WHERE guild_id = ? AND slug = ? ORDER BY number DESC "
            "LIMIT ? OFFSET ?",
            (guild_id, slug.casefold(), limit, offset),
        ) as cursor:
            return [_addition(row) for row in await cursor.fetchall()]

    async def addition_count(self, guild_id: int, slug: str) -> int:
        """How many additions (undos included) this server made to a topic."""
        async with self.db.conn.execute(
            "SELECT count(*) FROM topic_additions WHERE guild_id = ? AND slug = ?",
            (guild_id, slug.casefold()),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def taught(
        self, guild_ids: Iterable[int] | None = None
    ) -> dict[int, dict[str, list[str]]]:
        """Standing taught questions: server -> topic slug (casefolded) -> questions, oldest
        first (None: of every server)."""
        found: dict[int, dict[str, list[str]]] = {}
        for guild_id, slug, detail in await self._standing("taught", guild_ids):
            found.setdefault(guild_id, {}).setdefault(slug, []).append(detail)
        return found

    async def reviewed(self, guild_ids: Iterable[int] | None = None) -> dict[int, dict[str, date]]:
        """The newest standing "still accurate" review: server -> slug -> its date."""
        found: dict[int, dict[str, date]] = {}
        for guild_id, slug, detail in await self._standing("reviewed", guild_ids):
            day = date.fromisoformat(detail)
            slugs = found.setdefault(guild_id, {})
            slugs[slug] = max(day, slugs.get(slug, day))
        return found

    async def _standing(
        self, action: str, guild_ids: Iterable[int] | None
    ) -> list[tuple[int, str, str]]:
        params: tuple[Any, ...] = (action,)
        chosen = ""
        if guild_ids is not None:
            chosen = f"AND {self.db.dialect.any_of('guild_id')} "
            params = (action, self.db.dialect.values(sorted(set(guild_ids))))
        async with self.db.conn.execute(
            "SELECT guild_id, slug, detail FROM topic_additions WHERE action = ? AND active = 1 "  # noqa: S608
            f"{chosen}ORDER BY guild_id, slug, number",
            params,
        ) as cursor:
            return [(int(r[0]), str(r[1]), str(r[2])) for r in await cursor.fetchall()]

    async def newest_addition(self) -> int:
        """The id of the newest addition (another process's teaching shows as a larger one)."""
        async with self.db.conn.execute("SELECT coalesce(max(id), 0) FROM topic_additions") as c:
            row = await c.fetchone()
        return int(row[0]) if row is not None else 0

    async def additions_up_to(self, addition_id: int) -> int:
        """How many additions there are up to id `addition_id`: additions are never deleted
        but with their server's data, so fewer than before means a server was purged."""
        async with self.db.conn.execute(
            "SELECT count(*) FROM topic_additions WHERE id <= ?", (addition_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row is not None else 0

    async def additions_since(self, addition_id: int) -> tuple[int, set[int]]:
        """The newest addition id and the servers that added anything after `addition_id`."""
        async with self.db.conn.execute(
            f"SELECT coalesce(max(id), ?), {self.db.dialect.json_array('DISTINCT guild_id')} "  # noqa: S608
            "FROM topic_additions WHERE id > ?",
            (addition_id, addition_id),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return addition_id, set()
        return int(row[0]), {int(g) for g in json.loads(row[1])}

    # -- review items --

    async def seen(
        self,
        guild_id: int,
        key: str,
        kind: ItemKind,
        question: str,
        answered: str | None,
        count: int,
        *,
        settled_after: int | None = None,
    ) -> None:
        """Remember an item a moderator is shown, so that a click on it finds it again.

        An item shown again after it was settled (it came back) is open again:
        `settled_after` is the settlement the caller read (None: it read the item open), so
        one settled since, by another moderator's click, stays settled."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO review_items (guild_id, key, kind, question, answered, count, "  # noqa: S608
                "seen_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, key) DO UPDATE "
                "SET question = excluded.question, answered = excluded.answered, "
                "count = excluded.count, seen_at = excluded.seen_at, "
                "settled = CASE WHEN review_items.settled IS NULL "
                f"OR {self.db.dialect.same('review_items.settled_after')} "
                "THEN NULL ELSE review_items.settled END",
                (guild_id, key, kind, question, answered, count, self.db.now(), settled_after),
            )

    async def item(self, guild_id: int, key: str) -> ItemState | None:
        async with self.db.conn.execute(
            "SELECT kind, question, answered, count, settled "
            "FROM review_items WHERE guild_id = ? AND key = ?",
            (guild_id, key),
        ) as cursor:
            row = await cursor.fetchone()
        return ItemState(*row) if row is not None else None

    async def settled(self, guild_id: int) -> dict[str, int]:
        """Items taught or dismissed in this server (and not shown since): key -> the id of the
        newest ask (unanswered) or signal (misanswered) when it was settled."""
        async with self.db.conn.execute(
            "SELECT key, settled_after FROM review_items WHERE guild_id = ? "
            "AND settled IS NOT NULL",
            (guild_id,),
        ) as cursor:
            return {str(r[0]): int(r[1] or 0) for r in await cursor.fetchall()}

    async def settle(self, guild_id: int, key: str, how: Settled) -> None:
        """Settle an item now: what is asked or marked after this counts towards its return
        (the caller has written the queued asks first)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE review_items SET settled = ?, settled_at = ?, "
                "settled_after = CASE kind WHEN 'misanswered' "
                "THEN (SELECT coalesce(max(id), 0) FROM signals) "
                "ELSE (SELECT coalesce(max(id), 0) FROM asks) END, "
                "dismissals = dismissals + ? WHERE guild_id = ? AND key = ?",
                (how, self.db.now(), int(how == "dismissed"), guild_id, key),
            )

    # -- statistics and retention --

    async def signal_counts(self, since: str) -> dict[str, int]:
        """Signals given since `since` (every server), by kind, outdated flags included."""
        async with self.db.conn.execute(
            "SELECT kind, count(*) FROM signals WHERE created_at >= ? GROUP BY kind", (since,)
        ) as cursor:
            counts = {str(k): int(n) for k, n in await cursor.fetchall()}
        async with self.db.conn.execute(
            "SELECT count(*) FROM outdated_flags WHERE flagged_at >= ?", (since,)
        ) as cursor:
            row = await cursor.fetchone()
        counts["outdated"] = int(row[0]) if row is not None else 0
        return counts

    async def settled_counts(self, since: str) -> dict[str, int]:
        """Questions taught, and review items dismissed (last) since `since`, every server."""
        async with self.db.conn.execute(
            "SELECT count(*) FROM topic_additions WHERE action = 'taught' AND created_at >= ?",
            (since,),
        ) as cursor:
            taught = await cursor.fetchone()
        async with self.db.conn.execute(
            "SELECT coalesce(sum(dismissals), 0) FROM review_items WHERE settled_at >= ?",
            (since,),
        ) as cursor:
            dismissed = await cursor.fetchone()
        return {
            "taught": int(taught[0]) if taught is not None else 0,
            "dismissed": int(dismissed[0]) if dismissed is not None else 0,
        }

    async def prune(self, before: str) -> int:
        """Delete signals, flags and unsettled review items older than `before`. A settled
        item stays (it says when the item comes back) without its question's words, which
        are kept no longer than the asks log keeps them."""
        async with self.db.transaction() as conn:
            total = 0
            for sql in (
                "DELETE FROM signals WHERE created_at < ?",
                "DELETE FROM outdated_flags WHERE flagged_at < ?",
                "DELETE FROM review_items WHERE settled IS NULL AND seen_at < ?",
            ):
                cursor = await conn.execute(sql, (before,))
                total += cursor.rowcount
            await conn.execute(
                "UPDATE review_items SET question = '' WHERE settled IS NOT NULL "
                "AND seen_at < ? AND question != ''",
                (before,),
            )
        return total


_SELECT_ADDITIONS = (
    "SELECT guild_id, slug, number, detail, action, target, active, author, created_at "
    "FROM topic_additions "
)


def _addition(row: Any) -> Addition:
    guild_id, slug, number, detail, action, target, active, author, created_at = row
    return Addition(
        int(guild_id),
        str(slug),
        int(number),
        str(action),
        str(detail),
        None if target is None else int(target),
        bool(active),
        str(author),
        str(created_at),
    )
