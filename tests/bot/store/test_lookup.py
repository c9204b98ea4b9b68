"""The SQLite store's FTS5 of a lookup: what the search wrote itself before lookups were data.

The search hands the store `bot.lookup.Lookup`s (words, weights, forms, any or every word) and
the store alone writes FTS5. For every question of the three evaluation sets, over the curated
pack, the pack without its aliases and two big packs in which many words are common (so the
"both words" and "one word" lookups are taken too), the expressions the store writes are the
very ones the search wrote before (`_old_fts_lookups`, its builder as it was), and the store
finds the same sections in the same order with them.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from bot.lookup import Lookup, LookupWord
from bot.search import LOOKUP_CANDIDATES, MAX_LOOKUP_WORDS, Catalog, Query, View, build_query
from bot.sections import Section, SectionContent
from bot.service import BriefingService
from bot.store import SectionStore
from bot.store.sections import fts5_expression
from bot.text import content_words

TESTS = Path(__file__).resolve().parents[2]
KNOWLEDGE = TESTS.parent / "knowledge"
EVAL_FILES = ("eval_questions.yaml", "eval_holdout.yaml", "eval_wordforms.yaml")
# Sections added to the curated pack to make its words common (see `big_view`).
FILLER_SECTIONS = 400

in_module_loop = pytest.mark.asyncio(loop_scope="module")


def _old_fts_lookups(query: Query) -> list[str]:
    """`Query.lookups` as it was when it wrote FTS5 itself (commit a598e01), kept verbatim as
    the reference the store's expressions must equal."""
    known = sorted((t for t in query.terms if t.match), key=lambda t: -t.weight)
    words = list(dict.fromkeys(t.match for t in known if t.match))
    rare = [t for t in known if t.key not in query.common][:MAX_LOOKUP_WORDS]
    if rare:
        spelled = dict.fromkeys(w for t in rare for w in (t.match, *t.forms) if w)
        return [" OR ".join(f'"{w}"' for w in spelled)]
    if len(words) >= 2:
        return [f'"{words[0]}" AND "{words[1]}"', f'"{words[0]}"']
    return [f'"{w}"' for w in words[:1]]


def questions() -> list[str]:
    found = []
    for name in EVAL_FILES:
        data = yaml.safe_load((TESTS / "data" / name).read_text(encoding="utf-8"))
        found += [q["q"] for q in data["questions"]]
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def briefing(tmp_path_factory) -> AsyncIterator[BriefingService]:
    service = await BriefingService.open(
        tmp_path_factory.mktemp("lookup") / "db.sqlite3", KNOWLEDGE
    )
    yield service
    await service.close()


@pytest.fixture(scope="module")
def store(briefing: BriefingService) -> SectionStore:
    return briefing.sections


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def curated(store: SectionStore) -> list[Section]:
    return await store.all()


def big_view(curated: list[Section], share: tuple[float, float], seed: int) -> View:
    """The curated pack and FILLER_SECTIONS more, each holding every word of the pack with a
    chance drawn per word from `share`: words in more than COMMON_SECTIONS sections are
    common, and left out of the first lookup."""
    rng = random.Random(seed)
    vocabulary = sorted({w for s in curated for w in content_words(s.content.body, 10_000)})
    chance = {w: rng.uniform(*share) for w in vocabulary}
    filler = []
    for i in range(FILLER_SECTIONS):
        body = " ".join(w for w in vocabulary if rng.random() < chance[w])
        content = SectionContent(
            slug=f"filler-{i}",
            title=f"Filler {i}",
            body=body,
            updated=date(2026, 1, 1),
            position=100 + i,
        )
        filler.append(Section(10_000 + i, None, content, "active", 1))
    return Catalog.of([*curated, *filler]).view(None)


@pytest.fixture(scope="module")
def views(briefing: BriefingService, curated: list[Section]) -> dict[str, View]:
    bare = [
        dataclasses.replace(s, content=dataclasses.replace(s.content, aliases=())) for s in curated
    ]
    return {
        "curated": briefing.searcher.catalog.view(None),
        "no aliases": Catalog.of(bare).view(None),
        "big, some words common": big_view(curated, (0.0, 0.8), 1),
        "big, every word common": big_view(curated, (0.5, 0.9), 2),
    }


def test_the_evaluation_sets_are_all_read() -> None:
    assert len(questions()) >= 117 + 60 + 68


def test_the_store_writes_what_the_search_wrote_for_every_evaluation_question(
    views: dict[str, View],
) -> None:
    shapes: dict[str, set[str]] = {}
    for name, view in views.items():
        for question in questions():
            query = build_query(question, view)
            written = [fts5_expression(lookup) for lookup in query.lookups]
            assert written == _old_fts_lookups(query), (name, question, query.lookups)
            shapes.setdefault(name, set()).update(_shape(e) for e in written)
    # Every kind of lookup was compared: words with their forms, both words, one word.
    assert {"or"} <= shapes["curated"] and {"or"} <= shapes["no aliases"]
    assert {"or", "and", "one"} <= shapes["big, some words common"]
    assert {"and", "one"} <= shapes["big, every word common"]


def _shape(expression: str) -> str:
    return "and" if " AND " in expression else "or" if " OR " in expression else "one"


@in_module_loop
async def test_the_store_finds_the_same_sections_in_the_same_order(
    store: SectionStore, views: dict[str, View]
) -> None:
    for question in questions():
        query = build_query(question, views["curated"])
        for lookup, old in zip(query.lookups, _old_fts_lookups(query), strict=True):
            now = await store.matching(lookup, LOOKUP_CANDIDATES, ())
            before = await store.fts(old, LOOKUP_CANDIDATES, ())
            assert [(h.section_id, h.bm25) for h in now] == [(h.section_id, h.bm25) for h in before]


def test_lookups_are_data_with_weights_and_forms(views: dict[str, View]) -> None:
    view = views["curated"]
    [lookup] = build_query("berln talks relationship", view).lookups
    assert not lookup.every
    by_word = {w.word: w for w in lookup.words}
    assert {"berlin", "talks"} <= set(by_word)
    assert [w.weight for w in lookup.words] == sorted(
        (w.weight for w in lookup.words), reverse=True
    )
    assert all(w.weight > 0 for w in lookup.words)
    assert any(w.forms for w in lookup.words)  # "relationship" brings the pack's "relations"


# -- the FTS5 the store writes -------------------------------------------------------------


def test_every_word_and_form_becomes_one_fts5_string() -> None:
    lookup = Lookup((LookupWord("talks", 2.0, ("talk",)), LookupWord("berlin", 1.0)))
    assert fts5_expression(lookup) == '"talks" OR "talk" OR "berlin"'
    both = lookup._replace(every=True)
    assert fts5_expression(both) == '("talks" OR "talk") AND "berlin"'


def test_a_spelling_is_looked_for_once_unless_every_word_must_match() -> None:
    words = (LookupWord("talks", 2.0, ("talk", "talks")), LookupWord("talk", 1.0, ("talks",)))
    assert fts5_expression(Lookup(words)) == '"talks" OR "talk"'
    assert (
        fts5_expression(Lookup(words, every=True)) == '("talks" OR "talk") AND ("talk" OR "talks")'
    )


def test_nothing_to_look_for_is_no_expression() -> None:
    assert fts5_expression(Lookup(())) == ""
    assert fts5_expression(Lookup((LookupWord("", 1.0),))) == ""


@in_module_loop
async def test_no_word_is_ever_fts5_or_sql_syntax(store: SectionStore) -> None:
    hostile = [
        '"',
        'a"b',
        '" OR "',
        "NEAR(a b)",
        "*",
        "x AND y",
        "'; DROP TABLE sections; --",
        "^a",
        "a:b",
        "(",
        ")",
        "\x00",
        "\\",
    ]
    for text in hostile:
        for lookup in (
            Lookup((LookupWord(text, 1.0, (text + "s",)),)),
            Lookup((LookupWord("berlin", 1.0), LookupWord(text, 1.0)), every=True),
        ):
            expression = fts5_expression(lookup)
            # Outside its strings, an expression holds only OR, AND and parentheses.
            outside = re.sub(r'"(?:[^"]|"")*"', "", expression)
            assert set(outside.replace("OR", "").replace("AND", "")) <= set(" ()"), expression
            await store.matching(lookup, 5)  # valid FTS5, whatever the word holds
    assert await store.matching(Lookup(()), 5) == []
    assert await store.count() == 10
