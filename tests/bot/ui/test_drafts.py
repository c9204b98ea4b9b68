"""Every page of /kb drafts fits Discord's limits, whatever the moderator typed."""

from __future__ import annotations

from typing import Any

import discord

from bot.sections import MAX_SLUG, MAX_TITLE, Version
from bot.store.moderation import DRAFTS_KEPT, Draft
from bot.ui.drafts import DRAFTS_PAGE, drafts_message
from tests.fakediscord.limits import message_errors

LONGEST_ID = 2**63 - 1
LONGEST_GUILD = 2**64 - 1
NASTY = "*_~`|>#[]()@everyone Що таке Рамштайн? 👩‍👩‍👧 \\"


def draft(n: int, title: str, slug: str | None) -> Draft:
    return Draft(
        id=LONGEST_ID - n,
        guild_id=LONGEST_GUILD,
        user_id=LONGEST_ID,
        slug=slug,
        version=Version(LONGEST_ID, 10**9) if slug else None,
        fields={"title": title, "aliases": "", "body": "x" * 4000, "sources": ""},
        created_at="2026-11-28T09:30:15+00:00",
    )


def payload(embed: discord.Embed, view: discord.ui.View | None) -> dict[str, Any]:
    return {"embeds": [embed.to_dict()], "components": view.to_components() if view else []}


def test_every_page_of_the_longest_drafts_fits() -> None:
    title = (NASTY * 10)[:MAX_TITLE]
    drafts = [
        draft(n, title if n % 2 else "", "a" * MAX_SLUG if n % 3 else None)
        for n in range(DRAFTS_KEPT)
    ]
    pages = -(-DRAFTS_KEPT // DRAFTS_PAGE)
    for page in range(pages):
        shown = drafts[page * DRAFTS_PAGE : (page + 1) * DRAFTS_PAGE]
        embed, view = drafts_message(LONGEST_GUILD, shown, page, pages)
        sent = payload(embed, view)
        assert message_errors(sent) == {}, page
        assert view is not None
        menu = sent["components"][0]["components"][0]
        assert [o["value"] for o in menu["options"]] == [str(d.id) for d in shown]
        buttons = sent["components"][1]["components"]
        assert [b["disabled"] for b in buttons] == [page == 0, page == pages - 1]


def test_no_drafts_is_a_plain_message_without_components() -> None:
    embed, view = drafts_message(LONGEST_GUILD, [], 0, 1)
    assert view is None and "no kept drafts" in str(embed.description)
    assert message_errors(payload(embed, view)) == {}
