"""Normalising user text at the boundary, splitting it into words, and cutting it to a length."""

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


ELLIPSIS = "…"
# A cut within the last third (at most this many characters) of the room looks for a space first.
WORD_BACKTRACK = 40


def _extends(char: str) -> bool:
    """True if `char` belongs to the character before it (a mark, joiner, selector, skin tone)."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == "\u200d"
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (flags of regions)
        or 0xE0100 <= code <= 0xE01EF  # more variation selectors
    )


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def grapheme_cut(text: str, index: int) -> int:
    """The nearest place at or before `index` where a cut leaves every visible character whole.

    An approximation of Unicode's grapheme clusters without a dependency: it keeps combining
    marks with their letter, ZWJ emoji sequences and skin tones together, flags (pairs of
    regional indicators) in pairs, and CR LF as one.
    """
    index = max(0, min(index, len(text)))
    while 0 < index < len(text):
        before, after = text[index - 1], text[index]
        if _extends(after) or before == "\u200d" or (before, after) == ("\r", "\n"):
            index -= 1
            continue
        if _regional(before) and _regional(after):
            run = 0
            while index - run > 0 and _regional(text[index - run - 1]):
                run += 1
            if run % 2:
                index -= 1
                continue
        break
    return index


def truncate(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` if it fits in `limit` characters, else a prefix ending in `ellipsis` that does.

    The cut falls after a whole word when one ends near the limit, and never inside a
    character made of several code points (see `grapheme_cut`).
    """
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[: grapheme_cut(text, limit)]
    room = limit - len(ellipsis)
    cut = grapheme_cut(text, room)
    space = max(text.rfind(" ", 0, cut + 1), text.rfind("\n", 0, cut + 1))
    if space > 0 and space >= max(room * 2 // 3, room - WORD_BACKTRACK):
        cut = space
    return text[:cut].rstrip() + ellipsis


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


# Word families (see `family`). Each step rewrites the end of the key, and only when what stays
# is long enough: the length guards are what keep short unrelated words (list/listen,
# corn/corner, numb/number, war/warship, bid/Biden) apart.

# Derivational suffixes Snowball keeps when they fall outside its R2 region, with the shortest
# remainder that is stripped; the remainder is stemmed again (relationship -> relation -> relat).
# Not -hood: likelihood would join like.
FAMILY_SUFFIXES = (("ship", 5), ("ment", 4), ("ist", 6))
# Agent nouns, comparatives and -en verbs: trainer -> train, guarantor -> guarant,
# threaten -> threat. Shortest remainder kept.
FAMILY_AGENT_MIN = 5
# Snowball turns a final -y into -i. A trailing "ri" goes when six letters or more stay
# (weaponri -> weapon, militari -> milita); a final "i" or "e" goes from a key of seven letters on
# (economi -> econom, guarante -> guarant), so policy and treaty keep theirs.
FAMILY_RI_MIN = 6
FAMILY_FINAL_MIN = 7
# (ending, replacement, shortest key) tables; the first matching row applies.
# Adverbs and nouns of -y words, before the trailing -ri / -i / -e is dropped.
FAMILY_Y_ENDINGS = (
    ("arili", "ari", 0),  # militarily / military
    ("ianc", "i", 0),  # alliance / ally, reliance / rely
    ("aci", "at", 6),  # diplomacy / diplomat, democracy / democrat
)
# Latin alternations: one root spelt two ways.
FAMILY_ALTERNATIONS = (
    ("pans", "pand", 6),  # expansion / expand
    ("xtens", "xtend", 0),  # extension / extend
    ("etens", "etend", 0),  # pretence / pretend
    ("fens", "fend", 6),  # defensive / defend (and offensive / offend)
    ("fenc", "fend", 6),  # defence / defend
    ("pons", "pond", 6),  # response / respond
    ("pens", "pend", 6),  # suspension / suspend, expense / expend
    ("hens", "hend", 6),  # comprehension / comprehend
    ("cess", "ced", 6),  # concession / concede, secession / secede
    ("vas", "vad", 4),  # invasion / invade, evasion / evade
    ("vok", "voc", 4),  # provoke / provocation, revoke / revocation
    ("esolut", "esolv", 0),  # resolution / resolve
    ("ssolut", "ssolv", 0),  # dissolution / dissolve
)


def _rewrite_end(key: str, table: tuple[tuple[str, str, int], ...]) -> str:
    for ending, replacement, shortest in table:
        if key.endswith(ending) and len(key) >= shortest:
            return key[: -len(ending)] + replacement
    return key


@functools.lru_cache(maxsize=200_000)
def family(word: str) -> str:
    """A key coarser than `stem`: words of one family share it, so a question may use another
    form of the text's word ("relationship" for "relations", "expanding" for "expansion",
    "guarantors" for "guarantees", "militarily" for "military").

    Computed from the Snowball stem, so words with one stem always share a family. Then, in
    order, each step rewriting the end of the key:

    1. a derivational suffix Snowball left on (-ship, -ment, -ist) is cut and the
       rest stemmed again, and a stem still ending in -ion is stemmed once more
       (expansionism -> expansion -> expans);
    2. an agent, comparative or verb ending (-er, -or, -en) is cut;
    3. the -y words: militarily -> military, alliance -> ally, diplomacy -> diplomat, then a
       trailing -ri, -i or -e of a long key (weaponry -> weapon, economy -> econom);
    4. one Latin alternation of the root (expans -> expand, defens -> defend, concess ->
       conced, invas -> invad, provok -> provoc, resolut -> resolv).

    Each step needs a long enough remainder, so short words keep their own key: community and
    communication, country and count, treaty and treat, policy and police, casualties and
    casual, list and listen stay apart. Known coarse merges, accepted: nation/national and
    secure/securities (Snowball's own), offensive/offend, counter/count, state/statement.
    British -ise and American -ize spellings are not joined.
    """
    key = stem(word)
    for suffix, shortest in FAMILY_SUFFIXES:
        if key.endswith(suffix) and len(key) - len(suffix) >= shortest:
            key = stem(key[: -len(suffix)])
            break
    if key.endswith("ion"):
        key = stem(key)
    if key.endswith(("er", "or", "en")) and len(key) - 2 >= FAMILY_AGENT_MIN:
        key = key[:-2]
    key = _rewrite_end(key, FAMILY_Y_ENDINGS)
    if key.endswith("ri") and len(key) - 2 >= FAMILY_RI_MIN:
        key = key[:-2]
    elif key.endswith(("i", "e")) and len(key) >= FAMILY_FINAL_MIN:
        key = key[:-1]
    return _rewrite_end(key, FAMILY_ALTERNATIONS)
