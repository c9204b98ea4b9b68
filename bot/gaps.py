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
aside), the most asked of them first: two wordings of one question share their rare words, and
two questions that share only common ones ("russia", "nato") are rarely the same question. How
many groups it meets is bounded too (MAX_CANDIDATES through one word, and COMPARISONS in all,
shared out as the questions are placed), so 100,000 questions asked in 40,000 texts cost a few
hundred thousand comparisons, and even 100,000 texts all different at most about a million.
"""

from __future__ import annotations

import bisect
import sys
import time
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
MIN_CANDIDATES = 8  # ... and at least, however little of the budget is left
COMPARISONS = 1_000_000  # shared out over the questions still to place, the most asked first

# -- sharing the interpreter with the event loop --
# In a worker thread (when the database is in memory, so no other process can read it) the
# grouping shares the interpreter, and one Python thread runs at a time: a busy thread keeps
# the turn for 5 ms (sys.getswitchinterval) before a waiting one gets it, and an answer on the
# event loop waits for a turn at every step (each database reply, each wake-up). So there the
# grouping gives its turn away itself, after each slice of work; a process of its own needs not.
WORK_SLICE_S = 0.00025  # work between two pauses
PAUSE_S = 0.00005  # long enough for a waiting thread to take the turn


@dataclass(frozen=True, slots=True)
class Gap:
    """A group of unanswered questions: its most asked wording, how many asked, examples."""

    question: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GapsReport:
    """What the gaps report shows: the most asked groups, and how many there are in all."""

    gaps: tuple[Gap, ...]  # the most asked groups, most asked first, at most the `top` asked for
    groups: int  # every group found
    asked: int  # every question counted in them (one without a word is no gap)


def report_gaps(asked: Iterable[Asked], top: int, *, share_interpreter: bool = True) -> GapsReport:
    """`group_asked`, cut to the `top` most asked groups, with the totals."""
    gaps = group_asked(asked, share_interpreter=share_interpreter)
    return GapsReport(tuple(gaps[:top]), len(gaps), sum(g.count for g in gaps))


class _Pauses:
    """Called once per item of work: sleeps PAUSE_S after every WORK_SLICE_S of it (or never,
    when the grouping has its interpreter to itself)."""

    def __init__(self, share_interpreter: bool = True) -> None:
        self.share = share_interpreter
        self.until = time.perf_counter() + WORK_SLICE_S

    def __call__(self) -> None:
        if self.share and time.perf_counter() >= self.until:
            time.sleep(PAUSE_S)
            self.until = time.perf_counter() + WORK_SLICE_S


def group_gaps(questions: Sequence[str]) -> list[Gap]:
    """Questions in the order they were asked, grouped by similarity, most asked first."""
    counts = Counter(questions)
    first: dict[str, int] = {}
    for position, question in enumerate(questions):
        first.setdefault(question, position)
    return group_asked(Asked(q, n, first[q]) for q, n in counts.items())


def group_asked(asked: Iterable[Asked], *, share_interpreter: bool = True) -> list[Gap]:
    """Distinct questions with how often each was asked, grouped by similarity, most asked
    first (ties by question). Questions without a word are left out. `share_interpreter`:
    pause every WORK_SLICE_S for the other threads (see PAUSE_S).

    Wordings and questions are numbered and described by parallel lists of numbers rather
    than an object each: tens of thousands of objects would wake the garbage collector, whose
    full passes stop every thread.
    """
    pause = _Pauses(share_interpreter)
    texts, counts, firsts = _wordings(asked, pause)
    keys, key_of = _keys(texts, pause)
    key_counts = [0] * len(keys)
    key_firsts = [sys.maxsize] * len(keys)
    for wording, key in enumerate(key_of):
        pause()
        if key >= 0:
            key_counts[key] += counts[wording]
            key_firsts[key] = min(key_firsts[key], firsts[wording])
    group_of = _cluster(keys, key_counts, key_firsts, pause)
    return _gaps(texts, counts, firsts, key_of, group_of, pause)


def _wordings(asked: Iterable[Asked], pause: _Pauses) -> tuple[list[str], list[int], list[int]]:
    """Each cleaned text once: the texts, how often each was asked, each one's first asking."""
    number: dict[str, int] = {}
    texts: list[str] = []
    counts: list[int] = []
    firsts: list[int] = []
    for question, times, first in asked:
        pause()
        text = clean(question)
        known = number.get(text)
        if known is None:
            number[text] = len(texts)
            texts.append(text)
            counts.append(times)
            firsts.append(first)
        else:
            counts[known] += times
            firsts[known] = min(firsts[known], first)
    return texts, counts, firsts


def _keys(texts: Sequence[str], pause: _Pauses) -> tuple[list[str], list[int]]:
    """The distinct questions (texts reduced to their words: case, punctuation and spacing
    gone), and each text's question (-1 for a text without a word)."""
    number: dict[str, int] = {}
    keys: list[str] = []
    key_of: list[int] = []
    for text in texts:
        pause()
        key = " ".join(words(text))
        if not key:
            key_of.append(-1)
            continue
        known = number.get(key)
        if known is None:
            known = number[key] = len(keys)
            keys.append(key)
        key_of.append(known)
    return keys, key_of


def _blocking_words(key: str) -> tuple[str, ...]:
    """The words a question is found by: its content words, or all of them if it has none."""
    every = tuple(dict.fromkeys(key.split()))
    return tuple(w for w in every if w not in STOPWORDS) or every


def _cluster(
    keys: Sequence[str], counts: Sequence[int], firsts: Sequence[int], pause: _Pauses
) -> list[int]:
    """Each question's group: leader clustering, most asked first, each question meeting the
    groups that share one of its rarest words (see the module's docstring)."""
    # Most asked first, first asked first on a tie: sorted a count at a time, since one sort of
    # every question would keep the turn for milliseconds.
    asked_as_often: dict[int, list[int]] = {}
    for question, count in enumerate(counts):
        pause()
        asked_as_often.setdefault(count, []).append(question)
    order: list[int] = []
    for count in sorted(asked_as_often, reverse=True):
        pause()
        order += sorted(asked_as_often[count], key=firsts.__getitem__)
    found_by = []
    spread: Counter[str] = Counter()  # how many questions hold each word
    for key in keys:
        pause()
        block = _blocking_words(key)
        found_by.append(block)
        spread.update(block)
    group_of = [-1] * len(keys)
    leaders: list[str] = []  # each group's first (most asked) question
    holding: dict[str, list[int]] = {}  # word -> the groups whose leader holds it, oldest first
    budget = COMPARISONS
    for placed, question in enumerate(order):
        pause()
        key, block = keys[question], found_by[question]
        share = budget // (len(order) - placed)
        allowed = max(MIN_CANDIDATES, min(MAX_CANDIDATES, share))
        # The rarest word's groups first: a wording of a known question nearly always meets
        # its group there, so the commoner word's (longer) list is read only on a miss.
        for word in sorted(block, key=spread.__getitem__)[:BLOCKING_WORDS]:
            met = holding.get(word, [])[:allowed]
            if not met:
                continue
            budget -= len(met)
            best = process.extractOne(
                key,
                [leaders[g] for g in met],
                scorer=fuzz.token_set_ratio,
                score_cutoff=GAP_SIMILARITY,
            )
            if best is not None:
                group_of[question] = met[best[2]]
                break
        else:  # met no group: it leads a new one
            group_of[question] = len(leaders)
            for word in block:
                holding.setdefault(word, []).append(len(leaders))
            leaders.append(key)
    return group_of


def _gaps(
    texts: Sequence[str],
    counts: Sequence[int],
    firsts: Sequence[int],
    key_of: Sequence[int],
    group_of: Sequence[int],
    pause: _Pauses,
) -> list[Gap]:
    """Each group (of each text's question, `group_of[key_of[text]]`) as reported: its most
    asked wording (the shorter, then the first asked, on a tie), its total, and its first
    GAP_EXAMPLES wordings asked; most asked first."""
    groups = max(group_of, default=-1) + 1
    totals = [0] * groups
    shown = [-1] * groups
    shown_rank = [(0, 0, 0)] * groups  # (asked, -length, -first asking) of the wording shown
    earliest: list[list[tuple[int, str]]] = [[] for _ in range(groups)]  # (first asking, text)
    for wording, key in enumerate(key_of):
        pause()
        if key < 0:
            continue
        group = group_of[key]
        totals[group] += counts[wording]
        rank = (counts[wording], -len(texts[wording]), -firsts[wording])
        if shown[group] < 0 or rank > shown_rank[group]:
            shown[group], shown_rank[group] = wording, rank
        examples = earliest[group]
        if len(examples) < GAP_EXAMPLES or firsts[wording] < examples[-1][0]:
            bisect.insort(examples, (firsts[wording], texts[wording]))
            del examples[GAP_EXAMPLES:]
    gaps = [
        Gap(texts[shown[g]], totals[g], tuple(text for _, text in earliest[g]))
        for g in range(groups)
    ]
    gaps.sort(key=lambda g: (-g.count, g.question))
    return gaps
