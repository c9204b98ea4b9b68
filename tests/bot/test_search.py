"""Search: typos, paraphrase, off-topic refusal, hostile input, autocomplete and FTS safety."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio

from bot.search import MAX_CHOICE_NAME, MAX_CHOICES, Catalog, Searcher, View, build_query
from bot.sections import SLUG_RE, Section, SectionContent
from bot.service import BriefingService
from bot.store import SectionStore
from bot.store.sections import fts5_expression

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"

# One read-only briefing for the whole module: asking never writes when no server is given.
in_module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def briefing(tmp_path_factory) -> AsyncIterator[BriefingService]:
    service = await BriefingService.open(
        tmp_path_factory.mktemp("search") / "db.sqlite3", KNOWLEDGE
    )
    yield service
    await service.close()


@pytest.fixture(scope="module")
def searcher(briefing) -> Searcher:
    return briefing.searcher


@pytest.fixture(scope="module")
def store(briefing) -> SectionStore:
    return briefing.sections


@pytest.fixture(scope="module")
def catalog(searcher) -> View:
    """What the console sees: the curated pack alone."""
    return searcher.catalog.view(None)


def synthetic(
    ident: int,
    title: str,
    *,
    slug: str | None = None,
    guild_id: int | None = None,
    status: str = "active",
    aliases: tuple[str, ...] = (),
    position: int | None = None,
) -> Section:
    content = SectionContent(
        slug=slug or f"topic-{ident}",
        title=title,
        body=f"Body of {title}.",
        aliases=aliases,
        updated=date(2026, 1, 1),
        position=ident if position is None else position,
    )
    return Section(ident, guild_id, content, status, 1)  # type: ignore[arg-type]


# -- answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "slug"),
    [
        ("berln talks", "berlin-talks"),
        ("natto purpse", "nato-purpose"),
        ("securty guarantees", "security-guarantees"),
        ("will Ukraine give up land for peace?", "ceding-territory"),
        ("territorial concessions", "ceding-territory"),
        ("What are the Berlin talks?", "berlin-talks"),
    ],
)
@in_module_loop
async def test_confident_answers(searcher, question, slug):
    result = await searcher.search(question, None)
    assert result.answer is not None, result.results
    assert result.answer.slug == slug
    assert result.results[0] == result.answer
    assert result.question == question


@in_module_loop
async def test_results_are_at_most_the_limit_and_best_first(searcher):
    result = await searcher.search("ukraine nato russia peace talks security", None, limit=3)
    assert 0 < len(result.results) <= 3
    scores = [h.score for h in result.results]
    assert scores == sorted(scores, reverse=True)
    assert len({h.section_id for h in result.results}) == len(result.results)


def test_typo_is_corrected_against_the_pack_vocabulary(catalog):
    query = build_query("berln talks", catalog)
    assert [(t.typed, t.match) for t in query.terms] == [("berln", "berlin"), ("talks", "talks")]
    [lookup] = query.lookups
    assert [w.word for w in lookup.words] == ["berlin", "talks"] and not lookup.every
    assert fts5_expression(lookup) == '"berlin" OR "talks"'


def test_function_words_are_not_looked_up(catalog):
    assert build_query("what is the what", catalog).terms == ()
    assert build_query("what is the what", catalog).lookups == []


def test_unknown_words_are_kept_but_never_searched(catalog):
    query = build_query("berlin qwzxv", catalog)
    assert [t.match for t in query.terms] == ["berlin", None]
    assert [fts5_expression(lookup) for lookup in query.lookups] == ['"berlin"']


def test_rare_words_weigh_more_than_common_ones(catalog):
    [berlin] = build_query("berlin", catalog).terms
    [ukraine] = build_query("ukraine", catalog).terms
    assert berlin.weight > ukraine.weight > 0


@pytest.mark.parametrize("question", ["how do I bake bread?", "hello", "asdf", "?"])
@in_module_loop
async def test_off_topic_gets_no_answer_but_three_closest_topics(briefing, question):
    answer = await briefing.ask(question, None)
    assert answer.section is None
    assert answer.score is None
    assert len(answer.suggestions) == 3
    assert len({s.slug for s in answer.suggestions}) == 3
    visible = {s.slug for s in briefing.topics(None)}
    assert {s.slug for s in answer.suggestions} <= visible


@in_module_loop
async def test_suggestions_prefer_the_best_hits_then_the_rotation(searcher):
    result = await searcher.search("asdf", None)
    assert result.results == ()
    assert [s.slug for s in searcher.closest_topics(result, None)] == [
        s.slug for s in searcher.catalog.view(None).visible()[:3]
    ]
    partial = await searcher.search("berlin flights", None)
    chosen = searcher.closest_topics(partial, None)
    assert [s.id for s in chosen[: len(partial.results)]] == [
        h.section_id for h in partial.results[:3]
    ]


HOSTILE = [
    '"',
    "'",
    "*",
    "-",
    "NEAR(",
    "AND",
    "OR",
    "NOT",
    'berlin" OR "x',
    "^",
    ":",
    "(",
    ")",
    "{}",
    "--",
    ";DROP TABLE sections;--",
    "x" * 5000,
    "berlin " * 700,
    "🇺🇦🕊️ peace 🙏",
    "🤔",
    "berlin\x00talks",
    "\x00\x00\x00",
    "title:berlin",
    "body : nato",
    "NEAR(berlin talks, 2)",
    "berlin* talks^",
    "\u202eevil\u202c",
    "\ufeffnato",
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:20]))
@in_module_loop
async def test_hostile_input_is_answered_normally(briefing, text):
    answer = await briefing.ask(text, None)
    assert (answer.section is not None) != bool(answer.suggestions)
    assert len(answer.results) <= 5
    # the store is intact afterwards
    assert [s.slug for s in briefing.topics(None)] == [
        s.slug for s in await briefing.sections.all()
    ]
    assert await briefing.sections.count() == 10


@in_module_loop
async def test_hostile_input_through_explain_and_autocomplete(briefing):
    for text in HOSTILE:
        answer = await briefing.explain(text, None)
        assert (answer.section is not None) != bool(answer.suggestions)
        choices = briefing.autocomplete(text, None)
        assert len(choices) <= MAX_CHOICES


WORD_TOKEN = r'"[^"\s]+"'
FTS_SHAPE = re.compile(rf"^(?:{WORD_TOKEN}(?: OR {WORD_TOKEN})*)?$")


@in_module_loop
async def test_fts_expression_only_ever_holds_quoted_words(catalog, store):
    pieces = [
        '"',
        "'",
        "*",
        "-",
        "^",
        ":",
        "(",
        ")",
        "{",
        "}",
        "NEAR",
        "AND",
        "OR",
        "NOT",
        "+",
        "\\",
        "\x00",
        " ",
        "  ",
        "\t",
        "\n",
        "berlin",
        "talks",
        "nato",
        "natto",
        "berln",
        "title",
        "body",
        "é",
        "🕊️",
        ";",
        "DROP",
        "TABLE",
        "--",
        "/*",
        "*/",
        "%",
        "_",
        "`",
        "[",
        "]",
    ]
    rng = random.Random(20261128)
    samples = list(HOSTILE)
    for _ in range(400):
        samples.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))))
    for text in samples:
        lookups = build_query(text, catalog).lookups
        expression = fts5_expression(lookups[0]) if lookups else ""
        assert FTS_SHAPE.match(expression), (text, expression)
        tokens = re.findall(WORD_TOKEN, expression)
        assert all(t[1:-1].isalnum() for t in tokens), (text, expression)
        assert len(tokens) == len(set(tokens))
        if lookups:
            await store.matching(lookups[0], 5)  # must be valid FTS5 syntax


# -- autocomplete ----------------------------------------------------------------------------


def assert_well_formed(choices, slugs):
    assert len(choices) <= MAX_CHOICES
    for choice in choices:
        assert 0 < len(choice.name) <= MAX_CHOICE_NAME
        assert SLUG_RE.match(choice.value)
        assert choice.value in slugs
    assert len({c.value for c in choices}) == len(choices)


@pytest.mark.parametrize(
    "typed", ["", " ", "berl", "natto", "nato ", "the", "zzzz", "x" * 300, *HOSTILE[:12]]
)
def test_autocomplete_choices_are_well_formed(catalog, expected_slugs, typed):
    assert_well_formed(catalog.autocomplete(typed), set(expected_slugs))


def test_autocomplete_of_nothing_lists_the_rotation(catalog, expected_slugs):
    assert [c.value for c in catalog.autocomplete("")] == expected_slugs
    assert [c.name for c in catalog.autocomplete("")] == [s.title for s in catalog.visible()]


def test_autocomplete_prefix_finds_berlin_first(catalog):
    assert catalog.autocomplete("berl")[0].value == "berlin-talks"


def test_autocomplete_typo_finds_nato_purpose(catalog):
    assert "nato-purpose" in [c.value for c in catalog.autocomplete("natto")]


def test_autocomplete_caps_count_and_shortens_long_names():
    long_title = "Negotiations " + "very " * 60 + "long"
    sections = [synthetic(i, f"Negotiations round {i}") for i in range(1, 40)]
    sections.append(synthetic(40, long_title))
    catalog = Catalog.of(sections).view(None)
    slugs = {s.slug for s in sections}
    for typed in ("", "negotiations", "negot", "round"):
        choices = catalog.autocomplete(typed)
        assert len(choices) == MAX_CHOICES, typed
        assert_well_formed(choices, slugs)
    everything = Catalog.of([synthetic(1, long_title)]).view(None).autocomplete("")
    # Cut after a whole word, as close to the limit as a word ends.
    assert MAX_CHOICE_NAME - 10 <= len(everything[0].name) <= MAX_CHOICE_NAME
    assert everything[0].name.endswith("very…")


# -- what each server sees --------------------------------------------------------------------


def test_a_server_override_replaces_the_curated_section_only_there():
    curated = synthetic(1, "Curated Berlin", slug="berlin-talks")
    other = synthetic(2, "Other topic", slug="other-topic")
    override = synthetic(3, "Our Berlin", slug="berlin-talks", guild_id=42)
    hidden = synthetic(4, "Hidden one", slug="hidden-one", status="hidden")
    catalog = Catalog.of([curated, other, override, hidden])
    assert [s.id for s in catalog.view(None).visible()] == [1, 2]
    assert [s.id for s in catalog.view(7).visible()] == [1, 2]
    assert sorted(s.id for s in catalog.view(42).visible()) == [2, 3]
    assert catalog.view(42).find("Berlin-Talks") == override.topic
    assert catalog.view(7).find("berlin-talks") == curated.topic
    assert catalog.view(None).find("hidden-one") is None
    assert catalog.view(42).topic(curated.id) is None
    assert catalog.view(7).topic(override.id) is None
    assert catalog.view(None).topic(override.id) is None
    assert [c.value for c in catalog.view(42).autocomplete("berlin")] == ["berlin-talks"]
    assert [c.name for c in catalog.view(42).autocomplete("berlin")] == ["Our Berlin"]
