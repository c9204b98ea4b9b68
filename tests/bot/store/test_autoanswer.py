"""Help channels: turned on and off per server within a cap, and each message answered once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from bot.store.autoanswer import CLAIM_LIFETIME, AutoanswerStore, HelpChannel
from bot.store.database import Database
from tests.clock import Clock

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
GUILD, OTHER_GUILD = 1001, 1002
MOD = 7
SNOWFLAKE = 1_300_000_000_000_000_000  # ids are this large: bigint, not integer


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def store(db: Database) -> AutoanswerStore:
    return AutoanswerStore(db)


async def replies(db: Database) -> list[tuple[int, int]]:
    async with db.conn.execute(
        "SELECT guild_id, message_id FROM autoanswer_replies ORDER BY guild_id, message_id"
    ) as cursor:
        return [(int(r[0]), int(r[1])) for r in await cursor.fetchall()]


async def test_channels_are_listed_per_server_in_the_order_they_were_turned_on(
    store: AutoanswerStore, clock: Clock
) -> None:
    assert await store.channels(GUILD) == [] and await store.all_channels() == []
    assert await store.enable(GUILD, SNOWFLAKE + 3, "text", MOD, cap=5)
    clock.advance(minutes=1)
    assert await store.enable(OTHER_GUILD, SNOWFLAKE + 9, "forum", MOD, cap=5)
    assert await store.enable(GUILD, SNOWFLAKE + 1, "forum", MOD, cap=5)
    assert await store.channels(GUILD) == [
        HelpChannel(GUILD, SNOWFLAKE + 3, "text"),
        HelpChannel(GUILD, SNOWFLAKE + 1, "forum"),
    ]
    assert await store.all_channels() == [
        HelpChannel(GUILD, SNOWFLAKE + 3, "text"),
        HelpChannel(GUILD, SNOWFLAKE + 1, "forum"),
        HelpChannel(OTHER_GUILD, SNOWFLAKE + 9, "forum"),
    ]


async def test_turning_a_channel_on_again_only_changes_its_kind(
    store: AutoanswerStore, clock: Clock
) -> None:
    assert await store.enable(GUILD, 10, "text", MOD, cap=5)
    clock.advance(minutes=1)
    assert await store.enable(GUILD, 11, "text", MOD, cap=5)
    clock.advance(minutes=1)
    assert await store.enable(GUILD, 10, "forum", MOD + 1, cap=5)
    # Still first: it was turned on first, and is on once.
    assert await store.channels(GUILD) == [
        HelpChannel(GUILD, 10, "forum"),
        HelpChannel(GUILD, 11, "text"),
    ]


async def test_a_server_has_at_most_cap_channels_and_others_do_not_count(
    store: AutoanswerStore,
) -> None:
    for channel in (1, 2, 3):
        assert await store.enable(GUILD, channel, "text", MOD, cap=3)
    assert not await store.enable(GUILD, 4, "text", MOD, cap=3)
    assert [c.channel_id for c in await store.channels(GUILD)] == [1, 2, 3]
    # One already on is not another one: its kind can still change at the cap.
    assert await store.enable(GUILD, 2, "forum", MOD, cap=3)
    # Another server's channels are its own.
    for channel in (1, 2, 3):
        assert await store.enable(OTHER_GUILD, channel, "text", MOD, cap=3)
    assert await store.disable(GUILD, 3)
    assert await store.enable(GUILD, 4, "text", MOD, cap=3)
    assert [c.channel_id for c in await store.channels(GUILD)] == [1, 2, 4]


async def test_the_cap_holds_when_many_turn_channels_on_at_once(
    store: AutoanswerStore, open_db: Callable[[], Awaitable[Database]]
) -> None:
    """Three handles, as three processes would hold: each check-then-insert holds only
    because writers take turns across them too."""
    stores = [store, AutoanswerStore(await open_db()), AutoanswerStore(await open_db())]
    turned_on = await asyncio.gather(
        *(stores[c % 3].enable(GUILD, c, "text", MOD, cap=1) for c in range(9))
    )
    assert sum(turned_on) == 1 and len(await store.channels(GUILD)) == 1


async def test_disable_says_whether_the_channel_was_on(store: AutoanswerStore) -> None:
    await store.enable(GUILD, 10, "text", MOD, cap=5)
    await store.enable(OTHER_GUILD, 10, "text", MOD, cap=5)
    assert not await store.disable(GUILD, 11)
    assert await store.disable(GUILD, 10)
    assert not await store.disable(GUILD, 10)
    assert await store.channels(GUILD) == []
    assert await store.channels(OTHER_GUILD) == [HelpChannel(OTHER_GUILD, 10, "text")]


async def test_a_message_is_claimed_once_whoever_asks(store: AutoanswerStore, db: Database) -> None:
    message = SNOWFLAKE + 42
    claims = await asyncio.gather(*(store.claim(GUILD, 10, message) for _ in range(8)))
    assert sum(claims) == 1
    assert not await store.claim(GUILD, 10, message)
    # The same id in another server is another message.
    assert await store.claim(OTHER_GUILD, 10, message)
    assert await replies(db) == [(GUILD, message), (OTHER_GUILD, message)]


async def test_expired_claims_are_deleted_by_the_next_claim(
    store: AutoanswerStore, db: Database, clock: Clock
) -> None:
    assert await store.claim(GUILD, 10, 1)
    clock.advance(hours=12)
    assert await store.claim(OTHER_GUILD, 10, 2)
    clock.now = START + CLAIM_LIFETIME
    assert await store.claim(GUILD, 10, 3)
    assert await replies(db) == [(GUILD, 1), (GUILD, 3), (OTHER_GUILD, 2)]  # not expired yet
    clock.advance(seconds=1)
    assert await store.claim(GUILD, 10, 4)
    assert await replies(db) == [(GUILD, 3), (GUILD, 4), (OTHER_GUILD, 2)]
    clock.advance(days=1, seconds=1)
    # Forgotten by now, so a replayed event would claim it again (it is never that late).
    assert await store.claim(GUILD, 10, 1)
    assert await replies(db) == [(GUILD, 1)]
