"""Reports as embeds that fit whatever was asked: `/briefing show` and `/kb stale`."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.sections import Section
from bot.service import ScheduleStatus
from bot.text import truncate
from bot.ui.cards import COLOUR
from bot.ui.fit import DESCRIPTION_LIMIT, FIELD_VALUE_LIMIT, escaped, lines_within

STALE_SHOWN = 25  # topics listed, oldest first
STALE_TITLE = 120  # characters of one title as shown, escaping included


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


NO_HISTORY = (
    "Briefbot lacks Read Message History in <#{channel}>. After a timeout or a restart it "
    "cannot check whether a post already arrived, so only Discord's nonce (a few minutes) "
    "keeps it from posting twice. Grant that permission there to rule it out."
)


THREADS_OFF = "Off. `/briefing set … thread:True` opens one on each daily post."
THREADS_ON = "On: each daily post opens a public thread named after its topic."
NO_THREAD_PERMISSION = (
    "Not opened: Briefbot lacks Create Public Threads in <#{channel}>. Grant it there; "
    "the daily post itself is not affected."
)


def _threads(status: ScheduleStatus, may_thread: bool | None) -> str:
    """The discussion-thread line: on or off, and why threads are not opened, if they are not."""
    schedule = status.schedule
    if schedule is None or not schedule.thread:
        return THREADS_OFF
    if may_thread is False:
        return NO_THREAD_PERMISSION.format(channel=schedule.channel_id)
    last = status.last_post
    if last is not None and last.thread_state == "failed" and last.thread_error:
        # The reason can quote Discord's own error text: bounded like anything echoed.
        return f"{THREADS_ON}\nThe last one was not opened: {truncate(last.thread_error, 600)}"
    if last is not None and last.thread_state == "pending" and last.thread_error:
        return (
            f"{THREADS_ON}\nThe last one is not open yet ({truncate(last.thread_error, 300)}); "
            "trying again."
        )
    return THREADS_ON


def status_embed(
    status: ScheduleStatus,
    history: bool | None = None,
    answering: Sequence[int] = (),
    *,
    may_thread: bool | None = None,
) -> discord.Embed:
    """/briefing show: the schedule, the next post and the last one.

    `history` is whether Briefbot may read the posting channel's history (None: unknown);
    False adds the warning that only Discord's nonce then keeps a post from doubling.
    `answering` lists the channels where Briefbot answers questions by itself; `may_thread`
    is whether it may create public threads in the posting channel (None: unknown), and
    False says that is why the daily threads are not opened.
    """
    embed = discord.Embed(title="Daily explainer", colour=COLOUR)
    schedule = status.schedule
    if schedule is None:
        embed.description = "Off. A moderator can turn it on with `/briefing set`."
    else:
        # A pause reason can quote Discord's own error text: bounded like anything echoed.
        reason = truncate(schedule.paused_reason or "", 1000)
        state = f"Paused: {reason}" if reason else "On"
        embed.description = state
        embed.add_field(name="Channel", value=f"<#{schedule.channel_id}>")
        embed.add_field(name="Time", value=f"{schedule.local_time} {schedule.timezone}")
        if status.next_local is not None and not schedule.paused_reason:
            embed.add_field(
                name="Next post",
                value=(
                    f"{status.next_local:%a %d %b %Y, %H:%M} {schedule.timezone}\n"
                    f"{discord.utils.format_dt(status.next_local, 'F')} "
                    f"({discord.utils.format_dt(status.next_local, 'R')})"
                ),
                inline=False,
            )
        if status.next_topic is not None:
            embed.add_field(
                name="Next topic",
                value=truncate(status.next_topic.title, FIELD_VALUE_LIMIT),
                inline=False,
            )
        if history is False:
            embed.add_field(
                name="Exactly once",
                value=NO_HISTORY.format(channel=schedule.channel_id),
                inline=False,
            )
        embed.add_field(
            name="Discussion threads",
            value=truncate(_threads(status, may_thread), FIELD_VALUE_LIMIT),
            inline=False,
        )
    if status.last_post is not None:
        last = status.last_post
        value = f"{last.local_date.isoformat()}: {last.slug or '-'} ({last.status})"
        if last.recovery:
            value += f"\nAfter a retry: {last.recovery}"
        embed.add_field(name="Last post", value=truncate(value, FIELD_VALUE_LIMIT), inline=False)
    if answering:
        # One channel a line, as many as fit in a field, then how many more.
        listed = lines_within(
            [f"<#{channel_id}>" for channel_id in answering],
            FIELD_VALUE_LIMIT,
            lambda n: f"… and {n} more",
        )
        embed.add_field(name="Answers questions in", value=listed, inline=False)
    return embed
