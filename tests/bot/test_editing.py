"""The moderators' editor without Discord: slugs from any title, revert after remove, drafts."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import editing
from bot.editing import (
    Author,
    Conflict,
    DraftGone,
    Editor,
    Kept,
    OverLimit,
    Rejected,
    form_to_content,
    slug_for,
)
from bot.errors import FALLBACK_ERROR, InvalidSection, LimitReached, SectionNotFound
from bot.gaps import report_gaps
from bot.sections import MAX_SLUG, SLUG_RE, SectionContent, Source
from bot.service import BriefingService

GUILD, OTHER_GUILD = 501, 502
MOD = Author(7, "mod")
TODAY = date(2026, 11, 28)


def form(title: str, body: str = "A body of plain words.") -> dict[str, str]:
    return {"title": title, "aliases": "", "body": body, "sources": ""}


@pytest.fixture
async def editor(service: BriefingService) -> AsyncIterator[Editor]:
    opened = Editor(service)
    yield opened
    await opened.close()


async def add(editor: Editor, title: str, body: str = "A body of plain words.", **kw: object):
    return await editor.save(
        GUILD, MOD, form(title, body), slug=None, opened=None, today=TODAY, **kw
    )


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Was bedeutet die Rückversicherung?", "was-bedeutet-die-ruckversicherung"),
        ("Що таке Рамштайн?", "shcho-take-ramshtayn"),
        ("Qu'est-ce que l'OTAN ? Œuvre, façade", "qu-est-ce-que-l-otan-oeuvre-facade"),
        ("Straße nach Kyjiw", "strasse-nach-kyjiw"),
        ("Ru\u0308ckversicherung", "ruckversicherung"),  # decomposed input, composed first
        ("Ελληνικά", "ellinika"),
    ],
)
def test_a_title_in_any_script_gets_an_ascii_slug(title: str, slug: str) -> None:
    assert slug_for(title, set()) == slug


def test_a_title_with_nothing_to_spell_gets_a_generated_slug_unique_in_the_server() -> None:
    first = slug_for("???", set())
    assert first.startswith("topic-") and SLUG_RE.match(first)
    assert slug_for("???", set()) == first  # the same title, the same slug
    assert slug_for("???", {first}) == f"{first}-2"
    assert slug_for("!!!", set()) != first
    long = slug_for("Що " * 80, {"shcho-" * 10})
    assert len(long) <= MAX_SLUG and SLUG_RE.match(long)
    assert slug_for("Що таке Рамштайн?", {"shcho-take-ramshtayn"}) == "shcho-take-ramshtayn-2"


async def test_topics_titled_with_accents_or_in_cyrillic_save_and_are_found(
    editor: Editor, service: BriefingService
) -> None:
    german = await add(editor, "Was bedeutet die Rückversicherung?", "Rückversicherung erklärt.")
    ukrainian = await add(editor, "Що таке Рамштайн?", "Рамштайн: зустрічі союзників.")
    assert german.slug == "was-bedeutet-die-ruckversicherung"
    assert ukrainian.slug == "shcho-take-ramshtayn"
    assert ukrainian.title == "Що таке Рамштайн?"
    assert (await service.section("shcho-take-ramshtayn", GUILD)).id == ukrainian.id
    answer = await service.ask("Що таке Рамштайн", GUILD, record=False)
    assert answer.section is not None and answer.section.id == ukrainian.id
    again = await add(editor, "Що таке Рамштайн?", "A second one, same title.")
    assert again.slug == "shcho-take-ramshtayn-2"


async def test_revert_brings_back_a_removed_curated_topic(
    editor: Editor, service: BriefingService
) -> None:
    removed = await editor.remove(GUILD, MOD, "us-role")
    assert removed.status == "hidden"
    with pytest.raises(SectionNotFound):
        (await service.section("us-role", GUILD))
    section, revisions = await editor.history(GUILD, "us-role")
    assert section.id == removed.id and [r.action for r in revisions] == ["hidden"]
    back = await editor.revert(GUILD, MOD, "us-role", removed.revision, TODAY)
    assert back.status == "active" and back.revision == removed.revision + 1
    shown = await service.section("us-role", GUILD)
    assert shown.id == back.id and shown.content.body.startswith("The U.S. plays")
    answer = await service.ask("what role does the united states play", GUILD, record=False)
    assert answer.section is not None and answer.section.slug == "us-role"
    # Another server never saw the removal and is not touched by the revert.
    assert (await service.section("us-role", OTHER_GUILD)).guild_id is None


async def test_revert_brings_back_a_removed_topic_of_the_servers_own(
    editor: Editor, service: BriefingService
) -> None:
    mine = await add(editor, "What is the grain corridor?", "Ships carry grain.")
    edited = await editor.save(
        GUILD,
        MOD,
        form(mine.title, "Ships carry grain through the Black Sea."),
        slug=mine.slug,
        opened=(mine.id, mine.revision),
        today=TODAY,
    )
    removed = await editor.remove(GUILD, MOD, mine.slug)
    # A new topic with the same title does not take over the removed one's slug.
    newer = await add(editor, "What is the grain corridor?", "Someone else's text.")
    assert newer.slug == f"{mine.slug}-2"
    back = await editor.revert(GUILD, MOD, mine.slug, 1, TODAY)
    assert (back.id, back.revision, back.status) == (mine.id, removed.revision + 1, "active")
    assert (await service.section(mine.slug, GUILD)).content.body == "Ships carry grain."
    assert edited.revision == 2
    # A server cannot revert what it cannot see: another server's own topic.
    with pytest.raises(SectionNotFound):
        await editor.revert(OTHER_GUILD, MOD, mine.slug, 1, TODAY)


async def test_a_reopened_draft_is_deleted_once_saved_and_replaced_if_refused_again(
    editor: Editor,
) -> None:
    with pytest.raises(Rejected) as refused:
        await add(editor, "x" * 201)
    first = refused.value.draft_id
    with pytest.raises(Rejected) as refused_again:
        await add(editor, "y" * 201, draft=first)
    second = refused_again.value.draft_id
    drafts, total = await editor.moderation.drafts(GUILD, MOD.id, offset=0, limit=10)
    assert total == 1 and drafts[0].id == second and drafts[0].title == "y" * 201
    saved = await add(editor, "A fine title", draft=second)
    assert saved.slug == "a-fine-title"
    assert await editor.moderation.drafts(GUILD, MOD.id, offset=0, limit=10) == ([], 0)


async def test_failures_keep_several_drafts(editor: Editor, service: BriefingService) -> None:
    section = await service.section("nato-purpose", GUILD)
    opened = (section.id, section.revision)
    await editor.save(
        GUILD,
        MOD,
        form(section.title, "Mine first."),
        slug=section.slug,
        opened=opened,
        today=TODAY,
    )
    with pytest.raises(Conflict):
        await editor.save(
            GUILD,
            MOD,
            form(section.title, "Stale form."),
            slug=section.slug,
            opened=opened,
            today=TODAY,
        )
    with pytest.raises(Rejected):
        await add(editor, "")
    drafts, total = await editor.moderation.drafts(GUILD, MOD.id, offset=0, limit=10)
    assert total == 2
    assert [d.fields["body"] for d in drafts] == ["A body of plain words.", "Stale form."]


async def test_a_revert_that_brings_back_a_removed_topic_must_fit_under_the_cap(
    service: BriefingService,
) -> None:
    editor = Editor(service, max_topics=2)
    first = await add(editor, "What is the grain corridor?")
    await add(editor, "What is the Ramstein group?")
    await editor.remove(GUILD, MOD, first.slug)
    third = await add(editor, "What is the price cap?")  # the removal freed a place
    own = [s for s in service.topics(GUILD) if s.guild_id == GUILD]
    assert len(own) == 2
    with pytest.raises(LimitReached, match="already has 2 topics of its own"):
        await editor.revert(GUILD, MOD, first.slug, 1, TODAY)
    with pytest.raises(SectionNotFound):
        (await service.section(first.slug, GUILD))
    # Reverting a topic the server still shows adds nothing and stays allowed at the cap.
    assert (await editor.revert(GUILD, MOD, third.slug, 1, TODAY)).revision == 2
    await editor.remove(GUILD, MOD, third.slug)
    back = await editor.revert(GUILD, MOD, first.slug, 1, TODAY)
    assert back.status == "active" and (await service.section(first.slug, GUILD)).id == first.id


async def test_reverts_count_in_the_servers_change_window(service: BriefingService) -> None:
    editor = Editor(service, edit_rate=(2, 600.0))
    mine = await add(editor, "What is the grain corridor?")
    await editor.revert(GUILD, MOD, mine.slug, 1, TODAY)  # the second change of two
    with pytest.raises(LimitReached, match="2 changes to its briefing"):
        await editor.revert(GUILD, MOD, mine.slug, 1, TODAY)
    with pytest.raises(LimitReached, match="2 changes to its briefing"):
        await add(editor, "What is the Ramstein group?")
    # Another server has its own window.
    other = await editor.save(
        OTHER_GUILD, MOD, form("What is the price cap?"), slug=None, opened=None, today=TODAY
    )
    assert (await editor.revert(OTHER_GUILD, MOD, other.slug, 1, TODAY)).revision == 2


async def test_a_topic_saves_with_sources_in_both_boxes(editor: Editor) -> None:
    fields = {
        **form("Where are the sources?"),
        "sources": "One | https://example.org/1",
        "more_sources": "Two | https://example.org/2|b",
    }
    saved = await editor.save(GUILD, MOD, fields, slug=None, opened=None, today=TODAY)
    assert [(s.title, s.url) for s in saved.content.sources] == [
        ("One", "https://example.org/1"),
        ("Two", "https://example.org/2|b"),
    ]


# -- the pure helpers: a form read into content ----------------------------------------------


def test_a_form_becomes_content_with_trimmed_aliases_and_every_source_line() -> None:
    fields = {
        "title": "What is the grain corridor?",
        "aliases": "  grain deal \n\n Black Sea corridor\n",
        "body": "Ships carry grain.",
        "sources": "Reuters | https://example.org/r\nhttps://example.org/bare",
        "more_sources": "  \n| https://example.org/untitled",
    }
    content = form_to_content(fields, "grain-corridor", None, TODAY)
    assert content == SectionContent(
        slug="grain-corridor",
        title="What is the grain corridor?",
        body="Ships carry grain.",
        aliases=("grain deal", "Black Sea corridor"),
        tags=(),
        sources=(
            Source("Reuters", "https://example.org/r"),
            Source("https://example.org/bare", "https://example.org/bare"),
            Source("https://example.org/untitled", "https://example.org/untitled"),
        ),
        updated=TODAY,
        position=0,
    )


def test_a_form_keeps_the_tags_and_place_of_the_topic_it_edits() -> None:
    base = form_to_content(form("What is the grain corridor?"), "grain-corridor", None, TODAY)
    base = dataclasses.replace(base, tags=("trade",), position=4)
    later = date(2026, 12, 1)
    edited = form_to_content(form("What is the grain deal?"), "grain-corridor", base, later)
    assert (edited.title, edited.tags, edited.position, edited.updated) == (
        "What is the grain deal?",
        ("trade",),
        4,
        later,
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "", "body": "Words."}, "title"),
        ({"title": "A title?", "body": ""}, "body"),
        ({"title": "A title?", "body": "Words.", "sources": "Old | ftp://example.org"}, "sources"),
    ],
)
def test_a_form_that_breaks_a_rule_names_the_field(fields: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidSection) as caught:
        form_to_content(fields, "a-title", None, TODAY)
    assert caught.value.field == field


# -- Editor.submit: every failure after the editor check keeps the text --


async def kept_drafts(editor: Editor) -> list[dict[str, str]]:
    drafts, _ = await editor.moderation.drafts(GUILD, MOD.id, offset=0, limit=10)
    return [d.fields for d in drafts]


async def test_a_submitted_form_saves_and_says_whether_it_created_the_topic(
    editor: Editor, service: BriefingService
) -> None:
    created = await editor.submit(
        GUILD, MOD, form("A new topic"), slug=None, opened=None, draft=None, today=TODAY
    )
    assert created.created and created.section.slug == "a-new-topic"
    section = await service.section("nato-purpose", GUILD)
    edited = await editor.submit(
        GUILD,
        MOD,
        form(section.title, "Edited."),
        slug=None,
        opened=section.version,
        draft=None,
        today=TODAY,
    )
    assert not edited.created and edited.section.slug == "nato-purpose"
    assert await kept_drafts(editor) == []


async def test_a_form_from_a_draft_that_is_gone_is_kept_as_a_new_topic(editor: Editor) -> None:
    with pytest.raises(Kept) as kept:
        await editor.submit(
            GUILD, MOD, form("Typed"), slug=None, opened=None, draft=12345, today=TODAY
        )
    assert kept.value.outcome == "kept" and "reopened from is gone" in str(kept.value)
    draft = await editor.draft(GUILD, MOD.id, kept.value.draft_id)
    assert draft.fields == form("Typed") and draft.slug is None and draft.version is None


async def test_a_form_for_a_version_another_server_owns_is_kept_as_a_new_topic(
    editor: Editor, service: BriefingService
) -> None:
    theirs = await editor.save(
        OTHER_GUILD, MOD, form("Theirs only"), slug=None, opened=None, today=TODAY
    )
    with pytest.raises(Kept) as kept:
        await editor.submit(
            GUILD, MOD, form("Mine"), slug=None, opened=theirs.version, draft=None, today=TODAY
        )
    assert "no longer exists" in str(kept.value)
    draft = await editor.draft(GUILD, MOD.id, kept.value.draft_id)
    assert draft.version is None and (await service.section("theirs-only", OTHER_GUILD))


async def test_a_form_sent_while_stopping_is_kept_with_what_it_edits(
    editor: Editor, service: BriefingService
) -> None:
    section = await service.section("nato-purpose", GUILD)
    with pytest.raises(Kept) as kept:
        await editor.submit(
            GUILD,
            MOD,
            form(section.title, "Late."),
            slug=None,
            opened=section.version,
            draft=None,
            today=TODAY,
            stopping=True,
        )
    assert str(kept.value).startswith("Briefbot is restarting")
    draft = await editor.draft(GUILD, MOD.id, kept.value.draft_id)
    assert draft.slug == "nato-purpose" and draft.version == section.version
    assert (await service.section("nato-purpose", GUILD)).revision == section.revision


async def test_refusals_and_limits_are_kept_as_kinds_of_kept(editor: Editor) -> None:
    with pytest.raises(Rejected) as rejected:
        await editor.submit(
            GUILD, MOD, form("x" * 201), slug=None, opened=None, draft=None, today=TODAY
        )
    assert isinstance(rejected.value, Kept) and rejected.value.outcome == "invalid"
    limited = Editor(editor.service, edit_rate=(1, 3600.0))
    await limited.submit(GUILD, MOD, form("First"), slug=None, opened=None, draft=None, today=TODAY)
    with pytest.raises(OverLimit) as over:
        await limited.submit(
            GUILD, MOD, form("Second"), slug=None, opened=None, draft=None, today=TODAY
        )
    assert isinstance(over.value, LimitReached) and over.value.outcome == "limited"
    assert form("Second") in await kept_drafts(editor)


async def test_an_unexpected_error_is_logged_and_the_text_kept(
    editor: Editor, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    editor.save = broken  # type: ignore[method-assign,assignment]
    with pytest.raises(Kept) as kept:
        await editor.submit(
            GUILD, MOD, form("Typed"), slug=None, opened=None, draft=None, today=TODAY
        )
    assert kept.value.outcome == "error" and str(kept.value).startswith(FALLBACK_ERROR)
    assert "disk on fire" not in str(kept.value)
    assert any(r.exc_info and "disk on fire" in str(r.exc_info[1]) for r in caplog.records)
    assert await kept_drafts(editor) == [form("Typed")]


async def test_a_refusal_from_the_save_is_shown_and_the_text_kept(editor: Editor) -> None:
    async def refused(*args: object, **kwargs: object) -> None:
        raise SectionNotFound("gone-topic")

    editor.save = refused  # type: ignore[method-assign,assignment]
    with pytest.raises(Kept) as kept:
        await editor.submit(
            GUILD, MOD, form("Typed"), slug="gone-topic", opened=None, draft=None, today=TODAY
        )
    assert kept.value.outcome == "refused" and "gone-topic" in str(kept.value)
    assert str(kept.value).endswith("Your text is kept: reopen the form to try again.")


async def test_a_draft_is_only_reopened_by_its_author_in_its_server(editor: Editor) -> None:
    kept = await editor.moderation.keep_draft(GUILD, MOD.id, None, None, form("Mine"))
    assert (await editor.draft(GUILD, MOD.id, kept)).title == "Mine"
    for guild, user in ((OTHER_GUILD, MOD.id), (GUILD, MOD.id + 1)):
        with pytest.raises(DraftGone):
            await editor.draft(guild, user, kept)


# -- the gaps report --

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


async def test_the_gaps_report_sees_questions_just_asked_and_cuts_to_the_top(
    editor: Editor, service: BriefingService
) -> None:
    for n in range(5):
        await service.asks.record(GUILD, "Where is the cafeteria?", None, None)
        await service.asks.record(GUILD, f"{n} vending machine broken", None, None)
        await service.asks.record(OTHER_GUILD, "where is the cafeteria", None, None)
    await service.asks.record(GUILD, "lost my badge", None, None)
    assert service.asks.queued  # not written yet: the report writes them first
    found = await editor.gaps(GUILD, 7, NOW, top=2)
    assert [(g.question, g.count) for g in found.gaps] == [
        ("0 vending machine broken", 5),
        ("Where is the cafeteria?", 5),
    ]
    assert (found.groups, found.asked) == (3, 11)
    assert editor.gaps_worker.pid is not None  # the database is a file: read by the worker


async def test_an_in_memory_database_is_grouped_in_a_thread_without_a_worker(
    knowledge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = await BriefingService.open(":memory:", knowledge_dir, clock=lambda: NOW)
    editor = Editor(service)
    grouped_in: list[str] = []

    def watched(asked: Any, top: int) -> Any:
        grouped_in.append(threading.current_thread().name)
        return report_gaps(asked, top)

    monkeypatch.setattr(editing, "report_gaps", watched)
    try:
        await service.asks.record(GUILD, "where is the cafeteria", None, None)
        found = await editor.gaps(GUILD, 7, NOW, top=20)
        assert [(g.question, g.count) for g in found.gaps] == [("where is the cafeteria", 1)]
        assert editor.gaps_worker.pid is None
        assert grouped_in and grouped_in[0] != threading.main_thread().name
    finally:
        await editor.close()
        await service.close()
