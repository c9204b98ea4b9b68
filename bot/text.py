"""Normalising user text at the boundary, and splitting it into words with rapidfuzz's processor."""

from __future__ import annotations

import functools
import unicodedata

import snowballstemmer
from rapidfuzz.utils import default_process

# Function words carry no topic: they are left out of matching and of the confidence measure.
STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each eli5 else ever few for
    from further had has have having he her here hers herself him himself his how i if in into is
    it its itself just let me more most my myself no nor not now of off on once only or other
    ought our ours ourselves out over own please same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would yet you your yours
    yourself yourselves also really actually anyway whats hows whos tell explain know think mean
    means going get got thing things something someone anything re s t ll ve d m don doesn didn
    isn aren wasn weren won wouldn couldn shouldn cant dont im ive its lol pls plz u ur
    doesnt didnt isnt arent wasnt werent wont wouldnt couldnt shouldnt hasnt havent hadnt
    youre theyre thats theres whens wheres whys hasn haven hadn mustn needn within without
    might must shall may
    """.split()
)


def clean(text: str) -> str:
    """NFC-normalise and strip: the form in which names and slugs are stored and compared."""
    return unicodedata.normalize("NFC", text).strip()


def fold(text: str) -> str:
    """Casefolded, NFC form for case-insensitive equality (slugs, aliases)."""
    return clean(text).casefold()


def words(text: str) -> list[str]:
    """Lower-case alphanumeric words, using rapidfuzz's default processor to drop punctuation."""
    return default_process(unicodedata.normalize("NFC", text)).split()


def content_words(text: str, limit: int = 32) -> list[str]:
    """The distinct non-stopword words of `text`, in order, at most `limit` of them."""
    seen: dict[str, None] = {}
    for word in words(text):
        if word not in STOPWORDS and word not in seen:
            seen[word] = None
            if len(seen) >= limit:
                break
    return list(seen)


_stemmer = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball (Porter 2) stem, so 'negotiating' and 'negotiations' count as one word."""
    return str(_stemmer.stemWord(word))


def stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}
