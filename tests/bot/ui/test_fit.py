"""The helpers every renderer cuts text with: escape first, cut second, share a budget."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ui.fit import (
    MORE_RESERVE,
    escape,
    escaped,
    lines_within,
    masked_link,
    safe_echo,
    share,
)

PROPERTY = settings(max_examples=50, deadline=None)
HARD = st.text(alphabet=st.sampled_from(list("_*~|>`\\[]()#-@ a\u200dé👍🏽")), max_size=400)


def test_escaping_before_cutting_keeps_lines_within_their_limit() -> None:
    # The old order (cut to 150, then escape) turned 150 underscores into 300 characters.
    shown = escaped("_" * 300, 150)
    assert len(shown) <= 150
    assert shown.endswith("…")
    assert shown.removesuffix("…") == "\\_" * (len(shown) // 2)


@PROPERTY
@given(text=HARD, limit=st.integers(2, 300))
def test_a_cut_never_leaves_half_an_escape(text: str, limit: int) -> None:
    shown = escaped(text, limit)
    assert len(shown) <= limit
    body = shown.removesuffix("…")
    assert (len(body) - len(body.rstrip("\\"))) % 2 == 0
    # What is shown is a prefix of the fully escaped text.
    assert escape(text).startswith(body)


def test_a_backslash_typed_at_the_end_cannot_escape_what_follows() -> None:
    assert escape("name\\") == "name\\\\"
    assert escaped("a" * 10 + "\\" * 9, 15).count("\\") % 2 == 0


def test_mentions_are_defused() -> None:
    text = safe_echo("hi @everyone and @here and <@123456789012345678>\n\nbye")
    assert "@everyone" not in text and "@here" not in text
    assert "<@123456789012345678>" not in text
    assert "\n" not in text


def test_links_survive_brackets_in_the_title_and_parentheses_in_the_url() -> None:
    link = masked_link("[Report] (2024)", "https://example.org/a_(b) c", 200)
    assert link == "[\\[Report\\] (2024)](https://example.org/a_%28b%29%20c)"
    assert masked_link("[a](b)", "https://e.org", 100).startswith("[\\[a\\](b)]")


@PROPERTY
@given(label=HARD, path=st.text(max_size=400), limit=st.integers(30, 1024))
def test_a_link_always_fits_its_limit(label: str, path: str, limit: int) -> None:
    assert len(masked_link(label, "https://example.org/" + path, limit)) <= limit


@PROPERTY
@given(lengths=st.lists(st.integers(0, 5000), max_size=5), room=st.integers(0, 6000))
def test_a_shared_budget_is_never_exceeded_and_short_texts_stay_whole(
    lengths: list[int], room: int
) -> None:
    sizes = share(lengths, room)
    assert sum(sizes) <= room
    assert all(0 <= size <= length for size, length in zip(sizes, lengths, strict=True))
    if sum(lengths) <= room:
        assert sizes == lengths


def test_two_long_texts_share_the_budget_equally() -> None:
    assert share([4000, 4000], 5000) == [2500, 2500]
    assert share([100, 4000], 5000) == [100, 4000]


@PROPERTY
@given(
    lines=st.lists(st.text(max_size=300), max_size=40),
    limit=st.integers(MORE_RESERVE, 4096),
)
def test_lines_within_keeps_whole_lines_and_says_how_many_are_left(
    lines: list[str], limit: int
) -> None:
    shown = lines_within(lines, limit, lambda n: f"… and {n} more")
    assert len(shown) <= limit
    if len("\n".join(lines)) <= limit - MORE_RESERVE:
        assert shown == "\n".join(lines)
