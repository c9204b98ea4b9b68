"""End to end: moderators edit their server's briefing through /kb, and nothing leaks across."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.client import interaction_tasks
from bot.editing import Author
from bot.pack import load_zip
from bot.sections import MAX_SLUG, Source
from bot.ui.forms import FORM_FIELDS, FORM_ID_RE, form_id
from tests.discord_support import KNOWLEDGE, modal_values, running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.payloads import Perm

MODAL = 9
CUSTOM_ID_LIMIT = 100  # Discord's limit for a modal's custom_id
EPHEMERAL = 1 << 6
MODERATOR = int(Perm.MANAGE_GUILD | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
MEMBER = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
NEW_TOPIC = {
    "title": "What is the grain corridor?",
    "aliases": "Black Sea grain deal\nUkrainian grain exports",
    "body": "The grain corridor lets ships carry Ukrainian grain through the Black Sea.",
    "sources": "UN explainer | https://example.org/grain",
    "more_sources": "",
}


def components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row.get("components", [])]


async def kb(fake: FakeDiscord, guild_id: int, sub: str, perms: int = MODERATOR, **kw: Any) -> Any:
    user_id = kw.pop("user_id", None)
    roles = kw.pop("roles", None)
    return await fake.send_slash(
        guild_id,
        name="kb",
        subcommand=sub,
        options=kw or None,
        member_permissions=perms,
        user_id=user_id,
        roles=roles,
    )


async def open_form(fake: FakeDiscord, guild_id: int, sub: str, **kw: Any) -> tuple[Any, dict]:
    opened = await kb(fake, guild_id, sub, **kw)
    response = await opened.wait_response()
    assert response["type"] == MODAL, response
    return opened, response["data"]


async def submit(
    fake: FakeDiscord, opened: Any, modal: dict, fields: dict[str, str], **kw: Any
) -> dict:
    return (await submit_ix(fake, opened, modal, fields, **kw)).response["data"]


async def submit_ix(
    fake: FakeDiscord, opened: Any, modal: dict, fields: dict[str, str], **kw: Any
) -> Any:
    kw.setdefault("member_permissions", MODERATOR)
    submitted = await fake.submit_modal(modal["custom_id"], fields, interaction=opened, **kw)
    await submitted.wait_response()
    return submitted


async def ask_title(fake: FakeDiscord, guild_id: int, question: str) -> str | None:
    ix = await fake.send_slash(guild_id, name="ask", options={"question": question})
    data = (await ix.wait_response())["data"]
    embeds = data.get("embeds") or []
    return embeds[0]["title"] if embeds else None


async def explain_body(fake: FakeDiscord, guild_id: int, topic: str) -> dict[str, Any]:
    ix = await fake.send_slash(guild_id, name="explain", options={"topic": topic})
    return (await ix.wait_response())["data"]


async def test_added_topic_is_answered_at_once_in_its_server_only(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            opened, modal = await open_form(fake, a.id, "add")
            saved = await submit(fake, opened, modal, NEW_TOPIC)
            assert "Saved" in saved["content"] and int(saved["flags"]) & EPHEMERAL
            assert await ask_title(fake, a.id, "black sea grain deal") == NEW_TOPIC["title"]
            assert await ask_title(fake, b.id, "black sea grain deal") is None
            topics_b = await fake.send_slash(b.id, name="topics")
            listing = (await topics_b.wait_response())["data"]["embeds"][0]["description"]
            assert "grain" not in listing


async def test_override_stays_in_its_server_and_survives_a_pack_reimport(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(KNOWLEDGE, pack)
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            opened, modal = await open_form(fake, a.id, "edit", topic="berlin-talks")
            fields = modal_values(modal)
            assert fields["title"] == "What are the Berlin talks?"
            saved = await submit(fake, opened, modal, {**fields, "body": "Server A's own account."})
            assert "revision 1" in saved["content"]
            # The curated text changes and is re-imported: B sees it, A keeps its override.
            path = pack / "berlin-talks.md"
            text = path.read_text("utf-8")
            path.write_text(text.replace("The Berlin talks are", "The Berlin talks, updated, are"))
            report = await bot.service.import_pack(pack)
            assert report.updated == ["berlin-talks"]
            body_a = (await explain_body(fake, a.id, "berlin-talks"))["embeds"][0]["description"]
            body_b = (await explain_body(fake, b.id, "berlin-talks"))["embeds"][0]["description"]
        assert body_a == "Server A's own account."
        assert body_b.startswith("The Berlin talks, updated, are")


async def test_remove_after_confirm_hides_it_here_only_and_revert_brings_it_back(
    tmp_path: Path,
) -> None:
    us_role = "What role does the United States play?"
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            asked = await kb(fake, a.id, "remove", topic="us-role")
            confirm = (await asked.wait_response())["data"]
            assert int(confirm["flags"]) & EPHEMERAL
            button = components(confirm)[0]
            clicked = await fake.click_component(
                asked, button["custom_id"], member_permissions=MODERATOR
            )
            done = (await clicked.wait_response())["data"]
            assert done["content"].startswith("Removed")
            assert "`/kb revert topic:us-role revision:1`" in done["content"]
            # Gone in A: neither the slug nor the question finds it, nor is it suggested.
            by_slug = await explain_body(fake, a.id, "us-role")
            asked_again = await fake.send_slash(a.id, name="ask", options={"question": us_role})
            by_question = (await asked_again.wait_response())["data"]
            for gone in (by_slug, by_question):
                assert gone["content"].startswith("I don't have a briefing on that yet")
                assert not gone.get("embeds")
                assert us_role not in [c.get("label") for c in components(gone)]
            assert (await explain_body(fake, b.id, "us-role"))["embeds"][0]["title"] == us_role
            # Its history is still there, and revert brings it back, as the messages promise.
            history = await kb(fake, a.id, "history", topic="us-role")
            shown = (await history.wait_response())["data"]["embeds"][0]
            assert shown["description"].startswith("**1**") and "hidden" in shown["description"]
            reverted = await kb(fake, a.id, "revert", topic="us-role", revision="1")
            said = (await reverted.wait_response())["data"]["content"]
            assert said == f"Restored revision 1 of **{us_role}** as revision 2."
            back = (await explain_body(fake, a.id, "us-role"))["embeds"][0]
            assert back["title"] == us_role and back["description"].startswith("The U.S. plays")
            assert await ask_title(fake, a.id, us_role) == us_role


async def test_history_and_revert_restore_an_earlier_text_as_a_new_revision(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            for body in ("First rewrite.", "Second rewrite."):
                opened, modal = await open_form(fake, a.id, "edit", topic="nato-purpose")
                await submit(fake, opened, modal, {**modal_values(modal), "body": body})
            history = await kb(fake, a.id, "history", topic="nato-purpose")
            lines = (await history.wait_response())["data"]["embeds"][0]["description"].splitlines()
            assert [line.split(" ")[0] for line in lines] == ["**2**", "**1**"]
            reverted = await kb(fake, a.id, "revert", topic="nato-purpose", revision="1")
            assert "as revision 3" in (await reverted.wait_response())["data"]["content"]
            body = (await explain_body(fake, a.id, "nato-purpose"))["embeds"][0]["description"]
        assert body == "First rewrite."


async def test_a_validation_error_keeps_the_text_and_reopens_the_form_with_it(
    tmp_path: Path,
) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            opened, modal = await open_form(fake, a.id, "add")
            typed = {**NEW_TOPIC, "sources": "Bad link | ftp://example.org/x"}
            submitted = await submit_ix(fake, opened, modal, typed)
            refused = submitted.response["data"]
            assert refused["content"].startswith("Not saved: sources")
            assert await ask_title(fake, a.id, "black sea grain deal") is None
            reopen = components(refused)[0]
            again = await fake.click_component(
                submitted, reopen["custom_id"], member_permissions=MODERATOR
            )
            reopened = await again.wait_response()
            assert reopened["type"] == MODAL
            assert modal_values(reopened["data"]) == typed
            assert bot.service.topic(a.id, "what-is-the-grain-corridor") is None


async def test_forms_opened_before_a_restart_still_save(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, db):
            edit_ix, edit_modal = await open_form(fake, a.id, "edit", topic="us-role")
            add_ix, add_modal = await open_form(fake, a.id, "add")
        async with running_bot(fake, db) as bot:
            typed = {**modal_values(edit_modal), "body": "Typed before the restart."}
            saved = await submit(fake, edit_ix, edit_modal, typed)
            assert saved["content"].startswith("Saved") and "revision 1" in saved["content"]
            added = await submit(fake, add_ix, add_modal, NEW_TOPIC)
            assert added["content"].startswith("Saved")
            edited = await bot.service.section("us-role", a.id)
            assert edited is not None and edited.content.body == "Typed before the restart."
            assert await ask_title(fake, a.id, "black sea grain deal") == NEW_TOPIC["title"]


async def test_a_form_for_a_topic_removed_meanwhile_keeps_the_text(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(KNOWLEDGE, pack)
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            opened, modal = await open_form(fake, a.id, "edit", topic="berlin-talks")
            (pack / "berlin-talks.md").unlink()
            assert (await bot.service.import_pack(pack)).retired == ["berlin-talks"]
            typed = {**modal_values(modal), "body": "Written while it was being retired."}
            submitted = await submit_ix(fake, opened, modal, typed)
            data = submitted.response["data"]
            assert "no longer exists" in data["content"] and int(data["flags"]) & EPHEMERAL
            again = await fake.click_component(
                submitted, components(data)[0]["custom_id"], member_permissions=MODERATOR
            )
            reopened = (await again.wait_response())["data"]
            assert reopened["title"] == "New topic" and modal_values(reopened) == typed


async def test_a_form_sent_while_stopping_is_kept_and_saves_when_reopened(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            opened, modal = await open_form(fake, a.id, "edit", topic="us-role")
            typed = {**modal_values(modal), "body": "Sent as the bot was stopping."}
            bot.closing = True  # what SIGTERM sets first
            submitted = await submit_ix(fake, opened, modal, typed)
            data = submitted.response["data"]
            assert data["content"].startswith("Briefbot is restarting, so nothing was saved")
            bot.closing = False  # the new process
            again = await fake.click_component(
                submitted, components(data)[0]["custom_id"], member_permissions=MODERATOR
            )
            reopened = (await again.wait_response())["data"]
            assert reopened["title"] == "Edit topic" and modal_values(reopened) == typed
            saved = await submit(fake, again, reopened, typed)
            assert saved["content"].startswith("Saved") and "revision 1" in saved["content"]


async def test_a_removed_topics_history_pages_so_a_revision_can_be_found(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            current = await bot.service.section("nato-purpose", a.id)
            for n in range(11):
                current = await bot.service.sections.save_for_guild(
                    a.id,
                    dataclasses.replace(current.content, body=f"Rewrite {n}."),
                    opened=(current.id, current.revision),
                    author="mod",
                    author_id=1,
                )
            await bot.service.reload()
            await bot.editor.remove(a.id, Author(1, "mod"), "nato-purpose")
            shown = await kb(fake, a.id, "history", topic="nato-purpose")
            first = (await shown.wait_response())["data"]
            assert first["embeds"][0]["description"].startswith("**12** ·")
            following = next(c for c in components(first) if c["label"] == "Next")
            turned = await fake.click_component(
                shown, following["custom_id"], member_permissions=MODERATOR
            )
            second = (await turned.wait_response())["data"]["embeds"][0]
            assert second["description"].startswith("**2** ·")
            assert second["footer"]["text"].startswith("Page 2 of 2")
            # The same button sent in B finds nothing: A's removed topic is A's alone.
            other = await kb(fake, b.id, "history", topic="nato-purpose")
            await other.wait_response()
            stored = fake.messages[other.original_message_id]
            crafted = following["custom_id"].replace(str(a.id), str(b.id))
            stored["components"][0]["components"][1]["custom_id"] = crafted
            refused = await fake.click_component(
                other, crafted, member_permissions=MODERATOR, strict=False
            )
            said = (await refused.wait_response())["data"]
            assert not said.get("embeds") and "nato-purpose" not in str(said)


async def test_topics_titled_with_accents_or_in_cyrillic_save(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            for title, slug in (
                ("Was bedeutet die Rückversicherung?", "was-bedeutet-die-ruckversicherung"),
                ("Що таке Рамштайн?", "shcho-take-ramshtayn"),
            ):
                opened, modal = await open_form(fake, a.id, "add")
                saved = await submit(fake, opened, modal, {**NEW_TOPIC, "title": title})
                assert saved["content"].startswith(f"Saved **{title}** (`{slug}`, revision 1)")
                card = (await explain_body(fake, a.id, slug))["embeds"][0]
                assert card["title"] == title


UNKNOWN_INTERACTION = {"code": 10062, "message": "Unknown interaction"}
CALLBACK = r"^/interactions/\d+/[^/]+/callback$"
SELECT = 3


async def drafts_of(fake: FakeDiscord, guild_id: int, **kw: Any) -> tuple[Any, dict[str, Any]]:
    listed = await kb(fake, guild_id, "drafts", **kw)
    data = (await listed.wait_response())["data"]
    assert int(data["flags"]) & EPHEMERAL
    return listed, data


def draft_lines(data: dict[str, Any]) -> list[str]:
    return str(data["embeds"][0].get("description") or "").splitlines()


async def test_a_form_whose_reply_fails_is_kept_in_kb_drafts_and_reopens(tmp_path: Path) -> None:
    """Discord never saw the refusal (the interaction expired), yet both texts can be reopened."""
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        colleague = a.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            typed = []
            for title in ("What is the grain corridor?", "Who guards the Black Sea?"):
                opened, modal = await open_form(fake, a.id, "add")
                expired = fake.inject_error("POST", CALLBACK, 404, body=UNKNOWN_INTERACTION)
                typed.append({**NEW_TOPIC, "title": title, "sources": "Bad | ftp://example.org"})
                await fake.submit_modal(
                    modal["custom_id"], typed[-1], interaction=opened, member_permissions=MODERATOR
                )
                # The draft is kept before the reply is tried; the reply is refused.
                await fake.wait_for(lambda f=expired: f.hits == 1, what="the refused reply")
            listed, data = await drafts_of(fake, a.id)
            lines = draft_lines(data)
            assert len(lines) == 2
            assert "Who guards the Black Sea?" in lines[0] and "new topic" in lines[0]
            assert "What is the grain corridor?" in lines[1]
            (menu,) = components(data)  # one page: no Previous / Next
            assert menu["type"] == SELECT and len(menu["options"]) == 2
            assert menu["options"][1]["label"].endswith("What is the grain corridor?")
            # A colleague sees none of them.
            _, theirs = await drafts_of(fake, a.id, user_id=colleague.id)
            assert "no kept drafts" in theirs["embeds"][0]["description"]
            assert not components(theirs)
            # Reopen the older one, fix it, save: that draft is gone, the other stays.
            picked = await fake.click_component(
                listed,
                menu["custom_id"],
                values=[menu["options"][1]["value"]],
                member_permissions=MODERATOR,
            )
            reopened = await picked.wait_response()
            assert reopened["type"] == MODAL and modal_values(reopened["data"]) == typed[0]
            assert reopened["data"]["title"] == "New topic"
            fixed = {**typed[0], "sources": NEW_TOPIC["sources"]}
            saved = await submit(fake, picked, reopened["data"], fixed)
            assert saved["content"].startswith("Saved **What is the grain corridor?**")
            _, after = await drafts_of(fake, a.id)
            (left,) = draft_lines(after)
            assert "Who guards the Black Sea?" in left
            assert await ask_title(fake, a.id, "black sea grain deal") == typed[0]["title"]
            # The same draft submitted again (a second window): kept, never saved twice.
            again = await submit(fake, picked, reopened["data"], fixed)
            assert again["content"].startswith("The draft this form was reopened from is gone")
            slugs = [s.slug for s in bot.service.topics(a.id)]
            assert slugs.count("what-is-the-grain-corridor") == 1


async def test_kb_drafts_pages_newest_first_and_forgets_drafts_after_30_days(
    tmp_path: Path,
) -> None:
    now = [datetime(2026, 11, 28, 9, 0, tzinfo=UTC)]
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=lambda: now[0]) as bot:
            user = a.default_member_id
            for n in range(12):
                fields = {"title": f"Draft {n:02}", "aliases": "", "body": "x", "sources": ""}
                await bot.editor.moderation.keep_draft(a.id, user, None, None, fields)
                now[0] += timedelta(minutes=1)
            listed, first = await drafts_of(fake, a.id)
            lines = draft_lines(first)
            assert len(lines) == 10 and "Draft 11" in lines[0] and "Draft 02" in lines[9]
            assert first["embeds"][0]["footer"]["text"].startswith("Page 1 of 2")
            menu, previous, following = components(first)
            assert len(menu["options"]) == 10 and previous["disabled"] and not following["disabled"]
            turned = await fake.click_component(
                listed, following["custom_id"], member_permissions=MODERATOR
            )
            second = (await turned.wait_response())["data"]
            assert [line.split(" · ")[0] for line in draft_lines(second)] == [
                "**11.** Draft 01",
                "**12.** Draft 00",
            ]
            menu, previous, following = components(second)
            assert len(menu["options"]) == 2 and following["disabled"] and not previous["disabled"]
            # Thirty days after the newest was kept, every draft has expired.
            now[0] += timedelta(days=30)
            pick = await fake.click_component(
                listed,
                menu["custom_id"],
                values=[menu["options"][0]["value"]],
                member_permissions=MODERATOR,
            )
            gone = (await pick.wait_response())["data"]
            assert gone["content"].startswith("That draft is gone")
            _, empty = await drafts_of(fake, a.id)
            assert "no kept drafts" in empty["embeds"][0]["description"]


async def test_a_form_cut_off_by_shutdown_keeps_its_text(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            entered, release = asyncio.Event(), asyncio.Event()

            async def stuck(*args: Any, **kwargs: Any) -> None:
                entered.set()
                await release.wait()

            bot.editor.save = stuck  # type: ignore[method-assign]
            opened, modal = await open_form(fake, a.id, "add")
            await fake.submit_modal(
                modal["custom_id"], NEW_TOPIC, interaction=opened, member_permissions=MODERATOR
            )
            await asyncio.wait_for(entered.wait(), timeout=5)
            answering = interaction_tasks()
            for task in answering:  # what shutdown does once its grace is over
                task.cancel()
            await asyncio.wait(answering)
            release.set()
            drafts, total = await bot.editor.moderation.drafts(
                a.id, a.default_member_id, offset=0, limit=10
            )
        assert total == 1 and drafts[0].fields == NEW_TOPIC


def test_form_ids_fit_discord_and_read_back() -> None:
    longest_guild = 2**64 - 1
    cases = [
        (longest_guild, None, None),
        (longest_guild, "a" * MAX_SLUG, None),
        (longest_guild, "us-role", (2**63 - 1, 10**9)),
    ]
    for guild, slug, opened in cases:
        custom_id = form_id(guild, slug, opened)
        assert len(custom_id) <= CUSTOM_ID_LIMIT
        found = FORM_ID_RE.fullmatch(custom_id)
        assert found is not None and int(found["guild"]) == guild and found["draft"] is None
        if opened:
            assert (int(found["section"]), int(found["revision"])) == opened
        else:
            assert found["slug"] == slug and found["section"] is None
    # A form reopened from a draft carries only the draft: what it edits is read from there.
    reopened = form_id(longest_guild, "a" * MAX_SLUG, (2**63 - 1, 10**9), 2**63 - 1)
    assert len(reopened) <= CUSTOM_ID_LIMIT
    found = FORM_ID_RE.fullmatch(reopened)
    assert found is not None and int(found["draft"]) == 2**63 - 1 and found["slug"] is None
    assert FORM_ID_RE.fullmatch("bb:form:١٢") is None  # digits are ASCII digits


async def test_a_form_sent_to_another_server_is_refused(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            _opened, modal = await open_form(fake, a.id, "edit", topic="us-role")
            crafted = await fake.submit_modal(
                modal["custom_id"],
                {**modal_values(modal), "body": "Crafted in B."},
                guild_id=b.id,
                channel_id=b.text_channel_id,
                member_permissions=MODERATOR,
            )
            data = (await crafted.wait_response())["data"]
            assert "another server" in data["content"]
            for guild in (a.id, b.id):
                section = await bot.service.section("us-role", guild)
                assert section is not None and section.content.body.startswith("The U.S. plays")


async def test_second_save_of_the_same_section_is_told_of_the_conflict(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        first_mod, second_mod = a.add_member(), a.add_member()
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            one, modal_one = await open_form(
                fake, a.id, "edit", topic="us-role", user_id=first_mod.id
            )
            two, modal_two = await open_form(
                fake, a.id, "edit", topic="us-role", user_id=second_mod.id
            )
            await submit(
                fake, one, modal_one, {**modal_values(modal_one), "body": "First moderator."}
            )
            clash = await submit(
                fake, two, modal_two, {**modal_values(modal_two), "body": "Second moderator."}
            )
            assert clash["content"].startswith("This topic changed since you opened it")
            titles = [e["title"] for e in clash["embeds"]]
            assert titles[0].startswith("Now:") and titles[1].startswith("Yours:")
            assert clash["embeds"][0]["description"] == "First moderator."
            assert clash["embeds"][1]["description"] == "Second moderator."
            body = (await explain_body(fake, a.id, "us-role"))["embeds"][0]["description"]
        assert body == "First moderator."


async def test_members_without_permission_or_role_are_refused_everywhere(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        member = a.add_member()
        helpers = a.add_role("Briefing helpers", MEMBER)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            refused = await kb(fake, a.id, "add", perms=MEMBER, user_id=member.id)
            data = (await refused.wait_response())["data"]
            assert int(data["flags"]) & EPHEMERAL and "Manage Server" in data["content"]
            # A form opened by a moderator, submitted by someone without the permission.
            opened, modal = await open_form(fake, a.id, "edit", topic="us-role")
            crafted = await submit(
                fake,
                opened,
                modal,
                {**modal_values(modal), "body": "Vandalised."},
                user_id=member.id,
                member_permissions=MEMBER,
            )
            assert "Manage Server" in crafted["content"]
            # A remove confirmation clicked by someone without the permission.
            asked = await kb(fake, a.id, "remove", topic="us-role")
            button = components((await asked.wait_response())["data"])[0]
            click = await fake.click_component(
                asked, button["custom_id"], user_id=member.id, member_permissions=MEMBER
            )
            assert "Manage Server" in (await click.wait_response())["data"]["content"]
            assert bot.service.topic(a.id, "us-role") is not None
            # The moderator role opens the door.
            role_set = await kb(fake, a.id, "role", role=helpers.id)
            assert "may now edit" in (await role_set.wait_response())["data"]["content"]
            with_role = await kb(
                fake, a.id, "add", perms=MEMBER, user_id=member.id, roles=[helpers.id]
            )
            assert (await with_role.wait_response())["type"] == MODAL
            body = (await explain_body(fake, a.id, "us-role"))["embeds"][0]["description"]
        assert body.startswith("The U.S. plays")


async def test_custom_ids_from_another_server_are_refused(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            in_a = await kb(fake, a.id, "remove", topic="us-role")
            button_a = components((await in_a.wait_response())["data"])[0]
            in_b = await kb(fake, b.id, "remove", topic="nato-purpose")
            await in_b.wait_response()
            stored = fake.messages[in_b.original_message_id]
            stored["components"][0]["components"][0]["custom_id"] = button_a["custom_id"]
            crafted = await fake.click_component(
                in_b, button_a["custom_id"], member_permissions=MODERATOR
            )
            data = (await crafted.wait_response())["data"]
            assert "another server" in data["content"]
            assert bot.service.topic(a.id, "us-role") is not None


async def test_export_then_import_round_trip_and_stale_and_log(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A", channels=("general", "mod-log"))
        log_channel = next(c for c in a.channels.values() if c.name == "mod-log").id
        later = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)  # twelve days after the pack's date
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=lambda: later) as bot:
            set_log = await kb(fake, a.id, "log", channel=log_channel)
            await set_log.wait_response()
            opened, modal = await open_form(fake, a.id, "add")
            await submit(fake, opened, modal, NEW_TOPIC)
            exported = await kb(fake, a.id, "export")
            await exported.wait_response()
            files = {f.filename: f.data for f in exported.response_files}
            stale = await kb(fake, a.id, "stale", days=5)
            stale_text = (await stale.wait_response())["data"]["embeds"][0]["description"]
            topics = bot.service.topics(a.id)
        sections = load_zip(files["briefing.zip"])
        assert [s.slug for s in sections] == [t.slug for t in topics]
        assert any(s.title == NEW_TOPIC["title"] for s in sections)
        assert "grain" not in stale_text and "What is NATO" in stale_text
        notes = fake.channel_messages(log_channel)
        assert len(notes) == 1 and "created" in notes[0]["content"]
        assert notes[0]["allowed_mentions"] == {"parse": []}


async def test_a_kb_export_zip_restores_into_its_own_server_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            opened, modal = await open_form(fake, a.id, "add")
            await submit(fake, opened, modal, NEW_TOPIC)
            exported = await kb(fake, a.id, "export")
            message = (await exported.wait_response())["data"]["content"]
    # The reply names the command that restores it, into this server.
    assert f"briefbot kb import --guild {a.id} briefing.zip" in message
    archive = tmp_path / "briefing.zip"
    archive.write_bytes(exported.response_files[0].data)
    monkeypatch.setenv("BRIEFBOT_DB", str(tmp_path / "other.sqlite3"))
    # As the curated pack it would reach every server: refused, naming the right command.
    assert await asyncio.to_thread(main, ["kb", "import", str(archive)]) == 1
    assert f"kb import --guild {a.id}" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["kb", "import", "--guild", str(a.id), str(archive)]) == 0
    capsys.readouterr()
    question = "black sea grain deal"
    assert await asyncio.to_thread(main, ["ask", "--json", "--guild", str(a.id), question]) == 0
    assert await asyncio.to_thread(main, ["ask", "--json", question]) == 0
    here, elsewhere = (json.loads(line)["answer"] for line in capsys.readouterr().out.splitlines())
    assert here["slug"] == "what-is-the-grain-corridor"
    # Every other server still sees the curated pack alone.
    assert (elsewhere or {}).get("slug") != "what-is-the-grain-corridor"


class MovableClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def topic(n: int) -> dict[str, str]:
    return {**NEW_TOPIC, "title": f"What is limited topic number {n}?"}


async def test_a_server_may_save_so_many_changes_per_window_and_keeps_the_refused_text(
    tmp_path: Path,
) -> None:
    clock = MovableClock(datetime(2026, 11, 28, 9, 30, tzinfo=UTC))
    async with FakeDiscord() as fake:
        a, b = fake.add_guild(name="A"), fake.add_guild(name="B")
        async with running_bot(fake, tmp_path / "db.sqlite3", clock=clock, edit_rate=(2, 600.0)):
            forms = [await open_form(fake, a.id, "add") for _ in range(3)]
            for n, (opened, modal) in enumerate(forms[:2]):
                assert (await submit(fake, opened, modal, topic(n)))["content"].startswith("Saved")
            refused = await submit_ix(fake, *forms[2], topic(2))
            data = refused.response["data"]
            assert "2 changes to its briefing in the last 10 minutes" in data["content"]
            assert "your text is kept" in data["content"]
            assert await ask_title(fake, a.id, "limited topic number 2") != topic(2)["title"]
            # Opening another form is refused at once, before anything is typed.
            early = await (await kb(fake, a.id, "add")).wait_response()
            assert "try again in 10 minutes" in early["data"]["content"]
            edit = await kb(fake, a.id, "edit", topic="nato-purpose")
            assert "2 changes" in (await edit.wait_response())["data"]["content"]
            # Another server is not held back by this one.
            other = await submit_ix(fake, *await open_form(fake, b.id, "add"), topic(9))
            assert other.response["data"]["content"].startswith("Saved")

            clock.now += timedelta(minutes=10)
            reopen = components(data)[0]
            again = await fake.click_component(
                refused, reopen["custom_id"], member_permissions=MODERATOR
            )
            reopened = (await again.wait_response())["data"]
            assert modal_values(reopened)["title"] == topic(2)["title"]
            saved = await submit(fake, again, reopened, modal_values(reopened))
            assert saved["content"].startswith("Saved")
            assert await ask_title(fake, a.id, "limited topic number 2") == topic(2)["title"]


async def test_a_server_holds_at_most_so_many_topics_of_its_own(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3", max_guild_topics=2):
            late = await open_form(fake, a.id, "add")
            for n in range(2):
                opened, modal = await open_form(fake, a.id, "add")
                assert (await submit(fake, opened, modal, topic(n)))["content"].startswith("Saved")
            refused = (await (await kb(fake, a.id, "add")).wait_response())["data"]
            assert "already has 2 topics of its own" in refused["content"]
            assert "/kb remove" in refused["content"]
            kept = await submit(fake, *late, topic(3))
            assert "already has 2 topics of its own" in kept["content"]
            assert components(kept)[0]["custom_id"].startswith("bb:draft:")
            # Editing what is there (a curated topic, or its own) is still allowed.
            opened, modal = await open_form(fake, a.id, "edit", topic="nato-purpose")
            edited = {**modal_values(modal), "body": "This server's own words on NATO's purpose."}
            assert (await submit(fake, opened, modal, edited))["content"].startswith("Saved")


async def test_remove_add_revert_cannot_grow_a_server_past_its_topic_cap(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3", max_guild_topics=2):
            for n in range(2):
                opened, modal = await open_form(fake, a.id, "add")
                assert (await submit(fake, opened, modal, topic(n)))["content"].startswith("Saved")
            first = "what-is-limited-topic-number-0"
            asked = await kb(fake, a.id, "remove", topic=first)
            button = components((await asked.wait_response())["data"])[0]
            clicked = await fake.click_component(
                asked, button["custom_id"], member_permissions=MODERATOR
            )
            assert (await clicked.wait_response())["data"]["content"].startswith("Removed")
            opened, modal = await open_form(fake, a.id, "add")  # the removal freed a place
            assert (await submit(fake, opened, modal, topic(2)))["content"].startswith("Saved")
            reverted = await kb(fake, a.id, "revert", topic=first, revision="1")
            refused = (await reverted.wait_response())["data"]
            assert "already has 2 topics of its own" in refused["content"]
            assert int(refused["flags"]) & EPHEMERAL
            assert await ask_title(fake, a.id, "limited topic number 0") != topic(0)["title"]


async def test_history_pages_read_one_page_of_revisions_per_click(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            sections = bot.service.sections
            current = await bot.service.section("nato-purpose", a.id)
            for n in range(24):
                body = f"{current.content.body} Revision note {n}."
                content = dataclasses.replace(current.content, body=body)
                current = await sections.save_for_guild(
                    a.id,
                    content,
                    opened=(current.id, current.revision),
                    author=f"mod{n}",
                    author_id=n + 1,
                )
            await bot.service.reload()
            assert current.revision == 24  # this server's copy of the curated topic
            read: list[int] = []
            real = sections.revisions

            async def counted(section_id: int, **kw: Any) -> Any:
                found = await real(section_id, **kw)
                read.append(len(found))
                return found

            sections.revisions = counted  # type: ignore[method-assign]
            ix = await kb(fake, a.id, "history", perms=MEMBER, topic="nato-purpose")
            message = (await ix.wait_response())["data"]
            numbers = []
            for _ in range(3):
                embed = message["embeds"][0]
                numbers += [int(line.split("**")[1]) for line in embed["description"].splitlines()]
                nxt = next(c for c in components(message) if c["label"] == "Next")
                if nxt.get("disabled"):
                    break
                click = await fake.click_component(ix, nxt["custom_id"], member_permissions=MEMBER)
                message = (await click.wait_response())["data"]
                ix = click
            assert embed["footer"]["text"].startswith("Page 3 of 3")
        assert numbers == list(range(24, 0, -1))
        assert read == [10, 10, 4]  # never the whole history on a click


async def test_a_topic_saved_under_the_old_source_limits_opens_in_the_form_and_saves_unchanged(
    tmp_path: Path,
) -> None:
    # Ten sources of a 200-character title and a 500-character link: what the limits allowed
    # until they were cut to 100 and 290, so databases hold such rows. Written by the store as
    # the old bot did; the form must open on Discord (every box within its 4,000) and save them.
    sources = tuple(
        Source(
            (f"Source {i} | part of its title " + "t" * 200)[:200],
            (f"https://example.org/{i}/?next=|https://example.net/" + "p" * 500)[:500],
        )
        for i in range(10)
    )
    async with FakeDiscord() as fake:
        a = fake.add_guild(name="A")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            current = await bot.service.section("us-role", a.id)
            old = dataclasses.replace(current.content, sources=sources)
            stored = await bot.service.sections.save_for_guild(
                a.id, old, opened=(current.id, current.revision), author="old", author_id=None
            )
            await bot.service.reload()
            opened, modal = await open_form(fake, a.id, "edit", topic="us-role")
            fields = modal_values(modal)
            assert sorted(fields) == sorted(FORM_FIELDS)
            assert all(len(value) <= 4000 for value in fields.values())
            # A refused save keeps both sources boxes in the draft, and the draft reopens them.
            typed = {**fields, "more_sources": fields["more_sources"] + "\nBad | ftp://x.org"}
            refused = await submit_ix(fake, opened, modal, typed)
            data = refused.response["data"]
            assert data["content"].startswith("Not saved: sources")
            again = await fake.click_component(
                refused, components(data)[0]["custom_id"], member_permissions=MODERATOR
            )
            reopened = (await again.wait_response())["data"]
            assert modal_values(reopened) == typed
            saved = await submit(fake, again, reopened, fields)
            assert saved["content"].startswith("Saved")
            after = await bot.service.section("us-role", a.id)
            assert after is not None and after.revision == stored.revision + 1
            assert after.content == dataclasses.replace(old, updated=after.content.updated)
