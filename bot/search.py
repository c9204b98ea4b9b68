"""Finding the section that answers a question: SQLite FTS5 bm25 plus rapidfuzz.

The pipeline, each step a plain function over plain data so it can be tested without Discord:

1. `Catalog` holds, in memory, what every section is called and which words the pack uses.
2. `build_query` turns a member's text into words, drops function words, corrects typos
   against the pack's vocabulary with rapidfuzz, weights each word by its rarity, and writes
   a safe FTS5 expression (each word quoted; user text never becomes FTS syntax).
3. The store runs that expression (bm25 over title, aliases and body, porter stemming).
4. `rank` rescores the top hits by how much of the question's weight each one covers and how
   closely the question resembles its title or an alias, and decides whether one is confident.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.scope import CURATED
from bot.sections import Section
from bot.store.sections import FtsHit
from bot.text import STOPWORDS, content_words, stem, truncate, words

# The numbers that tune the pipeline, grouped by the step they tune (see the module docstring).

# -- 2. reading the question (build_query, Catalog.correct) --
# Words of a question read at all; a longer question is cut here.
MAX_QUERY_WORDS = 24
# Shortest word corrected against the pack's vocabulary; shorter unknown words stay unknown.
MIN_TYPO_WORD = 4
# A correction may be this many letters shorter or longer than the word typed.
TYPO_LENGTH_SLACK = 2
# OSA similarity (0-1) a correction needs; also what a spelling variant in a hit needs.
TYPO_CUTOFF = 0.79
# The closest corrections weighed against each other (the commoner one wins a tie).
TYPO_CHOICES = 5
# Corrections whose similarities differ by less than this are tied.
TYPO_TIE = 1e-6
# An unknown word of at most MAX_STOPWORD_TYPO letters, within STOPWORD_TYPO_CUTOFF (OSA) of a
# function word, is a misspelt function word: dropped.
MAX_STOPWORD_TYPO = 6
STOPWORD_TYPO_CUTOFF = 0.75
# Added to a word's document frequency in its rarity (IDF), so a word no section holds has one.
IDF_SMOOTHING = 0.5

# -- 3. candidate retrieval (Query.lookups, Searcher.search) --
# Rarest words OR'd into one FTS5 lookup.
MAX_FTS_WORDS = 8
# A word in more sections than this is too common to look up cheaply (see Query.lookups).
COMMON_SECTIONS = 150
# bm25 hits fetched per lookup.
FTS_CANDIDATES = 30
# Fewer hits than this, and the next (broader) lookup is tried.
MIN_HITS = 3

# -- 4. rescoring (rank) --
# Visible hits rescored; the rest of the candidates are dropped.
RESCORED = 12
# Sections whose words are kept in memory for rescoring before the cache starts again.
TEXT_CACHE = 20_000
# Shortest question word compared as written when its stem is not in a hit (a spelling variant).
MIN_VARIANT_WORD = 5
# A word the pack has never heard of weighs this share of the rarest possible word.
UNKNOWN_WEIGHT = 0.3
# The score: weighted share of the question's words the section holds, resemblance of the
# question to its title or an alias, and bm25 relative to the best hit. They sum to 1.
W_COVERAGE = 0.5
W_NAME = 0.35
W_LEXICAL = 0.15
# Decimals a hit's score keeps.
SCORE_DIGITS = 4

# -- 4. confidence (rank): when the top hit is the answer rather than a suggestion --
# Least score of a confident answer.
CONFIDENT_SCORE = 0.5
# Least share of the question's known weight the section must hold...
CONFIDENT_COVERAGE = 0.5
# ...or least resemblance to a title or alias that stands in for it (the whole name said).
CONFIDENT_WHOLE_NAME = 0.9
# Least share of the question's whole weight, unknown words counted, the section must hold.
CONFIDENT_SHARE = 0.3
# Least resemblance to a title or alias: words found only in the body are not enough.
CONFIDENT_SOME_NAME = 0.2
# Question words the section must hold, unless none is unknown and it resembles a name this much.
CONFIDENT_WORDS = 2
CONFIDENT_NAME = 0.5

# -- what a search returns (Searcher) --
# Ranked hits returned.
RESULTS = 5
# Topics offered when there is no confident answer.
SUGGESTIONS = 3

# -- autocomplete (Catalog.autocomplete) --
# Characters of the typed text read.
MAX_AUTOCOMPLETE_TEXT = 200
# Content words of the typed text matched against names.
MAX_AUTOCOMPLETE_WORDS = 8
# Shortest start of a new word that narrows the candidates (when other words were typed).
MIN_NEW_WORD = 2
# Name words one typed prefix may stand for.
MAX_PREFIX_WORDS = 200
# Shortest word looked up as a possible typo of a name word.
MIN_NAME_TYPO = 3
# rapidfuzz ratio (0-100) a name word needs to count as a typo of the word typed...
NAME_TYPO_CUTOFF = 75
# ...and the closest name words kept.
NAME_TYPO_CHOICES = 8
# Sections counted against the typed words.
MAX_AUTOCOMPLETE_SCAN = 400
# Best-counted sections ranked by rapidfuzz against their names.
MAX_AUTOCOMPLETE_CANDIDATES = 40
# Discord's limits: 25 choices, names of at most 100 characters.
MAX_CHOICES = 25
MAX_CHOICE_NAME = 100


@dataclass(frozen=True, slots=True)
class Hit:
    section_id: int
    slug: str
    title: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    question: str
    answer: Hit | None
    results: tuple[Hit, ...]


@dataclass(frozen=True, slots=True)
class Term:
    typed: str
    match: str | None  # the pack's spelling of the word (typo corrected), None if unknown
    key: str | None  # its stem, the unit of matching
    weight: float


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    terms: tuple[Term, ...]
    common: frozenset[str] = frozenset()

    @property
    def fts(self) -> str:
        """The first lookup to try (see `lookups`); "" if there is nothing to look up."""
        found = self.lookups
        return found[0] if found else ""

    @property
    def lookups(self) -> list[str]:
        """FTS5 expressions of quoted words, to try in order until one finds enough.

        First the words that are rare enough to look up cheaply (OR'd: any of them may be the
        one that matters). If every word is common in a big pack, the two rarest together
        (AND), then the rarest alone. Common words still count when the hits are rescored;
        they are only kept out of the lookup, which would otherwise score most of the pack.
        """
        known = sorted((t for t in self.terms if t.match), key=lambda t: -t.weight)
        words = list(dict.fromkeys(t.match for t in known if t.match))
        rare = list(dict.fromkeys(t.match for t in known if t.match and t.key not in self.common))
        if rare:
            return [" OR ".join(f'"{w}"' for w in rare[:MAX_FTS_WORDS])]
        if len(words) >= 2:
            return [f'"{words[0]}" AND "{words[1]}"', f'"{words[0]}"']
        return [f'"{w}"' for w in words[:1]]

    @property
    def total_weight(self) -> float:
        return sum(t.weight for t in self.terms)


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    value: str


class Catalog:
    """What every section is called and the words the pack uses, for one process's lifetime.

    Rebuilt from the store after a change; cheap next to a query, so it is never consulted
    on disk during a search.
    """

    def __init__(self, sections: Iterable[Section]) -> None:
        self.sections: dict[int, Section] = {}
        self._curated: list[Section] = []
        self._by_guild: dict[int, dict[str, Section]] = defaultdict(dict)
        self.document_frequency: Counter[str] = Counter()
        names: dict[str, set[int]] = defaultdict(set)
        surface: set[str] = set()
        self._names: dict[int, list[str]] = {}
        for section in sections:
            self.sections[section.id] = section
            if section.guild_id is CURATED:
                if section.status == "active":
                    self._curated.append(section)
            else:
                self._by_guild[section.guild_id][section.slug] = section
            if section.status != "active":
                continue
            content = section.content
            section_names = [content.title, *content.aliases, content.slug.replace("-", " ")]
            name_words = [words(n) for n in section_names]
            self._names[section.id] = [" ".join(w) for w in name_words]
            for name in [*name_words, *(words(t) for t in content.tags)]:
                for word in name:
                    names[word].add(section.id)
            distinct = set(words(content.body)).union(*name_words)
            surface |= distinct
            self.document_frequency.update({stem(w) for w in distinct})
        self._curated.sort(key=lambda s: (s.content.position, s.slug))
        self._curated_by_slug = {s.slug: s for s in self._curated}
        self._name_index = dict(names)
        self._name_words = sorted(names)
        self._vocabulary_by_length: dict[int, list[str]] = defaultdict(list)
        self._surface = surface
        for word in surface:
            # Function words are never a correction: "world" is not a typo of "would".
            if word not in STOPWORDS:
                self._vocabulary_by_length[len(word)].append(word)
        self._views: dict[int | None, list[Section]] = {}
        self._name_keys: dict[int, list[tuple[frozenset[str], float]]] = {}
        self._text_words: dict[int, tuple[frozenset[str], frozenset[str]]] = {}
        self.size = max(1, sum(1 for s in self.sections.values() if s.status == "active"))

    # -- visibility: a server sees its own sections, and the curated ones it has not replaced --

    def visible(self, guild_id: int | None) -> list[Section]:
        """The sections a server sees (CURATED: the curated pack alone), in rotation order."""
        cached = self._views.get(guild_id)
        if cached is not None:
            return cached
        own = self._by_guild.get(guild_id, {}) if guild_id is not CURATED else {}
        view = [s for s in self._curated if s.slug not in own]
        view += [s for s in own.values() if s.status == "active"]
        view.sort(key=lambda s: (s.content.position, s.slug))
        self._views[guild_id] = view
        return view

    def is_visible(self, section: Section, guild_id: int | None) -> bool:
        if section.status != "active":
            return False
        if section.guild_id is CURATED:
            return guild_id is CURATED or section.slug not in self._by_guild.get(guild_id, {})
        return section.guild_id == guild_id

    def find(self, guild_id: int | None, slug: str) -> Section | None:
        """The section a server sees under `slug` (its override before the curated one)."""
        slug = slug.strip().casefold()
        if guild_id is not CURATED:
            own = self._by_guild.get(guild_id, {}).get(slug)
            if own is not None:
                return own if own.status == "active" else None
        return self._curated_by_slug.get(slug)

    # -- vocabulary --

    def name_keys(self, section: Section) -> list[tuple[frozenset[str], float]]:
        """Stems of the title and of each alias, with their total weight (cached per section)."""
        cached = self._name_keys.get(section.id)
        if cached is None:
            cached = []
            for name in (section.title, *section.content.aliases):
                keys = frozenset(stem(w) for w in content_words(name))
                cached.append((keys, sum(self.weight(k) for k in keys)))
            self._name_keys[section.id] = cached
        return cached

    def text_words(self, hit: FtsHit) -> tuple[frozenset[str], frozenset[str]]:
        """A hit's words as written and as stems, cached per section (a bounded cache)."""
        cached = self._text_words.get(hit.section_id)
        if cached is None:
            if len(self._text_words) >= TEXT_CACHE:
                self._text_words.clear()
            surface = frozenset(words(f"{hit.title} {hit.aliases} {hit.body}"))
            cached = (surface, frozenset(stem(w) for w in surface))
            self._text_words[hit.section_id] = cached
        return cached

    def weight(self, key: str) -> float:
        """Inverse document frequency of a stem: rare words say more about what is asked."""
        return math.log((self.size + 1) / (self.document_frequency.get(key, 0) + IDF_SMOOTHING))

    def is_common(self, key: str) -> bool:
        return self.document_frequency.get(key, 0) > COMMON_SECTIONS

    def correct(self, word: str) -> str | None:
        """The pack's word closest to `word` (a typo), or None when nothing is close enough."""
        if word in self._surface or stem(word) in self.document_frequency:
            return word
        if len(word) < MIN_TYPO_WORD or not word.isalpha():
            return None
        choices: list[str] = []
        for length in range(len(word) - TYPO_LENGTH_SLACK, len(word) + TYPO_LENGTH_SLACK + 1):
            choices.extend(self._vocabulary_by_length.get(length, ()))
        found = [
            f
            for f in process.extract(
                word,
                choices,
                scorer=OSA.normalized_similarity,
                score_cutoff=TYPO_CUTOFF,
                limit=TYPO_CHOICES,
            )
            if _same_start(word, f[0])
        ]
        if not found:
            return None
        # Among equally close words prefer the commoner one ("natto" -> "nato", not "nat").
        ties = [w for w, score, _ in found if score >= found[0][1] - TYPO_TIE]
        return max(ties, key=lambda w: self.document_frequency[stem(w)])

    # -- autocomplete --

    def _range(self, start: str) -> list[str]:
        """Name words beginning with `start`, at most MAX_PREFIX_WORDS of them."""
        first = bisect.bisect_left(self._name_words, start)
        found = []
        for word in self._name_words[first : first + MAX_PREFIX_WORDS]:
            if not word.startswith(start):
                break
            found.append(word)
        return found

    def _ids_for(self, token: str, prefix: bool) -> set[int] | None:
        """Sections whose names hold `token` (or a word it starts, or a close spelling)."""
        if prefix:
            found = self._range(token)
            if found:
                ids: set[int] = set()
                for word in found:
                    ids |= self._name_index[word]
                    if len(ids) >= MAX_AUTOCOMPLETE_SCAN:
                        break
                return ids
        elif token in self._name_index:
            return self._name_index[token]
        if len(token) < MIN_NAME_TYPO:
            return None
        # A typo keeps the first two letters, or swaps them: look only there.
        choices = self._range(token[:2]) + self._range(token[1] + token[0])
        close = process.extract(
            token,
            choices,
            scorer=fuzz.ratio,
            processor=(lambda w: w[: len(token) + 1]) if prefix else None,
            score_cutoff=NAME_TYPO_CUTOFF,
            limit=NAME_TYPO_CHOICES,
        )
        return set().union(*(self._name_index[w] for w, _, _ in close)) if close else None

    def autocomplete(self, partial: str, guild_id: int | None) -> list[Choice]:
        """Up to MAX_CHOICES choices whose title or alias matches what has been typed so far.

        Candidates come from the rarest typed word (a set lookup), are counted against the
        other words, and the best few hundred are ranked by rapidfuzz against their names.
        """
        typed = words(partial[:MAX_AUTOCOMPLETE_TEXT])
        view = self.visible(guild_id)
        meaningful = [t for t in typed if t not in STOPWORDS][:MAX_AUTOCOMPLETE_WORDS]
        if not meaningful:
            # Nothing but function words ("what is the "): rank the rotation by name.
            return self._ranked(" ".join(typed), view[:MAX_AUTOCOMPLETE_CANDIDATES], {})
        complete = partial.rstrip() != partial
        sets = []
        for i, token in enumerate(meaningful):
            is_last = i == len(meaningful) - 1
            if is_last and not complete and len(token) < MIN_NEW_WORD and len(meaningful) > 1:
                continue  # one letter of a new word narrows nothing yet
            ids = self._ids_for(token, prefix=is_last and not complete)
            if ids:
                sets.append(ids)
        if not sets:
            return []
        sets.sort(key=len)
        matched: dict[int, int] = {}
        for section_id in itertools.islice(sets[0], MAX_AUTOCOMPLETE_SCAN):
            section = self.sections[section_id]
            if self.is_visible(section, guild_id):
                matched[section_id] = 1 + sum(section_id in other for other in sets[1:])
        best = sorted(matched, key=lambda i: -matched[i])[:MAX_AUTOCOMPLETE_CANDIDATES]
        return self._ranked(" ".join(typed), [self.sections[i] for i in best], matched)

    def _ranked(
        self, text: str, candidates: list[Section], matched: dict[int, int]
    ) -> list[Choice]:
        scored = []
        for section in candidates:
            best = process.extractOne(text, self._names[section.id], scorer=fuzz.WRatio)
            scored.append((matched.get(section.id, 0), best[1] if best else 0.0, section))
        scored.sort(key=lambda t: (-t[0], -t[1], t[2].content.position, t[2].slug))
        return [
            Choice(truncate(s.title, MAX_CHOICE_NAME), s.slug) for _, _, s in scored[:MAX_CHOICES]
        ]


def _same_start(typed: str, known: str) -> bool:
    """Typos keep a word's first letter (or swap the first two): 'table' is not 'stable'."""
    return typed[0] == known[0] or (typed[:2] == known[1::-1])


def _is_misspelt_stopword(word: str) -> bool:
    """'waht', 'teh', 'abuot': a function word typed in a hurry says nothing about the topic."""
    if len(word) > MAX_STOPWORD_TYPO:
        return False
    return (
        process.extractOne(
            word, STOPWORDS, scorer=OSA.normalized_similarity, score_cutoff=STOPWORD_TYPO_CUTOFF
        )
        is not None
    )


def build_query(text: str, catalog: Catalog) -> Query:
    terms = []
    unknown_weight = math.log((catalog.size + 1) / IDF_SMOOTHING)
    for word in content_words(text, MAX_QUERY_WORDS):
        match = catalog.correct(word)
        if match is None and _is_misspelt_stopword(word):
            continue
        key = stem(match) if match else None
        weight = catalog.weight(key) if key else unknown_weight
        if match is not None and match != word:
            # A corrected word is a guess ("place" may be meant, not "peace"): it counts for less.
            weight *= OSA.normalized_similarity(word, match)
        terms.append(Term(word, match, key, weight))
    common = frozenset(t.key for t in terms if t.key is not None and catalog.is_common(t.key))
    return Query(text, tuple(terms), common)


def _matched(query: Query, hit: FtsHit, catalog: Catalog) -> tuple[float, int]:
    """Weight of the question's words this section's text holds, and how many of them."""
    surface, held = catalog.text_words(hit)
    covered = 0.0
    count = 0
    for term in query.terms:
        if term.key is None or term.match is None:
            continue
        if term.key in held:
            covered += term.weight
            count += 1
        elif len(term.match) >= MIN_VARIANT_WORD:
            # A spelling variant the stemmer keeps apart ("zelensky" / "zelenskyy"): compared
            # as written, since stems bend spellings apart ("zelenski").
            near = process.extractOne(
                term.match, surface, scorer=OSA.normalized_similarity, score_cutoff=TYPO_CUTOFF
            )
            if near is not None and _same_start(term.match, near[0]):
                covered += term.weight * near[1]
                count += 1
    return covered, count


def _resemblance(query: Query, section: Section, catalog: Catalog) -> float:
    """How much of the section's title or best alias the question says, weighted by rarity.

    "what's happening at the berlin talks" says all of "What are the Berlin talks?", and only
    a little of "What happened in earlier peace talks?".
    """
    asked = {t.key for t in query.terms if t.key}
    if not asked:
        return 0.0
    best = 0.0
    for keys, total in catalog.name_keys(section):
        if total > 0:
            best = max(best, sum(catalog.weight(k) for k in keys & asked) / total)
    return best


def rank(
    query: Query,
    hits: Sequence[FtsHit],
    catalog: Catalog,
    guild_id: int | None,
    limit: int = RESULTS,
) -> SearchResult:
    """Rescore FTS hits visible to `guild_id`; the top one is the answer if it is confident.

    Confidence needs most of the question's known words in the section, and either two of them
    or nothing in the question the pack has never heard of: one shared word ("the purpose of
    life", "berlin flights") is not enough to brief someone on the wrong thing. The question
    must also say some of the section's title or an alias (words found only in the body, as in
    "security deposit back", are not enough); a question that says (nearly) the whole of a
    title or alias is confident even when it adds other words the section does not hold.
    """
    visible = [
        (hit, catalog.sections[hit.section_id])
        for hit in hits
        if hit.section_id in catalog.sections
        and catalog.is_visible(catalog.sections[hit.section_id], guild_id)
    ][:RESCORED]
    if not visible:
        return SearchResult(query.text, None, ())
    known = sum(t.weight for t in query.terms if t.match)
    unknown = sum(1 for t in query.terms if t.match is None)
    best_bm25 = min(hit.bm25 for hit, _ in visible) or -1.0
    unknown_weight = catalog.weight("") * UNKNOWN_WEIGHT
    scored = []
    for hit, section in visible:
        covered, count = _matched(query, hit, catalog)
        coverage = covered / known if known else 0.0
        resemblance = _resemblance(query, section, catalog)
        lexical = hit.bm25 / best_bm25
        score = W_COVERAGE * coverage + W_NAME * resemblance + W_LEXICAL * lexical
        share = covered / (known + unknown * unknown_weight) if known else 0.0
        sure = (
            (coverage >= CONFIDENT_COVERAGE or resemblance >= CONFIDENT_WHOLE_NAME)
            and share >= CONFIDENT_SHARE
            and resemblance >= CONFIDENT_SOME_NAME
            and (count >= CONFIDENT_WORDS or (unknown == 0 and resemblance >= CONFIDENT_NAME))
        )
        scored.append((score, sure, section))
    scored.sort(key=lambda t: (-t[0], t[2].content.position))
    results = tuple(
        Hit(s.id, s.slug, s.title, round(score, SCORE_DIGITS)) for score, _, s in scored[:limit]
    )
    top_score, top_sure, _ = scored[0]
    confident = top_sure and top_score >= CONFIDENT_SCORE
    return SearchResult(query.text, results[0] if confident else None, results)


class Searcher:
    """Runs the pipeline for one question against the store's FTS index and the catalog."""

    def __init__(
        self,
        fts: Callable[[str, int], Awaitable[list[FtsHit]]],
        catalog: Catalog,
    ) -> None:
        self._fts = fts
        self.catalog = catalog

    async def search(
        self, question: str, guild_id: int | None, limit: int = RESULTS
    ) -> SearchResult:
        query = build_query(question, self.catalog)
        hits: list[FtsHit] = []
        for expression in query.lookups:
            hits = await self._fts(expression, FTS_CANDIDATES)
            if len(hits) >= MIN_HITS:
                break
        return rank(query, hits, self.catalog, guild_id, limit)

    def closest_topics(
        self, result: SearchResult, guild_id: int | None, count: int = SUGGESTIONS
    ) -> list[Section]:
        """Topics to offer when there is no confident answer: the best hits, then the rotation."""
        chosen = [self.catalog.sections[h.section_id] for h in result.results[:count]]
        for section in self.catalog.visible(guild_id):
            if len(chosen) >= count:
                break
            if section not in chosen:
                chosen.append(section)
        return chosen
