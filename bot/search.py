"""Finding the section that answers a question, searched over what one server sees.

A server sees the curated pack minus the sections it replaced or hid, plus its own. The search
keeps exactly that apart for every server:

1. `SharedIndex` holds, in memory, what every curated section is called and the pack's word
   statistics. It is built once per pack import (off the event loop, a batch at a time) and
   holds no bodies: a section's text is read from the store when it is shown.
2. `Overlay` holds one server's own sections (whole, they are few) and how they change the
   shared statistics: its own words added, the words of the curated sections it replaced or
   hid taken away. It also holds the questions its moderators taught as aliases of a topic
   (a small addition, not a copy: the curated topic keeps its id and its curated updates) and
   their "still accurate" review dates. An edit or a teaching rebuilds that server's overlay
   alone.
3. `View` is one server's window on both: word weights, typo correction, topics, names and
   autocomplete over exactly what that server sees, so no other server's sections can take a
   candidate's place or change a weight.
4. `build_query` turns a member's text into words, drops function words, corrects typos
   against the view's vocabulary with rapidfuzz, and weights each word by its rarity; its
   `lookups` are plain data (`bot.lookup.Lookup`: the words, their weights and other forms,
   any or every word), not an index's syntax: the store writes its own query from them.
5. `Searcher` runs those lookups against the curated index (bm25, the server's replaced
   sections and the curated ones it taught questions to left out in SQL) and against the
   server's own and taught-to sections in memory; `rank` rescores every candidate the same
   way, with the view's statistics, and decides whether one is confident. A question taught
   in the server (in any word order) is answered with its topic at once.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import itertools
import math
import sys
from array import array
from collections import Counter, defaultdict
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from bot.lookup import Lookup, LookupWord
from bot.scope import CURATED
from bot.sections import Section, SectionContent, Topic
from bot.store.sections import FtsHit, IndexRow, fts_aliases
from bot.text import STOPWORDS, content_words, family, truncate, words

# The numbers that tune the pipeline, grouped by the step they tune (see the module docstring).

# -- 4. reading the question (build_query, View.correct) --
# Words of a question read at all; a longer question is cut here.
MAX_QUERY_WORDS = 24
# Shortest word corrected against the view's vocabulary; shorter unknown words stay unknown.
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
# Words members wrap around a topic ("what's happening with", "why do they want", "a big deal")
# that name no topic, though a small pack may use them rarely: they weigh this share of their
# rarity.
FILLER = frozenset(
    """
    want wants wanted wanting happen happens happening happened going gonna need needs needed
    like make makes making made really still currently latest news say says said
    try tries tried trying get gets getting keep keeps kept start started starting big deal
    """.split()
)
FILLER_WEIGHT = 0.25

# -- 5. candidate retrieval (Query.lookups, Searcher.search) --
# Rarest words looked up together, any of them matching...
MAX_LOOKUP_WORDS = 8
# ...each with at most this many other forms of it the view uses (its word family).
MAX_FORMS = 4
# A word in more sections than this is too common to look up cheaply (see Query.lookups).
COMMON_SECTIONS = 150
# Best hits fetched from the curated index per lookup (each read whole: all are rescored).
LOOKUP_CANDIDATES = 12
# Fewer candidates than this, and the next (broader) lookup is tried.
MIN_HITS = 3

# -- 5. rescoring (rank) --
# Curated hits rescored (in bm25 order), and at most as many of the server's own sections.
RESCORED = 12
# Curated sections whose words are kept in memory for rescoring (a bounded cache).
TEXT_CACHE = 2_000
# How much a word weighs in each column when a candidate's text is scored (as the index does).
TITLE_WEIGHT = 6.0
ALIAS_WEIGHT = 3.0
BODY_WEIGHT = 1.0
# bm25's term-frequency saturation and length normalisation (FTS5's defaults).
BM25_K1 = 1.2
BM25_B = 0.75
# Shortest question word compared as written when its stem is not in a hit (a spelling variant).
MIN_VARIANT_WORD = 5
# A word the pack has never heard of weighs this share of the rarest possible word.
UNKNOWN_WEIGHT = 0.3
# The score: weighted share of the question's words the section holds, resemblance of the
# question to its title or an alias, and bm25 relative to the best candidate. They sum to 1.
W_COVERAGE = 0.5
W_NAME = 0.35
W_LEXICAL = 0.15
# How much of a question taught in a server another question must say to resemble it as it
# would a title or an alias (less, and only the taught words' presence counts).
TAUGHT_WHOLE = 0.8
# Decimals a hit's score keeps.
SCORE_DIGITS = 4

# -- 5. confidence (rank): when the top hit is the answer rather than a suggestion --
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
# ...or, with at least CONFIDENT_WORDS words and none unknown, the share of the question's
# weight a section's text must hold to be confident without resembling a name ("sphere of
# influence": every word of it is in the text).
CONFIDENT_ALL_WORDS = 0.99

# -- what a search returns (Searcher) --
# Ranked hits returned.
RESULTS = 5
# Topics offered when there is no confident answer.
SUGGESTIONS = 3

# -- related topics (View.related) --
# Sections looked at per shared title word or tag.
RELATED_SCAN = 300
# A shared tag counts as much as this many units of word rarity.
RELATED_TAG_WEIGHT = 2.0
# Topics whose related topics one view remembers before it starts again.
RELATED_CACHE = 1_000

# -- autocomplete (View.autocomplete) --
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

_FILLER_KEYS = frozenset(family(w) for w in FILLER)

# How a section's names are packed into one string in memory (title, aliases; then tags).
_NAME_SEP = "\x1f"
_TAGS_SEP = "\x1e"


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
    # The whole sections the search read on its way (so showing the answer needs no read).
    read: Mapping[int, Section] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Term:
    typed: str
    match: str | None  # the pack's spelling of the word (typo corrected), None if unknown
    key: str | None  # its word family (see bot.text.family), the unit of matching
    weight: float
    forms: tuple[str, ...] = ()  # the view's words of that family, looked up with it


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    terms: tuple[Term, ...]
    common: frozenset[str] = frozenset()

    @property
    def lookups(self) -> list[Lookup]:
        """What to look up in the curated index, in order, until one lookup finds enough.

        First the words that are rare enough to look up cheaply, each with the other forms of
        it the view uses ("relationship", "relations"), any of them matching: any may be the
        one that matters. If every word is common in a big pack, the two rarest together (both
        must match), then the rarest alone. Common words still count when the hits are
        rescored; they are only kept out of the lookup, which would otherwise score most of
        the pack. Nothing to look up: no lookups.
        """
        known = sorted((t for t in self.terms if t.match), key=lambda t: -t.weight)
        rare = [t for t in known if t.key not in self.common][:MAX_LOOKUP_WORDS]
        if rare:
            return [
                Lookup(_distinct(LookupWord(t.match, t.weight, t.forms) for t in rare if t.match))
            ]
        distinct = _distinct(LookupWord(t.match, t.weight) for t in known if t.match)
        if len(distinct) >= 2:
            return [Lookup(distinct[:2], every=True), Lookup(distinct[:1])]
        return [Lookup(distinct)] if distinct else []

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.terms if t.key)

    @property
    def total_weight(self) -> float:
        return sum(t.weight for t in self.terms)


def _distinct(found: Iterable[LookupWord]) -> tuple[LookupWord, ...]:
    """Each word once, where it first comes (a word typed twice, or typed and corrected)."""
    first: dict[str, LookupWord] = {}
    for word in found:
        first.setdefault(word.word, word)
    return tuple(first.values())


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class TextStats:
    """A section's words as the rescoring reads them."""

    surface: frozenset[str]  # as written
    frequency: dict[str, float]  # word family -> occurrences, weighted by column
    length: int  # words in all columns, as the index counts them
    names: tuple[frozenset[str], ...]  # the content words' families of the title and each alias
    taught: tuple[frozenset[str], ...] = ()  # the same of each question taught in one server


def text_stats(
    content: SectionContent, keep: Callable[[str], str] = str, taught: Sequence[str] = ()
) -> TextStats:
    """A section's words, read once for everything the rescoring needs. `keep` may intern the
    words (sections held for long, many alike); `taught`: the questions one server taught it."""
    frequency: dict[str, float] = {}
    surface: set[str] = set()
    names: list[frozenset[str]] = []
    questions: list[frozenset[str]] = []
    # The columns as the index holds them: title, aliases and tags (see fts_aliases), body;
    # then the taught questions, weighed as aliases.
    parts: list[tuple[str, float, list[frozenset[str]] | None]] = [
        (content.title, TITLE_WEIGHT, names)
    ]
    parts += [(alias, ALIAS_WEIGHT, names) for alias in content.aliases]
    parts += [(tag.replace("-", " "), ALIAS_WEIGHT, None) for tag in content.tags]
    parts.append((content.body, BODY_WEIGHT, None))
    parts += [(question, ALIAS_WEIGHT, questions) for question in taught]
    length = 0
    for text, weight, named in parts:
        found = words(text)
        length += len(found)
        surface.update(found)
        for word in found:
            key = family(word)
            frequency[key] = frequency.get(key, 0.0) + weight
        if named is not None:
            named.append(frozenset(family(w) for w in found if w not in STOPWORDS))
    return TextStats(
        frozenset(map(keep, surface)), frequency, length, tuple(names), tuple(questions)
    )


class Candidate(NamedTuple):
    topic: Topic
    stats: TextStats


class Taught(NamedTuple):
    """A member's question a server's moderators taught as an alias of one of its topics."""

    slug: str
    question: str


TaughtKey = tuple[str, ...]


def taught_key(text: str) -> TaughtKey:
    """What a taught question and a later question must share to be the same question: the
    families of their content words, in any order ("berlin talks who" is "who talks berlin")."""
    return tuple(sorted({family(w) for w in content_words(text, MAX_QUERY_WORDS)}))


def _with_taught(content: SectionContent, questions: Sequence[str]) -> SectionContent:
    """The section as its server searches it: the questions taught there as more aliases."""
    if not questions:
        return content
    return dataclasses.replace(content, aliases=(*content.aliases, *questions))


def _pack_names(title: str, aliases: Sequence[str], tags: Sequence[str]) -> str:
    return _NAME_SEP.join([title, *aliases]) + _TAGS_SEP + _NAME_SEP.join(tags)


def _unpack_names(packed: str) -> tuple[list[str], list[str]]:
    """(title and aliases, tags) of a packed name string."""
    names, _, tags = packed.partition(_TAGS_SEP)
    return names.split(_NAME_SEP), tags.split(_NAME_SEP) if tags else []


def _section_words(
    title: str, aliases: Sequence[str], slug: str, tags: Sequence[str], body: str
) -> tuple[set[str], set[str], int]:
    """(words of the names and tags, distinct words the section uses, words indexed)."""
    name_words = [words(n) for n in (title, *aliases, slug.replace("-", " "))]
    tag_words = [words(t) for t in tags]
    body_words = words(body)
    names = set(itertools.chain(*name_words, *tag_words))
    distinct = set(body_words).union(*name_words)
    indexed = len(words(title)) + len(words(fts_aliases(aliases, tags))) + len(body_words)
    return names, distinct, indexed


def _content_words(content: SectionContent) -> tuple[set[str], int]:
    """(distinct words the section uses, words indexed): what it adds to the statistics."""
    _, distinct, indexed = _section_words(
        content.title, content.aliases, content.slug, content.tags, content.body
    )
    return distinct, indexed


class Counts:
    """Word statistics of a set of sections: in how many each stem and each word occurs.

    An overlay's counts are a difference (they may be negative): a server's own words added,
    the words of the curated sections it replaced or hid taken away.
    """

    def __init__(self) -> None:
        self.stems: Counter[str] = Counter()
        self.surface: Counter[str] = Counter()
        self.sections = 0
        self.words = 0

    def add(self, distinct: Iterable[str], indexed: int, sign: int = 1) -> None:
        distinct = set(distinct)
        self.stems.update(dict.fromkeys({family(w) for w in distinct}, sign))
        self.surface.update(dict.fromkeys(distinct, sign))
        self.sections += sign
        self.words += sign * indexed


def _families(vocabulary: Iterable[str]) -> dict[str, list[str]]:
    """Words by family, the most forms a lookup adds at most (function words left out)."""
    found: dict[str, list[str]] = defaultdict(list)
    for word in vocabulary:
        if word not in STOPWORDS:
            forms = found[family(word)]
            if len(forms) < MAX_FORMS:
                forms.append(word)
    return dict(found)


def _by_length(vocabulary: Iterable[str]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for word in vocabulary:
        # Function words are never a correction: "world" is not a typo of "would".
        if word not in STOPWORDS:
            found[len(word)].append(word)
    return dict(found)


class SharedIndex:
    """The curated pack's names and word statistics, for every server (no bodies held).

    Filled a batch at a time with `add` (rows in rotation order), then `finish`ed.
    """

    def __init__(self) -> None:
        self.topics: dict[int, Topic] = {}
        self.order: list[Topic] = []
        self.by_slug: dict[str, Topic] = {}
        self.counts = Counts()
        self._packed: dict[int, str] = {}
        self._building: dict[str, list[int]] | None = defaultdict(list)
        self._name_index: dict[str, array[int]] = {}
        self._name_words: list[str] = []
        self._vocabulary: dict[int, list[str]] = {}
        self._forms: dict[str, list[str]] = {}
        self._stats: dict[int, TextStats] = {}

    def add(self, rows: Iterable[IndexRow]) -> None:
        assert self._building is not None, "add after finish"
        for row in rows:
            topic = Topic(row.id, CURATED, row.slug, row.title, row.position)
            self.topics[row.id] = topic
            self.order.append(topic)
            self.by_slug[row.slug.casefold()] = topic
            self._packed[row.id] = _pack_names(row.title, row.aliases, row.tags)
            names, distinct, indexed = _section_words(
                row.title, row.aliases, row.slug, row.tags, row.body
            )
            for word in names:
                self._building[word].append(row.id)
            self.counts.add(distinct, indexed)

    def finish(self) -> SharedIndex:
        assert self._building is not None, "finished twice"
        self._name_index = {w: array("q", ids) for w, ids in self._building.items()}
        self._building = None
        self._name_words = sorted(self._name_index)
        self._vocabulary = _by_length(self.counts.surface)
        self._forms = _families(self.counts.surface)
        return self

    @classmethod
    def of(cls, rows: Iterable[IndexRow]) -> SharedIndex:
        index = cls()
        index.add(rows)
        return index.finish()

    def names(self, section_id: int) -> tuple[list[str], list[str]]:
        return _unpack_names(self._packed[section_id])

    def name_ids(self, word: str) -> Sequence[int]:
        return self._name_index.get(word, ())

    def name_range(self, start: str) -> list[str]:
        """Name words beginning with `start`, at most MAX_PREFIX_WORDS of them."""
        return _prefix_range(self._name_words, start)

    def vocabulary(self, length: int) -> list[str]:
        return self._vocabulary.get(length, [])

    def forms(self, key: str) -> list[str]:
        return self._forms.get(key, [])

    def stats(self, hit: FtsHit) -> TextStats:
        """A hit's words, cached per section (a bounded cache)."""
        cached = self._stats.get(hit.section_id)
        if cached is None:
            if len(self._stats) >= TEXT_CACHE:
                self._stats.clear()
            cached = text_stats(hit.section.content)
            self._stats[hit.section_id] = cached
        return cached


def _prefix_range(sorted_words: list[str], start: str) -> list[str]:
    first = bisect.bisect_left(sorted_words, start)
    found = []
    for word in sorted_words[first : first + MAX_PREFIX_WORDS]:
        if not word.startswith(start):
            break
        found.append(word)
    return found


class _WordLookups(NamedTuple):
    name_index: dict[str, list[int]]
    name_words: list[str]
    by_length: dict[int, list[str]]
    by_family: dict[str, list[str]]


class Overlay:
    """One server's own sections, the questions it taught, and how both change the curated
    pack's statistics."""

    def __init__(
        self,
        guild_id: int,
        own: Iterable[Section],
        curated: Iterable[Section] = (),
        taught: Iterable[Taught] = (),
        reviewed: Mapping[str, date] | None = None,
    ) -> None:
        """`own`: every section the server holds, whatever its status; `curated`: the active
        curated sections under its own slugs (replaced or hidden here) and under the slugs it
        taught questions to; `taught`: its taught questions in the order they were taught (a
        later one wins when two topics were taught the same words); `reviewed`: the day each
        topic (by casefolded slug) was last reviewed as still accurate here."""
        self.guild_id = guild_id
        self.by_slug: dict[str, Section] = {}
        self.sections: dict[int, Section] = {}
        self.counts = Counts()
        self.stats: dict[int, TextStats] = {}
        self._packed: dict[int, str] = {}
        self.reviewed: dict[str, date] = dict(reviewed or {})
        # Taught questions by topic, and by what they say (the newest topic taught it first).
        self.taught: dict[str, tuple[str, ...]] = {}
        self.exact: dict[TaughtKey, list[str]] = {}
        for slug, question in taught:
            slug = slug.casefold()
            self.taught[slug] = (*self.taught.get(slug, ()), question)
            key = taught_key(question)
            if key:
                slugs = self.exact.setdefault(key, [])
                if slug in slugs:
                    slugs.remove(slug)
                slugs.insert(0, slug)
        for section in own:
            self.by_slug[section.slug.casefold()] = section
            if section.status != "active":
                continue
            content = section.content
            self.sections[section.id] = section
            self._packed[section.id] = _pack_names(content.title, content.aliases, content.tags)
            questions = self.taught.get(section.slug.casefold(), ())
            distinct, indexed = _content_words(_with_taught(content, questions))
            self.counts.add(map(sys.intern, distinct), indexed)
            self.stats[section.id] = text_stats(content, sys.intern, questions)
        self.replaced = frozenset(self.by_slug)
        # Curated sections taught questions here: searched in memory with them (their words
        # counted here instead of the index's), still the curated topic when found.
        self.augmented: dict[int, TextStats] = {}
        for section in curated:
            slug = section.slug.casefold()
            if slug in self.replaced:
                self.counts.add(*_content_words(section.content), sign=-1)
            elif slug in self.taught and section.id not in self.augmented:
                self.counts.add(*_content_words(section.content), sign=-1)
                questions = self.taught[slug]
                self.counts.add(*_content_words(_with_taught(section.content, questions)))
                self.augmented[section.id] = text_stats(section.content, sys.intern, questions)
        self.topics = sorted(
            (s.topic for s in self.sections.values()), key=lambda t: (t.position, t.slug)
        )
        self._excluded: tuple[SharedIndex, list[int]] | None = None
        self._related: tuple[SharedIndex, dict[tuple[int, int], list[Topic]]] | None = None
        self._lookups: _WordLookups | None = None

    @property
    def is_empty(self) -> bool:
        """Nothing of this server's own: no sections, taught questions or reviews."""
        return not (self.by_slug or self.taught or self.reviewed)

    @property
    def lookups(self) -> _WordLookups:
        """Sorted name words, vocabulary by length and words by family: built the first time
        a question in this server needs them (most servers' overlays are never asked about)."""
        if self._lookups is None:
            used = [w for w, n in self.counts.surface.items() if n > 0]
            name_index: dict[str, list[int]] = defaultdict(list)
            for section in self.sections.values():
                content = section.content
                names, _, _ = _section_words(
                    content.title, content.aliases, content.slug, content.tags, ""
                )
                for word in names:
                    name_index[word].append(section.id)
            self._lookups = _WordLookups(
                dict(name_index), sorted(name_index), _by_length(used), _families(used)
            )
        return self._lookups

    def related_cache(self, shared: SharedIndex) -> dict[tuple[int, int], list[Topic]]:
        """Related topics found in this server's view over `shared` (a new shared index, or a
        new overlay, starts afresh)."""
        if self._related is None or self._related[0] is not shared:
            self._related = (shared, {})
        return self._related[1]

    def excluded(self, shared: SharedIndex) -> list[int]:
        """Ids of the curated sections the index leaves out for this server: those it replaced
        or hid, and those it taught questions to (searched in memory with them). Cached per
        shared index."""
        if self._excluded is None or self._excluded[0] is not shared:
            ids = [shared.by_slug[s].id for s in self.replaced if s in shared.by_slug]
            ids += [i for i in self.augmented if i in shared.topics]
            self._excluded = (shared, ids)
        return self._excluded[1]

    def names(self, section_id: int) -> tuple[list[str], list[str]]:
        return _unpack_names(self._packed[section_id])

    def name_ids(self, word: str) -> Sequence[int]:
        return self.lookups.name_index.get(word, ()) if self.sections else ()

    def name_range(self, start: str) -> list[str]:
        return _prefix_range(self.lookups.name_words, start) if self.sections else []

    def vocabulary(self, length: int) -> list[str]:
        return self.lookups.by_length.get(length, []) if self.counts.surface else []

    def forms(self, key: str) -> list[str]:
        return self.lookups.by_family.get(key, []) if self.counts.surface else []

    def holding(self, keys: frozenset[str]) -> list[int]:
        """Own active sections whose text (taught questions included) holds any of these word
        families (a scan: a server holds at most a few hundred)."""
        return [i for i, stats in self.stats.items() if not keys.isdisjoint(stats.frequency)]

    def taught_holding(self, keys: frozenset[str]) -> list[int]:
        """Curated sections taught questions here whose text or questions hold any of these."""
        return [i for i, stats in self.augmented.items() if not keys.isdisjoint(stats.frequency)]


_NO_OVERLAY = Overlay(0, ())


class View:
    """What one server sees (CURATED: the curated pack alone): topics, names, word weights."""

    def __init__(self, shared: SharedIndex, overlay: Overlay | None) -> None:
        self.shared = shared
        self.overlay = overlay if overlay is not None else _NO_OVERLAY
        counts, delta = shared.counts, self.overlay.counts
        self.size = max(1, counts.sections + delta.sections)
        self.average_length = max(1.0, (counts.words + delta.words) / self.size)
        self.excluded = self.overlay.excluded(shared)
        self._weights: dict[str, float] = {}

    # -- visibility --

    def topic(self, section_id: int) -> Topic | None:
        """The topic with this id if this server sees it."""
        own = self.overlay.sections.get(section_id)
        if own is not None:
            return own.topic
        topic = self.shared.topics.get(section_id)
        if topic is None or topic.slug.casefold() in self.overlay.replaced:
            return None
        return topic

    def find(self, slug: str) -> Topic | None:
        """The topic this server sees under `slug` (its own before the curated one)."""
        slug = slug.strip().casefold()
        own = self.overlay.by_slug.get(slug)
        if own is not None:
            return own.topic if own.status == "active" else None
        return self.shared.by_slug.get(slug)

    def own_section(self, section_id: int) -> Section | None:
        """The whole section if it is one of this server's own (held in memory)."""
        return self.overlay.sections.get(section_id)

    def iter_visible(self) -> Iterator[Topic]:
        """Every topic this server sees, in rotation order."""
        replaced = self.overlay.replaced
        curated = (t for t in self.shared.order if t.slug.casefold() not in replaced)
        if not self.overlay.topics:
            return curated
        return heapq.merge(curated, self.overlay.topics, key=lambda t: (t.position, t.slug))

    def visible(self) -> list[Topic]:
        return list(self.iter_visible())

    def last_position(self) -> int:
        """The highest position in the rotation (0 when there is nothing)."""
        positions = [t.position for t in self.overlay.topics[-1:] + self.shared.order[-1:]]
        return max(positions, default=0)

    def names(self, section_id: int) -> tuple[list[str], list[str]]:
        """(title and aliases, tags) of a section this view holds."""
        if section_id in self.overlay.sections:
            return self.overlay.names(section_id)
        return self.shared.names(section_id)

    # -- vocabulary --

    def document_frequency(self, key: str) -> int:
        return self.shared.counts.stems.get(key, 0) + self.overlay.counts.stems.get(key, 0)

    def _uses(self, word: str) -> bool:
        return (
            self.shared.counts.surface.get(word, 0) + self.overlay.counts.surface.get(word, 0) > 0
        )

    def weight(self, key: str) -> float:
        """Inverse document frequency of a word family: rare words say more about what is
        asked (filler words less than their rarity suggests). Remembered for the view's life
        (one search)."""
        known = self._weights.get(key)
        if known is not None:
            return known
        rarity = math.log((self.size + 1) / (max(0, self.document_frequency(key)) + IDF_SMOOTHING))
        weight = rarity * FILLER_WEIGHT if key in _FILLER_KEYS else rarity
        self._weights[key] = weight
        return weight

    def is_common(self, key: str) -> bool:
        return self.document_frequency(key) > COMMON_SECTIONS

    def forms(self, key: str, typed: str) -> tuple[str, ...]:
        """Other words of this family the view uses (looked up with the one typed)."""
        found = [*self.shared.forms(key), *self.overlay.forms(key)]
        return tuple(w for w in dict.fromkeys(found) if w != typed and self._uses(w))

    def correct(self, word: str) -> str | None:
        """The view's word closest to `word` (a typo), or None when nothing is close enough."""
        if self._uses(word) or self.document_frequency(family(word)) > 0:
            return word
        if len(word) < MIN_TYPO_WORD or not word.isalpha():
            return None
        choices: list[str] = []
        for length in range(len(word) - TYPO_LENGTH_SLACK, len(word) + TYPO_LENGTH_SLACK + 1):
            choices.extend(self.shared.vocabulary(length))
            choices.extend(self.overlay.vocabulary(length))
        found = [
            f
            for f in process.extract(
                word,
                choices,
                scorer=OSA.normalized_similarity,
                score_cutoff=TYPO_CUTOFF,
                limit=TYPO_CHOICES,
            )
            if _same_start(word, f[0]) and self._uses(f[0])
        ]
        if not found:
            return None
        # Among equally close words prefer the commoner one ("natto" -> "nato", not "nat").
        ties = [w for w, score, _ in found if score >= found[0][1] - TYPO_TIE]
        return max(ties, key=lambda w: self.document_frequency(family(w)))

    # -- candidates --

    def own_candidates(self, query: Query) -> list[Candidate]:
        """This server's own sections holding any of the question's words, and the curated
        ones it taught questions to (as the curated topic, with the questions' words)."""
        overlay = self.overlay
        found = [
            Candidate(overlay.sections[i].topic, overlay.stats[i])
            for i in overlay.holding(query.keys)
        ]
        if overlay.augmented:
            for i in overlay.taught_holding(query.keys):
                topic = self.topic(i)
                if topic is not None and topic.guild_id is CURATED:
                    found.append(Candidate(topic, overlay.augmented[i]))
        return found

    def taught_answer(self, question: str) -> Topic | None:
        """The topic this server taught `question` to (its words in any order), if it sees it:
        the most recently taught one when several were."""
        if not self.overlay.exact:
            return None
        for slug in self.overlay.exact.get(taught_key(question), ()):
            topic = self.find(slug)
            if topic is not None:
                return topic
        return None

    def reviewed(self, slug: str) -> date | None:
        """The day this server last reviewed the topic under `slug` as still accurate."""
        return self.overlay.reviewed.get(slug.casefold())

    # -- related topics --

    def related(self, topic: Topic, limit: int) -> list[Topic]:
        """Other topics sharing tags or title and alias words with `topic`, most related first
        (remembered with the overlay, for as long as the shared index it was found in)."""
        cache = self.overlay.related_cache(self.shared)
        key = (topic.id, limit)
        found = cache.get(key)
        if found is None:
            if len(cache) >= RELATED_CACHE:
                cache.clear()
            found = cache[key] = self._related(topic, limit)
        return found

    def _related(self, topic: Topic, limit: int) -> list[Topic]:
        names, tags = self.names(topic.id)
        keys = {family(w) for name in names for w in content_words(name)}
        looked_up = {w for name in names for w in content_words(name)} | {
            w for tag in tags for w in words(tag)
        }
        seen: set[int] = {topic.id}
        scored = []
        for word in looked_up:
            for ids in (self.shared.name_ids(word), self.overlay.name_ids(word)):
                for other_id in itertools.islice(ids, RELATED_SCAN):
                    if other_id in seen:
                        continue
                    seen.add(other_id)
                    other = self.topic(other_id)
                    if other is None:
                        continue
                    other_names, other_tags = self.names(other_id)
                    other_keys = {family(w) for name in other_names for w in content_words(name)}
                    score = RELATED_TAG_WEIGHT * len(set(tags) & set(other_tags)) + sum(
                        self.weight(k) for k in keys & other_keys
                    )
                    if score > 0:
                        scored.append((score, other))
        scored.sort(key=lambda t: (-t[0], t[1].position, t[1].slug))
        return [t for _, t in scored[:limit]]

    # -- autocomplete --

    def _name_range(self, start: str) -> list[str]:
        return self.shared.name_range(start) + self.overlay.name_range(start)

    def _name_ids(self, word: str) -> list[int]:
        return [*self.shared.name_ids(word), *self.overlay.name_ids(word)]

    def _ids_for(self, token: str, prefix: bool) -> set[int] | None:
        """Sections whose names hold `token` (or a word it starts, or a close spelling)."""
        if prefix:
            found = self._name_range(token)
            if found:
                ids: set[int] = set()
                for word in found:
                    ids.update(self._name_ids(word))
                    if len(ids) >= MAX_AUTOCOMPLETE_SCAN:
                        break
                return ids
        else:
            exact = self._name_ids(token)
            if exact:
                return set(exact)
        if len(token) < MIN_NAME_TYPO:
            return None
        # A typo keeps the first two letters, or swaps them: look only there.
        choices = self._name_range(token[:2]) + self._name_range(token[1] + token[0])
        close = process.extract(
            token,
            choices,
            scorer=fuzz.ratio,
            processor=(lambda w: w[: len(token) + 1]) if prefix else None,
            score_cutoff=NAME_TYPO_CUTOFF,
            limit=NAME_TYPO_CHOICES,
        )
        return set().union(*(self._name_ids(w) for w, _, _ in close)) if close else None

    def autocomplete(self, partial: str) -> list[Choice]:
        """Up to MAX_CHOICES choices whose title or alias matches what has been typed so far.

        Candidates come from the rarest typed word (a set lookup), are counted against the
        other words, and the best few hundred are ranked by rapidfuzz against their names.
        """
        typed = words(partial[:MAX_AUTOCOMPLETE_TEXT])
        meaningful = [t for t in typed if t not in STOPWORDS][:MAX_AUTOCOMPLETE_WORDS]
        if not meaningful:
            # Nothing but function words ("what is the "): rank the rotation by name.
            first = list(itertools.islice(self.iter_visible(), MAX_AUTOCOMPLETE_CANDIDATES))
            return self._ranked(" ".join(typed), first, {})
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
        topics: dict[int, Topic] = {}
        for section_id in itertools.islice(sets[0], MAX_AUTOCOMPLETE_SCAN):
            topic = self.topic(section_id)
            if topic is not None:
                topics[section_id] = topic
                matched[section_id] = 1 + sum(section_id in other for other in sets[1:])
        best = sorted(matched, key=lambda i: -matched[i])[:MAX_AUTOCOMPLETE_CANDIDATES]
        return self._ranked(" ".join(typed), [topics[i] for i in best], matched)

    def _ranked(self, text: str, candidates: list[Topic], matched: dict[int, int]) -> list[Choice]:
        scored = []
        for topic in candidates:
            names, _ = self.names(topic.id)
            spoken = [" ".join(words(n)) for n in (*names, topic.slug.replace("-", " "))]
            best = process.extractOne(text, spoken, scorer=fuzz.WRatio)
            scored.append((matched.get(topic.id, 0), best[1] if best else 0.0, topic))
        scored.sort(key=lambda t: (-t[0], -t[1], t[2].position, t[2].slug))
        return [
            Choice(truncate(t.title, MAX_CHOICE_NAME), t.slug) for _, _, t in scored[:MAX_CHOICES]
        ]


class Catalog:
    """The shared index and every server's overlay: where a `View` comes from.

    The shared index is replaced when the pack changes; a server's overlay when that server's
    sections change. Neither is ever modified in place, so a search that started on one keeps
    a consistent picture.
    """

    def __init__(
        self, shared: SharedIndex | None = None, overlays: dict[int, Overlay] | None = None
    ) -> None:
        self.shared = shared if shared is not None else SharedIndex().finish()
        self.overlays: dict[int, Overlay] = overlays if overlays is not None else {}

    @classmethod
    def of(
        cls,
        sections: Iterable[Section],
        taught: Mapping[int, Sequence[Taught]] | None = None,
        reviewed: Mapping[int, Mapping[str, date]] | None = None,
    ) -> Catalog:
        """A catalog of whole sections (curated and servers' alike), built in one go, with
        each server's taught questions (in the order taught) and review dates."""
        taught = taught or {}
        reviewed = reviewed or {}
        curated: list[Section] = []
        own: dict[int, list[Section]] = defaultdict(list)
        for section in sections:
            if section.guild_id is CURATED:
                if section.status == "active":
                    curated.append(section)
            else:
                own[section.guild_id].append(section)
        curated.sort(key=lambda s: (s.position, s.slug))
        shared = SharedIndex.of(
            IndexRow(
                s.id,
                s.slug,
                s.title,
                s.position,
                s.content.aliases,
                s.content.tags,
                s.content.body,
            )
            for s in curated
        )
        guilds = set(own) | set(taught) | set(reviewed)
        overlays = {
            g: Overlay(g, own.get(g, []), curated, taught.get(g, ()), reviewed.get(g))
            for g in guilds
        }
        return cls(shared, {g: o for g, o in overlays.items() if not o.is_empty})

    def view(self, guild_id: int | None) -> View:
        overlay = None if guild_id is CURATED else self.overlays.get(guild_id)
        return View(self.shared, overlay)

    def set_overlay(self, guild_id: int, overlay: Overlay | None) -> None:
        """Use `overlay` for this server from now on (None: it holds nothing of its own)."""
        if overlay is None or overlay.is_empty:
            self.overlays.pop(guild_id, None)
        else:
            self.overlays[guild_id] = overlay


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


def build_query(text: str, view: View) -> Query:
    terms = []
    unknown_weight = math.log((view.size + 1) / IDF_SMOOTHING)
    for word in content_words(text, MAX_QUERY_WORDS):
        match = view.correct(word)
        if match is None and _is_misspelt_stopword(word):
            continue
        key = family(match) if match else None
        weight = view.weight(key) if key else unknown_weight
        if match is not None and match != word:
            # A corrected word is a guess ("place" may be meant, not "peace"): it counts for less.
            weight *= OSA.normalized_similarity(word, match)
        forms = view.forms(key, match) if key and match else ()
        terms.append(Term(word, match, key, weight, forms))
    common = frozenset(t.key for t in terms if t.key is not None and view.is_common(t.key))
    return Query(text, tuple(terms), common)


def _matched(query: Query, stats: TextStats) -> tuple[float, int]:
    """Weight of the question's words this section's text holds, and how many of them."""
    covered = 0.0
    count = 0
    for term in query.terms:
        if term.key is None or term.match is None:
            continue
        if term.key in stats.frequency:
            covered += term.weight
            count += 1
        elif len(term.match) >= MIN_VARIANT_WORD:
            # A spelling variant the stemmer keeps apart ("zelensky" / "zelenskyy"): compared
            # as written, since stems bend spellings apart ("zelenski").
            near = process.extractOne(
                term.match,
                stats.surface,
                scorer=OSA.normalized_similarity,
                score_cutoff=TYPO_CUTOFF,
            )
            if near is not None and _same_start(term.match, near[0]):
                covered += term.weight * near[1]
                count += 1
    return covered, count


def _lexical(asked: frozenset[str], stats: TextStats, view: View) -> float:
    """bm25 of the candidate's text for the question's words, with the view's statistics (as
    FTS5 computes it: column-weighted frequency, length against the view's average)."""
    score = 0.0
    norm = BM25_K1 * (1 - BM25_B + BM25_B * stats.length / view.average_length)
    for key in asked:
        frequency = stats.frequency.get(key)
        if frequency:
            n = max(0, view.document_frequency(key))
            idf = max(1e-6, math.log((view.size - n + 0.5) / (n + 0.5)))
            score += idf * frequency * (BM25_K1 + 1) / (frequency + norm)
    return score


def _resemblance(asked: frozenset[str], stats: TextStats, view: View) -> float:
    """How much of the section's title or best alias the question says, weighted by rarity.

    "what's happening at the berlin talks" says all of "What are the Berlin talks?", and only
    a little of "What happened in earlier peace talks?".
    """
    if not asked:
        return 0.0
    best = 0.0
    for keys in stats.names:
        best = max(best, _said(asked, keys, view))
    for keys in stats.taught:
        # A taught question is a member's wording, not a name the topic goes by: a question
        # that says only part of it ("join nato" of "protected if it doesn't join nato") may
        # mean another topic.
        said = _said(asked, keys, view)
        if said >= TAUGHT_WHOLE:
            best = max(best, said)
    return best


def _said(asked: frozenset[str], keys: frozenset[str], view: View) -> float:
    """The share of a name's weight (its words' rarity) the question says."""
    if keys.isdisjoint(asked):
        return 0.0
    total = sum(view.weight(k) for k in keys)
    return sum(view.weight(k) for k in keys & asked) / total if total > 0 else 0.0


def rank(
    query: Query, candidates: Sequence[Candidate], view: View, limit: int = RESULTS
) -> SearchResult:
    """Rescore the candidates; the top one is the answer if it is confident.

    Confidence needs most of the question's known words in the section, and either two of them
    or nothing in the question the pack has never heard of: one shared word ("the purpose of
    life", "berlin flights") is not enough to brief someone on the wrong thing. The question
    must also say some of the section's title or an alias (words found only in the body, as in
    "security deposit back", are not enough); a question that says (nearly) the whole of a
    title or alias is confident even when it adds other words the section does not hold.
    """
    if not candidates:
        return SearchResult(query.text, None, ())
    known = sum(t.weight for t in query.terms if t.match)
    unknown = sum(1 for t in query.terms if t.match is None)
    asked = query.keys
    lexical = [_lexical(asked, c.stats, view) for c in candidates]
    best_lexical = max(lexical) or 1.0
    unknown_weight = view.weight("") * UNKNOWN_WEIGHT
    scored = []
    for candidate, bm25 in zip(candidates, lexical, strict=True):
        covered, count = _matched(query, candidate.stats)
        coverage = covered / known if known else 0.0
        resemblance = _resemblance(asked, candidate.stats, view)
        score = W_COVERAGE * coverage + W_NAME * resemblance + W_LEXICAL * bm25 / best_lexical
        share = covered / (known + unknown * unknown_weight) if known else 0.0
        sure = (
            (coverage >= CONFIDENT_COVERAGE or resemblance >= CONFIDENT_WHOLE_NAME)
            and share >= CONFIDENT_SHARE
            and resemblance >= CONFIDENT_SOME_NAME
            and (count >= CONFIDENT_WORDS or (unknown == 0 and resemblance >= CONFIDENT_NAME))
        ) or (count >= CONFIDENT_WORDS and unknown == 0 and coverage >= CONFIDENT_ALL_WORDS)
        scored.append((score, sure, candidate.topic))
    scored.sort(key=lambda t: (-t[0], t[2].position, t[2].slug))
    results = tuple(
        Hit(t.id, t.slug, t.title, round(score, SCORE_DIGITS)) for score, _, t in scored[:limit]
    )
    top_score, top_sure, _ = scored[0]
    confident = top_sure and top_score >= CONFIDENT_SCORE
    return SearchResult(query.text, results[0] if confident else None, results)


# The curated index, as the search reads it (`SectionStore.matching`): the best matches of a
# lookup, at most `limit` of them, best first, leaving out the sections of the given ids.
FullText = Callable[[Lookup, int, Sequence[int]], Awaitable[list[FtsHit]]]


class Searcher:
    """Runs the pipeline for one question: the curated index through `full_text` (any store's:
    it is given lookups, not an index's syntax), a server's own sections in memory, both
    rescored with that server's view."""

    def __init__(self, full_text: FullText, catalog: Catalog) -> None:
        self._full_text = full_text
        self.catalog = catalog

    async def search(
        self, question: str, guild_id: int | None, limit: int = RESULTS
    ) -> SearchResult:
        view = self.catalog.view(guild_id)
        taught = view.taught_answer(question)
        query = build_query(question, view)
        own = sorted(
            view.own_candidates(query),
            key=lambda c: (-_lexical(query.keys, c.stats, view), c.topic.position),
        )[:RESCORED]
        hits: list[FtsHit] = []
        for lookup in query.lookups:
            hits = await self._full_text(lookup, LOOKUP_CANDIDATES, view.excluded)
            if len(hits) + len(own) >= MIN_HITS:
                break
        curated = [
            Candidate(view.shared.topics[h.section_id], view.shared.stats(h))
            for h in hits[:RESCORED]
            if h.section_id in view.shared.topics
        ]
        result = rank(query, curated + own, view, limit)
        if taught is not None:
            # Asked as taught: that topic is the answer, the rest of the ranking follows it.
            hit = Hit(taught.id, taught.slug, taught.title, 1.0)
            others = tuple(h for h in result.results if h.section_id != taught.id)
            result = SearchResult(question, hit, (hit, *others)[:limit])
        return dataclasses.replace(result, read={h.section_id: h.section for h in hits})

    def closest_topics(
        self,
        result: SearchResult,
        guild_id: int | None,
        count: int = SUGGESTIONS,
        leave_out: Collection[int] = (),
    ) -> list[Topic]:
        """Topics to offer when there is no confident answer (or the answer missed): the best
        hits, then the rotation, none of the ids in `leave_out`."""
        view = self.catalog.view(guild_id)
        hits = [h for h in result.results if h.section_id not in leave_out][:count]
        chosen = [t for h in hits if (t := view.topic(h.section_id))]
        for topic in view.iter_visible():
            if len(chosen) >= count:
                break
            if topic.id not in leave_out and topic not in chosen:
                chosen.append(topic)
        return chosen
