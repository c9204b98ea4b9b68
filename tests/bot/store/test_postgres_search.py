"""The search on PostgreSQL (bot/store/postgres/sections.py): the same answers as on SQLite.

The curated pack is imported into both databases through the one `SectionStore`, a
`Searcher` is built over each exactly as the service builds its own (the shared index from the
store's `curated_index_rows`, the store's `matching` as the full text), and every question of
the three evaluation sets is asked of both: each set's right first answers and off-topic
answers on PostgreSQL must be within one question of SQLite's. Both tables are printed (the
`report` fixture). Then what the lookups must never do: let a member's word become tsquery
syntax, or return a row the search must not
see. Skipped without PostgreSQL, except under CI (tests/postgres.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.lookup import Lookup, LookupWord
from bot.pack import load_pack
from bot.search import Catalog, Searcher, SharedIndex
from bot.sections import Section, SectionContent
from bot.service import BriefingService
from bot.store.backends import open_database
from bot.store.postgres.database import PostgresDatabase, numbered
from bot.store.postgres.sections import matching_sql, tsquery
from bot.store.sections import FtsHit, IndexRow, SectionStore
from bot.text import clean
from tests.bot.test_search_quality import EVAL_SETS, Figures, expected, load_questions

KNOWLEDGE = Path(__file__).resolve().parents[3] / "knowledge"
# Words a member may type that mean something to tsquery, SQL or C.
HOSTILE = (
    "'",
    '"',
    "\x00",
    "nato\x00russia",
    "&",
    "|",
    "!",
    "!russia",
    "nato | russia",
    "nato & !russia",
    "nat:*",
    ":*",
    "<->",
    "nato <-> russia",
    "(",
    ")",
    "\\",
    "'nato'",
    "''; DROP TABLE sections; --",
    "$1",
    "x') || to_tsquery('nato",
)
GUILD = 42


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    """The test's PostgreSQL database, with the schema applied."""
    opened = await open_database(postgres_url)
    assert isinstance(opened, PostgresDatabase)
    yield opened
    await opened.close()


@pytest.fixture
async def store(db: PostgresDatabase) -> SectionStore:
    """The store on PostgreSQL, holding the curated pack."""
    pg = SectionStore(db)
    await pg.import_curated(load_pack(KNOWLEDGE))
    return pg


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[BriefingService]:
    service = await BriefingService.open(tmp_path / "db.sqlite3", KNOWLEDGE)
    yield service
    await service.close()


async def index_rows(store: Any) -> list[IndexRow]:
    return [row async for batch in store.curated_index_rows(batch=3) for row in batch]


async def searcher_of(store: Any, seen: dict[Lookup, list[str]] | None = None) -> Searcher:
    """A searcher over a store, built as `BriefingService.reload` builds the service's; with
    `seen`, each lookup's candidates (slugs, best first) are kept there."""
    shared = SharedIndex()
    async for batch in store.curated_index_rows():
        shared.add(batch)

    async def matching(lookup: Lookup, limit: int, exclude: Sequence[int]) -> list[FtsHit]:
        hits: list[FtsHit] = await store.matching(lookup, limit, exclude)
        if seen is not None:
            seen[lookup] = [hit.section.slug for hit in hits]
        return hits

    return Searcher(matching, Catalog(shared.finish()))


async def figures_of(searcher: Searcher, name: str, questions: list[dict[str, object]]) -> Figures:
    """`test_search_quality.evaluate`'s figures, from the searcher (no server, nothing logged)."""
    figures = Figures(name)
    for item in questions:
        question = str(item["q"])
        result = await searcher.search(clean(question), None)
        got = result.answer.slug if result.answer else None
        wanted = expected(item)
        if wanted is None:
            figures.off_topic += 1
            if got is not None:
                figures.confident_off_topic += 1
                figures.misses.append(f"off-topic {question!r} -> {got}")
        else:
            figures.in_topic += 1
            if got in wanted:
                figures.correct += 1
            else:
                figures.misses.append(f"{question!r} -> {got} (expected {' or '.join(wanted)})")
    return figures


def by_slug(sections: list[Section]) -> dict[str, Any]:
    """What two stores must agree on of each section (ids come from each database)."""
    return {s.slug: (s.guild_id, s.content, s.status, s.revision) for s in sections}


def word(text: str, *forms: str) -> Lookup:
    return Lookup((LookupWord(text, 1.0, forms),))


async def slugs(store: SectionStore, lookup: Lookup) -> set[str]:
    return {hit.section.slug for hit in await store.matching(lookup, 50, [])}


# --- the evaluation sets -----------------------------------------------------------------------


async def test_the_evaluation_sets_give_the_same_figures_within_one_question(store, sqlite, report):
    lite_seen: dict[Lookup, list[str]] = {}
    post_seen: dict[Lookup, list[str]] = {}
    lite = await searcher_of(sqlite.sections, lite_seen)
    post = await searcher_of(store, post_seen)
    results: dict[str, tuple[Figures, Figures]] = {}
    for eval_set in EVAL_SETS:
        questions = load_questions(eval_set.filename)
        results[eval_set.name] = (
            await figures_of(lite, eval_set.name, questions),
            await figures_of(post, eval_set.name, questions),
        )
    report(
        "search on PostgreSQL: in-topic right first answers, off-topic answered confidently"
        " (same pack, same rescoring; candidates from FTS5 bm25 / tsvector ts_rank_cd)"
    )
    report(f"  {'set':<11} {'SQLite':<26} {'PostgreSQL':<26} difference")
    for name, (mine, theirs) in results.items():
        report(
            f"  {name:<11} {mine.rates():<26} {theirs.rates():<26} "
            f"{theirs.correct - mine.correct:+d} right, "
            f"{theirs.confident_off_topic - mine.confident_off_topic:+d} off-topic"
        )
    assert lite_seen.keys() == post_seen.keys()
    same_set = [k for k in lite_seen if set(lite_seen[k]) == set(post_seen[k])]
    same_first = [k for k in lite_seen if lite_seen[k][:1] == post_seen[k][:1]]
    report(
        f"  candidates: {len(same_set)} of {len(lite_seen)} lookups found the same sections in"
        f" both, {len(same_first)} the same best one"
    )
    for name, (mine, theirs) in results.items():
        for miss in sorted(set(theirs.misses) - set(mine.misses)):
            report(f"  {name} missed on PostgreSQL only: {miss}")
        for miss in sorted(set(mine.misses) - set(theirs.misses)):
            report(f"  {name} missed on SQLite only: {miss}")
    for name, (mine, theirs) in results.items():
        assert (mine.in_topic, mine.off_topic) == (theirs.in_topic, theirs.off_topic)
        assert abs(theirs.correct - mine.correct) <= 1, (name, mine.rates(), theirs.rates())
        assert abs(theirs.confident_off_topic - mine.confident_off_topic) <= 1, (
            name,
            mine.rates(),
            theirs.rates(),
        )


async def test_the_searcher_over_sqlite_answers_as_the_service_does(sqlite):
    """The comparison above stands for the bot's own figures: the same searcher."""
    lite = await searcher_of(sqlite.sections)
    for item in load_questions(EVAL_SETS[0].filename):
        question = clean(str(item["q"]))
        ours = await lite.search(question, None)
        service = await sqlite.ask(question, None, record=False)
        assert (ours.answer.slug if ours.answer else None) == (
            service.section.slug if service.section else None
        ), question


# --- the store holds what SQLite holds ---------------------------------------------------------


async def test_the_pack_is_imported_as_sqlite_imports_it(store, sqlite, db):
    pack = load_pack(KNOWLEDGE)
    assert await store.count() == len(pack) == await sqlite.sections.count()
    lite_rows = await index_rows(sqlite.sections)
    post_rows = await index_rows(store)
    assert [r._replace(id=0) for r in post_rows] == [r._replace(id=0) for r in lite_rows]
    sections = [await store.by_id(row.id) for row in post_rows]
    assert all(s is not None for s in sections)
    assert by_slug([s for s in sections if s]) == by_slug(await sqlite.sections.all())
    assert await store.by_id(max(r.id for r in post_rows) + 1) is None
    async with db.conn.execute(
        "SELECT number, author, action, changed::text, snapshot->>'status' AS status "
        "FROM revisions ORDER BY section_id"
    ) as cursor:
        revisions = await cursor.fetchall()
    assert [tuple(r) for r in revisions] == [
        (1, "knowledge pack", "created", '["created"]', "active")
    ] * len(pack)


async def test_a_second_import_changes_nothing_and_a_dropped_topic_is_retired(store):
    pack = load_pack(KNOWLEDGE)
    again = await store.import_curated(pack)
    assert not again.changed and len(again.unchanged) == len(pack)
    dropped = pack[0]
    report = await store.import_curated(pack[1:])
    assert report.retired == [dropped.slug] and not report.added
    assert await store.count() == len(pack) - 1
    assert await store.count(status="retired") == 1
    assert dropped.slug not in {r.slug for r in await index_rows(store)}
    title_word = dropped.title.split()[-1]
    assert dropped.slug not in await slugs(store, word(title_word))
    restored = await store.import_curated(pack)
    assert restored.updated == [dropped.slug]
    assert dropped.slug in {r.slug for r in await index_rows(store)}


# --- what a lookup may never do ----------------------------------------------------------------


def test_the_tsquery_holds_placeholders_only_whatever_the_words():
    for hostile in HOSTILE:
        for every in (False, True):
            lookup = Lookup(
                (LookupWord(hostile, 1.0, ("form",)), LookupWord("nato", 0.5)), every=every
            )
            benign = Lookup((LookupWord("w", 1.0, ("form",)), LookupWord("nato", 0.5)), every)
            expression, args = tsquery(lookup)
            assert (expression, len(args)) == (tsquery(benign)[0], 3), hostile
            assert "\x00" not in "".join(args)
            assert re.fullmatch(r"[()|& ]*(phraseto_tsquery\('english', \?\)[()|& ]*)+", expression)
    assert tsquery(Lookup(())) == ("", [])


async def test_hostile_words_never_raise_nor_become_syntax(store):
    before = await store.count()
    nato, russia = await slugs(store, word("nato")), await slugs(store, word("russia"))
    assert nato and russia and nato != russia
    for hostile in HOSTILE:
        for lookup in (
            word(hostile),
            word("nato", hostile),
            Lookup((LookupWord(hostile, 1.0), LookupWord("nato", 1.0)), every=True),
        ):
            await store.matching(lookup, 12, [])
    assert await store.count() == before
    # Negation, prefixes and operators are read as text, never as what tsquery makes of them.
    assert await slugs(store, word("!russia")) == russia
    assert await slugs(store, word("nat:*")) == set()
    assert await slugs(store, word("nato | russia")) <= nato & russia
    assert await slugs(store, word("nato & !russia")) <= nato & russia
    assert await slugs(store, word("x') || to_tsquery('nato")) <= nato
    # A lookup of words the configuration drops (stop words, punctuation) finds nothing.
    assert await slugs(store, word("the")) == set()
    assert await store.matching(Lookup(()), 12, []) == []


async def test_every_word_must_match_when_the_lookup_says_so(store):
    nato, russia = await slugs(store, word("nato")), await slugs(store, word("russia"))
    both = Lookup((LookupWord("nato", 1.0), LookupWord("russia", 1.0)), every=True)
    assert await slugs(store, both) == nato & russia
    either = Lookup((LookupWord("nato", 1.0), LookupWord("russia", 1.0)))
    assert await slugs(store, either) == nato | russia


async def test_excluded_and_servers_sections_are_left_out(store, db):
    hits = await store.matching(word("nato"), 50, [])
    assert len(hits) >= 2
    ranks = [hit.bm25 for hit in hits]
    assert ranks == sorted(ranks) and all(rank < 0 for rank in ranks)  # lower is better
    first = hits[0].section
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO sections (guild_id, slug, title, body, updated, search_aliases) "
            "VALUES (?, ?, ?, ?, '2026-11-28', 'nato')",
            (GUILD, first.slug, "NATO NATO NATO", "NATO, NATO and NATO again."),
        )
    again = await store.matching(word("nato"), 50, [])
    assert [h.section for h in again] == [h.section for h in hits]
    assert all(h.section.guild_id is None for h in again)
    assert first.slug in {r.slug for r in await index_rows(store)}
    assert len(await index_rows(store)) == await store.count() - 1  # the server's row is not
    left = await store.matching(word("nato"), 50, [first.id])
    assert [h.section for h in left] == [h.section for h in hits[1:]]
    assert len(await store.matching(word("nato"), 1, [])) == 1


async def test_the_lookup_can_use_the_partial_gin_index(store, db):
    expression, args = tsquery(word("nato", "natos"))
    query = numbered("EXPLAIN " + matching_sql(expression))
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in await conn.fetch(query, *args, [], 12))
    assert "sections_search" in plan, plan


async def test_a_topic_is_found_by_scope_and_slug_through_the_unique_index(store, db):
    """`get` spells the scope as the unique index (coalesce(guild_id, 0), lower(slug)) does."""
    same = db.dialect.same("s.guild_id")
    where = f"WHERE {store._scope} AND {same} AND lower(s.slug) = lower(?)"
    query = numbered("EXPLAIN " + store._select + where)
    async with db.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(row[0] for row in await conn.fetch(query, GUILD, GUILD, "Berlin-Talks"))
    assert "sections_scope_slug" in plan, plan
    assert await store.get(GUILD, "berlin-talks") is None
    found = await store.get(None, "Berlin-Talks")
    assert found is not None and found.slug == "berlin-talks"


async def test_rotation_order_is_sqlites_whatever_the_collation(db):
    """Slugs are ordered by bytes, as SQLite orders them, even where the database's collation
    would not (a locale's collation puts 'a-c' after 'ab': it ignores the hyphen at first)."""
    async with db.transaction() as conn:
        async with conn.execute(
            "SELECT collname FROM pg_collation WHERE collname = 'und-x-icu'"
        ) as cursor:
            if await cursor.fetchone() is None:
                pytest.skip("this PostgreSQL has no ICU collations")
        # As glibc's en_US does: punctuation ignored at first (ICU's "alternate shifted").
        await conn.execute("CREATE COLLATION shifted (provider = icu, locale = 'und-u-ka-shifted')")
        await conn.execute("ALTER TABLE sections ALTER COLUMN slug TYPE text COLLATE shifted")
    store = SectionStore(db)
    slugs = ["ab", "a-c", "a", "a-b-c", "b1", "b-1"]
    await store.import_curated(
        [SectionContent(slug=s, title=f"Title {s}", body="Body.") for s in slugs]
    )
    async with db.conn.execute("SELECT slug FROM sections ORDER BY slug") as cursor:
        assert [row[0] for row in await cursor.fetchall()] != sorted(slugs)  # the locale's
    assert [s.slug for s in await store.all()] == sorted(slugs)
    assert [s.slug for s in await store.in_scope(None)] == sorted(slugs)
    rows = [row.slug async for batch in store.curated_index_rows(batch=2) for row in batch]
    assert rows == sorted(slugs)
