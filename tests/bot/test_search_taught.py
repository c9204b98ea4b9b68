"""Questions a server taught as aliases, searched without a database: in that server's view only.

A taught question is a small addition to a topic, not a copy: the topic found is still the
curated one (same id, no owner), the rotation, names and own-topic count do not move, and no
other server's statistics or candidates change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.lookup import Lookup
from bot.search import Catalog, Overlay, Searcher, Taught, build_query, taught_key
from bot.sections import Section, SectionContent
from bot.store.sections import FtsHit

TAUGHT, OTHER = 42, 7
FIRST = [
    ("berlin-talks", "Berlin talks", "Envoys met in Berlin to discuss a ceasefire."),
    ("nato-purpose", "What NATO is for", "An alliance for collective defence of its members."),
    ("us-role", "The US role", "Washington supplies weapons and leads the negotiations."),
    ("past-peace-talks", "Earlier peace talks", "Minsk and Istanbul ended without a deal."),
]


def curated(ident: int, slug: str, title: str, body: str, aliases: Sequence[str] = ()) -> Section:
    content = SectionContent(
        slug=slug,
        title=title,
        body=body,
        aliases=tuple(aliases),
        tags=("war",),
        updated=date(2026, 1, 1),
        position=ident,
    )
    return Section(ident, None, content, "active", 1)


def own(ident: int, guild_id: int, slug: str, title: str, body: str) -> Section:
    content = SectionContent(
        slug=slug, title=title, body=body, updated=date(2026, 2, 1), position=ident
    )
    return Section(ident, guild_id, content, "active", 1)


def pack() -> list[Section]:
    return [curated(i, *row) for i, row in enumerate(FIRST, start=1)]


def catalog(*extra: Section, taught: Sequence[Taught] = ()) -> Catalog:
    return Catalog.of([*pack(), *extra], {TAUGHT: list(taught)} if taught else None)


async def no_fts(lookup: Lookup, limit: int, exclude: Sequence[int]) -> list[FtsHit]:
    """The curated index finds nothing: what is found came from memory."""
    return []


def test_the_taught_key_ignores_word_order_function_words_and_word_forms() -> None:
    assert taught_key("Who gets Zaporizhzhia?") == taught_key("zaporizhzhia: who gets it")
    assert taught_key("negotiating in Berlin") == taught_key("Berlin negotiations")
    assert taught_key("who gets zaporizhzhia") != taught_key("who keeps zaporizhzhia")
    assert taught_key("what is it") == ()


async def test_a_taught_question_is_answered_with_the_curated_topic_only_where_taught() -> None:
    searcher = Searcher(no_fts, catalog(taught=[Taught("berlin-talks", "who gets zaporizhzhia")]))
    for question in ("Who gets Zaporizhzhia?", "zaporizhzhia, who gets it"):
        result = await searcher.search(question, TAUGHT)
        assert result.answer is not None and result.answer.score == 1.0
        assert result.answer.section_id == 1
        assert searcher.catalog.view(TAUGHT).topic(1) == searcher.catalog.view(None).topic(1)
        other = await searcher.search(question, OTHER)
        assert other.answer is None and other.results == ()


async def test_a_similar_wording_finds_the_topic_through_the_taught_words() -> None:
    searcher = Searcher(no_fts, catalog(taught=[Taught("us-role", "who gets zaporizhzhia")]))
    result = await searcher.search("what will happen to zaporizhzhia", TAUGHT)
    assert [h.slug for h in result.results] == ["us-role"]
    view = searcher.catalog.view(TAUGHT)
    query = build_query("zaporizhzhia", view)
    [candidate] = view.own_candidates(query)
    assert candidate.topic == view.shared.topics[3]  # the curated topic, not a copy
    assert candidate.topic.guild_id is None
    assert (await searcher.search("what will happen to zaporizhzhia", OTHER)).results == ()


def test_taught_words_count_in_that_servers_statistics_alone() -> None:
    cat = catalog(taught=[Taught("us-role", "who gets zaporizhzhia")])
    taught, other, alone = cat.view(TAUGHT), cat.view(OTHER), cat.view(None)
    assert taught.document_frequency("zaporizhzhia") == 1
    assert taught.correct("zaporizhia") == "zaporizhzhia"  # a typo of a taught word is known
    assert other.document_frequency("zaporizhzhia") == 0
    assert other.correct("zaporizhia") is None
    # A word the topic already held counts once, and the pack's size does not move.
    assert taught.document_frequency("weapon") == alone.document_frequency("weapon") == 1
    assert taught.size == alone.size == other.size == len(FIRST)
    assert taught.average_length > alone.average_length == other.average_length
    assert other.excluded == alone.excluded == []
    assert taught.excluded == [3]  # searched in memory with its questions instead


def test_teaching_leaves_rotation_names_and_own_topics_alone() -> None:
    before = catalog()
    after = catalog(
        taught=[Taught("berlin-talks", "berlin ceasefire"), Taught("us-role", "who pays")]
    )
    for view in (after.view(TAUGHT), after.view(OTHER)):
        assert view.visible() == before.view(TAUGHT).visible()
        assert view.overlay.topics == []
        assert view.find("berlin-talks") == before.view(None).find("berlin-talks")
        assert view.topic(1) == before.view(None).topic(1)
        for typed in ("", "ber", "who pays", "ceasefire"):
            assert view.autocomplete(typed) == before.view(None).autocomplete(typed)
        topic = before.view(None).topic(2)
        assert topic is not None
        assert view.related(topic, 5) == before.view(None).related(topic, 5)


def test_an_overlay_with_only_taught_questions_or_reviews_is_kept() -> None:
    cat = catalog()
    cat.set_overlay(TAUGHT, Overlay(TAUGHT, (), taught=[Taught("us-role", "who pays")]))
    cat.set_overlay(OTHER, Overlay(OTHER, (), reviewed={"us-role": date(2026, 6, 1)}))
    assert cat.view(TAUGHT).overlay.taught == {"us-role": ("who pays",)}
    assert cat.view(OTHER).reviewed("US-Role") == date(2026, 6, 1)
    assert cat.view(TAUGHT).reviewed("us-role") is None
    cat.set_overlay(OTHER, Overlay(OTHER, ()))
    assert OTHER not in cat.overlays
    reviewed_only = Catalog.of(pack(), reviewed={OTHER: {"us-role": date(2026, 6, 1)}})
    assert reviewed_only.view(OTHER).reviewed("us-role") == date(2026, 6, 1)


async def test_the_most_recently_taught_topic_wins_a_clash() -> None:
    taught = [
        Taught("us-role", "who gets zaporizhzhia"),
        Taught("berlin-talks", "Zaporizhzhia: who gets it?"),
    ]
    result = await Searcher(no_fts, catalog(taught=taught)).search("who gets zaporizhzhia", TAUGHT)
    assert result.answer is not None and result.answer.slug == "berlin-talks"
    result = await Searcher(no_fts, catalog(taught=taught[::-1])).search(
        "who gets zaporizhzhia", TAUGHT
    )
    assert result.answer is not None and result.answer.slug == "us-role"


async def test_a_taught_question_of_a_hidden_topic_answers_nothing_there() -> None:
    hidden = Section(9, TAUGHT, pack()[2].content, "hidden", 1)
    cat = catalog(hidden, taught=[Taught("us-role", "who gets zaporizhzhia")])
    result = await Searcher(no_fts, cat).search("who gets zaporizhzhia", TAUGHT)
    assert result.answer is None and result.results == ()


async def test_a_question_taught_to_the_servers_own_topic_or_copy_finds_it() -> None:
    mine = own(20, TAUGHT, "kharkiv-rebuild", "Rebuilding Kharkiv", "Cranes and money.")
    copy = own(21, TAUGHT, "us-role", "Our US role", "Our own notes on Washington.")
    cat = catalog(
        mine,
        copy,
        taught=[
            Taught("kharkiv-rebuild", "who pays for the reconstruction"),
            Taught("us-role", "who gets zaporizhzhia"),
        ],
    )
    searcher = Searcher(no_fts, cat)
    answer = (await searcher.search("reconstruction who pays for", TAUGHT)).answer
    assert answer is not None and (answer.section_id, answer.score) == (20, 1.0)
    answer = (await searcher.search("who gets zaporizhzhia", TAUGHT)).answer
    assert answer is not None and answer.section_id == 21
    similar = await searcher.search("when is the reconstruction", TAUGHT)
    assert [h.section_id for h in similar.results] == [20]
    # Still two topics of its own, and nothing curated counts as one.
    assert [t.id for t in cat.view(TAUGHT).overlay.topics] == [20, 21]
    assert cat.view(TAUGHT).excluded == [3]
