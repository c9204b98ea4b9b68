"""Answer cards: a section as Discord embeds that always fit Discord's limits.

A section longer than one embed allows is split into a card and continuation messages;
nothing is cut off silently. Embeds never ping anyone, and all text a member typed is escaped
before it is echoed.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord

from bot.sections import Section

TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024
FIELD_NAME_LIMIT = 256
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
FIELDS_LIMIT = 25
SELECT_OPTIONS_LIMIT = 25
OPTION_LABEL_LIMIT = 100
CONTENT_LIMIT = 2000

COLOUR = discord.Colour.from_rgb(0x2B, 0x6C, 0xB0)


def shorten(text: str, limit: int) -> str:
    """For labels only (menus, button names), where a cut is expected and marked with '…'."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def safe_echo(text: str, limit: int = 300) -> str:
    """A member's own words, quoted back: mentions and markdown defused, length bounded."""
    text = discord.utils.escape_mentions(discord.utils.escape_markdown(text))
    return shorten(" ".join(text.split()), limit)


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
            cut = limit
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

    The body fills the first embed (and continuation embeds if it must); sources and the
    "Updated" footer close the last one, or get an embed of their own if they do not fit.
    """
    content = section.content
    title = shorten(content.title, TITLE_LIMIT)
    header_text = shorten(header, FIELD_NAME_LIMIT) if header else ""
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - TITLE_LIMIT - len(header_text))
    embeds = []
    for i, part in enumerate(split_text(content.body, room)):
        name = title if i == 0 else shorten(f"{content.title} (continued)", TITLE_LIMIT)
        embeds.append(discord.Embed(title=name, description=part, colour=COLOUR))
    if header_text:
        embeds[0].set_author(name=header_text)

    footer = f"Updated {content.updated.isoformat()}"
    fields = _pack_lines([f"[{s.title}]({s.url})" for s in content.sources], FIELD_VALUE_LIMIT)
    closing = len(footer) + sum(len("Sources (continued)") + len(v) for v in fields)
    if len(embeds[-1]) + closing > EMBED_TOTAL_LIMIT:
        embeds.append(
            discord.Embed(title=shorten(f"{content.title} (sources)", TITLE_LIMIT), colour=COLOUR)
        )
    last = embeds[-1]
    for i, value in enumerate(fields[:FIELDS_LIMIT]):
        last.add_field(
            name="Sources" if i == 0 else "Sources (continued)", value=value, inline=False
        )
    last.set_footer(text=footer)
    return [Card([embed]) for embed in embeds]


def _pack_lines(lines: list[str], limit: int) -> list[str]:
    """Join lines into as few values of at most `limit` characters as possible."""
    values: list[str] = []
    current = ""
    for line in lines:
        line = shorten(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
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


def topics_embed(sections: list[Section], page: int, page_size: int) -> tuple[discord.Embed, int]:
    """One page of the topic list and the number of pages."""
    pages = max(1, -(-len(sections) // page_size))
    page = min(max(page, 0), pages - 1)
    start = page * page_size
    lines = [
        f"**{start + i}.** {shorten(s.title, 200)} — `{s.slug}`"
        for i, s in enumerate(sections[start : start + page_size], start=1)
    ]
    embed = discord.Embed(
        title="Topics",
        description="\n".join(lines) or "No topics yet.",
        colour=COLOUR,
    )
    embed.set_footer(text=f"Page {page + 1} of {pages} · /explain a topic to read it")
    return embed, pages
