"""`python -m bot stats`: what the bot has been doing, read through the store, rendered as text."""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.gaps import group_gaps
from bot.service import BriefingService
from bot.store.learning import LearningStore
from bot.store.stats import DayAsks, StatsStore


async def collect(service: BriefingService, days: int = 7) -> dict[str, Any]:
    """The report `stats` prints (or dumps as JSON), over the last `days` days."""
    stats = StatsStore(service.db)
    since = stats.since(days)
    per_day = await stats.asks_per_day(since)
    asked = sum(d.asked for d in per_day)
    answered = sum(d.answered for d in per_day)
    counts = await stats.posts_by_status(since)
    unanswered = await stats.unanswered(since)
    return {
        "days": days,
        "sections": await service.sections.count(),
        "servers": await stats.servers(),
        "asks_per_day": {d.day: d.asked for d in per_day},
        "asks": asked,
        "answered_share": round(answered / asked, 3) if asked else None,
        "top_gaps": [
            {"question": g.question, "count": g.count} for g in group_gaps(unanswered)[:10]
        ],
        "answered_share_per_week": _per_week(per_day),
        "learning": await _learning(service, since),
        "daily_posts": {
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0),
        },
    }


def _per_week(per_day: list[DayAsks]) -> dict[str, float]:
    """The share of questions answered in each ISO week (`2026-W48`) with questions."""
    weeks: dict[str, list[int]] = {}
    for day in per_day:
        year, week, _ = date.fromisoformat(day.day).isocalendar()
        counts = weeks.setdefault(f"{year}-W{week:02d}", [0, 0])
        counts[0] += day.asked
        counts[1] += day.answered
    return {week: round(answered / asked, 3) for week, (asked, answered) in weeks.items() if asked}


async def _learning(service: BriefingService, since: str) -> dict[str, int]:
    """Members' signals and what moderators did with them, since `since` (every server)."""
    store = LearningStore(service.db)
    signals = await store.signal_counts(since)
    settled = await store.settled_counts(since)
    return {
        "helpful": signals.get("helpful", 0),
        "not_what_i_asked": signals.get("wrong", 0),
        "outdated": signals.get("outdated", 0),
        "picked_after_no_answer": signals.get("pick", 0),
        "taught": settled.get("taught", 0),
        "dismissed": settled.get("dismissed", 0),
    }


def render(report: dict[str, Any]) -> str:
    """The report as the lines `python -m bot stats` prints."""
    share = report["answered_share"]
    lines = [
        f"Sections: {report['sections']}",
        f"Servers: {report['servers']}",
        f"Asks in the last {report['days']} days: {report['asks']}"
        + (f" ({share:.0%} answered)" if share is not None else ""),
    ]
    lines += [f"  {day}: {count}" for day, count in report["asks_per_day"].items()]
    lines.append("Top gaps:" if report["top_gaps"] else "Top gaps: none")
    lines += [f"  {g['count']}x {g['question']}" for g in report["top_gaps"]]
    weekly = report["answered_share_per_week"]
    lines.append("Answered per week:" if weekly else "Answered per week: no questions")
    lines += [f"  {week}: {share:.0%}" for week, share in weekly.items()]
    loop = report["learning"]
    lines.append(
        f"Members' signals: {loop['helpful']} helpful, {loop['not_what_i_asked']} not what I "
        f"asked, {loop['outdated']} outdated, {loop['picked_after_no_answer']} topics picked "
        "after no answer"
    )
    lines.append(f"Review: {loop['taught']} items taught, {loop['dismissed']} dismissed")
    posts = report["daily_posts"]
    lines.append(
        f"Daily posts: {posts['sent']} sent, {posts['failed']} failed, {posts['skipped']} skipped"
    )
    return "\n".join(lines)
