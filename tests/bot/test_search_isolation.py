"""Every server is a tenant: what other servers store never changes another server's answers.

A thousand servers each import thirty topics stuffed with the pack's most useful words, and
some replace the most popular curated topics with junk. A server that added nothing must then
answer every question of every evaluation set exactly as it did when it was alone; each stuffed
server must still answer its own topics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from bot.sections import SectionContent
from bot.service import Answer, BriefingService

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
DATA = Path(__file__).resolve().parents[1] / "data"
# The question sets of the search evaluation (eval_channel.yaml holds channel messages).
QUESTION_SETS = ("eval_questions.yaml", "eval_holdout.yaml", "eval_wordforms.yaml")

SERVERS = 1_000
TOPICS_PER_SERVER = 30
CLEAN = 5  # a server that added nothing
FIRST_STUFFED = 1_000_000
# The words members ask with most, stuffed into every title, alias and body.
STUFFING = "NATO Ukraine Berlin talks territory security guarantees Russia peace negotiations"
# Curated topics every tenth stuffed server replaces with its own junk.
POPULAR = ("berlin-talks", "nato-purpose", "security-guarantees")

in_module_loop = pytest.mark.asyncio(loop_scope="module")


def questions() -> list[str]:
    found: list[str] = []
    for name in QUESTION_SETS:
        data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
        found += [str(item["q"]) for item in data["questions"]]
    return found


def stuffed_pack(server: int) -> list[SectionContent]:
    pack = [
        SectionContent(
            slug=f"stuffed-{i}",
            title=f"{STUFFING} {i} zq{server}x{i}",
            body=f"{STUFFING}. " * 20 + f"Marker zq{server}x{i}.",
            aliases=(f"{STUFFING} {i}", f"Berlin talks NATO Ukraine {i}"),
            tags=("nato", "ukraine", "berlin-talks"),
            updated=date(2026, 12, 1),
            position=i,
        )
        for i in range(TOPICS_PER_SERVER - len(POPULAR))
    ]
    if server % 10 == 0:
        pack += [
            SectionContent(
                slug=slug,
                title=f"{STUFFING} junk {slug}",
                body=f"{STUFFING}. " * 20,
                updated=date(2026, 12, 1),
                position=100 + n,
            )
            for n, slug in enumerate(POPULAR)
        ]
    return pack


def seen(answer: Answer) -> tuple[object, ...]:
    """Everything a member is shown for a question: answer, score, ranking and suggestions."""
    return (
        answer.section.id if answer.section else None,
        answer.score,
        tuple((h.section_id, h.score) for h in answer.results),
        tuple(t.id for t in answer.suggestions),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def crowded(tmp_path_factory) -> AsyncIterator[tuple[BriefingService, dict[str, tuple]]]:
    """The service with every stuffed server in it, and the clean server's answers from before."""
    service = await BriefingService.open(tmp_path_factory.mktemp("crowd") / "db.sqlite3", KNOWLEDGE)
    try:
        alone = {q: seen(await service.ask(q, CLEAN, record=False)) for q in questions()}
        for n in range(SERVERS):
            server = FIRST_STUFFED + n
            await service.sections.import_for_guild(server, stuffed_pack(server), author="test")
        await service.reload()
        yield service, alone
    finally:
        await service.close()


@in_module_loop
async def test_the_crowd_is_really_there(crowded):
    service, _ = crowded
    assert len(service.catalog.overlays) == SERVERS
    stuffed = service.topics(FIRST_STUFFED)
    assert sum(1 for t in stuffed if t.guild_id == FIRST_STUFFED) == TOPICS_PER_SERVER


@in_module_loop
async def test_a_clean_server_answers_every_question_as_when_it_was_alone(crowded):
    service, alone = crowded
    changed = []
    for question, before in alone.items():
        if seen(await service.ask(question, CLEAN, record=False)) != before:
            changed.append(question)
    assert changed == [], f"{len(changed)} of {len(alone)} answers changed, e.g. {changed[:3]}"
    assert sum(1 for before in alone.values() if before[0] is not None) > len(alone) // 2


@in_module_loop
async def test_stuffed_servers_still_answer_their_own_topics(crowded):
    service, _ = crowded
    for n in range(0, SERVERS, 97):
        server = FIRST_STUFFED + n
        for i in (0, TOPICS_PER_SERVER // 2):
            title = f"{STUFFING} {i} zq{server}x{i}"
            answer = await service.ask(title, server, record=False)
            assert answer.section is not None, (server, i, answer.results)
            assert (answer.section.guild_id, answer.section.slug) == (server, f"stuffed-{i}")


@in_module_loop
async def test_a_replaced_popular_topic_is_replaced_only_where_it_was(crowded):
    service, _ = crowded
    replacing, keeping = FIRST_STUFFED + 10, FIRST_STUFFED + 11
    for slug in POPULAR:
        assert (await service.section(slug, replacing)).guild_id == replacing
        assert (await service.section(slug, keeping)).guild_id is None
        assert (await service.section(slug, CLEAN)).guild_id is None
    answer = await service.ask("what are the berlin talks", CLEAN, record=False)
    assert answer.section is not None and answer.section.slug == "berlin-talks"
    assert answer.section.guild_id is None
