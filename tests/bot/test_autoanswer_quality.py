"""Help channels' quality against tests/data/eval_channel.yaml: channel messages as members type
them, chatter that shares words with the briefing and messages about the briefing.

Two figures, each with the issue's threshold: the share of chatter that gets a reply (at most
one in twenty) and the share of briefing messages that get the right topic (at least 60%).
Both are printed with /ask's rule beside them, which is what the stricter rule is for. Each
message is judged exactly as a help channel judges it (`Autoanswer.reply_for`), through a
server's view of the curated pack, in a text channel or as a forum post (title first).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from bot.autoanswer import REPLY_WINDOW, Autoanswer, Incoming
from bot.service import BriefingService

DATA = Path(__file__).resolve().parents[1] / "data" / "eval_channel.yaml"
KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
GUILD = 1_000
TEXT_CHANNEL = 10
FORUM = 20
# The goal.
MAX_CHATTER_REPLIED = 1 / 20
MIN_BRIEFING_RIGHT = 0.60
MIN_MESSAGES = 40


@dataclass
class Figures:
    chatter: int = 0
    chatter_replied: int = 0
    briefing: int = 0
    briefing_right: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def chatter_share(self) -> float:
        return self.chatter_replied / self.chatter if self.chatter else 1.0

    @property
    def right_share(self) -> float:
        return self.briefing_right / self.briefing if self.briefing else 0.0

    def line(self) -> str:
        return (
            f"chatter replied {self.chatter_replied}/{self.chatter} ({self.chatter_share:.1%}), "
            f"briefing right {self.briefing_right}/{self.briefing} ({self.right_share:.1%})"
        )


def messages() -> list[dict[str, Any]]:
    return list(yaml.safe_load(DATA.read_text(encoding="utf-8"))["messages"])


def text_of(item: dict[str, Any]) -> str:
    """As the Discord layer gives it: a forum post's title, then its first message."""
    return "\n".join(str(part) for part in (item.get("title"), item["text"]) if part)


def expected(item: dict[str, Any]) -> list[str] | None:
    expect = item.get("expect")
    if expect is None:
        return None
    return [expect] if isinstance(expect, str) else list(expect)


def test_the_set_is_well_formed(expected_slugs: list[str]) -> None:
    items = messages()
    kinds = [item["kind"] for item in items]
    assert kinds.count("chatter") >= MIN_MESSAGES and kinds.count("briefing") >= MIN_MESSAGES
    assert len({text_of(i).casefold() for i in items}) == len(items), "a message is repeated"
    for item in items:
        assert set(item) <= {"kind", "text", "title", "expect"}, item
        assert item["kind"] in ("chatter", "briefing"), item
        wanted = expected(item)
        assert (wanted is None) == (item["kind"] == "chatter"), item
        assert wanted is None or set(wanted) <= set(expected_slugs), item
    # Forum posts are part of it, and every topic is asked about.
    assert any("title" in item for item in items)
    assert {s for item in items for s in expected(item) or ()} == set(expected_slugs)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def helper(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Autoanswer]:
    service = await BriefingService.open(
        tmp_path_factory.mktemp("channel") / "db.sqlite3", KNOWLEDGE
    )
    # Each reading of the clock is a minute later: every message is judged alone, never held
    # back by the channel's reply rate.
    minutes = itertools.count(step=REPLY_WINDOW + 1)
    autoanswer = Autoanswer(service, reading=True, clock=lambda: float(next(minutes)))
    granted = ("view_channel", "send_messages", "send_messages_in_threads", "embed_links")
    granted += ("read_message_history",)
    await autoanswer.enable(GUILD, TEXT_CHANNEL, "text", 1, channel_name="#help", granted=granted)
    await autoanswer.enable(GUILD, FORUM, "forum", 1, channel_name="#forum", granted=granted)
    yield autoanswer
    await service.close()


async def measure(autoanswer: Autoanswer, *, strict: bool) -> Figures:
    figures = Figures()
    for number, item in enumerate(messages(), start=1):
        text = text_of(item)
        if strict:
            forum = "title" in item
            message = Incoming(
                guild_id=GUILD,
                channel_id=10_000 + number if forum else TEXT_CHANNEL,
                message_id=10_000 + number,
                parent_id=FORUM if forum else None,
                author_is_bot=False,
                text=text,
            )
            section = await autoanswer.reply_for(message)
            got = section.slug if section else None
        else:
            answer = await autoanswer.service.ask(text, GUILD, record=False)
            got = answer.section.slug if answer.section else None
        wanted = expected(item)
        if wanted is None:
            figures.chatter += 1
            if got is not None:
                figures.chatter_replied += 1
                figures.misses.append(f"chatter {text!r} -> {got}")
        else:
            figures.briefing += 1
            if got in wanted:
                figures.briefing_right += 1
            else:
                figures.misses.append(f"{text!r} -> {got} (expected {' or '.join(wanted)})")
    return figures


in_module_loop = pytest.mark.asyncio(loop_scope="module")


@in_module_loop
async def test_help_channels_reply_to_little_chatter_and_mostly_the_right_topic(
    helper: Autoanswer, report: Any
) -> None:
    strict = await measure(helper, strict=True)
    loose = await measure(helper, strict=False)
    report("help channels (tests/data/eval_channel.yaml): replies by the stricter rule")
    report(f"  help channels: {strict.line()}")
    report(f"  /ask's rule:   {loose.line()}")
    report(
        f"  thresholds: chatter replied <= {MAX_CHATTER_REPLIED:.0%}, "
        f"briefing right >= {MIN_BRIEFING_RIGHT:.0%}"
    )
    detail = "\n".join(strict.misses)
    assert strict.chatter_share <= MAX_CHATTER_REPLIED, strict.line() + "\n" + detail
    assert strict.right_share >= MIN_BRIEFING_RIGHT, strict.line() + "\n" + detail
    # The stricter rule is stricter: it never replies where /ask would not have answered.
    assert strict.chatter_replied <= loose.chatter_replied
