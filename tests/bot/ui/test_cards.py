"""The topic list's pages and the text splitter behind answer cards."""

from __future__ import annotations

from datetime import date

import pytest

from bot.sections import Section, SectionContent
from bot.ui.cards import split_text, topics_embed
from tests.fakediscord.limits import message_errors


def section(n: int) -> Section:
    content = SectionContent(
        slug=f"topic-{n}", title=f"Topic {n}", body="Body.", aliases=(), updated=date(2026, 1, 1)
    )
    return Section(n, None, content, "active", 1)


@pytest.mark.parametrize(
    ("page", "shown", "first"),
    [(0, 1, 1), (1, 2, 11), (2, 3, 21), (99, 3, 21), (-4, 1, 1)],
)
def test_topics_pages_number_on_and_clamp(page: int, shown: int, first: int) -> None:
    sections = [section(n) for n in range(1, 24)]
    embed, pages = topics_embed(sections, page, 10)
    assert pages == 3
    lines = (embed.description or "").splitlines()
    assert lines[0] == f"**{first}.** Topic {first} — `topic-{first}`"
    assert len(lines) == (3 if shown == 3 else 10)
    assert (embed.footer.text or "").startswith(f"Page {shown} of 3")
    assert message_errors({"embeds": [embed.to_dict()]}) == {}


def test_an_empty_topic_list_has_one_page() -> None:
    embed, pages = topics_embed([], 0, 10)
    assert pages == 1
    assert embed.description == "No topics yet."


def test_split_text_prefers_paragraphs_then_sentences_then_words() -> None:
    text = "First paragraph here.\n\nSecond one. It has two sentences."
    assert split_text(text, 40) == ["First paragraph here.", "Second one. It has two sentences."]
    assert split_text("One sentence here. Another one follows it.", 30) == [
        "One sentence here.",
        "Another one follows it.",
    ]
    pieces = split_text("word " * 50, 32)
    assert all(len(p) <= 32 for p in pieces)
    assert " ".join(pieces).split() == ["word"] * 50


def test_split_text_cuts_a_text_without_spaces_and_keeps_everything() -> None:
    text = "x" * 95
    pieces = split_text(text, 40)
    assert all(len(p) <= 40 for p in pieces)
    assert "".join(pieces) == text
    assert split_text("   ", 10) == []
