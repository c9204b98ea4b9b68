"""End to end: following a topic through the real discord.py client and the fake Discord.

A member follows from an answer card; a moderator's edit sends each follower one DM (what
changed, the new text, an Unfollow button), exactly once across a restart and a send cut off
by a crash; Unfollow works from the DM and from /follows; closed DMs unfollow after three
refusals; "opening DMs too fast" waits and then sends; other servers' edits reach no one here.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.follows import LEASE, MAX_FOLLOWS, TOO_FAST_FIRST
from bot.sections import Source
from bot.service import BriefingService
from bot.ui.follow import IN_DM, LIST, FollowButton, UnfollowButton
from tests.bot.cogs.test_kb import (
    CUSTOM_ID_LIMIT,
    EPHEMERAL,
    MODERATOR,
    components,
    open_form,
    submit,
)
from tests.clock import Clock
from tests.conftest import KNOWLEDGE
from tests.discord_support import FIXED_NOW, modal_values, running_bot
from tests.fakediscord import FakeDiscord

TOPIC = "berlin-talks"
QUESTION = "what are the berlin talks"
ALICE, BOB, CAROL = 9001, 9002, 9003


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    return next(c for c in components(message) if c.get("label") == label)


async def follow(fake: FakeDiscord, guild_id: int, user_id: int, question: str = QUESTION) -> str:
    """Ask, then click Follow on the card as `user_id`; the ephemeral reply's text."""
    asked = await fake.send_slash(
        guild_id, name="ask", options={"question": question}, user_id=user_id
    )
    card = (await asked.wait_response())["data"]
    assert [c["label"] for c in components(card) if c.get("type") == 2] == [
        "Helpful",
        "Not what I asked",
        "Outdated",
        "Follow",
    ]
    clicked = await fake.click_component(
        asked, button(card, "Follow")["custom_id"], user_id=user_id
    )
    reply = (await clicked.wait_response())["data"]
    assert int(reply["flags"]) & EPHEMERAL
    return str(reply["content"])


async def moderator_edit(fake: FakeDiscord, guild_id: int, body: str, topic: str = TOPIC) -> None:
    opened, modal = await open_form(fake, guild_id, "edit", topic=topic)
    saved = await submit(fake, opened, modal, {**modal_values(modal), "body": body})
    assert "Saved" in saved["content"] or "revision" in saved["content"], saved


def dms(fake: FakeDiscord, user_id: int) -> list[dict[str, Any]]:
    return fake.channel_messages(fake.dm_channel(user_id).id)


async def settled(bot: Any) -> Any:
    """One whole pass of the notifier. Passes take turns, so once it returns every DM due is
    settled, whichever pass (this one, or the bot's own every half second) settled it: tests
    check what members got and what the send record holds, not which pass did it."""
    return await bot.notifier.tick()


def refusals(fake: FakeDiscord) -> list[int]:
    return [r.status for r in fake.requests_matching("POST", r"^/channels/\d+/messages$")]


async def test_an_edit_sends_each_follower_one_dm_exactly_once_across_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Newsroom")
        for user in (ALICE, BOB, CAROL):
            guild.add_member(user)
        async with running_bot(fake, db) as bot:
            assert "You now follow" in await follow(fake, guild.id, ALICE)
            assert "already follow" in await follow(fake, guild.id, ALICE)
            assert "You now follow" in await follow(fake, guild.id, BOB)
            await moderator_edit(
                fake,
                guild.id,
                "The Berlin talks are a new round of meetings. Leaders met on Monday.",
            )
            for user in (ALICE, BOB):
                await fake.wait_for_messages(fake.dm_channel(user).id, 1, timeout=10)
            await settled(bot)
        dm = dms(fake, ALICE)[0]
        assert "changed in **Newsroom**" in dm["content"]
        summary, text = dm["embeds"]
        assert summary["title"] == "What changed"
        assert "+ Leaders met on Monday." in summary["description"]
        assert "**Removed**" in summary["description"]
        assert text["description"].startswith("The Berlin talks are a new round of meetings.")
        assert dm["allowed_mentions"] == {"parse": []}
        assert button(dm, "Unfollow")["custom_id"] == f"bb:unf:{guild.id}:{TOPIC}:d"
        assert dms(fake, CAROL) == []  # not a follower
        # A restart finds nothing new to send: the send record, not only the nonce.
        async with running_bot(fake, db) as bot:
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 2}
            # The DM's Unfollow, sent by the process before, works in this one.
            clicked = await fake.click_component(
                dm, button(dm, "Unfollow")["custom_id"], user_id=ALICE
            )
            assert "no longer follow" in (await clicked.wait_response())["data"]["content"]
            assert await bot.follows.store.of_member(guild.id, ALICE) == []
            assert await bot.follows.store.of_member(guild.id, BOB) == [TOPIC]
        assert [len(dms(fake, u)) for u in (ALICE, BOB, CAROL)] == [1, 1, 0]


async def test_a_send_cut_off_by_a_crash_is_found_in_the_dm_channel_not_sent_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    clock = Clock(FIXED_NOW)
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Newsroom")
        for user in (ALICE, BOB):
            guild.add_member(user)
        async with running_bot(fake, db, clock=clock) as bot:
            await follow(fake, guild.id, ALICE)
            await follow(fake, guild.id, BOB)
            await moderator_edit(fake, guild.id, "A new account of the talks.")
            await fake.wait_for_messages(fake.dm_channel(ALICE).id, 1, timeout=10)
            await fake.wait_for_messages(fake.dm_channel(BOB).id, 1, timeout=10)
            await settled(bot)
            # As if the process died after Alice's DM went out but before it was recorded, and
            # after Bob's send was claimed but before it went out.
            async with bot.service.db.transaction() as conn:
                await conn.execute("UPDATE follow_sends SET state = 'sending'")
            # (The fake's stored message: channel_messages gives copies.)
            fake.messages[int(dms(fake, BOB)[0]["id"])]["_deleted"] = True
        clock.advance(seconds=LEASE.total_seconds() + 1)
        async with running_bot(fake, db, clock=clock) as bot:
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 2}
        assert len(dms(fake, ALICE)) == 1  # found in her DM channel, not sent again
        assert len(dms(fake, BOB)) == 1  # never arrived: sent once


async def test_unfollow_from_the_dm_and_from_follows_stops_the_dms(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Newsroom")
        for user in (ALICE, BOB):
            guild.add_member(user)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            await follow(fake, guild.id, ALICE)
            await follow(fake, guild.id, BOB)
            await follow(fake, guild.id, BOB, "who guarantees ukraine's security")
            await moderator_edit(fake, guild.id, "First change.")
            await fake.wait_for_messages(fake.dm_channel(ALICE).id, 1, timeout=10)
            # Alice unfollows from her DM (no server in the interaction).
            dm = dms(fake, ALICE)[0]
            clicked = await fake.click_component(
                dm, button(dm, "Unfollow")["custom_id"], user_id=ALICE
            )
            reply = (await clicked.wait_response())["data"]
            assert "no longer follow" in reply["content"]
            # Bob unfollows from /follows, which lists both of his topics.
            listed = await fake.send_slash(guild.id, name="follows", user_id=BOB)
            page = (await listed.wait_response())["data"]
            assert int(page["flags"]) & EPHEMERAL
            assert "What are the Berlin talks?" in page["embeds"][0]["description"]
            labels = [c["label"] for c in components(page)]
            assert len(labels) == 2 and all(label.startswith("Unfollow: ") for label in labels)
            target = next(c for c in components(page) if "Berlin" in c["label"])
            clicked = await fake.click_component(listed, target["custom_id"], user_id=BOB)
            redrawn = (await clicked.wait_response())["data"]
            assert "Berlin" not in redrawn["embeds"][0]["description"]
            assert len(components(redrawn)) == 1
            await settled(bot)
            await moderator_edit(fake, guild.id, "Second change.")
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 2}
        assert len(dms(fake, ALICE)) == 1
        assert len(dms(fake, BOB)) == 1


async def test_closed_dms_unfollow_after_three_refusals(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Newsroom")
        guild.add_member(ALICE)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            await follow(fake, guild.id, ALICE)
            fake.close_dms(ALICE)
            store = bot.follows.store
            for i in range(3):
                assert await store.of_member(guild.id, ALICE) == [TOPIC]
                await moderator_edit(fake, guild.id, f"Change number {i}.")
                await settled(bot)
                assert refusals(fake) == [403] * (i + 1)
            assert await store.of_member(guild.id, ALICE) == []
            fake.close_dms(ALICE, closed=False)
            await moderator_edit(fake, guild.id, "A fourth change nobody follows.")
            await settled(bot)
            assert await store.states() == {"failed": 3}
        assert refusals(fake) == [403, 403, 403]
        assert dms(fake, ALICE) == []


async def test_opening_dms_too_fast_waits_then_sends_each_once(tmp_path: Path) -> None:
    clock = Clock(FIXED_NOW)
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Newsroom")
        for user in (ALICE, BOB):
            guild.add_member(user)
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock) as bot:
            await follow(fake, guild.id, ALICE)
            await follow(fake, guild.id, BOB)
            fake.refuse_dm_opens(1)
            await moderator_edit(fake, guild.id, "A change while DMs are refused.")
            await settled(bot)
            # The refusal pauses every send that has not begun (the other one was in flight).
            assert bot.notifier.paused_until == FIXED_NOW + TOO_FAST_FIRST
            assert await bot.follows.store.states() == {"pending": 1, "sent": 1}
            clock.advance(seconds=TOO_FAST_FIRST.total_seconds() - 1)
            await settled(bot)
            assert await bot.follows.store.states() == {"pending": 1, "sent": 1}
            clock.advance(seconds=2)
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 2}
        opened = fake.requests_matching("POST", r"^/users/@me/channels$")
        assert [r.status for r in opened][:1] == [403]
        assert [len(dms(fake, u)) for u in (ALICE, BOB)] == [1, 1]


async def test_other_servers_edits_reach_no_one_here_and_curated_updates_reach_the_rest(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        here = fake.add_guild(name="Here")
        elsewhere = fake.add_guild(name="Elsewhere")
        overrides = fake.add_guild(name="Overrides")
        for g in (here, elsewhere, overrides):
            g.add_member(ALICE)
        here.add_member(BOB)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            await follow(fake, here.id, BOB)
            await follow(fake, overrides.id, ALICE)
            await moderator_edit(fake, elsewhere.id, "Elsewhere's own text.")
            await moderator_edit(fake, overrides.id, "Overrides' own text.")
            await settled(bot)
            assert dms(fake, BOB) == []  # another server's edit
            assert len(dms(fake, ALICE)) == 1  # her server's own edit
            # A curated update reaches Bob (his server shows the curated text), not Alice
            # (her server keeps its own copy), nor anyone in Elsewhere.
            pack = [s.content for s in await bot.service.sections.in_scope(None)]
            await bot.service.sections.import_curated(
                [replace(c, body="The curated update.") if c.slug == TOPIC else c for c in pack]
            )
            await settled(bot)
        assert len(dms(fake, BOB)) == 1
        assert "The curated update." in dms(fake, BOB)[0]["embeds"][1]["description"]
        assert len(dms(fake, ALICE)) == 1


async def test_a_member_may_follow_so_many_topics_and_is_told_so(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Newsroom")
        guild.add_member(ALICE)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            store = bot.follows.store
            for n in range(MAX_FOLLOWS):  # topics this server no longer shows, say
                assert await store.add(guild.id, ALICE, f"gone-{n}", cap=MAX_FOLLOWS) == "added"
            text = await follow(fake, guild.id, ALICE)
            assert f"already follow {MAX_FOLLOWS} topics" in text and "/follows" in text
            assert TOPIC not in await store.of_member(guild.id, ALICE)
            listed = await fake.send_slash(guild.id, name="follows", user_id=ALICE)
            page = (await listed.wait_response())["data"]
            assert len(components(page)) == MAX_FOLLOWS  # 5 rows of 5: Discord's most
            assert "(no longer shown here)" in page["embeds"][0]["description"]


async def test_follow_and_unfollow_buttons_from_another_server_are_refused(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        for g in (a, b):
            g.add_member(ALICE)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            in_a = await fake.send_slash(a.id, name="ask", options={"question": QUESTION})
            follow_a = button((await in_a.wait_response())["data"], "Follow")["custom_id"]
            in_b = await fake.send_slash(b.id, name="ask", options={"question": QUESTION})
            await in_b.wait_response()
            stored = fake.messages[in_b.original_message_id]
            row = next(r for r in stored["components"] if len(r["components"]) == 4)
            row["components"][3]["custom_id"] = follow_a
            crafted = await fake.click_component(in_b, follow_a, user_id=ALICE)
            assert "another server" in (await crafted.wait_response())["data"]["content"]
            await bot.follows.store.add(a.id, ALICE, TOPIC, cap=MAX_FOLLOWS)
            row["components"][3]["custom_id"] = f"bb:unf:{a.id}:{TOPIC}:l"
            crafted = await fake.click_component(in_b, f"bb:unf:{a.id}:{TOPIC}:l", user_id=ALICE)
            assert "another server" in (await crafted.wait_response())["data"]["content"]
            assert await bot.follows.store.of_member(a.id, ALICE) == [TOPIC]
            assert await bot.follows.store.of_member(b.id, ALICE) == []


async def test_the_longest_change_fits_one_dm_within_discords_limits(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="N" * 100)
        guild.add_member(ALICE)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            await follow(fake, guild.id, ALICE)
            seen = await bot.service.sections.get(None, TOPIC)
            assert seen is not None
            sentences = [
                f"Sentence {i} of @everyone news with *stars* and _marks_ " + "word " * 60 + "end."
                for i in range(14)
            ]
            longest = replace(
                seen.content,
                title="T" * 200,
                body=" ".join(sentences)[:4000],
                sources=tuple(
                    Source(f"Source {i} " + "s" * 180, f"https://example.org/{i}/" + "p" * 250)
                    for i in range(10)
                ),
            )
            # The text before is as long, every sentence different: the summary is full too.
            before = replace(longest, body=longest.body.replace("Sentence", "Phrase"))
            first = await bot.service.sections.save_for_guild(
                guild.id, before, opened=seen.version, author="mod", author_id=1
            )
            await bot.service.sections.save_for_guild(
                guild.id, longest, opened=first.version, author="mod", author_id=1
            )
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 2}
        dm = dms(fake, ALICE)[-1]  # the fake refuses (and fails the test on) any payload over
        summary, text = dm["embeds"]
        parts = [e.get(k) or "" for e in dm["embeds"] for k in ("title", "description")]
        parts += [e.get("footer", {}).get("text", "") for e in dm["embeds"]]
        assert sum(len(p) for p in parts) <= 6000
        assert "… and" in summary["description"]  # the summary says what it left out
        # The summary is bounded so that even this text arrives whole: 4,000 characters.
        assert text["description"] == longest.body
        assert dm["allowed_mentions"] == {"parse": []}


async def test_a_revert_a_pack_import_and_another_processs_edit_each_send_one_dm(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    pack = tmp_path / "pack"
    shutil.copytree(KNOWLEDGE, pack)
    async with FakeDiscord() as fake:
        here, overrides = fake.add_guild(name="Here"), fake.add_guild(name="Overrides")
        for g in (here, overrides):
            g.add_member(ALICE)
        async with running_bot(fake, db) as bot:
            await follow(fake, here.id, ALICE)
            await follow(fake, overrides.id, ALICE)
            await moderator_edit(fake, overrides.id, "Overrides' own text.")
            await settled(bot)
            assert len(dms(fake, ALICE)) == 1
            # A curated update imported from the pack, as `kb import` does: Here shows it.
            path = pack / f"{TOPIC}.md"
            path.write_text(
                path.read_text("utf-8").replace("The Berlin talks are", "The Berlin talks now are")
            )
            assert (await bot.service.import_pack(pack)).updated == [TOPIC]
            await settled(bot)
            assert len(dms(fake, ALICE)) == 2
            assert "changed in **Here**" in dms(fake, ALICE)[-1]["content"]
            # A revert of Overrides' copy to its text before.
            reverted = await fake.send_slash(
                overrides.id,
                name="kb",
                subcommand="revert",
                options={"topic": TOPIC, "revision": "1"},
                member_permissions=MODERATOR,
            )
            await reverted.wait_response()
            await moderator_edit(fake, overrides.id, "Overrides' second text.")
            await settled(bot)
            assert len(dms(fake, ALICE)) == 3  # the revert to the same text changed nothing
            # Another process (a second connection to the same file) edits Here's topic.
            other = await BriefingService.open(db, KNOWLEDGE)
            try:
                seen = await other.sections.get(None, TOPIC)
                assert seen is not None
                await other.sections.save_for_guild(
                    here.id,
                    replace(seen.content, body="Written by another process."),
                    opened=seen.version,
                    author="cli",
                    author_id=None,
                )
            finally:
                await other.close()
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 4}
        last = dms(fake, ALICE)[-1]
        assert "changed in **Here**" in last["content"]
        assert last["embeds"][1]["description"] == "Written by another process."


def test_every_follow_custom_id_fits_discords_100_characters() -> None:
    guild = 10**20 - 1  # 20 digits: more than any snowflake
    slug = "a" * 64
    for item in (
        FollowButton(guild, 10**20 - 1),
        UnfollowButton(guild, slug, IN_DM),
        UnfollowButton(guild, slug, LIST, "Unfollow: " + "T" * 200),
    ):
        assert len(item.custom_id) <= CUSTOM_ID_LIMIT
        assert len(item.item.label or "") <= 80


async def test_a_cut_off_dm_is_not_taken_for_the_same_changes_dm_from_another_server(
    tmp_path: Path,
) -> None:
    """A curated update owes a member who follows the topic in two servers two DMs, with the
    same revision: looking up one cut off must not find the other server's and call it sent."""
    db = tmp_path / "db.sqlite3"
    clock = Clock(FIXED_NOW)
    async with FakeDiscord() as fake:
        first, second = fake.add_guild(name="First"), fake.add_guild(name="Second")
        for g in (first, second):
            g.add_member(ALICE)
        async with running_bot(fake, db, clock=clock) as bot:
            await follow(fake, first.id, ALICE)
            await follow(fake, second.id, ALICE)
            pack = [s.content for s in await bot.service.sections.in_scope(None)]
            await bot.service.sections.import_curated(
                [replace(c, body="The curated update.") if c.slug == TOPIC else c for c in pack]
            )
            await settled(bot)
            assert len(dms(fake, ALICE)) == 2
            # As if the process died after Second's send was claimed but before it went out.
            async with bot.service.db.transaction() as conn:
                await conn.execute(
                    "UPDATE follow_sends SET state = 'sending' WHERE guild_id = ?", (second.id,)
                )
            gone = next(m for m in dms(fake, ALICE) if "**Second**" in m["content"])
            fake.messages[int(gone["id"])]["_deleted"] = True
        clock.advance(seconds=LEASE.total_seconds() + 1)
        async with running_bot(fake, db, clock=clock) as bot:
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 2}
        assert sorted(m["content"].split("changed in ")[1] for m in dms(fake, ALICE)) == [
            "**First**.",
            "**Second**.",
        ]


async def test_a_cut_off_dm_is_found_behind_the_dms_sent_after_it(tmp_path: Path) -> None:
    """A pack update of every topic a member follows in three servers owes them 30 DMs; the
    first one's send was cut off after it went out, and the other 29 went out while its claim
    waited out the lease: it is found behind them, not sent again."""
    db = tmp_path / "db.sqlite3"
    clock = Clock(FIXED_NOW)
    async with FakeDiscord() as fake:
        guilds = [fake.add_guild(name=f"Server {n}") for n in range(3)]
        for g in guilds:
            g.add_member(ALICE)
        async with running_bot(fake, db, clock=clock) as bot:
            pack = [s.content for s in await bot.service.sections.in_scope(None)]
            for g in guilds:
                for content in pack:
                    await bot.follows.store.add(g.id, ALICE, content.slug, cap=MAX_FOLLOWS)
            await bot.service.sections.import_curated(
                [replace(c, body=f"Updated: {c.title}") for c in pack]
            )
            await settled(bot)
            owed = len(guilds) * len(pack)
            assert len(dms(fake, ALICE)) == owed
            # As if the process had died after the first DM went out, before it was recorded.
            async with bot.service.db.transaction() as conn:
                await conn.execute(
                    "UPDATE follow_sends SET state = 'sending' "
                    "WHERE id = (SELECT min(id) FROM follow_sends)"
                )
        # Back after a few minutes: Discord no longer knows the nonce, the lookup must find it.
        clock.advance(seconds=LEASE.total_seconds() + 1)
        fake.advance(fake.rate_table.nonce_window)
        async with running_bot(fake, db, clock=clock) as bot:
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": owed}
        assert len(dms(fake, ALICE)) == owed


async def test_a_dms_unfollow_names_no_topic_of_a_server_the_clicker_does_not_follow(
    tmp_path: Path,
) -> None:
    """In a DM no server is checked: an Unfollow carrying another server's id removes nothing
    and must not show that server's own topic title either."""
    async with FakeDiscord() as fake:
        here, private = fake.add_guild(name="Here"), fake.add_guild(name="Private")
        here.add_member(ALICE)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            seen = await bot.service.sections.get(None, TOPIC)
            assert seen is not None
            await bot.service.sections.save_for_guild(
                private.id,
                replace(seen.content, title="Private server's own title"),
                opened=seen.version,
                author="mod",
                author_id=1,
            )
            await bot.service.refresh(private.id)
            await follow(fake, here.id, ALICE)
            await moderator_edit(fake, here.id, "A change here.")
            await fake.wait_for_messages(fake.dm_channel(ALICE).id, 1, timeout=10)
            dm = dms(fake, ALICE)[0]
            crafted = f"bb:unf:{private.id}:{TOPIC}:d"
            fake.messages[int(dm["id"])]["components"][0]["components"][0]["custom_id"] = crafted
            clicked = await fake.click_component(dm, crafted, user_id=ALICE)
            reply = (await clicked.wait_response())["data"]["content"]
            assert "nothing changed" in reply
            assert "Private server's own title" not in reply
            assert await bot.follows.store.of_member(here.id, ALICE) == [TOPIC]


async def test_no_dm_about_a_server_briefbot_was_removed_from(tmp_path: Path) -> None:
    """Its data is kept 30 days in case it is added back, but its followers are not DMed about
    curated updates meanwhile ("… changed in a server" for a server without Briefbot)."""
    async with FakeDiscord() as fake:
        here, gone = fake.add_guild(name="Here"), fake.add_guild(name="Gone")
        for g in (here, gone):
            g.add_member(ALICE)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            await follow(fake, here.id, ALICE)
            await follow(fake, gone.id, ALICE)
            async with asyncio.timeout(5):
                removed = asyncio.ensure_future(bot.wait_for("guild_remove"))
                fake.remove_guild(gone.id)
                await removed
            await bot.retention.guilds.mark_removed(gone.id)  # as the bot's handler does
            pack = [s.content for s in await bot.service.sections.in_scope(None)]
            await bot.service.sections.import_curated(
                [replace(c, body="The curated update.") if c.slug == TOPIC else c for c in pack]
            )
            await settled(bot)
            assert await bot.follows.store.states() == {"sent": 1}
        assert [m["content"].split("changed in ")[1] for m in dms(fake, ALICE)] == ["**Here**."]
