"""End to end: /ask, /explain and /topics through the real discord.py client and a fake Discord."""

from __future__ import annotations

import asyncio
import gc
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from bot.sections import Section, SectionContent, Source
from bot.service import BriefingService
from bot.ui.cards import section_cards
from bot.ui.fit import DESCRIPTION_LIMIT
from tests.discord_support import KNOWLEDGE, running_bot
from tests.fakediscord import FakeDiscord

CHANNEL_MESSAGE = 4
DEFERRED = 5
UPDATE_MESSAGE = 7
EPHEMERAL = 1 << 6
NO_MENTIONS = {"parse": []}


def components(message: dict) -> list[dict]:
    return [c for row in message.get("components") or [] for c in row.get("components", [])]


async def seed(db: Path, sections: list[SectionContent]) -> None:
    """Import extra sections into the curated scope before the bot starts."""
    from bot.pack import load_pack

    service = await BriefingService.open(db, KNOWLEDGE)
    try:
        await service.sections.import_curated([*load_pack(KNOWLEDGE), *sections])
    finally:
        await service.close()


def extra_section(slug: str, title: str, body: str, **kw: object) -> SectionContent:
    return SectionContent(
        slug=slug, title=title, body=body, updated=date(2026, 11, 1), position=50, **kw
    )  # type: ignore[arg-type]


def signal_records(service: BriefingService) -> asyncio.Event:
    """An event set each time the service records an ask (the test waits on it, not a sleep)."""
    recorded = asyncio.Event()
    real_record = service.record

    async def record_and_signal(*args: Any, **kwargs: Any) -> None:
        await real_record(*args, **kwargs)
        recorded.set()

    service.record = record_and_signal  # type: ignore[method-assign]
    return recorded


async def test_ask_answers_with_a_card_and_related_menu(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "berln talks"})
            response = await ix.wait_response()
        assert response["type"] == CHANNEL_MESSAGE
        data = response["data"]
        assert not int(data.get("flags") or 0) & EPHEMERAL
        embed = data["embeds"][0]
        assert embed["title"] == "What are the Berlin talks?"
        assert embed["description"].startswith("The Berlin talks are significant")
        assert embed["footer"]["text"] == "Updated 2026-11-28"
        assert data["allowed_mentions"] == NO_MENTIONS
        menu = components(data)[0]
        assert menu["custom_id"].startswith(f"bb:related:{guild.id}:")
        assert 1 <= len(menu["options"]) <= 25
        assert all(len(o["label"]) <= 100 for o in menu["options"])
        assert fake.identifies[0]["intents"] == 1  # guilds only
        fake.assert_no_unhandled()


async def test_unanswered_question_is_ephemeral_recorded_and_offers_topic_buttons(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db) as bot:
            recorded = signal_records(bot.service)
            ix = await fake.send_slash(
                guild.id, name="ask", options={"question": "how do I bake bread? @everyone"}
            )
            response = await ix.wait_response()
            data = response["data"]
            assert int(data["flags"]) & EPHEMERAL
            assert data["content"].startswith("I don't have a briefing on that yet")
            assert "@everyone" not in data["content"]  # echoed text is defused as well
            assert data["allowed_mentions"] == NO_MENTIONS
            buttons = components(data)
            assert len(buttons) == 3
            # The question is logged just after the reply: wait for that write, not for time.
            await asyncio.wait_for(recorded.wait(), timeout=5)
            gaps = await bot.service.asks.unanswered(guild.id, "2000-01-01")
            assert gaps == ["how do I bake bread? @everyone"]

            click = await fake.click_component(ix, buttons[0]["custom_id"])
            opened = await click.wait_response()
        assert opened["type"] == CHANNEL_MESSAGE
        assert int(opened["data"]["flags"]) & EPHEMERAL
        assert opened["data"]["embeds"][0]["title"] == buttons[0]["label"]


async def test_button_sent_before_a_restart_works_after_it(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db):
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "asdf"})
            buttons = components((await ix.wait_response())["data"])
        async with running_bot(fake, db):
            click = await fake.click_component(ix, buttons[1]["custom_id"])
            opened = await click.wait_response()
        assert opened["data"]["embeds"][0]["title"] == buttons[1]["label"]
        # The second start found the commands unchanged and did not sync them again.
        syncs = fake.requests_matching("PUT", r"/commands$")
        assert len(syncs) == 1


async def test_related_menu_opens_a_section_and_refuses_crafted_values(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ix = await fake.send_slash(guild.id, name="explain", options={"topic": "us-role"})
            data = (await ix.wait_response())["data"]
            menu = components(data)[0]
            option = menu["options"][0]
            chosen = await fake.click_component(ix, menu["custom_id"], values=[option["value"]])
            opened = (await chosen.wait_response())["data"]
            assert opened["embeds"][0]["title"] == option["label"]

            crafted = await fake.click_component(
                ix, menu["custom_id"], values=["999999"], strict=False
            )
            refused = (await crafted.wait_response())["data"]
            assert int(refused["flags"]) & EPHEMERAL
            assert "no topic" in refused["content"].lower()

            # A message in another server crafted to carry the first server's custom id.
            other = fake.add_guild(name="Elsewhere")
            there = await fake.send_slash(other.id, name="explain", options={"topic": "us-role"})
            await there.wait_response()
            stored = fake.messages[there.original_message_id]
            stored["components"][0]["components"][0]["custom_id"] = menu["custom_id"]
            foreign = await fake.click_component(there, menu["custom_id"], values=[option["value"]])
            refused = (await foreign.wait_response())["data"]
            assert "another server" in refused["content"]


async def test_explain_autocomplete_caps_choices_and_finds_typos(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    many = [
        extra_section(f"berlin-extra-{i}", f"Berlin extra topic number {i}", "Berlin talks extra.")
        for i in range(40)
    ]
    await seed(db, many)
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db):
            ix = await fake.send_autocomplete(
                guild.id, name="explain", options={"topic": "berl"}, focused="topic"
            )
            await ix.wait_response()
            assert ix.choices is not None
            assert 1 <= len(ix.choices) <= 25
            assert all(len(c["name"]) <= 100 for c in ix.choices)
            typo = await fake.send_autocomplete(
                guild.id, name="explain", options={"topic": "natto"}, focused="topic"
            )
            await typo.wait_response()
            assert typo.choices and typo.choices[0]["value"] == "nato-purpose"


async def test_explain_by_slug_and_by_free_text(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            by_slug = await fake.send_slash(
                guild.id, name="explain", options={"topic": "nato-expansion"}
            )
            typed = await fake.send_slash(
                guild.id, name="explain", options={"topic": "giving up land for peace"}
            )
            first = (await by_slug.wait_response())["data"]["embeds"][0]["title"]
            second = (await typed.wait_response())["data"]["embeds"][0]["title"]
        assert first == "Why is NATO expansion so contentious?"
        assert second == "Would Ukraine cede territory for peace?"


async def test_topics_pages_with_previous_and_next(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    await seed(
        db, [extra_section(f"extra-{i:02d}", f"Extra topic {i}", "Text.") for i in range(15)]
    )
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db):
            ix = await fake.send_slash(guild.id, name="topics")
            data = (await ix.wait_response())["data"]
            assert data["embeds"][0]["footer"]["text"].startswith("Page 1 of 3")
            assert data["embeds"][0]["description"].count("\n") == 9  # ten to a page
            prev, nxt = components(data)
            assert prev["disabled"] and not nxt.get("disabled")
            click = await fake.click_component(ix, nxt["custom_id"])
            page2 = await click.wait_response()
        assert page2["type"] == UPDATE_MESSAGE
        assert page2["data"]["embeds"][0]["footer"]["text"].startswith("Page 2 of 3")
        assert "**11.**" in page2["data"]["embeds"][0]["description"]


async def test_briefing_now_posts_todays_explainer(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            ix = await fake.send_slash(guild.id, name="briefing", subcommand="now")
            data = (await ix.wait_response())["data"]
            expected = await bot.service.next_explainer(guild.id)
        embed = data["embeds"][0]
        assert embed["author"]["name"] == "Daily explainer — 2026-11-28"
        assert embed["title"] == expected.title


async def test_everyone_in_a_section_never_pings(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    await seed(
        db,
        [
            extra_section(
                "ping-test", "Zebra crossing rules", "@everyone @here <@&123> zebra crossing rules"
            )
        ],
    )
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db):
            ix = await fake.send_slash(guild.id, name="explain", options={"topic": "ping-test"})
            data = (await ix.wait_response())["data"]
        assert "@everyone" in data["embeds"][0]["description"]
        assert data["allowed_mentions"] == NO_MENTIONS
        assert fake.allowed_mentions_log
        assert all(m["allowed_mentions"] == NO_MENTIONS for m in fake.allowed_mentions_log)
        posted = fake.message(fake.allowed_mentions_log[-1]["message_id"])
        assert posted is not None
        assert posted["mention_everyone"] is False and posted["mention_roles"] == []


async def test_long_section_is_split_and_a_429_on_the_continuation_is_waited_out(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    sources = tuple(
        Source(f"Source {i} " + "x" * 180, f"https://example.org/{i}/" + "p" * 300)
        for i in range(10)
    )
    body = " ".join(f"Sentence {i} about the long topic." for i in range(120))[:3990]
    await seed(db, [extra_section("long-topic", "A very long topic", body, sources=sources)])
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db):
            fake.inject_429("POST", r"^/webhooks/\d+/[^/]+$", count=1, retry_after=0.3)
            ix = await fake.send_slash(guild.id, name="explain", options={"topic": "long-topic"})
            first = (await ix.wait_response())["data"]
            followups = await ix.wait_followups(1, timeout=10)
        assert len(ix.followups) == 1  # counted once the bot has stopped: no duplicate came
        embeds = first["embeds"] + followups[0]["embeds"]
        texts = [e["description"] for e in embeds if e.get("description")]
        # A stored body (at most MAX_BODY, 4,000) always fits one description (4,096): the
        # continuation is the sources, which do not fit beside it. The body split is tested below.
        assert texts == [body]
        assert embeds[-1]["footer"]["text"] == "Updated 2026-11-01"
        fields = [f for e in embeds for f in e.get("fields", [])]
        assert sum(len(f["value"].splitlines()) for f in fields) == 10  # sources may span embeds
        for embed in embeds:
            assert len(embed.get("description", "")) <= 4096
            assert all(len(f["value"]) <= 1024 for f in embed.get("fields", []))
        rate_limited = [
            r for r in fake.requests_matching("POST", r"^/webhooks/") if r.status == 429
        ]
        assert len(rate_limited) == 1


LONG_BODIES = {
    # uneven words and no sentence ends: only a word boundary can be the cut
    "words": " ".join("w" * (1 + i % 13) + str(i) for i in range(2_000)),
    "sentences": " ".join(f"Sentence {i} about the long topic." for i in range(400)),
}


@pytest.mark.parametrize("body", LONG_BODIES.values(), ids=LONG_BODIES.keys())
def test_body_longer_than_an_embed_is_split_at_word_boundaries_nothing_lost(body: str) -> None:
    # No stored body reaches the split (MAX_BODY 4,000 < DESCRIPTION_LIMIT 4,096), so the
    # cards are built directly from a body several embeds long.
    content = extra_section("huge-topic", "A huge topic", body)
    section = Section(id=1, guild_id=None, content=content, status="active", revision=1)
    embeds = [embed for card in section_cards(section) for embed in card.embeds]
    parts = [embed.description or "" for embed in embeds]
    assert len(parts) >= 3
    assert all(0 < len(part) <= DESCRIPTION_LIMIT for part in parts)
    assert " ".join(parts) == body  # every cut on a space between words, nothing lost
    assert [e.title for e in embeds[1:]] == ["A huge topic (continued)"] * (len(embeds) - 1)
    assert embeds[-1].footer.text == "Updated 2026-11-01"


async def test_member_cooldown_is_polite_and_names_the_wait(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        member = guild.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            answers = []
            for _ in range(6):
                ix = await fake.send_slash(
                    guild.id, name="ask", options={"question": "nato purpose"}, user_id=member.id
                )
                answers.append((await ix.wait_response())["data"])
            other = await fake.send_slash(
                guild.id, name="ask", options={"question": "nato purpose"}
            )
            other_data = (await other.wait_response())["data"]
        assert all("embeds" in a and a["embeds"] for a in answers[:5])
        assert int(answers[5]["flags"]) & EPHEMERAL
        assert "please wait" in answers[5]["content"] and "second" in answers[5]["content"]
        assert other_data["embeds"]  # another member is not slowed down


async def test_unexpected_error_is_a_short_ephemeral_message_and_a_logged_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:

            async def broken(*args: object, **kwargs: object) -> None:
                raise RuntimeError("database on fire")

            bot.service.ask = broken  # type: ignore[method-assign]
            with caplog.at_level(logging.ERROR):
                ix = await fake.send_slash(guild.id, name="ask", options={"question": "berlin"})
                data = (await ix.wait_response())["data"]
        assert int(data["flags"]) & EPHEMERAL
        assert "Something went wrong" in data["content"]
        assert "database on fire" not in data["content"]
        record = next(r for r in caplog.records if "error in /ask" in r.getMessage())
        assert str(guild.id) in record.getMessage() and str(ix.id) in record.getMessage()
        assert record.exc_info is not None


async def test_slow_work_is_deferred_then_followed_up(tmp_path: Path) -> None:
    release = asyncio.Event()
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            bot.deadline.defer_by = 0.05
            real_ask = bot.service.ask

            async def slow(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
                await release.wait()
                return await real_ask(*args, **kwargs)  # type: ignore[arg-type]

            bot.service.ask = slow  # type: ignore[method-assign]
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "berlin talks"})
            assert (await ix.wait_response())["type"] == DEFERRED
            release.set()
            followups = await ix.wait_followups(1)
        assert followups[0]["embeds"][0]["title"] == "What are the Berlin talks?"


async def test_a_burst_the_bot_can_answer_in_time_is_answered_without_deferring(
    tmp_path: Path,
) -> None:
    # Five times as many asks at once as are computed at once: each waits its turn, none is
    # at risk of Discord's 3 s, so none costs a deferral and a follow-up.
    count = 40
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        members = [guild.add_member().id for _ in range(count)]
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            burst = await asyncio.gather(
                *(
                    fake.send_slash(guild.id, user_id=m, name="ask", options={"question": q})
                    for m, q in zip(members, ["berlin talks", "nato purpose"] * count, strict=False)
                )
            )
            await fake.wait_for(lambda: all(ix.response is not None for ix in burst), timeout=10)
    assert [ix.response_type for ix in burst] == [CHANNEL_MESSAGE] * count
    assert all(ix.latency is not None and ix.late_callbacks == 0 for ix in burst)


async def test_a_burst_the_bot_cannot_answer_in_time_is_deferred_before_the_deadline(
    tmp_path: Path,
) -> None:
    # Discord's deadline shortened to 1 s (the bot defers at 0.3 s) so the test is quick. The
    # first asks are answered at once; the rest cannot be answered until every interaction
    # has had its first callback: each must be a deferral that Discord accepted in time.
    quick, held = 5, 35
    deadline = 1.0
    release = asyncio.Event()
    async with FakeDiscord(interaction_deadline=deadline) as fake:
        guild = fake.add_guild(name="News")
        members = [guild.add_member().id for _ in range(quick + held)]
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            bot.deadline.defer_by = 0.3
            real_ask = bot.service.ask
            calls = 0

            async def ask(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls > quick:
                    await release.wait()
                return await real_ask(*args, **kwargs)

            bot.service.ask = ask  # type: ignore[method-assign]
            burst = await asyncio.gather(
                *(
                    fake.send_slash(
                        guild.id, user_id=m, name="ask", options={"question": "berlin talks"}
                    )
                    for m in members
                )
            )
            await fake.wait_for(lambda: all(ix.response is not None for ix in burst), timeout=10)
            release.set()
            await fake.wait_for(
                lambda: all(ix.response_type == CHANNEL_MESSAGE or ix.followups for ix in burst),
                timeout=10,
            )
    assert [ix.response_type for ix in burst] == [CHANNEL_MESSAGE] * quick + [DEFERRED] * held
    assert not [ix.id for ix in burst if ix.late_callbacks or (ix.latency or deadline) >= deadline]
    answers = [ix.response["data"] for ix in burst[:quick]] + [
        ix.followups[0] for ix in burst[quick:]
    ]
    assert all(a["embeds"][0]["title"] == "What are the Berlin talks?" for a in answers)


async def test_bot_reconnects_after_a_dropped_gateway(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            await fake.drop_gateway(code=4000)
            await fake.wait_ready(count=2, timeout=15)
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "us role"})
            data = (await ix.wait_response(timeout=10))["data"]
        assert data["embeds"][0]["title"] == "What role does the United States play?"


async def test_no_briefing_stays_private_when_the_answer_was_deferred(tmp_path: Path) -> None:
    release = asyncio.Event()
    question = "how do I bake sourdough bread?"
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            bot.deadline.defer_by = 0.05
            real_ask = bot.service.ask

            async def slow(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
                await release.wait()
                return await real_ask(*args, **kwargs)  # type: ignore[arg-type]

            bot.service.ask = slow  # type: ignore[method-assign]
            ix = await fake.send_slash(guild.id, name="ask", options={"question": question})
            deferred = await ix.wait_response()
            assert deferred["type"] == DEFERRED
            public_defer = not int((deferred.get("data") or {}).get("flags") or 0) & EPHEMERAL
            assert public_defer
            release.set()
            (private,) = await ix.wait_followups(1)
            await fake.wait_for(lambda: ix.original_deleted, timeout=5)
        assert private["content"].startswith("I don't have a briefing")
        assert int(private["flags"]) & EPHEMERAL
        assert len(components(private)) == 3  # the closest topics, as buttons
        # Nothing everyone can read mentions the question or the answer.
        public = fake.channel_messages(guild.text_channel_id, include_interactions=True)
        assert not [m for m in public if "bread" in m["content"] or "briefing" in m["content"]]


async def test_asks_are_answered_and_recorded_when_the_defer_fails_in_a_burst(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    recwarn: pytest.WarningsRecorder,
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            # As in a burst the bot cannot keep up with: every ask is deferred at once (no time
            # left), and Discord refuses the defer.
            bot.deadline.defer_by = 0.0
            recorded = signal_records(bot.service)
            fake.inject_error("POST", r"^/interactions/\d+/[^/]+/callback$", 404, count=1)
            with caplog.at_level(logging.WARNING):
                ix = await fake.send_slash(
                    guild.id, name="ask", options={"question": "berlin talks"}
                )
                response = await ix.wait_response()
                await asyncio.wait_for(recorded.wait(), timeout=5)
            await bot.service.asks.flush()  # the ask log is written in batches
            asked = await bot.service.db.conn.execute_fetchall("SELECT question FROM asks")
        assert response["type"] == CHANNEL_MESSAGE
        assert response["data"]["embeds"][0]["title"] == "What are the Berlin talks?"
        assert [tuple(r) for r in asked] == [("berlin talks",)]
        assert any(f"could not defer interaction {ix.id}" in r.getMessage() for r in caplog.records)
        gc.collect()
        assert not [w for w in recwarn if "never awaited" in str(w.message)]


async def test_an_ask_that_cannot_be_answered_is_a_logged_counted_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            bot.deadline.defer_by = 0.0  # every ask defers first
            recorded = signal_records(bot.service)
            # The interaction is gone: the defer, the answer and the error reply all fail.
            fake.inject_error("POST", r"^/interactions/\d+/[^/]+/callback$", 404, count=3)
            with caplog.at_level(logging.WARNING):
                ix = await fake.send_slash(
                    guild.id, name="ask", options={"question": "berlin talks"}
                )
                await asyncio.wait_for(recorded.wait(), timeout=5)
                await fake.wait_for(lambda: bot.failed_interactions == 1, timeout=5)
        assert ix.response is None
        failure = next(r for r in caplog.records if "error in /ask" in r.getMessage())
        assert str(ix.id) in failure.getMessage()
