"""Deterministic synthetic knowledge packs, questions and autocomplete input for the benchmarks.

A pack of n sections is drawn from one seeded `random.Random`, so the same seed and size give
the same pack on every machine and Python 3.11+ version. Words are ranked (function words,
then the common English words of `words.txt` interleaved with the curated pack's own words,
with invented proper nouns spread through the tail) and drawn from a Zipf-like distribution
over the ranks, which is how word frequencies in real text fall off.

Each section has a topic (two to four content words, often with a proper noun) that its title,
aliases and body repeat, as a real briefing section does. The number of invented proper nouns
grows with the pack (200 + n/20) so that a large pack also has a larger vocabulary, as real
collections do (Heaps' law); the English part of the vocabulary is fixed at a few thousand.
"""

from __future__ import annotations

import gc
import itertools
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.core import DEFAULT_SEED
from bot import pack
from bot.sections import SectionContent, Source
from bot.text import STOPWORDS, words

KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"
WORDS_FILE = Path(__file__).resolve().parent / "words.txt"
ZIPF_EXPONENT = 1.05
# Topics (and the words of titles and aliases) come from below the very commonest content
# words, on a flatter curve: sections are about "sanctions" and "grain", rarely about "time".
TOPIC_SKIP = 40
TOPIC_EXPONENT = 0.7
URN_SIZE = 400_000
UPDATED = date(2026, 11, 28)

# The most frequent English function words, most frequent first: they fill roughly half of
# any real text and rank above every content word.
FUNCTION_WORDS = """
the of and to a in is that for it as was with be by on not he this are or his from at which
but have an had they you were their one all we can her has there been if more when will would
who so no its into than them only other some could these then two about also after first new
over what how any most out up such through between those while where because both each during
under before against without since among until within upon our may should must might three
""".split()

TAGS = (
    "peace-process",
    "diplomacy",
    "europe",
    "security",
    "economy",
    "energy",
    "history",
    "elections",
    "military",
    "sanctions",
    "trade",
    "humanitarian",
    "law",
    "technology",
    "climate",
)

VERBS = """
want need sign reject support oppose join leave end win lose block accept fund protect defend
change build break hold keep delay approve rebuild ratify negotiate guarantee recognize
""".split()

ADJECTIVES = """
important controversial fragile urgent difficult likely uncertain risky costly new lasting
contested divided stalled crucial
""".split()

TITLE_TEMPLATES = (
    "What is the {a} {b}?",
    "What are the {a} {b} about?",
    "Why does {p} want the {a} {b}?",
    "How could the {a} {b} affect {p}?",
    "Who is behind the {a} {b}?",
    "What happened to the {a} {b} in {p}?",
    "Will {p} {v} the {a} {b}?",
    "What does the {a} {b} mean for {p}?",
    "Why is the {a} {b} so {j}?",
    "How does the {a} {b} work?",
    "When will the {a} {b} end?",
    "Can {p} still {v} the {a} {b} {c}?",
    "Is the {a} {b} {c} {j}?",
    "What would a {a} {b} {c} mean for {p}?",
)

ALIAS_TEMPLATES = (
    "{a} {b}",
    "the {a} {b}",
    "{p} {a}",
    "{a} {b} {c}",
    "{p} {a} {b}",
    "the {a} {x}",
    "{a} {x} {b}",
    "why {p} {v} {a}",
    "is the {a} {b} {j}",
    "{a} and {x}",
    "{p} and the {a} {b}",
    "{a} in {p}",
    "what about the {a} {b}",
)

# Questions the pack must not answer: their words are kept out of the generated vocabulary.
OFFTOPIC_TEMPLATES = (
    "how do I bake {food}?",
    "best {food} in town",
    "what's the weather tomorrow",
    "who won the {sport} game last night",
    "how to tune a {instrument}",
    "recommend a good {instrument} teacher",
    "is {food} healthy",
    "{sport} scores",
    "hello",
    "asdf",
    "lol",
    "can you help me with my homework",
    "qwerty zxcvb plomf",
    "where can I buy cheap {food}",
    "how many calories are in {food}",
)
OFFTOPIC_WORDS = {
    "food": ["bread", "pizza", "pasta", "sourdough", "chocolate cake", "cookies", "sushi"],
    "sport": ["football", "basketball", "baseball", "tennis", "hockey", "golf", "cricket"],
    "instrument": ["guitar", "piano", "violin", "saxophone", "trumpet", "ukulele"],
}
OFFTOPIC_VOCABULARY = (
    frozenset(
        w
        for template in OFFTOPIC_TEMPLATES
        for w in words(template.format(food="", sport="", instrument=""))
    )
    | {w for options in OFFTOPIC_WORDS.values() for o in options for w in words(o)}
    | {
        "weather",
        "recipe",
        "homework",
        "calories",
        "cheap",
        "teacher",
        "scores",
        "game",
        "healthy",
        "town",
        "bake",
        "tune",
    }
)

QUESTION_OPENERS = ("", "", "", "eli5 ", "so ", "can someone explain ", "quick question: ", "hey ")

_ONSETS = "b d k l m n r s t v z br dr kr st tr gr pl sk zh".split()
_VOWELS = "a e i o u a e o ai ei ou ia".split()
_CODAS = ["", "", "", "n", "r", "s", "l", "k", "v", "nd", "sk", "rt"]
_SUFFIXES = ["", "", "", "", "ia", "ovo", "grad", "stan", "heim", "burg", "ville", "ar"]


def english_words() -> list[str]:
    """The bundled common English content words, most frequent first, without duplicates."""
    found: dict[str, None] = {}
    for line in WORDS_FILE.read_text("utf-8").splitlines():
        if line.startswith("#"):
            continue
        for word in line.split():
            found.setdefault(word.lower(), None)
    return list(found)


def curated_pack() -> list[SectionContent]:
    return pack.load_pack(KNOWLEDGE_DIR)


def curated_words(curated: Sequence[SectionContent]) -> list[str]:
    """The curated pack's words, most frequent first (ties alphabetically)."""
    counts: Counter[str] = Counter()
    for content in curated:
        counts.update(words(" ".join([content.title, *content.aliases, content.body])))
    return [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def invented_names(count: int, rng: random.Random, taken: set[str]) -> list[str]:
    """`count` distinct pronounceable proper nouns ("Dreikovo", "Valstan") not in `taken`."""
    names: dict[str, None] = {}
    for _ in range(count * 50):
        if len(names) >= count:
            break
        syllables = rng.choice((2, 2, 2, 3))
        word = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + (rng.choice(_CODAS) if i else "")
            for i in range(syllables)
        )
        word += rng.choice(_SUFFIXES)
        if 4 <= len(word) <= 14 and word not in taken and word not in names:
            names[word] = None
    return list(names)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Ranked words and the cumulative Zipf weights used to draw them."""

    ranked: list[str]  # every word, commonest first
    urn: list[str]  # `ranked` with each word repeated in proportion to its Zipf weight
    content: list[str]  # the words topics, titles and aliases are made of
    content_urn: list[str]
    names: frozenset[str]
    name_list: tuple[str, ...]
    display: dict[str, str]  # how a word is written: proper nouns capitalised

    def draw(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.urn, k=k)

    def draw_content(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.content_urn, k=k)


def _zipf_urn(ranked: Sequence[str], exponent: float, size: int = URN_SIZE) -> list[str]:
    """Each word repeated ~size * weight times (at least once): drawing from it uniformly is
    drawing from the Zipf distribution, several times faster than weighted `choices`."""
    weights = [1.0 / (rank + 1) ** exponent for rank in range(len(ranked))]
    scale = size / sum(weights)
    urn: list[str] = []
    for word, weight in zip(ranked, weights, strict=True):
        urn.extend(itertools.repeat(word, max(1, round(weight * scale))))
    return urn


def build_vocabulary(
    curated: Sequence[SectionContent], names_count: int, rng: random.Random
) -> Vocabulary:
    english = [w for w in english_words() if w not in OFFTOPIC_VOCABULARY]
    own = [w for w in curated_words(curated) if w not in OFFTOPIC_VOCABULARY and w.isalpha()]
    function = list(dict.fromkeys(FUNCTION_WORDS))
    taken = set(function)
    content: list[str] = []
    # Interleave: two English words, then one of the pack's own, until both run out.
    english_iter, own_iter = iter(english), iter(own)
    for group in itertools.zip_longest(english_iter, english_iter, own_iter):
        for word in group:
            if word is not None and word not in taken and word not in STOPWORDS:
                taken.add(word)
                content.append(word)
    names = invented_names(names_count, rng, taken)
    # Proper nouns sit in the tail: one in every four ranks after the 400 commonest words.
    mixed = content[:400]
    rest = content[400:]
    name_iter = iter(names)
    for i, word in enumerate(rest):
        mixed.append(word)
        if i % 3 == 0:
            name = next(name_iter, None)
            if name is not None:
                mixed.append(name)
    mixed.extend(name_iter)
    ranked = function + mixed
    name_set = frozenset(names)
    return Vocabulary(
        ranked=ranked,
        urn=_zipf_urn(ranked, ZIPF_EXPONENT),
        content=mixed[TOPIC_SKIP:],
        content_urn=_zipf_urn(mixed[TOPIC_SKIP:], TOPIC_EXPONENT),
        names=name_set,
        name_list=tuple(names),
        display={w: w.capitalize() if w in name_set else w for w in ranked},
    )


class PackGenerator:
    """Builds synthetic sections one after another; slugs stay unique within one generator."""

    def __init__(self, seed: int = DEFAULT_SEED, curated: Sequence[SectionContent] = ()) -> None:
        self.seed = seed
        self.curated = list(curated)

    def generate(self, count: int) -> list[SectionContent]:
        rng = random.Random(f"{self.seed}:{count}")
        vocabulary = build_vocabulary(self.curated, 200 + count // 20, rng)
        slugs = {c.slug for c in self.curated}
        start = max((c.position for c in self.curated), default=0) + 1
        enabled = gc.isenabled()
        gc.disable()  # a few million short strings: collections would only slow this down
        try:
            return [self._section(rng, vocabulary, slugs, start + i) for i in range(count)]
        finally:
            if enabled:
                gc.enable()

    def _section(
        self, rng: random.Random, vocabulary: Vocabulary, slugs: set[str], position: int
    ) -> SectionContent:
        topic = list(dict.fromkeys(vocabulary.draw_content(rng, rng.randint(3, 5))))
        while len(topic) < 3:
            topic.append(vocabulary.draw_content(rng, 1)[0])
        names = vocabulary.name_list
        proper = rng.choice(names) if rng.random() < 0.7 and names else topic[-1]
        display = vocabulary.display
        slots = {
            "a": display[topic[0]],
            "b": display[topic[1]],
            "c": display[topic[2]],
            "p": display[proper],
        }

        def fill(template: str) -> str:
            if "{x}" in template:
                slots["x"] = display[vocabulary.draw_content(rng, 1)[0]]
            return template.format(v=rng.choice(VERBS), j=rng.choice(ADJECTIVES), **slots)

        title = fill(rng.choice(TITLE_TEMPLATES))
        title = title[0].upper() + title[1:]
        aliases: dict[str, str] = {}
        wanted = rng.randint(3, 12)
        for _ in range(wanted * 4):
            if len(aliases) >= wanted:
                break
            alias = fill(rng.choice(ALIAS_TEMPLATES))
            if alias.casefold() != title.casefold():
                aliases.setdefault(alias.casefold(), alias)
        body = self._body(rng, vocabulary, [*topic, proper])
        tags = tuple(dict.fromkeys(rng.choices(TAGS, k=rng.randint(1, 3))))
        slug = self._slug(topic, proper, slugs)
        return SectionContent(
            slug=slug,
            title=title,
            body=body,
            aliases=tuple(aliases.values()),
            tags=tags,
            sources=(Source("Background reading", f"https://example.org/briefing/{slug}"),),
            updated=UPDATED,
            position=position,
        )

    @staticmethod
    def _body(rng: random.Random, vocabulary: Vocabulary, topic: list[str]) -> str:
        """60-110 words in sentences of 8-20; about one word in twelve is the topic's."""
        total = rng.randint(60, 110)
        drawn = vocabulary.draw(rng, total)
        for i in rng.sample(range(total), total // 12):
            drawn[i] = rng.choice(topic)
        display = vocabulary.display
        shown = [display[w] for w in drawn]
        sentences: list[str] = []
        i = 0
        while i < total:
            length = min(rng.randint(8, 20), total - i)
            chunk = shown[i : i + length]
            if length > 10 and rng.random() < 0.5:
                chunk[rng.randint(3, length - 3)] += ","
            sentence = " ".join(chunk)
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
            i += length
        return " ".join(sentences)

    @staticmethod
    def _slug(topic: list[str], proper: str, slugs: set[str]) -> str:
        parts = [w.lower() for w in dict.fromkeys([*topic[:3], proper])]
        for size in range(2, len(parts) + 1):
            slug = "-".join(parts[:size])[:60].strip("-")
            if slug not in slugs:
                slugs.add(slug)
                return slug
        base = "-".join(parts[:3])[:54].strip("-")
        for n in itertools.count(2):
            slug = f"{base}-{n}"
            if slug not in slugs:
                slugs.add(slug)
                return slug
        raise AssertionError("unreachable")


def generate_pack(
    count: int, seed: int = DEFAULT_SEED, curated: Sequence[SectionContent] | None = None
) -> list[SectionContent]:
    """`count` synthetic sections whose slugs do not collide with the curated pack's."""
    return PackGenerator(seed, curated_pack() if curated is None else curated).generate(count)


# -- what members type -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    kind: str  # on-topic | typo | off-topic
    text: str
    expect: str | None  # the slug it was made from (None for off-topic)


_KEYBOARD = {
    c: n
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, c in enumerate(row)
    for n in [row[max(0, i - 1)] + row[min(len(row) - 1, i + 1)]]
}


def typo(word: str, rng: random.Random) -> str:
    """One hurried-typing mistake: swapped, dropped, doubled or neighbouring-key letter."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randint(1, len(word) - 2)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    near = _KEYBOARD.get(word[i].lower(), "e")
    return word[:i] + rng.choice(near) + word[i + 1 :]


def _typo_text(text: str, rng: random.Random, count: int) -> str:
    tokens = text.split()
    candidates = [i for i, t in enumerate(tokens) if len(t) >= 4 and t.isalpha()]
    for i in rng.sample(candidates, min(count, len(candidates))):
        tokens[i] = typo(tokens[i], rng)
    return " ".join(tokens)


def _on_topic(content: SectionContent, rng: random.Random) -> str:
    """A title or alias, lower-cased, with up to two of its words dropped."""
    name = (
        content.title if rng.random() < 0.5 or not content.aliases else rng.choice(content.aliases)
    )
    tokens = name.rstrip("?").split()
    drop = min(rng.choice((0, 1, 1, 2)), max(0, len(tokens) - 2))
    for _ in range(drop):
        tokens.pop(rng.randrange(len(tokens)))
    text = rng.choice(QUESTION_OPENERS) + " ".join(tokens)
    if rng.random() < 0.5:
        text += "?"
    return text.lower() if rng.random() < 0.7 else text


def _off_topic(rng: random.Random) -> str:
    template = rng.choice(OFFTOPIC_TEMPLATES)
    return template.format(**{k: rng.choice(v) for k, v in OFFTOPIC_WORDS.items()})


def make_questions(
    sections: Sequence[SectionContent], count: int, seed: int = DEFAULT_SEED
) -> list[Question]:
    """`count` questions: about half on topic, a quarter with typos, a quarter off topic."""
    rng = random.Random(f"{seed}:questions:{len(sections)}")
    found = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.5:
            content = rng.choice(sections)
            found.append(Question("on-topic", _on_topic(content, rng), content.slug))
        elif roll < 0.75:
            content = rng.choice(sections)
            text = _typo_text(_on_topic(content, rng), rng, rng.choice((1, 1, 2)))
            found.append(Question("typo", text, content.slug))
        else:
            found.append(Question("off-topic", _off_topic(rng), None))
    return found


def make_partials(
    sections: Sequence[SectionContent], count: int, seed: int = DEFAULT_SEED
) -> list[str]:
    """What is in the autocomplete box as it is typed: prefixes, typos, empty and stray input."""
    rng = random.Random(f"{seed}:partials:{len(sections)}")
    found = []
    for _ in range(count):
        roll = rng.random()
        content = rng.choice(sections)
        name = rng.choice((content.title, *content.aliases))
        if roll < 0.45:  # a prefix cut mid-word
            found.append(name[: rng.randint(1, len(name))])
        elif roll < 0.55:  # whole words typed, then a space
            tokens = name.split()
            found.append(" ".join(tokens[: rng.randint(1, len(tokens))]) + " ")
        elif roll < 0.75:  # a prefix with a typo
            tokens = name.split()
            found.append(_typo_text(" ".join(tokens[: rng.randint(1, len(tokens))]), rng, 1))
        elif roll < 0.85:  # one short word start
            word = rng.choice(name.split())
            found.append(word[: rng.randint(2, max(2, min(5, len(word))))])
        elif roll < 0.92:
            found.append(rng.choice(("", " ")))
        else:
            found.append(_off_topic(rng)[: rng.randint(3, 20)])
    return found


def body_lengths(sections: Sequence[SectionContent]) -> tuple[float, float]:
    """Mean body length in words and in characters."""
    if not sections:
        return 0.0, 0.0
    return (
        sum(len(s.body.split()) for s in sections) / len(sections),
        sum(len(s.body) for s in sections) / len(sections),
    )
