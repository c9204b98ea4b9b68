"""What a server taught, through the service over a real database holding the curated pack.

A question taught to a topic answers it in that server alone, and a curated update still
reaches the topic; a "still accurate" review moves the topic's date in that server alone;
another process's teaching is caught up with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.editing import Editor
from bot.service import Answer, BriefingService
from bot.store.guilds import GuildData
from bot.store.learning import LearningStore


@pytest.fixture
def service_location(database_location: str) -> str:
    """The service suite runs whole on each backend: SQLite, then PostgreSQL."""
    return database_location


GUILD, OTHER = 501, 502
DATA = Path(__file__).resolve().parents[1] / "data"
# The question sets of the search evaluation (eval_channel.yaml holds channel messages).
QUESTION_SETS = ("eval_questions.yaml", "eval_holdout.yaml", "eval_wordforms.yaml")
# Nothing in the pack names it: the curated pack answers it with nothing at all.
UNKNOWN = "who gets zaporizhzhia"


async def teach(service: BriefingService, guild_id: int, slug: str, question: str) -> None:
    await LearningStore(service.db).add(guild_id, slug, "taught", question, author="t", author_id=1)
    await service.refresh(guild_id)


async def review(service: BriefingService, guild_id: int, slug: str, day: date) -> None:
    await LearningStore(service.db).add(
        guild_id, slug, "reviewed", day.isoformat(), author="t", author_id=1
    )
    await service.refresh(guild_id)


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def seen(answer: Answer) -> tuple[object, ...]:
    """Everything a member is shown for a question: answer, score, ranking and suggestions."""
    return (
        answer.section.id if answer.section else None,
        answer.score,
        tuple((h.section_id, h.score) for h in answer.results),
        tuple(t.id for t in answer.suggestions),
    )


def eval_questions() -> list[str]:
    found: list[str] = []
    for name in QUESTION_SETS:
        data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
        found += [str(item["q"]) for item in data["questions"]]
    return found


async def test_a_taught_question_is_answered_in_any_word_order_in_that_server(
    service: BriefingService,
) -> None:
    assert (await service.ask(UNKNOWN, GUILD, record=False)).results == ()
    await teach(service, GUILD, "ceding-territory", UNKNOWN)
    curated = service.find("ceding-territory", None)
    for question in (UNKNOWN, "Zaporizhzhia: who gets it?"):
        answer = await service.ask(question, GUILD, record=False)
        assert answer.section is not None and answer.score == 1.0
        assert (answer.section.id, answer.section.guild_id) == (curated.id, None)
        assert answer.results[0].slug == "ceding-territory"
    assert (await service.ask(UNKNOWN, OTHER, record=False)).section is None


async def test_a_taught_question_wins_over_the_topic_the_pack_answered_with(
    service: BriefingService,
) -> None:
    question = "what did putin demand"
    before = await service.ask(question, GUILD, record=False)
    assert before.section is not None and before.section.slug == "russia-relations"
    await teach(service, GUILD, "ceding-territory", "What did Putin demand?")
    after = await service.ask("putin demand what", GUILD, record=False)
    assert after.section is not None and after.section.slug == "ceding-territory"
    assert after.score == 1.0
    assert "russia-relations" in [h.slug for h in after.results]  # still offered after it


async def test_a_similar_wording_is_helped_by_the_taught_words(service: BriefingService) -> None:
    similar = "what will happen to zaporizhzhia after the war"
    before = await service.ask(similar, GUILD, record=False)
    assert before.section is None or before.section.slug != "ceding-territory"
    await teach(service, GUILD, "ceding-territory", UNKNOWN)
    after = await service.ask(similar, GUILD, record=False)
    assert after.results[0].slug == "ceding-territory"
    assert after.section is not None and after.section.slug == "ceding-territory"
    assert seen(await service.ask(similar, OTHER, record=False)) == seen(before)


async def test_fifty_teaching_servers_change_no_other_servers_answers(
    service: BriefingService,
) -> None:
    questions = eval_questions()
    alone = {q: seen(await service.ask(q, OTHER, record=False)) for q in questions}
    slugs = [t.slug for t in service.topics(None)]
    learning = LearningStore(service.db)
    servers = range(1_000, 1_050)
    for n, server in enumerate(servers):
        # Each server teaches a pack question to a wrong topic, and an unknown one to another.
        wrong = slugs[(n + 3) % len(slugs)]
        await learning.add(server, wrong, "taught", questions[n], author="t", author_id=1)
        await learning.add(
            server, slugs[n % len(slugs)], "taught", UNKNOWN, author="t", author_id=1
        )
    await service.reload()
    assert len(service.catalog.overlays) == len(servers)
    changed = [q for q in questions if seen(await service.ask(q, OTHER, record=False)) != alone[q]]
    assert changed == [], f"{len(changed)} of {len(questions)} answers changed: {changed[:3]}"
    for n, server in enumerate(servers[:10]):
        answer = await service.ask(questions[n], server, record=False)
        assert answer.section is not None
        assert answer.section.slug == slugs[(n + 3) % len(slugs)]
        answer = await service.ask(UNKNOWN, server, record=False)
        assert answer.section is not None and answer.section.slug == slugs[n % len(slugs)]


async def test_a_curated_update_still_reaches_a_topic_with_taught_questions(
    open_service: Callable[..., Awaitable[BriefingService]], pack_dir: Path
) -> None:
    service = await open_service(knowledge=pack_dir)
    await teach(service, GUILD, "berlin-talks", UNKNOWN)
    before = await service.section("berlin-talks", GUILD)
    page = pack_dir / "berlin-talks.md"
    text = page.read_text(encoding="utf-8")
    page.write_text(text + "\nThe quadrilateral format of the talks is new.\n", encoding="utf-8")
    report = await service.import_pack(pack_dir)
    assert report.updated == ["berlin-talks"]
    after = await service.section("berlin-talks", GUILD)
    assert (after.id, after.guild_id) == (before.id, None)
    assert "quadrilateral" in after.content.body
    answer = await service.ask(UNKNOWN, GUILD, record=False)
    assert answer.section is not None and "quadrilateral" in answer.section.content.body
    # The searched copy holds the new words too: a question about them finds the topic here.
    found = await service.ask("quadrilateral format", GUILD, record=False)
    assert found.results and found.results[0].slug == "berlin-talks"
    elsewhere = await service.ask("quadrilateral format", OTHER, record=False)
    assert elsewhere.results and elsewhere.results[0].slug == "berlin-talks"


async def test_teaching_changes_no_topic_list_nor_the_count_of_own_topics(
    service: BriefingService,
) -> None:
    topics, rotation = service.topics(GUILD), list(service.rotation(GUILD))
    choices = service.autocomplete("berlin", GUILD)
    related = service.related(service.find("berlin-talks", GUILD), GUILD)
    for slug in ("berlin-talks", "us-role", "nato-purpose"):
        await teach(service, GUILD, slug, f"{UNKNOWN} {slug}")
    assert GUILD in service.catalog.overlays
    assert service.topics(GUILD) == topics
    assert list(service.rotation(GUILD)) == rotation
    assert service.autocomplete("berlin", GUILD) == choices
    assert service.related(service.find("berlin-talks", GUILD), GUILD) == related
    assert service.view(GUILD).overlay.topics == []
    editor = Editor(service, max_topics=1)
    try:
        editor.check_limits(GUILD, new=True)  # no topic of its own yet: one may be added
    finally:
        await editor.close()


async def test_a_review_moves_the_updated_date_in_that_server_only(
    service: BriefingService,
) -> None:
    curated = await service.section("berlin-talks", None)
    later = curated.content.updated + timedelta(days=30)
    await review(service, GUILD, "berlin-talks", later)
    assert (await service.section("berlin-talks", GUILD)).content.updated == later
    assert (await service.section_by_id(curated.id, GUILD)).content.updated == later
    assert (await service.section("berlin-talks", OTHER)).content == curated.content
    assert service.as_seen(curated, OTHER) == curated
    assert service.as_seen(curated, GUILD).content.body == curated.content.body
    explained = await service.explain("berlin-talks", GUILD)
    assert explained.section is not None and explained.section.content.updated == later
    asked = await service.ask("what are the berlin talks", GUILD, record=False)
    assert asked.section is not None and asked.section.content.updated == later
    # An older review never moves the date back.
    await review(service, OTHER, "berlin-talks", curated.content.updated - timedelta(days=9))
    assert (await service.section("berlin-talks", OTHER)).content == curated.content


async def test_stale_counts_a_reviewed_topic_as_updated_on_its_review(
    service: BriefingService,
) -> None:
    editor = Editor(service)
    try:
        today = (await service.section("berlin-talks", None)).content.updated + timedelta(days=100)
        before = [s.slug for s in await editor.stale(GUILD, 90, today)]
        assert "berlin-talks" in before
        await review(service, GUILD, "berlin-talks", today - timedelta(days=1))
        after = await editor.stale(GUILD, 90, today)
        assert [s.slug for s in after] == [s for s in before if s != "berlin-talks"]
        assert [s.slug for s in await editor.stale(OTHER, 90, today)] == before
    finally:
        await editor.close()


async def test_catch_up_shows_what_another_process_taught_and_reviewed(
    open_service: Callable[..., Awaitable[BriefingService]], service_location: str
) -> None:
    path = service_location
    bot, cli = await open_service(path), await open_service(path)
    await teach(cli, GUILD, "ceding-territory", UNKNOWN)
    assert (await bot.ask(UNKNOWN, GUILD, record=False)).section is None
    await bot.catch_up()
    answer = await bot.ask(UNKNOWN, GUILD, record=False)
    assert answer.section is not None and answer.section.slug == "ceding-territory"
    assert (await bot.ask(UNKNOWN, OTHER, record=False)).section is None
    later = date(2027, 3, 1)
    await review(cli, OTHER, "us-role", later)
    await bot.catch_up()
    assert (await bot.section("us-role", OTHER)).content.updated == later
    assert (await bot.section("us-role", GUILD)).content.updated < later


async def test_catch_up_forgets_what_another_process_purged(
    open_service: Callable[..., Awaitable[BriefingService]], service_location: str
) -> None:
    path = service_location
    bot, cli = await open_service(path), await open_service(path)
    await teach(cli, GUILD, "ceding-territory", UNKNOWN)
    await review(cli, GUILD, "us-role", date(2027, 3, 1))
    await bot.catch_up()
    assert (await bot.ask(UNKNOWN, GUILD, record=False)).section is not None
    # `briefbot db purge-guild` while the bot runs: a server that taught, with no topic of
    # its own, loses only additions (no section, no revision).
    assert "topic_additions" in await GuildData(cli.db).purge(GUILD)
    await bot.catch_up()
    assert (await bot.ask(UNKNOWN, GUILD, record=False)).section is None
    assert (await bot.section("us-role", GUILD)).content.updated < date(2027, 3, 1)


async def test_the_newest_of_two_topics_taught_the_same_words_answers(
    service: BriefingService,
) -> None:
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    learning = LearningStore(service.db)
    # Taught a minute apart, the later one to a topic whose slug sorts first.
    for minute, slug in ((0, "us-role"), (1, "berlin-talks")):
        service.db.clock = at(now + timedelta(minutes=minute))
        await learning.add(GUILD, slug, "taught", UNKNOWN, author="t", author_id=1)
    await service.refresh(GUILD)
    answer = await service.ask(UNKNOWN, GUILD, record=False)
    assert answer.section is not None and answer.section.slug == "berlin-talks"
    service.db.clock = at(now + timedelta(minutes=2))
    await learning.add(
        GUILD, "us-role", "taught", "Zaporizhzhia, who gets it", author="t", author_id=1
    )
    await service.refresh(GUILD)
    answer = await service.ask(UNKNOWN, GUILD, record=False)
    assert answer.section is not None and answer.section.slug == "us-role"


async def test_a_record_keeps_its_reference_and_kind(service: BriefingService) -> None:
    answer = await service.ask("what are the berlin talks", GUILD, record=False)
    await service.record(GUILD, answer, ref=99, kind="explain")
    await service.explain("how do I bake bread", GUILD, record=False)
    await service.asks.flush()
    async with service.db.conn.execute("SELECT guild_id, answered, ref, kind FROM asks") as cursor:
        rows = [tuple(r) for r in await cursor.fetchall()]
    assert rows == [(GUILD, "berlin-talks", 99, "explain")]


async def test_a_question_saying_only_part_of_a_taught_one_keeps_its_own_answer(
    service: BriefingService,
) -> None:
    # Taught: guarantees for a Ukraine outside NATO. Asked: why Ukraine wants to join NATO,
    # which says "ukraine", "join" and "nato" of it but means the membership bid.
    asked = "why does ukraine want to join nato so badly?"
    assert (await service.ask(asked, GUILD, record=False)).section.slug == "ukraine-nato-bid"
    await teach(
        service,
        GUILD,
        "security-guarantees",
        "how would ukraine be protected if it doesn't join nato?",
    )
    taught = await service.ask("how would ukraine be protected if it doesn't join nato", GUILD)
    assert taught.section is not None and taught.section.slug == "security-guarantees"
    after = await service.ask(asked, GUILD, record=False)
    assert after.section is not None and after.section.slug == "ukraine-nato-bid"
