"""The use cases every front end calls, over a real database holding the curated pack."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import re
import weakref
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bot.client import Briefbot, settle_heap
from bot.config import Settings
from bot.errors import BriefbotError, PackError, SectionNotFound, StorageError
from bot.pack import load_pack, parse_section, render_section, zip_pack
from bot.sections import SectionContent
from bot.service import MAX_RELATED, BriefingService
from bot.store.asks import MAX_LOGGED_QUESTION
from bot.text import content_words, stem


@pytest.fixture
def service_location(database_location: str) -> str:
    """The service suite runs whole on each backend: SQLite, then PostgreSQL."""
    return database_location


async def add_server_section(service: BriefingService, guild_id: int, slug: str, title: str) -> int:
    """A server's own section (or its override of a curated one), saved as /kb saves one."""
    curated = await service.sections.get(None, slug)
    content = SectionContent(
        slug=slug,
        title=title,
        body=f"{title}: this server's own notes.",
        updated=date(2026, 11, 28),
        position=50,
    )
    saved = await service.sections.save_for_guild(
        guild_id,
        content,
        opened=curated.version if curated is not None else None,
        author="a moderator",
        author_id=None,
    )
    await service.refresh(guild_id)
    return saved.id


async def asks_rows(service: BriefingService) -> list[tuple[object, ...]]:
    """The asks table as written (asks are written in batches: what is queued is written first)."""
    await service.asks.flush()
    async with service.db.conn.execute(
        "SELECT guild_id, question, answered, score, asked_at FROM asks ORDER BY id"
    ) as cursor:
        return [tuple(r) for r in await cursor.fetchall()]


# -- explain ----------------------------------------------------------------------------------


async def test_explain_by_slug(service):
    answer = await service.explain("berlin-talks", None)
    assert answer.section is not None
    assert answer.section.slug == "berlin-talks"
    assert answer.score == 1.0
    assert [h.slug for h in answer.results] == ["berlin-talks"]
    assert answer.suggestions == ()


async def test_explain_by_slug_ignores_case_and_spaces(service):
    answer = await service.explain("  Berlin-Talks ", None)
    assert answer.section is not None and answer.section.slug == "berlin-talks"


async def test_explain_free_text_falls_back_to_search(service):
    answer = await service.explain("berln talks", None)
    assert answer.section is not None
    assert answer.section.slug == "berlin-talks"
    assert len(answer.results) > 1, "a search ranks several sections; a slug lookup only one"
    asked = await service.ask("berln talks", None)
    assert answer.results == asked.results


async def test_explain_unknown_text_offers_suggestions(service):
    answer = await service.explain("how do I bake bread", None)
    assert answer.section is None
    assert len(answer.suggestions) == 3


# -- sections by slug and id -------------------------------------------------------------------


async def test_section_by_slug_and_unknown_slug(service):
    assert (await service.section("us-role", None)).slug == "us-role"
    with pytest.raises(SectionNotFound) as caught:
        (await service.section("no-such-topic", None))
    assert "no-such-topic" in str(caught.value)


async def test_section_by_id_returns_visible_sections(service):
    for topic in service.topics(None):
        assert (await service.section_by_id(topic.id, None)).topic == topic
        assert (await service.section_by_id(topic.id, 555)).topic == topic


async def test_section_by_id_refuses_unknown_ids(service):
    unknown = max(s.id for s in service.topics(None)) + 1000
    for section_id in (unknown, 0, -1):
        with pytest.raises(SectionNotFound):
            (await service.section_by_id(section_id, None))


async def test_section_by_id_refuses_another_servers_section(service):
    own = await add_server_section(service, 42, "local-meetup", "Our local meetup")
    assert (await service.section_by_id(own, 42)).slug == "local-meetup"
    for other in (7, None):
        with pytest.raises(SectionNotFound):
            (await service.section_by_id(own, other))


async def test_section_by_id_refuses_a_replaced_curated_section(service):
    curated = await service.section("berlin-talks", None)
    override = await add_server_section(service, 42, "berlin-talks", "Our Berlin notes")
    with pytest.raises(SectionNotFound):
        (await service.section_by_id(curated.id, 42))
    assert (await service.section("berlin-talks", 42)).id == override
    assert (await service.section_by_id(curated.id, 7)) == curated


async def test_section_by_id_refuses_a_retired_section(open_service, pack_dir):
    service = await open_service(knowledge=pack_dir)
    retired = await service.section("berlin-talks", None)
    (pack_dir / "berlin-talks.md").unlink()
    await service.import_pack(pack_dir)
    with pytest.raises(SectionNotFound):
        (await service.section_by_id(retired.id, None))


# -- topics, related, the daily explainer -------------------------------------------------------


async def test_topics_are_in_rotation_order(service, expected_slugs):
    assert [s.slug for s in service.topics(None)] == expected_slugs
    assert [s.slug for s in service.topics(999)] == expected_slugs


async def test_related_excludes_the_section_and_returns_at_most_five(service):
    visible = {s.id for s in service.topics(None)}
    any_related = False
    for section in service.topics(None):
        related = service.related(section, None)
        assert section.id not in {s.id for s in related}
        assert len(related) <= MAX_RELATED
        assert len({s.id for s in related}) == len(related)
        assert {s.id for s in related} <= visible
        any_related = any_related or bool(related)
    assert any_related


async def test_related_sections_share_a_tag_or_a_name_word(service):
    def name_stems(section):
        return {
            stem(w) for w in content_words(f"{section.title} {' '.join(section.content.aliases)}")
        }

    for topic in service.topics(None):
        section = await service.load(topic)
        for related in service.related(section, None):
            other = await service.load(related)
            shares_tag = bool(set(section.content.tags) & set(other.content.tags))
            shares_word = bool(name_stems(section) & name_stems(other))
            assert shares_tag or shares_word, (section.slug, other.slug)


# -- ask and its log ---------------------------------------------------------------------------


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
async def test_empty_question_is_refused(service, question):
    with pytest.raises(BriefbotError):
        await service.ask(question, 42)
    assert await asks_rows(service) == []


async def test_ask_without_a_server_is_not_recorded(service):
    answer = await service.ask("berln talks", None)
    assert answer.section is not None
    assert await asks_rows(service) == []


async def test_ask_in_a_server_is_recorded_with_the_clock(service, now):
    answered = await service.ask("  berln talks ", 42)
    missed = await service.ask("how do I bake bread", 42)
    await service.ask("hello", 42, record=False)
    assert answered.section is not None and missed.section is None
    stamp = now.isoformat(timespec="seconds")
    assert await asks_rows(service) == [
        (42, "berln talks", "berlin-talks", answered.score, stamp),
        (42, "how do I bake bread", None, None, stamp),
    ]
    assert await service.asks.unanswered(42, stamp) == ["how do I bake bread"]
    assert await service.asks.unanswered(7, stamp) == []


async def test_long_questions_are_logged_shortened(service):
    question = "berlin talks " + "x" * 1000
    await service.ask(question, 42)
    [(_, logged, *_rest)] = await asks_rows(service)
    assert logged == question[:MAX_LOGGED_QUESTION]


async def test_answer_score_is_the_top_result(service):
    answer = await service.ask("securty guarantees", None)
    assert answer.section is not None
    assert answer.results[0].slug == answer.section.slug
    assert answer.score == answer.results[0].score


async def test_a_server_sees_its_own_section_in_answers(service):
    await add_server_section(service, 42, "local-meetup", "Zanzibarian meetup schedule")
    mine = await service.ask("zanzibarian meetup schedule", 42)
    assert mine.section is not None and mine.section.slug == "local-meetup"
    theirs = await service.ask("zanzibarian meetup schedule", 7)
    assert theirs.section is None or theirs.section.slug != "local-meetup"
    assert "local-meetup" not in [h.slug for h in theirs.results]


# -- opening, import and export ----------------------------------------------------------------


async def test_pack_is_imported_on_first_start_only(open_service, pack_dir, tmp_path):
    first = await open_service(knowledge=pack_dir)
    original = (await first.section("us-role", None)).content
    await first.close()
    path = pack_dir / "us-role.md"
    path.write_text(path.read_text("utf-8").replace(original.title, "Changed title"), "utf-8")
    second = await open_service(knowledge=pack_dir)
    assert (await second.section("us-role", None)).content == original
    report = await second.import_pack(pack_dir)
    assert report.updated == ["us-role"]
    assert (await second.section("us-role", None)).title == "Changed title"


async def test_bad_pack_on_first_start_is_refused(open_service, pack_dir):
    (pack_dir / "zz-bad.md").write_text("---\ntitle: Bad\n---\n", encoding="utf-8")
    with pytest.raises(PackError, match=r"zz-bad\.md"):
        await open_service(knowledge=pack_dir)


async def test_export_writes_what_import_reads(service, tmp_path, knowledge_dir):
    written = await service.export_pack(tmp_path / "out")
    assert len(written) == 10
    assert load_pack(tmp_path / "out") == load_pack(knowledge_dir)
    report = await service.import_pack(tmp_path / "out")
    assert not report.changed


async def test_guild_import_writes_that_server_only_never_the_curated_pack(
    service, tmp_path, knowledge_dir
):
    pack = {s.slug: s for s in load_pack(knowledge_dir)}
    changed = dataclasses.replace(pack["us-role"], title="Our own take on the US role")
    extra = dataclasses.replace(
        pack["us-role"], slug="local-meetup", title="The local meetup", position=99
    )
    archive = tmp_path / "briefing.zip"
    archive.write_bytes(
        zip_pack([changed, extra, *(s for k, s in pack.items() if k != "us-role")], 7)
    )
    curated_before = await service.sections.in_scope(None)
    report = await service.import_guild_pack(archive, 7)
    assert sorted(report.added) == ["local-meetup", "us-role"]
    assert len(report.unchanged) == 9  # equal to the curated text: no override needed
    assert await service.sections.in_scope(None) == curated_before
    assert (await service.section("us-role", 7)).title == "Our own take on the US role"
    assert (await service.section("local-meetup", 7)).guild_id == 7
    assert (await service.section("us-role", 8)).title == pack["us-role"].title
    with pytest.raises(SectionNotFound):
        (await service.section("local-meetup", None))
    again = await service.import_guild_pack(archive, 7)
    assert not again.changed


async def test_guild_import_refuses_another_servers_export_unless_told(service, tmp_path):
    own = dataclasses.replace(
        (await service.section("us-role", 7)).content, title="Server 7's US role"
    )
    archive = tmp_path / "briefing.zip"
    archive.write_bytes(zip_pack([own], 7))
    with pytest.raises(BriefbotError, match=r"server 7's export, not server 8's"):
        await service.import_guild_pack(archive, 8)
    assert await service.sections.in_scope(8) == []
    report = await service.import_guild_pack(archive, 8, other_server=True)
    assert report.added == ["us-role"]
    assert (await service.section("us-role", 8)).title == "Server 7's US role"


async def test_a_bad_guild_import_writes_nothing_and_names_the_problem(service, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "fine.md").write_text(
        "---\ntitle: Fine\nupdated: 2026-11-28\n---\nA fine body.\n", "utf-8"
    )
    (folder / "broken.md").write_text("---\nupdated: 2026-11-28\n---\nNo title.\n", "utf-8")
    with pytest.raises(PackError, match=r"broken\.md: field 'title'"):
        await service.import_guild_pack(folder, 7)
    assert await service.sections.in_scope(7) == []
    with pytest.raises(BriefbotError, match="server id"):
        await service.import_guild_pack(folder, 0)


async def test_curated_import_refuses_a_servers_export(service, tmp_path):
    archive = tmp_path / "briefing.zip"
    archive.write_bytes(
        zip_pack([s.content for s in await service.sections.visible_sections(7)], 7)
    )
    with pytest.raises(BriefbotError, match="--guild 7"):
        await service.import_pack(archive)


def retitled(path: Path, title: str) -> None:
    content = parse_section(path.read_text("utf-8"), path.stem)
    path.write_text(render_section(dataclasses.replace(content, title=title)), "utf-8")


async def test_a_change_another_process_commits_reaches_a_running_service(
    open_service, service_location, tmp_path, pack_dir
):
    db = service_location
    running = await open_service(db)
    other = await open_service(db)  # stands for `briefbot kb import` in another process
    reloads = 0
    real_reload = running.reload
    checks = 0
    looked = asyncio.Event()
    real_version = running.db.data_version

    async def counted_reload() -> None:
        nonlocal reloads
        await real_reload()
        reloads += 1
        looked.set()

    async def counted_version() -> int:
        nonlocal checks
        checks += 1
        looked.set()
        return await real_version()

    async def until(condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(2):
            while not condition():
                looked.clear()
                await looked.wait()

    running.reload = counted_reload  # type: ignore[method-assign]
    running.db.data_version = counted_version  # type: ignore[method-assign]
    follower = asyncio.create_task(running.follow_changes(interval=0.01))
    try:
        await until(lambda: checks >= 1)
        await other.asks.record(7, "an unrelated write", None, None)
        seen = checks
        await until(lambda: checks >= seen + 2)  # it looked, after that commit, twice
        assert reloads == 0  # a write that is not a section never rebuilds the catalog

        retitled(pack_dir / "us-role.md", "Imported from the command line")
        await other.import_pack(pack_dir)
        await until(lambda: running.find("us-role", None).title.startswith("Imported"))

        server = tmp_path / "server"
        server.mkdir()
        (server / "us-role.md").write_bytes((pack_dir / "us-role.md").read_bytes())
        retitled(server / "us-role.md", "This server's own take")
        await other.import_guild_pack(server, 7)
        await until(lambda: running.find("us-role", 7).title == "This server's own take")
        assert reloads == 1  # a server's change rebuilt that server's overlay alone
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


async def test_timestamp_in_updated_does_not_poison_the_database(open_service, pack_dir, tmp_path):
    path = pack_dir / "us-role.md"
    text = path.read_text("utf-8")
    path.write_text(
        re.sub(r"(?m)^updated: .*$", "updated: 2026-11-28 10:00:00", text), encoding="utf-8"
    )
    with pytest.raises(PackError, match=r"us-role\.md: field 'updated'"):
        await open_service(knowledge=pack_dir)
    path.write_text(text, encoding="utf-8")  # the moderator fixes the file
    again = await open_service(knowledge=pack_dir)
    assert len(again.topics(None)) == 10


# -- memory -----------------------------------------------------------------------------------


class Cycle:
    """Stands for an interaction in flight: an object in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


async def test_what_a_reload_froze_is_collected_once_it_is_garbage(service, tmp_path):
    Briefbot(service, Settings(db_path=tmp_path / "db.sqlite3"))  # the bot tunes the collector
    assert service.after_reload is settle_heap
    in_flight = Cycle()
    alive = weakref.ref(in_flight)
    await service.reload()  # freezes everything alive now, the cycle included
    del in_flight
    gc.collect()
    await service.reload()
    gc.collect()
    assert alive() is None


async def test_a_look_at_another_process_change_that_fails_is_made_again(
    open_service, service_location, pack_dir
):
    """The database restarting under the change follower: the change is shown at the next
    look, though no further commit moves the database's version."""
    running = await open_service(service_location)
    other = await open_service(service_location)
    real_catch_up = running.catch_up
    calls = 0
    shown = asyncio.Event()

    async def failing_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StorageError("the database is restarting")
        await real_catch_up()
        if running.find("us-role", None).title.startswith("Imported"):
            shown.set()

    running.catch_up = failing_once  # type: ignore[method-assign]
    follower = asyncio.create_task(running.follow_changes(interval=0.01))
    try:
        retitled(pack_dir / "us-role.md", "Imported while the database restarted")
        await other.import_pack(pack_dir)
        await asyncio.wait_for(shown.wait(), 5)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    assert calls >= 2
