"""The report embeds: /briefing show, /kb gaps and /kb stale, built from plain results."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import discord

from bot.learning import ReviewItem, ReviewPage
from bot.sections import Section, SectionContent
from bot.service import ScheduleStatus
from bot.store.briefing import Post, Schedule
from bot.ui.reports import (
    NO_THREAD_PERMISSION,
    STALE_SHOWN,
    THREADS_OFF,
    THREADS_ON,
    stale_embed,
    status_embed,
)
from bot.ui.review import review_embed
from tests.fakediscord.limits import message_errors

CHANNEL = 2**63 - 1


def section(n: int, title: str = "", updated: date = date(2026, 1, 1)) -> Section:
    content = SectionContent(
        slug=f"topic-{n}",
        title=title or f"Topic {n}",
        body="Body.",
        aliases=(),
        updated=updated,
        position=n,
    )
    return Section(n, None, content, "active", 1)


def schedule(paused: str | None = None) -> Schedule:
    return Schedule(
        guild_id=1,
        channel_id=CHANNEL,
        local_time="08:30",
        timezone="Europe/Berlin",
        paused_reason=paused,
        next_due=datetime(2026, 3, 2, 7, 30, tzinfo=UTC),
        next_local_date=date(2026, 3, 2),
        next_topic=None,
    )


def post(recovery: str | None = None) -> Post:
    return Post(
        guild_id=1,
        local_date=date(2026, 3, 1),
        slug="berlin-talks",
        channel_id=CHANNEL,
        nonce="n",
        status="sent",  # type: ignore[arg-type]
        claimed_at="2026-03-01T07:30:00+00:00",
        sent_at="2026-03-01T07:30:01+00:00",
        message_id=1,
        attempts=1,
        retry_at=None,
        error=None,
        recovery=recovery,
    )


def fields(embed: discord.Embed) -> dict[str, str]:
    return {f.name or "": f.value or "" for f in embed.fields}


def fits(embed: discord.Embed) -> bool:
    return message_errors({"embeds": [embed.to_dict()]}) == {}


# -- /briefing show ----------------------------------------------------------------------------


def test_status_when_off_says_how_to_turn_it_on() -> None:
    embed = status_embed(ScheduleStatus(None, None, None, None))
    assert embed.title == "Daily explainer"
    assert "/briefing set" in (embed.description or "")
    assert embed.fields == []


def test_status_when_on_shows_channel_time_next_post_and_topic() -> None:
    next_local = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    embed = status_embed(ScheduleStatus(schedule(), next_local, section(1, "Berlin talks"), post()))
    assert embed.description == "On"
    shown = fields(embed)
    assert shown["Channel"] == f"<#{CHANNEL}>"
    assert shown["Time"] == "08:30 Europe/Berlin"
    assert shown["Next post"].startswith("Mon 02 Mar 2026, 08:30 Europe/Berlin\n<t:")
    assert shown["Next topic"] == "Berlin talks"
    assert shown["Last post"] == "2026-03-01: berlin-talks (sent)"
    assert "Exactly once" not in shown
    assert fits(embed)


def test_a_paused_status_gives_the_reason_and_no_next_post() -> None:
    next_local = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
    embed = status_embed(ScheduleStatus(schedule("Missing Access " * 200), next_local, None, None))
    assert (embed.description or "").startswith("Paused: Missing Access")
    assert len(embed.description or "") <= len("Paused: ") + 1000
    assert "Next post" not in fields(embed)
    assert fits(embed)


def test_status_warns_only_when_history_is_known_to_be_unreadable() -> None:
    status = ScheduleStatus(schedule(), None, None, post("posted after a timeout"))
    assert "Exactly once" in fields(status_embed(status, history=False))
    assert "Exactly once" not in fields(status_embed(status, history=None))
    assert "Exactly once" not in fields(status_embed(status, history=True))
    last = fields(status_embed(status))["Last post"]
    assert last.endswith("After a retry: posted after a timeout")


def test_threads_show_off_on_and_why_they_are_not_opened() -> None:
    off = ScheduleStatus(schedule(), None, None, post())
    assert fields(status_embed(off))["Discussion threads"] == THREADS_OFF
    on = ScheduleStatus(replace(schedule(), thread=True), None, None, post())
    assert fields(status_embed(on, may_thread=True))["Discussion threads"] == THREADS_ON
    missing = fields(status_embed(on, may_thread=False))["Discussion threads"]
    assert missing == NO_THREAD_PERMISSION.format(channel=CHANNEL)
    refused = replace(post(), thread_state="failed", thread_error="Discord error " + "x" * 3000)
    failed = status_embed(ScheduleStatus(on.schedule, None, None, refused), may_thread=True)
    assert fields(failed)["Discussion threads"].startswith(
        f"{THREADS_ON}\nThe last one was not opened: Discord error x"
    )
    assert fits(failed)
    waiting = replace(post(), thread_state="pending", thread_error="Discord error 503")
    pending = fields(status_embed(ScheduleStatus(on.schedule, None, None, waiting)))
    assert "not open yet (Discord error 503); trying again" in pending["Discussion threads"]
    opened = replace(post(), thread_state="opened", thread_id=5)
    assert fields(status_embed(ScheduleStatus(on.schedule, None, None, opened)))[
        "Discussion threads"
    ] == (THREADS_ON)


def test_status_lists_the_channels_briefbot_answers_in() -> None:
    status = ScheduleStatus(schedule(), None, None, None)
    assert "Answers questions in" not in fields(status_embed(status))
    shown = fields(status_embed(status, None, [11, 22]))["Answers questions in"]
    assert shown == "<#11>\n<#22>"
    # Also when the daily explainer is off: the channels are a setting of their own.
    off = fields(status_embed(ScheduleStatus(None, None, None, None), None, [11]))
    assert off["Answers questions in"] == "<#11>"
    many = status_embed(status, None, [CHANNEL - n for n in range(200)])
    listed = fields(many)["Answers questions in"]
    assert len(listed) <= 1024 and listed.endswith("more") and listed.startswith(f"<#{CHANNEL}>")
    assert fits(many)


# -- /kb review and /kb stale --------------------------------------------------------------------


def test_a_review_item_shows_the_question_escaped_and_never_who_asked() -> None:
    question = "what is **thing**  @everyone <@123>"
    item = ReviewItem("unanswered", "0" * 16, question, 4, "2026-11-28T09:30:00+00:00")
    embed = review_embed(ReviewPage(item, 0, 3, 30, {"unanswered": 3}))
    assert embed.title == "Unanswered: asked 4 times"
    description = embed.description or ""
    assert description.startswith("> what is \\*\\*thing\\*\\* @\u200beveryone")
    assert "last 2026-11-28 09:30 UTC" in description
    assert (
        embed.footer.text == "Item 1 of 3 · last 30 days · 3 unanswered, 0 misanswered, 0 outdated"
    )
    assert fits(embed)


def test_an_empty_review_says_so() -> None:
    embed = review_embed(ReviewPage(None, 0, 1, 30, {}))
    assert embed.title == "Nothing to review"


def test_stale_lists_oldest_topics_with_their_dates() -> None:
    old = [section(n, updated=date(2020, 1, 1 + n)) for n in range(STALE_SHOWN + 3)]
    embed = stale_embed(old, 90)
    assert embed.title == "Not updated in 90 days"
    lines = (embed.description or "").splitlines()
    assert len(lines) == STALE_SHOWN
    assert lines[0] == "2020-01-01 · Topic 0 (`topic-0`)"
    assert fits(embed)
    assert stale_embed([], 90).description == "Everything is fresh."
