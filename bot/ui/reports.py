"""The moderators' reports, `/kb gaps` and `/kb stale`, as embeds that fit whatever was asked."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.editing import Gap
from bot.sections import Section
from bot.ui.cards import COLOUR
from bot.ui.fit import DESCRIPTION_LIMIT, escaped, lines_within

GAPS_SHOWN = 20  # question groups listed, most asked first
GAP_QUESTION = 150  # characters of one question as shown, escaping included
STALE_SHOWN = 25  # topics listed, oldest first
STALE_TITLE = 120  # characters of one title as shown, escaping included


def gaps_embed(gaps: Sequence[Gap], days: int) -> discord.Embed:
    """Unanswered questions, grouped: members' words escaped first, then cut."""
    lines = [
        f"**{g.count}×** {escaped(' '.join(g.question.split()), GAP_QUESTION)}"
        for g in gaps[:GAPS_SHOWN]
    ]
    listed = lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more")
    embed = discord.Embed(
        title=f"Unanswered questions, last {days} days",
        description=listed or "None: every question found a briefing.",
        colour=COLOUR,
    )
    embed.set_footer(text="Grouped by similarity, most asked first · /kb add writes a topic")
    return embed


def stale_embed(sections: Sequence[Section], days: int) -> discord.Embed:
    """Topics not updated in `days` days, oldest first."""
    lines = [
        f"{s.content.updated.isoformat()} · {escaped(s.title, STALE_TITLE)} (`{s.slug}`)"
        for s in sections[:STALE_SHOWN]
    ]
    listed = lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more")
    return discord.Embed(
        title=f"Not updated in {days} days",
        description=listed or "Everything is fresh.",
        colour=COLOUR,
    )
