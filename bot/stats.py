"""`python -m bot stats`: what the bot has been doing, read from the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.editing import group_gaps
from bot.service import BriefingService


async def collect(service: BriefingService, days: int = 7) -> dict[str, Any]:
    db = service.db
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")

    async def rows(sql: str, *params: Any) -> list[Any]:
        async with db.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    per_day = await rows(
        "SELECT substr(asked_at, 1, 10), count(*), sum(answered IS NOT NULL) FROM asks "
        "WHERE asked_at >= ? GROUP BY 1 ORDER BY 1",
        since,
    )
    asked = sum(r[1] for r in per_day)
    answered = sum(r[2] for r in per_day)
    servers = await rows(
        "SELECT count(*) FROM (SELECT guild_id FROM asks UNION SELECT guild_id FROM "
        "briefing_schedules UNION SELECT guild_id FROM sections WHERE guild_id IS NOT NULL)"
    )
    posts = await rows(
        "SELECT status, count(*) FROM briefing_posts WHERE claimed_at >= ? GROUP BY status", since
    )
    unanswered = await rows(
        "SELECT question FROM asks WHERE answered IS NULL AND asked_at >= ? ORDER BY asked_at",
        since,
    )
    counts = dict(posts)
    return {
        "days": days,
        "sections": await service.sections.count(),
        "servers": servers[0][0],
        "asks_per_day": {r[0]: r[1] for r in per_day},
        "asks": asked,
        "answered_share": round(answered / asked, 3) if asked else None,
        "top_gaps": [
            {"question": g.question, "count": g.count}
            for g in group_gaps([r[0] for r in unanswered])[:10]
        ],
        "daily_posts": {
            "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0),
            "skipped": counts.get("skipped", 0),
        },
    }


def render(report: dict[str, Any]) -> str:
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
