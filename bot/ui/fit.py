"""Discord's size limits, and cutting text so that whatever Briefbot renders fits them.

Every renderer under `bot/ui/` takes its numbers from here. Text a member or moderator typed
is escaped first and cut second (`escaped`), so a cut never leaves half an escape and never
lets the escaping push a line past its limit. Lengths are counted the way Discord's API counts
them, in characters (code points).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import discord
from discord import app_commands

from bot.errors import TOPIC_OPTION_LIMIT as TOPIC_OPTION_LIMIT
from bot.text import truncate

# Messages.
CONTENT_LIMIT = 2000
# One embed, and all embeds of one message together.
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000
# Buttons and menus.
BUTTON_LABEL_LIMIT = 80
SELECT_OPTIONS_LIMIT = 25
OPTION_LABEL_LIMIT = 100
OPTION_DESCRIPTION_LIMIT = 100
# Forms (modals).
MODAL_TITLE_LIMIT = 45
INPUT_LABEL_LIMIT = 45
INPUT_PLACEHOLDER_LIMIT = 100
INPUT_TEXT_LIMIT = 4000
# Slash-command options and autocomplete.
CHOICES_LIMIT = 25
CHOICE_NAME_LIMIT = 100
# An option naming a topic (TOPIC_OPTION_LIMIT: its slug, title or an alias), for every command.
TopicName = app_commands.Range[str, 1, TOPIC_OPTION_LIMIT]

# A square bracket after an even run of backslashes (none included): not yet escaped.
_UNESCAPED_BRACKET = re.compile(r"(?<!\\)((?:\\\\)*)([\[\]])")

#: Room kept for the lines a report adds after its list ("… and 12 more").
MORE_RESERVE = 40


def escape(text: str) -> str:
    """Markdown and mentions defused, so a member's words show exactly as typed.

    Backslashes are escaped too, so one typed at the end of a name cannot escape what
    Briefbot writes after it.
    """
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def escaped(text: str, limit: int) -> str:
    """`text` escaped, then cut to `limit` characters without splitting an escape."""
    return _cut_escaped(escape(text), limit)


def _cut_escaped(text: str, limit: int) -> str:
    """Cut already-escaped text; a backslash left alone at the end of the cut goes too."""
    if len(text) <= limit:
        return text
    cut = truncate(text, limit)
    suffix = "…" if cut.endswith("…") else ""
    body = cut.removesuffix(suffix)
    if (len(body) - len(body.rstrip("\\"))) % 2:
        body = body[:-1]
    return body + suffix


def masked_link(label: str, url: str, limit: int) -> str:
    """`[label](url)` in at most `limit` characters, the label escaped and cut to make room.

    Parentheses and spaces in the URL are percent-encoded so they cannot end the link early.
    A URL too long to leave room for a label is shown as plain text instead.
    """
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    room = limit - len(target) - len("[]()")
    if room < 8:
        return escaped(url, limit)
    text = _UNESCAPED_BRACKET.sub(r"\1\\\2", escape(label))
    return f"[{_cut_escaped(text, room)}]({target})"


def safe_echo(text: str, limit: int = 300) -> str:
    """A member's own words, quoted back on one line: escaped, whitespace folded, bounded."""
    return escaped(" ".join(text.split()), limit)


def share(lengths: Sequence[int], room: int) -> list[int]:
    """Split `room` characters among texts of `lengths`: short ones whole, long ones equally.

    The answer never exceeds a text's own length, and sums to at most `room`.
    """
    room = max(room, 0)
    sizes = [0] * len(lengths)
    waiting = sorted(range(len(lengths)), key=lambda i: lengths[i])
    while waiting:
        fair = room // len(waiting)
        i = waiting.pop(0)
        sizes[i] = min(lengths[i], fair)
        room -= sizes[i]
    return sizes


def lines_within(lines: Sequence[str], limit: int, more: Callable[[int], str]) -> str:
    """As many whole lines as fit in `limit` characters, then `more(n)` for the n left out.

    `more`'s line is cut to fit the room kept for it (`MORE_RESERVE`).
    """
    kept: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        cost = len(line) + (1 if kept else 0)
        rest = len(lines) - i - 1
        reserve = MORE_RESERVE if rest else 0
        if used + cost + reserve > limit:
            tail = truncate(more(len(lines) - i), MORE_RESERVE - 1)
            return "\n".join([*kept, tail]) if kept else tail
        kept.append(line)
        used += cost
    return "\n".join(kept)


def embeds_size(embeds: Sequence[discord.Embed]) -> int:
    """Characters that count toward the 6,000 all embeds of one message share."""
    return sum(len(embed) for embed in embeds)
