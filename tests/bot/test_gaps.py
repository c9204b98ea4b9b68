"""The gaps report's grouping: near-duplicates together, different questions apart, counts exact."""

from __future__ import annotations

import random

from bot.gaps import Gap, group_asked, group_gaps
from bot.store.asks import Asked


def nonsense(rng: random.Random, count: int) -> list[str]:
    """`count` distinct made-up words of seven letters, alike in nothing but their length."""
    found: dict[str, None] = {}
    while len(found) < count:
        found["".join(rng.choice("bcdfghjklmnprstvz") + rng.choice("aeiou") for _ in range(3))] = (
            None
        )
    return list(found)


def test_gaps_group_similar_questions_most_asked_first() -> None:
    gaps = group_gaps(
        [
            "where is the cafeteria",
            "Parking permit?",
            "where is the cafeteria?",
            "Where's the cafeteria",
            "where is the cafeteria",
            "???",  # no words: not a gap
            "parking permit",
        ]
    )
    assert gaps == [
        Gap(
            "where is the cafeteria",
            4,
            ("where is the cafeteria", "where is the cafeteria?", "Where's the cafeteria"),
        ),
        Gap("parking permit", 2, ("Parking permit?", "parking permit")),  # the shorter wording
    ]


def test_gaps_of_equal_count_sort_by_question_and_nothing_asked_is_no_gap() -> None:
    assert group_gaps([]) == []
    assert group_asked([]) == []
    assert [g.question for g in group_gaps(["zebra crossing", "apple harvest"])] == [
        "apple harvest",
        "zebra crossing",
    ]


def test_counted_questions_keep_their_counts_the_most_asked_wording_and_the_first_asked() -> None:
    gaps = group_asked(
        [
            Asked("Where is the cafeteria?", 40_000, 5),
            Asked("where is the cafeteria", 3, 1),
            Asked("  where is the cafeteria  ", 2, 7),  # the same text once cleaned
            Asked("wher is the cafeteria", 2, 9),
            Asked("parking permit", 10, 2),
            Asked("?!", 99, 0),
        ]
    )
    assert gaps == [
        Gap(
            "Where is the cafeteria?",
            40_007,
            ("where is the cafeteria", "Where is the cafeteria?", "wher is the cafeteria"),
        ),
        Gap("parking permit", 10, ("parking permit",)),
    ]


def test_many_wordings_of_two_questions_among_thousands_of_others_are_counted_exactly() -> None:
    rng = random.Random(12)
    corridor = {
        "What is the grain corridor?": 300,
        "what is the grain corridor": 400,
        "whats the grain corridor??": 300,
        "what is the grian corridor": 300,  # a typo in its rarest word
        "eli5 the grain corridor": 200,
    }
    bread = {"How to bake sourdough bread?": 250, "how do I bake sourdough bread": 200}
    bread["bake sourdough bred"] = 150
    made_up = nonsense(rng, 4500)
    others = [" ".join(made_up[i : i + 3]) + "?" for i in range(0, 4500, 3)]
    asked = [q for wordings in (corridor, bread) for q, n in wordings.items() for _ in range(n)]
    asked += others
    rng.shuffle(asked)
    gaps = group_gaps(asked)
    in_order = list(dict.fromkeys(asked))
    assert gaps[:2] == [
        Gap("what is the grain corridor", 1500, tuple(q for q in in_order if q in corridor)[:3]),
        Gap("How to bake sourdough bread?", 600, tuple(q for q in in_order if q in bread)[:3]),
    ]
    assert len(gaps) == 2 + len(others)
    assert {g.count for g in gaps[2:]} == {1}
    assert sum(g.count for g in gaps) == len(asked)


def test_questions_sharing_only_a_common_word_stay_apart_and_its_wordings_still_meet() -> None:
    # Hundreds of groups hold "ukraine": a wording of one of them meets its group through its
    # rarer words, however many other groups share the common one.
    rng = random.Random(5)
    made_up = nonsense(rng, 800)
    others = [f"ukraine {made_up[i]} {made_up[i + 1]}" for i in range(0, 800, 2)]
    wordings = [
        "Ukraine and the NATO membership",
        "ukraine nato membership?",
        "ukrane nato membership",
    ]
    gaps = group_gaps([*others, *wordings, "ukraine nato membership?", *others[:10]])
    assert gaps[0] == Gap("ukraine nato membership?", 4, tuple(wordings))
    assert [g.count for g in gaps[1:11]] == [2] * 10
    assert len(gaps) == 1 + len(others)
