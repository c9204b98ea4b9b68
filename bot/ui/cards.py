"""Answer cards: a section as Discord embeds that always fit Discord's limits.

A section longer than one embed allows is split into a card and continuation messages;
nothing is cut off silently. Embeds never ping anyone, and all text a member typed is escaped
before it is echoed.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.paging import clamp_page, page_count, page_items
from bot.sections import Section, Topic
from bot.text import grapheme_cut, truncate
from bot.ui.fit import (
    AUTHOR_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_LIMIT,
    TITLE_LIMIT,
    escaped,
    lines_within,
    masked_link,
    safe_echo,
)

__all__ = [
    "COLOUR",
    "Card",
    "no_answer_text",
    "section_cards",
    "split_text",
    "topics_embed",
]

COLOUR = discord.Colour.from_rgb(0x2B, 0x6C, 0xB0)

# One line of the topic list: the title (escaped, then cut) and the slug.
TOPIC_LINE_TITLE = 150


def split_text(text: str, limit: int) -> list[str]:
    """Split at paragraph, then sentence, then word boundaries into pieces of at most `limit`."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = max(window.rfind(". "), window.rfind("? "), window.rfind("! "))
            cut = cut + 1 if cut >= limit // 2 else window.rfind(" ")
        if cut <= 0:
            cut = grapheme_cut(rest, limit) or limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


@dataclass(frozen=True, slots=True)
class Card:
    """One message's worth of a section: the first part carries the buttons and menu."""

    embeds: list[discord.Embed]


def section_cards(section: Section, header: str | None = None) -> list[Card]:
    """The section as one or more messages of one embed each, every limit respected.

    The body fills the first embed (and continuation embeds if it must); the sources and the
    "Updated" footer close the last one, and go on in embeds of their own while they do not fit.
    """
    content = section.content
    header_text = truncate(header, AUTHOR_LIMIT) if header else ""
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - TITLE_LIMIT - AUTHOR_LIMIT)
    embeds = []
    for i, part in enumerate(split_text(content.body, room) or ["-"]):
        name = content.title if i == 0 else f"{content.title} (continued)"
        embeds.append(
            discord.Embed(title=truncate(name, TITLE_LIMIT), description=part, colour=COLOUR)
        )
    if header_text:
        embeds[0].set_author(name=header_text)

    footer = f"Updated {content.updated.isoformat()}"
    last = embeds[-1]
    for i, value in enumerate(source_values(section)):
        name = "Sources" if i == 0 else "Sources (continued)"
        full = len(last.fields) >= FIELDS_LIMIT
        if full or len(last) + len(name) + len(value) + len(footer) > EMBED_TOTAL_LIMIT:
            last = discord.Embed(
                title=truncate(f"{content.title} (sources)", TITLE_LIMIT), colour=COLOUR
            )
            embeds.append(last)
        last.add_field(name=name, value=value, inline=False)
    last.set_footer(text=footer)
    return [Card([embed]) for embed in embeds]


def source_values(section: Section) -> list[str]:
    """The sources as Markdown links, packed into as few field values as they fit."""
    lines = [masked_link(s.title, s.url, FIELD_VALUE_LIMIT) for s in section.content.sources]
    values: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > FIELD_VALUE_LIMIT:
            values.append(current)
            current = line
        else:
            current = candidate
    if current:
        values.append(current)
    return values


def no_answer_text(question: str) -> str:
    return (
        "I don't have a briefing on that yet. I've noted the question for the moderators.\n"
        f"> {safe_echo(question)}\n"
        "Here are the closest topics:"
    )


def topics_embed(sections: list[Topic], page: int, page_size: int) -> tuple[discord.Embed, int]:
    """One page of the topic list and the number of pages."""
    pages = page_count(len(sections), page_size)
    page = clamp_page(page, pages)
    start = page * page_size
    lines = [
        f"**{start + i}.** {escaped(s.title, TOPIC_LINE_TITLE)} — `{s.slug}`"
        for i, s in enumerate(page_items(sections, page, page_size), start=1)
    ]
    listed = lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more on this page")
    embed = discord.Embed(
        title="Topics",
        description=listed or "No topics yet.",
        colour=COLOUR,
    )
    embed.set_footer(text=f"Page {page + 1} of {pages} · /explain a topic to read it")
    return embed, pages
