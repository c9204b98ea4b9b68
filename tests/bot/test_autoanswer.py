"""Help channels' domain and store, without Discord: which messages a channel reads, the
stricter rule, the setting's refusals, one reply per message, the channel's reply rate, who may
remove a reply, and servers kept apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.autoanswer import (
    MAX_CHANNELS,
    MAX_UNKNOWN_SHARE,
    MIN_SCORE,
    REPLIES_PER_WINDOW,
    REPLY_WINDOW,
    Autoanswer,
    Incoming,
    IntentMissing,
    MissingPermissions,
    kind_of,
)
from bot.errors import LimitReached, NotAllowed
from bot.search import Hit
from bot.service import BriefingService
from bot.store.autoanswer import CLAIM_LIFETIME
from bot.store.guilds import GuildData
from tests.clock import Clock
from tests.discord_support import FIXED_NOW

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
A, B = 1001, 2002
HELP, FORUM, OTHER = 11, 22, 33
ALL = (
    "view_channel",
    "send_messages",
    "send_messages_in_threads",
    "embed_links",
    "read_message_history",
)
QUESTION = "can someone explain what the berlin talks are actually about?"


class Seconds:
    """The reply window's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def clock() -> Clock:
    return Clock(FIXED_NOW)


@pytest_asyncio.fixture
async def service(tmp_path: Path, clock: Clock) -> AsyncIterator[BriefingService]:
    opened = await BriefingService.open(tmp_path / "db.sqlite3", KNOWLEDGE, clock=clock)
    yield opened
    await opened.close()


@pytest.fixture
def seconds() -> Seconds:
    return Seconds()


@pytest_asyncio.fixture
async def helper(service: BriefingService, seconds: Seconds) -> Autoanswer:
    autoanswer = Autoanswer(service, reading=True, clock=seconds)
    await autoanswer.enable(A, HELP, "text", 7, channel_name="#help", granted=ALL)
    await autoanswer.enable(A, FORUM, "forum", 7, channel_name="#forum", granted=ALL)
    return autoanswer


def message(
    text: str = QUESTION,
    *,
    guild: int = A,
    channel: int = HELP,
    message_id: int = 500,
    parent: int | None = None,
    bot: bool = False,
) -> Incoming:
    return Incoming(guild, channel, message_id, parent, bot, text)


async def test_a_text_channel_reads_its_messages_and_a_forum_only_its_new_posts(
    helper: Autoanswer,
) -> None:
    assert helper.watched(message())
    assert not helper.watched(message(channel=OTHER))
    assert not helper.watched(message(bot=True))
    # A forum post: its thread has the first message's id.
    assert helper.watched(message(channel=900, message_id=900, parent=FORUM))
    assert not helper.watched(message(channel=900, message_id=901, parent=FORUM))
    # A thread under a text help channel is a discussion, not the channel.
    assert not helper.watched(message(channel=900, message_id=900, parent=HELP))
    # Another server's channel of the same id is not this server's setting.
    assert not helper.watched(message(guild=B))


async def test_a_confident_question_gets_its_section_once(helper: Autoanswer) -> None:
    section = await helper.reply_for(message())
    assert section is not None and section.slug == "berlin-talks"
    assert await helper.reply_for(message()) is None  # a replayed event
    # A fresh helper (another process, a restart) sees the claim too.
    again = Autoanswer(helper.service, reading=True, clock=Seconds())
    await again.load()
    assert again.watched(message())
    assert await again.reply_for(message()) is None


async def test_chatter_that_shares_words_with_the_briefing_gets_nothing(
    helper: Autoanswer,
) -> None:
    chatter = "who wants to play risk tonight, I call russia"
    # /ask would answer it...
    assert (await helper.service.ask(chatter, A, record=False)).section is not None
    # ...a help channel does not.
    assert await helper.reply_for(message(chatter)) is None
    assert await helper.reply_for(message("", message_id=501)) is None


def test_the_stricter_rule_reads_the_score_and_the_unknown_words(helper: Autoanswer) -> None:
    hit = Hit(1, "berlin-talks", "What are the Berlin talks?", 0.9)
    assert helper.judge("what are the berlin talks", A, hit).answers
    assert not helper.judge("what are the berlin talks", A, None).answers
    low = Hit(1, "berlin-talks", "What are the Berlin talks?", MIN_SCORE - 0.01)
    assert not helper.judge("what are the berlin talks", A, low).answers
    verdict = helper.judge("berlin talks zorblax quuxle", A, hit)
    assert verdict.unknown_share > MAX_UNKNOWN_SHARE and not verdict.answers


async def test_nothing_of_a_message_is_recorded(helper: Autoanswer) -> None:
    await helper.reply_for(message())
    await helper.reply_for(message("who wants to play risk tonight, I call russia", message_id=2))
    await helper.service.asks.flush()
    async with helper.service.db.conn.execute("SELECT count(*) FROM asks") as cursor:
        assert (await cursor.fetchone())[0] == 0
    async with helper.service.db.conn.execute("SELECT * FROM autoanswer_replies") as cursor:
        rows = [tuple(row) for row in await cursor.fetchall()]
    # Ids and the time only: no text, no author.
    assert [row[:3] for row in rows] == [(A, 500, HELP)]


async def test_a_channel_replies_at_most_its_rate(helper: Autoanswer, seconds: Seconds) -> None:
    for n in range(REPLIES_PER_WINDOW):
        assert await helper.reply_for(message(message_id=1000 + n)) is not None
    assert await helper.reply_for(message(message_id=2000)) is None
    # A rate-limited message is not claimed: it was never answered, and it is not retried.
    seconds.now += REPLY_WINDOW
    assert await helper.reply_for(message(message_id=2001)) is not None
    # The rate is the channel's: the forum is not held back by the text channel.
    seconds.now += 1
    for n in range(REPLIES_PER_WINDOW - 1):
        await helper.reply_for(message(message_id=3000 + n))
    assert await helper.reply_for(message(message_id=3999)) is None
    forum_post = message(channel=4000, message_id=4000, parent=FORUM)
    assert await helper.reply_for(forum_post) is not None


async def test_the_setting_refuses_without_the_intent_or_a_permission(
    service: BriefingService,
) -> None:
    blind = Autoanswer(service, reading=False, clock=Seconds())
    with pytest.raises(IntentMissing, match="BRIEFBOT_MESSAGE_CONTENT=true"):
        await blind.enable(A, HELP, "text", 7, channel_name="#help", granted=ALL)
    assert not blind.watched(message())
    reading = Autoanswer(service, reading=True, clock=Seconds())
    with pytest.raises(MissingPermissions) as refused:
        await reading.enable(
            A, HELP, "text", 7, channel_name="#help", granted=("view_channel", "send_messages")
        )
    assert refused.value.missing == ["Embed Links", "Read Message History"]
    assert "**Embed Links** and **Read Message History**" in str(refused.value)
    with pytest.raises(MissingPermissions) as refused:
        granted = tuple(p for p in ALL if p != "send_messages_in_threads")
        await reading.enable(A, FORUM, "forum", 7, channel_name="#forum", granted=granted)
    assert refused.value.missing == ["Send Messages in Threads"]
    assert await reading.channels(A) == []
    assert kind_of(forum=True) == "forum" and kind_of(forum=False) == "text"


async def test_a_server_holds_at_most_its_cap_and_turning_off_frees_a_place(
    helper: Autoanswer,
) -> None:
    for channel in range(100, 100 + MAX_CHANNELS - 2):
        await helper.enable(A, channel, "text", 7, channel_name="#x", granted=ALL)
    with pytest.raises(LimitReached):
        await helper.enable(A, 999, "text", 7, channel_name="#x", granted=ALL)
    # Turning on a channel already on is no new place.
    await helper.enable(A, HELP, "text", 7, channel_name="#help", granted=ALL)
    assert await helper.disable(A, HELP)
    assert not await helper.disable(A, HELP)
    assert not helper.watched(message())
    await helper.enable(A, 999, "text", 7, channel_name="#x", granted=ALL)
    assert len(await helper.channels(A)) == MAX_CHANNELS
    # Another server's cap is its own.
    await helper.enable(B, HELP, "text", 7, channel_name="#help", granted=ALL)
    assert await helper.channels(B) == [HELP]


async def test_channels_are_listed_in_the_order_they_were_turned_on(
    helper: Autoanswer, clock: Clock
) -> None:
    clock.advance(minutes=1)
    await helper.enable(A, 3, "text", 7, channel_name="#x", granted=ALL)
    assert await helper.channels(A) == [HELP, FORUM, 3]
    assert await helper.channels(B) == []


async def test_claims_expire_after_a_day(helper: Autoanswer, clock: Clock) -> None:
    assert await helper.store.claim(A, HELP, 1)
    assert not await helper.store.claim(A, HELP, 1)
    assert await helper.store.claim(B, HELP, 1)  # another server's message id is its own
    clock.advance(seconds=CLAIM_LIFETIME.total_seconds() + 1)
    assert await helper.store.claim(A, HELP, 2)
    async with helper.service.db.conn.execute("SELECT count(*) FROM autoanswer_replies") as c:
        assert (await c.fetchone())[0] == 1


async def test_who_may_remove_a_reply(helper: Autoanswer) -> None:
    async def check(user: int, **kw: object) -> None:
        options = {"manage_messages": False, "manage_guild": False, "role_ids": ()} | kw
        await helper.check_remover(A, 42, user, **options)  # type: ignore[arg-type]

    await check(42)
    await check(43, manage_messages=True)
    await check(43, manage_guild=True)
    with pytest.raises(NotAllowed, match="Only the member"):
        await check(43)
    await helper.service.db.conn.execute(
        "INSERT INTO guild_settings (guild_id, mod_role_id) VALUES (?, ?)", (A, 77)
    )
    await check(43, role_ids=(77,))
    with pytest.raises(NotAllowed):
        await helper.check_remover(
            B, 42, 43, manage_messages=False, manage_guild=False, role_ids=(77,)
        )


async def test_a_purged_server_loses_its_help_channels_and_claims_only(
    helper: Autoanswer,
) -> None:
    await helper.enable(B, HELP, "text", 7, channel_name="#help", granted=ALL)
    assert await helper.reply_for(message()) is not None
    assert await helper.reply_for(message(guild=B)) is not None
    helper.forget(A)  # removed from A
    assert not helper.watched(message(message_id=600))
    await GuildData(helper.service.db).purge(A)
    await helper.reload_guild(A)  # added back after the purge: nothing of A is left
    assert not helper.watched(message(message_id=600))
    assert await helper.channels(A) == []
    assert await helper.channels(B) == [HELP]
    async with helper.service.db.conn.execute(
        "SELECT guild_id FROM autoanswer_replies ORDER BY guild_id"
    ) as cursor:
        assert [row[0] for row in await cursor.fetchall()] == [B]
    await helper.reload_guild(B)  # added back before any purge: B keeps its channel
    assert helper.watched(message(guild=B, message_id=601))
