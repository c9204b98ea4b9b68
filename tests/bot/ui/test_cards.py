"""The topic list's pages and the text splitter behind answer cards."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from bot.sections import Section, SectionContent, Source
from bot.ui.cards import (
    COLOUR,
    no_answer_text,
    section_cards,
    source_values,
    split_text,
    topics_embed,
)
from bot.ui.fit import AUTHOR_LIMIT, DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT
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


# -- answer cards -----------------------------------------------------------------------------


def card_section(body: str = "Body.", sources: tuple[Source, ...] = ()) -> Section:
    content = SectionContent(
        slug="berlin-talks",
        title="What are the Berlin talks?",
        body=body,
        sources=sources,
        updated=date(2026, 11, 28),
    )
    return Section(1, None, content, "active", 1)


def test_a_short_section_is_one_card_of_one_embed() -> None:
    [card] = section_cards(card_section("Talks in Berlin."))
    [embed] = card.embeds
    assert (embed.title, embed.description, embed.colour) == (
        "What are the Berlin talks?",
        "Talks in Berlin.",
        COLOUR,
    )
    assert embed.footer.text == "Updated 2026-11-28"
    assert embed.author.name is None and embed.fields == []


def test_a_header_is_the_author_line_cut_to_its_limit() -> None:
    [card] = section_cards(card_section(), header="Today's briefing")
    assert card.embeds[0].author.name == "Today's briefing"
    [card] = section_cards(card_section(), header="h" * 300)
    assert len(card.embeds[0].author.name or "") <= AUTHOR_LIMIT


def test_a_long_body_goes_on_in_continued_cards_and_keeps_every_word() -> None:
    body = "\n\n".join(f"Paragraph {n}. " + "word " * 150 for n in range(12))
    cards = section_cards(card_section(body))
    embeds = [embed for card in cards for embed in card.embeds]
    assert len(cards) == len(embeds) > 1
    assert embeds[0].title == "What are the Berlin talks?"
    assert {e.title for e in embeds[1:]} == {"What are the Berlin talks? (continued)"}
    assert all(len(e.description or "") <= DESCRIPTION_LIMIT for e in embeds)
    assert " ".join(e.description or "" for e in embeds).split() == body.split()
    assert [e.footer.text for e in embeds] == [None] * (len(embeds) - 1) + ["Updated 2026-11-28"]
    for embed in embeds:
        assert message_errors({"embeds": [embed.to_dict()]}) == {}


def test_an_empty_body_still_makes_a_card() -> None:
    [card] = section_cards(card_section(""))
    assert card.embeds[0].description == "-"


def test_sources_close_the_last_card_as_links() -> None:
    sources = (
        Source("Reuters", "https://example.org/r"),
        Source("A *bold* claim", "https://example.org/a b"),
    )
    [card] = section_cards(card_section(sources=sources))
    [field] = card.embeds[0].fields
    assert field.name == "Sources"
    assert field.value == (
        "[Reuters](https://example.org/r)\n[A \\*bold\\* claim](https://example.org/a%20b)"
    )


def test_source_values_pack_the_links_into_as_few_fields_as_fit() -> None:
    sources = tuple(
        Source(f"Source {n} " + "t" * 80, f"https://example.org/{n}") for n in range(30)
    )
    values = source_values(card_section(sources=sources))
    assert len(values) > 1
    assert all(len(v) <= FIELD_VALUE_LIMIT for v in values)
    lines = [line for value in values for line in value.split("\n")]
    assert [line.split("](")[1] for line in lines] == [
        f"https://example.org/{n})" for n in range(30)
    ]
    # Packed: no value could have taken the next one's first line.
    for value, following in itertools.pairwise(values):
        assert len(value) + 1 + len(following.split("\n")[0]) > FIELD_VALUE_LIMIT
    assert source_values(card_section()) == []


def test_many_sources_go_on_in_fields_and_cards_that_fit() -> None:
    sources = tuple(Source("s" * 200, f"https://example.org/{'p' * 700}/{n}") for n in range(40))
    cards = section_cards(card_section("Body.", sources))
    embeds = [embed for card in cards for embed in card.embeds]
    names = [f.name for e in embeds for f in e.fields]
    assert names[0] == "Sources" and set(names[1:]) == {"Sources (continued)"}
    assert len(names) == 40  # one 900-character link per field here
    for embed in embeds:
        assert message_errors({"embeds": [embed.to_dict()]}) == {}
    assert embeds[-1].footer.text == "Updated 2026-11-28"


def test_no_answer_text_quotes_the_question_escaped_on_one_line() -> None:
    text = no_answer_text("what is  *this*\n@everyone")
    assert text.splitlines() == [
        "I don't have a briefing on that yet. I've noted the question for the moderators.",
        "> what is \\*this\\* @\u200beveryone",  # a mention echoed, never a ping
        "Here are the closest topics:",
    ]
