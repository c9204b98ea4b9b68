"""`python -m bot stats`: what the bot has been doing, read through the store, rendered as text."""

from __future__ import annotations

from typing import Any

from bot.gaps import group_gaps
from bot.service import BriefingService
from bot.store.stats import StatsStore


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
        "daily_posts": {
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0),
        },
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
    posts = report["daily_posts"]
    lines.append(
        f"Daily posts: {posts['sent']} sent, {posts['failed']} failed, {posts['skipped']} skipped"
    )
    return "\n".join(lines)
