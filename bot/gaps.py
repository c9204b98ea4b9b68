"""The gaps report's grouping: unanswered questions, near-duplicates together, most asked first.

Two questions belong together when their words are at least GAP_SIMILARITY alike
(rapidfuzz's `token_set_ratio`: the same words in any order, one question's words all inside the
other's, or a typo apart). A group is shown by its most asked wording, with its first wordings as
examples.

A busy server asks the same few questions in many wordings, so the work is bounded by the
distinct questions, not by how often they were asked: the store counts repeats of one text, and
texts that reduce to the same words (case, punctuation, spacing) are counted together here. Each
distinct question, most asked first, then joins the most similar group it meets or starts its
own. It meets only the groups that share one of its BLOCKING_WORDS rarest words (stopwords
aside), at most MAX_CANDIDATES of them: two wordings of one question share their rare words,
and two questions that share only common ones ("russia", "nato") are rarely the same
question. So 100,000 questions cost a few hundred thousand comparisons, not billions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.store.asks import Asked
from bot.text import STOPWORDS, clean, words

# -- what counts as one question --
GAP_SIMILARITY = 75.0  # token_set_ratio (0-100) from which two questions are one gap
GAP_EXAMPLES = 3  # wordings shown under a gap, first asked first

# -- how much comparing one distinct question may cost --
BLOCKING_WORDS = 2  # a question meets the groups sharing one of its this-many rarest words
MAX_CANDIDATES = 300  # groups met through one word at most (the most asked ones)


@dataclass(frozen=True, slots=True)
class Gap:
    """A group of unanswered questions: its most asked wording, how many asked, examples."""

    question: str
    count: int
    examples: tuple[str, ...]


@dataclass(slots=True)
class _Wording:
    """One text as shown (cleaned), how often it was asked, and the order of its first asking."""

    text: str
    count: int
    first: int


@dataclass(slots=True)
class _Question:
    """The wordings that reduce to the same words (`key`), with their total and first asking."""

    key: str
    count: int
    first: int
    wordings: list[_Wording]


def group_gaps(questions: Sequence[str]) -> list[Gap]:
    """Questions in the order they were asked, grouped by similarity, most asked first."""
    counts = Counter(questions)
    first: dict[str, int] = {}
    for position, question in enumerate(questions):
        first.setdefault(question, position)
    return group_asked(Asked(q, n, first[q]) for q, n in counts.items())


def group_asked(asked: Iterable[Asked]) -> list[Gap]:
    """Distinct questions with how often each was asked, grouped by similarity, most asked
    first (ties by question). Questions without a word are left out."""
    questions = _distinct(asked)
    groups = _cluster(questions)
    gaps = [_gap(members) for members in groups]
    gaps.sort(key=lambda g: (-g.count, g.question))
    return gaps


def _distinct(asked: Iterable[Asked]) -> list[_Question]:
    """Texts merged by their cleaned form, then by their words; most asked first."""
    wordings: dict[str, _Wording] = {}
    for question, times, first in asked:
        text = clean(question)
        known = wordings.get(text)
        if known is None:
            wordings[text] = _Wording(text, times, first)
        else:
            known.count += times
            known.first = min(known.first, first)
    by_key: dict[str, _Question] = {}
    for wording in wordings.values():
        key = " ".join(words(wording.text))
        if not key:
            continue
        found = by_key.get(key)
        if found is None:
            by_key[key] = _Question(key, wording.count, wording.first, [wording])
        else:
            found.count += wording.count
            found.first = min(found.first, wording.first)
            found.wordings.append(wording)
    return sorted(by_key.values(), key=lambda q: (-q.count, q.first))


def _blocking_words(key: str) -> list[str]:
    """The words a question is found by: its content words, or all of them if it has none."""
    every = list(dict.fromkeys(key.split()))
    return [w for w in every if w not in STOPWORDS] or every


def _cluster(questions: Sequence[_Question]) -> list[list[_Question]]:
    """Leader clustering, most asked first, each question meeting the groups that share one of
    its rarest words (see the module's docstring)."""
    found_by = [_blocking_words(q.key) for q in questions]
    spread = Counter(w for block in found_by for w in block)  # questions holding each word
    groups: list[list[_Question]] = []
    leaders: list[str] = []  # each group's first (most asked) question's words
    holding: dict[str, list[int]] = {}  # word -> the groups whose leader holds it, oldest first
    for question, block in zip(questions, found_by, strict=True):
        best = None
        # The rarest word's groups first: a wording of a known question nearly always meets
        # its group there, so the commoner word's (longer) list is read only on a miss.
        for word in sorted(block, key=spread.__getitem__)[:BLOCKING_WORDS]:
            met = holding.get(word)
            if met:
                met = met[:MAX_CANDIDATES]
                best = process.extractOne(
                    question.key,
                    [leaders[g] for g in met],
                    scorer=fuzz.token_set_ratio,
                    score_cutoff=GAP_SIMILARITY,
                )
                if best is not None:
                    groups[met[best[2]]].append(question)
                    break
        if best is not None:
            continue
        for word in block:
            holding.setdefault(word, []).append(len(groups))
        groups.append([question])
        leaders.append(question.key)
    return groups


def _gap(members: Sequence[_Question]) -> Gap:
    """A group as reported: the most asked wording (the shorter, then the first asked, on a
    tie), the total, and the first GAP_EXAMPLES wordings asked."""
    every = [wording for question in members for wording in question.wordings]
    shown = max(every, key=lambda w: (w.count, -len(w.text), -w.first))
    examples = tuple(w.text for w in sorted(every, key=lambda w: w.first)[:GAP_EXAMPLES])
    return Gap(shown.text, sum(w.count for w in every), examples)
