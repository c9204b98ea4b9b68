"""The help-channel reply's message: within Discord's limits whatever the section, one message
only, `/explain` named for what did not fit, and the Not helpful button carrying the server and
the member it answered."""

from __future__ import annotations

from typing import Any

import discord

from bot.sections import Source
from bot.ui.autoanswer import granted, reply_parts
from tests.bot.ui.test_cards import card_section
from tests.fakediscord.limits import message_errors

GUILD, ASKER = 123456789012345678, 876543210987654321


def payload(parts: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {"embeds": [embed.to_dict() for embed in parts["embeds"]]}
    if "content" in parts:
        data["content"] = parts["content"]
    data["components"] = parts["view"].to_components()
    return data


def test_a_short_section_is_the_whole_card_and_the_button() -> None:
    parts = reply_parts(card_section("Talks in Berlin."), GUILD, ASKER)
    assert message_errors(payload(parts)) == {}
    assert [e.title for e in parts["embeds"]] == ["What are the Berlin talks?"]
    assert "content" not in parts
    [row] = payload(parts)["components"]
    [button] = row["components"]
    assert button["label"] == "Not helpful"
    assert button["custom_id"] == f"bb:aa:nothelpful:{GUILD}:{ASKER}"
    assert len(button["custom_id"]) <= 100


def test_a_section_longer_than_a_message_keeps_what_fits_and_names_explain() -> None:
    body = ("A sentence about the talks in Berlin. " * 110).strip()
    sources = tuple(Source("s" * 200, f"https://example.org/{'p' * 450}/{n}") for n in range(10))
    parts = reply_parts(card_section(body, sources), GUILD, ASKER)
    assert message_errors(payload(parts)) == {}
    assert sum(len(e) for e in parts["embeds"]) <= 6000
    assert parts["embeds"][0].description.startswith("A sentence about")
    assert parts["content"] == "The rest of **What are the Berlin talks?**: " + (
        "`/explain topic:berlin-talks`"
    )


def test_granted_names_aliases_as_the_domain_checks_them() -> None:
    names = granted(discord.Permissions(view_channel=True, send_messages_in_threads=True))
    assert {"view_channel", "read_messages", "send_messages_in_threads"} <= set(names)
    assert "send_messages" not in names
