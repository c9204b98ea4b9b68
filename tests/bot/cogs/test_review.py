"""End to end: the learning loop through the real discord.py client and the fake Discord.

A member marks an answer, a moderator opens /kb review and teaches it, and the member's next
question gets the taught topic, in that server only; every control works after a restart and
refuses a click from another server or from a member without the rights.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import editing
from bot.store.learning import LearningStore
from tests.bot.cogs.test_kb import MEMBER, MODERATOR, components, kb
from tests.discord_support import FIXED_NOW, running_bot
from tests.fakediscord import FakeDiscord

EPHEMERAL = 1 << 6
DEFERRED = 5
MODAL = 9
# Answered confidently with the United States' role, though the member means guarantees.
MISSED = "will american troops defend ukraine"
MEANT = "security-guarantees"
WRONG = "us-role"


def by_label(message: dict[str, Any], label: str) -> dict[str, Any]:
    return next(c for c in components(message) if c.get("label") == label)


def by_placeholder(message: dict[str, Any], placeholder: str) -> dict[str, Any]:
    return next(c for c in components(message) if c.get("placeholder") == placeholder)


async def ask(fake: FakeDiscord, guild_id: int, question: str, user_id: int | None = None) -> Any:
    ix = await fake.send_slash(
        guild_id, name="ask", options={"question": question}, user_id=user_id
    )
    await ix.wait_response()
    return ix


def answered_slug(bot: Any, guild_id: int, data: dict[str, Any]) -> str | None:
    """The slug of the topic a card shows, by its title as this server sees it."""
    embeds = data.get("embeds") or []
    if not embeds:
        return None
    title = embeds[0]["title"]
    return next((t.slug for t in bot.service.topics(guild_id) if t.title == title), None)


class Ticking:
    """A clock that moves one second each time it is read: flags, edits and reviews happen in
    the order the test makes them, none at the same second as another."""

    def __init__(self) -> None:
        self.now = FIXED_NOW + timedelta(days=7)  # a week after the pack's "Updated" date

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


async def redrawn(ix: Any, says: str) -> dict[str, Any]:
    """The review message once a click's deferred update redrew it saying `says`."""
    return await ix.wait_original(lambda m: says in str(m.get("embeds")))


async def logged(bot: Any) -> None:
    """Questions are logged just after each reply: write what is queued (no waiting on time)."""
    await bot.service.asks.flush()


async def test_a_marked_answer_is_taught_in_one_click_and_answers_the_next_ask_here_only(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A", channels=("general", "mod-log"))
        others = [fake.add_guild(name=f"S{n}") for n in range(6)]
        member = a.add_member()
        log_channel = next(c for c in a.channels.values() if c.name == "mod-log").id
        async with running_bot(fake, db) as bot:
            set_log = await kb(fake, a.id, "log", channel=log_channel)
            await set_log.wait_response()
            first = await ask(fake, a.id, MISSED, user_id=member.id)
            card = first.response["data"]
            assert answered_slug(bot, a.id, card) == WRONG
            labels = [c.get("label") for c in components(card) if c.get("type") == 2]
            assert labels == ["Helpful", "Not what I asked", "Outdated", "Follow"]
            await logged(bot)
        # After a restart the card's buttons still work: they carry the server and the ask.
        async with running_bot(fake, db) as bot:
            marked = await fake.click_component(
                first,
                by_label(card, "Not what I asked")["custom_id"],
                user_id=member.id,
                member_permissions=MEMBER,
            )
            reply = (await marked.wait_response())["data"]
            assert int(reply["flags"]) & EPHEMERAL
            menu = by_placeholder(reply, "Which topic did you mean?")
            values = [o["value"] for o in menu["options"]]
            assert values[-1] == "none" and menu["options"][-1]["label"] == "None of these"
            assert 2 <= len(values) <= 25
            meant = bot.service.topic(a.id, MEANT)
            assert str(meant.id) in values
            assert str(bot.service.topic(a.id, WRONG).id) not in values  # not the answer given
            picked = await fake.click_component(
                marked,
                menu["custom_id"],
                values=[str(meant.id)],
                user_id=member.id,
                member_permissions=MEMBER,
            )
            thanks = (await picked.wait_response())["data"]
            assert "moderators" in thanks["content"]
            shown = (await picked.wait_followups(1))[0]
            assert answered_slug(bot, a.id, shown) == MEANT

            # The moderator reviews: the marked question, what was answered, what was meant.
            review = await kb(fake, a.id, "review")
            page = (await review.wait_response())["data"]
            assert int(page["flags"]) & EPHEMERAL
            item = page["embeds"][0]
            assert item["title"] == "Not what they asked: marked by 1 member"
            assert MISSED in item["description"]
            assert "What role does the United States play?" in item["description"]
            assert str(member.id) not in str(page)  # who asked or voted is never shown
            teach = by_placeholder(page, "Teach: this question belongs to…")
            assert teach["options"][0]["value"] == str(meant.id)  # the member's pick first
            labels = [c.get("label") for c in components(page) if c.get("type") == 2]
            assert labels == ["New topic from this", "Dismiss", "Previous", "Next"]
            taught = await fake.click_component(
                review, teach["custom_id"], values=[str(meant.id)], member_permissions=MODERATOR
            )
            await taught.wait_response()
            after = await redrawn(taught, "Taught")
            assert after["embeds"][0]["title"] == "Nothing to review"
            # The very next question gets the taught topic, in this server only.
            again = await ask(fake, a.id, MISSED, user_id=member.id)
            assert answered_slug(bot, a.id, again.response["data"]) == MEANT
            reordered = await ask(fake, a.id, "defend ukraine will american troops")
            assert answered_slug(bot, a.id, reordered.response["data"]) == MEANT
            for other in others:
                elsewhere = await ask(fake, other.id, MISSED)
                assert answered_slug(bot, other.id, elsewhere.response["data"]) == WRONG
            # A revision /kb history shows and /kb revert undoes, announced in the log channel.
            history = await kb(fake, a.id, "history", topic=MEANT)
            fields = (await history.wait_response())["data"]["embeds"][0]["fields"]
            assert "t1" in fields[0]["value"] and MISSED in fields[0]["value"]
            notes = [m["content"] for m in fake.channel_messages(log_channel)]
            assert any("taught" in n and MISSED in n for n in notes)
            undone = await kb(fake, a.id, "revert", topic=MEANT, revision="t1")
            assert "Undid" in (await undone.wait_response())["data"]["content"]
            back = await ask(fake, a.id, MISSED)
            assert answered_slug(bot, a.id, back.response["data"]) == WRONG


async def test_helpful_counts_once_and_outdated_reaches_the_review_until_still_accurate(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        b = fake.add_guild(name="B")
        members = [a.add_member() for _ in range(3)]
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=Ticking()) as bot:
            asked = await ask(fake, a.id, "what are the berlin talks")
            card = asked.response["data"]
            helpful = by_label(card, "Helpful")["custom_id"]
            replies = []
            for _ in range(2):
                click = await fake.click_component(
                    asked, helpful, user_id=members[0].id, member_permissions=MEMBER
                )
                replies.append((await click.wait_response())["data"]["content"])
            assert replies[0].startswith("Thanks") and "already" in replies[1]
            outdated = by_label(card, "Outdated")["custom_id"]
            for who in (*members, members[0]):
                click = await fake.click_component(
                    asked, outdated, user_id=who.id, member_permissions=MEMBER
                )
                assert int((await click.wait_response())["data"]["flags"]) & EPHEMERAL
            review = await kb(fake, a.id, "review")
            page = (await review.wait_response())["data"]
            assert page["embeds"][0]["title"] == "Outdated: flagged by 3 members"
            labels = [c.get("label") for c in components(page) if c.get("type") == 2]
            assert labels == ["Edit", "Still accurate", "Previous", "Next"]
            # Another server sees none of it.
            elsewhere = await kb(fake, b.id, "review")
            assert (await elsewhere.wait_response())["data"]["embeds"][0]["title"] == (
                "Nothing to review"
            )
            edit = await fake.click_component(
                review, by_label(page, "Edit")["custom_id"], member_permissions=MODERATOR
            )
            assert (await edit.wait_response())["type"] == MODAL
            ok = await fake.click_component(
                review, by_label(page, "Still accurate")["custom_id"], member_permissions=MODERATOR
            )
            await ok.wait_response()
            after = (await redrawn(ok, "still accurate"))["embeds"][0]
            assert after["title"] == "Nothing to review"
            assert "still accurate" in after["description"]
            today = bot.clock().date().isoformat()
            again = await ask(fake, a.id, "what are the berlin talks")
            assert again.response["data"]["embeds"][0]["footer"]["text"] == f"Updated {today}"
            there = await ask(fake, b.id, "what are the berlin talks")
            assert there.response["data"]["embeds"][0]["footer"]["text"] != f"Updated {today}"


async def test_unanswered_questions_are_grouped_most_asked_first_and_dismiss_holds_for_five(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=Ticking()) as bot:
            for question in (
                "how do I bake sourdough bread",
                "Baking sourdough bread?",
                "sourdough bread baking",
                "lunar eclipse tonight",
            ):
                await ask(fake, a.id, question, user_id=a.add_member().id)
            await ask(fake, b.id, "best pizza dough")
            await logged(bot)
            review = await kb(fake, a.id, "review", days=7)
            page = (await review.wait_response())["data"]
            first = page["embeds"][0]
            assert first["title"] == "Unanswered: asked 3 times"
            assert "sourdough" in first["description"].lower()
            assert "Item 1 of 2" in first["footer"]["text"]
            assert "pizza" not in str(page)
            following = await fake.click_component(
                review, by_label(page, "Next")["custom_id"], member_permissions=MODERATOR
            )
            await following.wait_response()
            second = await redrawn(following, "asked 1 time")
            assert second["embeds"][0]["title"] == "Unanswered: asked 1 time"
            assert "eclipse" in second["embeds"][0]["description"]
            dismissed = await fake.click_component(
                review, by_label(second, "Dismiss")["custom_id"], member_permissions=MODERATOR
            )
            await dismissed.wait_response()
            left = (await redrawn(dismissed, "Dismissed"))["embeds"][0]
            assert "Dismissed" in left["description"] and "Item 1 of 1" in left["footer"]["text"]
            for _ in range(4):
                await ask(fake, a.id, "lunar eclipse tonight")
            await logged(bot)
            quiet = await kb(fake, a.id, "review", days=7)
            text = str((await quiet.wait_response())["data"])
            assert "eclipse" not in text
            await ask(fake, a.id, "lunar eclipse tonight")  # the fifth since the dismissal
            await logged(bot)
            back = await kb(fake, a.id, "review", days=7)
            shown = (await back.wait_response())["data"]["embeds"][0]
            assert shown["title"] == "Unanswered: asked 6 times"
            assert "eclipse" in shown["description"]
            # New topic from this: the add form, titled with the question.
            new = await fake.click_component(
                back,
                by_label((await back.wait_response())["data"], "New topic from this")["custom_id"],
                member_permissions=MODERATOR,
            )
            form = await new.wait_response()
            assert form["type"] == MODAL
            title = form["data"]["components"][0]["components"][0]
            assert title["value"] == "lunar eclipse tonight"


async def test_review_controls_refuse_members_and_other_servers(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        member = a.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            await ask(fake, a.id, "how do I bake sourdough bread")
            await logged(bot)
            refused = await kb(fake, a.id, "review", perms=MEMBER, user_id=member.id)
            assert "Manage Server" in (await refused.wait_response())["data"]["content"]
            review = await kb(fake, a.id, "review")
            page = (await review.wait_response())["data"]
            teach = by_placeholder(page, "Teach: this question belongs to…")
            clicked = await fake.click_component(
                review,
                teach["custom_id"],
                values=[teach["options"][0]["value"]],
                user_id=member.id,
                member_permissions=MEMBER,
            )
            assert "Manage Server" in (await clicked.wait_response())["data"]["content"]
            dismiss = by_label(page, "Dismiss")["custom_id"]
            in_b = await kb(fake, b.id, "review")
            await in_b.wait_response()
            # Server A's button, put on server B's review message, clicked in B.
            stored = fake.messages[in_b.original_message_id]
            stored["components"][0]["components"][0]["custom_id"] = dismiss
            crafted = await fake.click_component(
                in_b, dismiss, member_permissions=MODERATOR, strict=False
            )
            assert "another server" in (await crafted.wait_response())["data"]["content"]
            assert await bot.learning.store.taught([a.id]) == {}
            again = await kb(fake, a.id, "review")
            assert "sourdough" in str((await again.wait_response())["data"])


async def test_kb_gaps_points_to_kb_review(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            gaps = await kb(fake, a.id, "gaps")
            data = (await gaps.wait_response())["data"]
        assert "/kb review" in data["content"] and int(data["flags"]) & EPHEMERAL


async def test_the_review_counts_unanswered_questions_in_a_worker_process_and_only_this_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the report was grouped in the bot's own process")

    monkeypatch.setattr(editing, "report_gaps", not_here)
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            asked = bot.service.db.now()
            rows = [(a.id, f"why is the sky colour {n}?") for n in range(2500)]
            rows += [(a.id, "how do I bake bread")] * 3 + [(b.id, "lunar eclipse tonight")] * 5000
            async with bot.service.db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO asks (guild_id, question, asked_at) VALUES (?, ?, ?)",
                    [(*row, asked) for row in rows],
                )
            ix = await kb(fake, a.id, "review", days=7)
            first = (await ix.wait_response())["data"]["embeds"][0]
            worker = bot.editor.gaps_worker.pid
            assert worker is not None and worker != os.getpid()
        assert first["title"] == "Unanswered: asked 2500 times"
        assert "Item 1 of 2" in first["footer"]["text"]


async def test_a_review_opened_before_a_restart_still_pages_and_dismisses(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, db, clock=Ticking()) as bot:
            for question in ("how do I bake sourdough bread", "lunar eclipse tonight"):
                await ask(fake, a.id, question)
            await logged(bot)
            review = await kb(fake, a.id, "review")
            page = (await review.wait_response())["data"]
        async with running_bot(fake, db, clock=Ticking()):
            following = await fake.click_component(
                review, by_label(page, "Next")["custom_id"], member_permissions=MODERATOR
            )
            await following.wait_response()
            second = await redrawn(following, "Item 2 of 2")
            dismissed = await fake.click_component(
                review, by_label(second, "Dismiss")["custom_id"], member_permissions=MODERATOR
            )
            await dismissed.wait_response()
            left = (await redrawn(dismissed, "Dismissed"))["embeds"][0]
        assert "Item 1 of 1" in left["footer"]["text"]


async def test_which_topic_did_you_mean_is_deferred_when_the_search_is_slow(
    tmp_path: Path,
) -> None:
    release = asyncio.Event()
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        member = a.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            first = await ask(fake, a.id, MISSED, user_id=member.id)
            card = first.response["data"]
            bot.deadline.defer_by = 0.05  # a search as slow as a busy server's
            real = bot.learning.meant_choices

            async def slow(*args: Any) -> Any:
                await release.wait()
                return await real(*args)

            bot.learning.meant_choices = slow
            marked = await fake.click_component(
                first,
                by_label(card, "Not what I asked")["custom_id"],
                user_id=member.id,
                member_permissions=MEMBER,
            )
            deferred = await marked.wait_response()
            assert deferred["type"] == DEFERRED
            assert int(deferred["data"]["flags"]) & EPHEMERAL
            release.set()
            menu = (await marked.wait_followups(1))[0]
            assert by_placeholder(menu, "Which topic did you mean?")["options"]


async def test_history_pages_reach_every_addition_so_t1_of_25_can_be_found_and_undone(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite3"
    first_taught = "zebra convoys quokka harbour"
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, db, clock=Ticking()) as bot:
            store = LearningStore(bot.service.db)
            for n in range(25):
                detail = first_taught if n == 0 else f"guarantee wording {n} " + "x" * 90
                await store.add(a.id, MEANT, "taught", detail, author="mod", author_id=1)
            await bot.service.refresh(a.id)
            taught = await ask(fake, a.id, first_taught)
            assert answered_slug(bot, a.id, taught.response["data"]) == MEANT
            history = await kb(fake, a.id, "history", topic=MEANT)
            message = (await history.wait_response())["data"]
        seen: list[str] = []
        pages: list[str] = []
        # Paged through after a restart too: the buttons carry the server, topic and page.
        async with running_bot(fake, db, clock=Ticking()) as bot:
            ix = history
            while True:
                embed = message["embeds"][0]
                pages.append(embed["footer"]["text"])
                added = [f for f in embed.get("fields", []) if f["name"].startswith("Added")]
                for field in added:
                    lines = field["value"].splitlines()
                    seen += [line.split("**")[1] for line in lines if line.startswith("**t")]
                following = by_label(message, "Next")
                if following.get("disabled"):
                    break
                ix = await fake.click_component(
                    ix, following["custom_id"], member_permissions=MODERATOR
                )
                message = (await ix.wait_response())["data"]
            assert seen == [f"t{n}" for n in range(25, 0, -1)]  # every one, newest first
            assert pages[0].startswith("Page 1 of 3 · revisions: 1 page, additions: 3 pages")
            assert pages[-1].startswith("Page 3 of 3")
            last = message["embeds"][0]
            assert last["description"] == "No older revisions: they end on page 1."
            assert first_taught in last["fields"][-1]["value"]
            undone = await kb(fake, a.id, "revert", topic=MEANT, revision="t1")
            assert "Undid" in (await undone.wait_response())["data"]["content"]
            back = await ask(fake, a.id, first_taught)
            assert answered_slug(bot, a.id, back.response["data"]) != MEANT
            again = await kb(fake, a.id, "history", topic=MEANT)
            newest = (await again.wait_response())["data"]["embeds"][0]["fields"][0]["value"]
            assert newest.startswith("**t26**") and "undid t1" in newest
