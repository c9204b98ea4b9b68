"""The command line: `python -m bot` (or `briefbot`) run, ask, kb, db, health and stats.

Every failure a user can cause ends in one line on stderr naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.console import Console, stdin_lines
from bot.errors import BriefbotError
from bot.logs import setup_logging
from bot.service import Answer, BriefingService

log = logging.getLogger("bot")

EXIT_ERROR = 1
EXIT_USAGE = 2


def _answer_json(answer: Answer) -> dict[str, Any]:
    best = answer.section
    return {
        "question": answer.question,
        "answer": (
            {"slug": best.slug, "title": best.title, "score": answer.score} if best else None
        ),
        "results": [
            {"slug": h.slug, "title": h.title, "score": h.score} for h in answer.results[:5]
        ],
        "suggestions": [{"slug": s.slug, "title": s.title} for s in answer.suggestions],
    }


async def _open(settings: Settings) -> BriefingService:
    return await BriefingService.open(settings.db_path, settings.knowledge_dir)


async def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    service = await _open(settings)
    try:
        questions: Sequence[str]
        if args.question == "-":
            questions = [line for line in sys.stdin.read().splitlines() if line.strip()]
        else:
            questions = [args.question]
        for question in questions:
            answer = await service.ask(question, args.guild, record=False)
            if args.json:
                print(json.dumps(_answer_json(answer), ensure_ascii=False))
            elif answer.section:
                print(f"{answer.section.title}  [{answer.section.slug}, score {answer.score}]")
                print(answer.section.content.body)
            else:
                names = ", ".join(s.slug for s in answer.suggestions)
                print(f"No confident answer. Closest topics: {names}")
    finally:
        await service.close()
    return 0


async def cmd_kb(settings: Settings, args: argparse.Namespace) -> int:
    service = await _open(settings)
    try:
        if args.kb == "import" and args.guild is not None:
            if not args.dir:
                raise BriefbotError(
                    "kb import --guild needs the file: the zip /kb export attached, or a folder."
                )
            report = await service.import_guild_pack(
                Path(args.dir),
                args.guild,
                max_topics=settings.max_guild_topics,
                other_server=args.other_server,
            )
            print(f"Imported {args.dir} into server {args.guild}: {report.summary()}.")
        elif args.kb == "import":
            folder = Path(args.dir) if args.dir else settings.knowledge_dir
            report = await service.import_pack(folder)
            print(f"Imported {folder}: {report.summary()}.")
        elif args.kb == "export":
            written = await service.export_pack(Path(args.dir), args.guild)
            print(f"Exported {len(written)} sections to {args.dir}.")
        elif args.kb == "list":
            topics = service.topics(args.guild)
            if args.json:
                rows = [
                    {
                        "slug": s.slug,
                        "title": s.title,
                        "order": s.content.position,
                        "updated": s.content.updated.isoformat(),
                        "scope": s.guild_id,
                    }
                    for s in topics
                ]
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            else:
                for s in topics:
                    print(f"{s.content.position:>4}  {s.slug:<28} {s.title}")
        elif args.kb == "show":
            section = service.section(args.slug, args.guild)
            from bot.pack import render_section

            print(render_section(section.content), end="")
    finally:
        await service.close()
    return 0


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    from bot.store import Database

    if args.db == "migrate":
        db = await Database.open(settings.db_path, migrate=False)
        try:
            before, after = await db.migrate()
        finally:
            await db.close()
        print(f"{settings.db_path}: schema version {before} -> {after}.")
    elif args.db == "backup":
        db = await Database.open(settings.db_path)
        try:
            target = await db.backup(Path(args.path))
        finally:
            await db.close()
        print(f"Backed up {settings.db_path} to {target}.")
    elif args.db == "purge-guild":
        from bot.store.guilds import GuildData

        if args.guild <= 0:
            # 0 is the console's scope, not a server: nothing a user means to delete.
            raise BriefbotError(f"{args.guild} is not a server id (copy it from Discord).")
        db = await Database.open(settings.db_path)
        try:
            deleted = await GuildData(db).purge(args.guild)
        finally:
            await db.close()
        rows = ", ".join(f"{count} from {table}" for table, count in sorted(deleted.items()))
        print(f"Deleted everything stored for server {args.guild}: {rows or 'nothing was there'}.")
    return 0


async def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the database opens, its migrations are current and the pack is loaded."""
    from bot.store import Database, SectionStore

    if not settings.db_path.is_file():
        print(f"unhealthy: no database at {settings.db_path} yet", file=sys.stderr)
        return EXIT_ERROR
    db = await Database.open(settings.db_path, migrate=False)
    try:
        version, latest = await db.schema_version(), db.latest_version
        sections = await SectionStore(db).count()
    finally:
        await db.close()
    if version != latest:
        print(f"unhealthy: schema version {version}, expected {latest}", file=sys.stderr)
        return EXIT_ERROR
    if sections == 0:
        print("unhealthy: no sections loaded (the pack was not imported)", file=sys.stderr)
        return EXIT_ERROR
    print(f"ok: schema {version}, {sections} sections")
    return 0


async def cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from bot.stats import collect, render

    service = await _open(settings)
    try:
        report = await collect(service, days=args.days)
    finally:
        await service.close()
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else render(report))
    return 0


async def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.token is None and args.discord:
        print(
            "briefbot: no DISCORD_TOKEN or DISCORD_TOKEN_FILE is set (run --discord never falls "
            "back to the console). Put the token in .env.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if settings.token is not None:
        from bot.client import run_bot

        return await run_bot(settings)
    service = await _open(settings)
    try:
        await Console(service).run(stdin_lines)
    finally:
        await service.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="briefbot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run", help="start the Discord bot (DISCORD_TOKEN set) or the local console"
    )
    run.add_argument(
        "--discord",
        action="store_true",
        help="require a token: never start the console (containers)",
    )

    ask = sub.add_parser("ask", help="answer a question from the briefing")
    ask.add_argument("question", help="the question, or - to read one per line from stdin")
    ask.add_argument("--guild", type=int, default=None, help="answer as this server sees it")
    ask.add_argument("--json", action="store_true", help="print one JSON object per question")

    kb = sub.add_parser("kb", help="the knowledge pack").add_subparsers(dest="kb", required=True)
    kb_import = kb.add_parser(
        "import",
        help="import the curated pack (default: BRIEFBOT_KNOWLEDGE), or with --guild a "
        "server's /kb export zip or folder as that server's own topics",
    )
    kb_import.add_argument("dir", nargs="?", metavar="PATH")
    kb_import.add_argument(
        "--guild",
        type=int,
        default=None,
        metavar="ID",
        help="import into this server only (never into the curated pack)",
    )
    kb_import.add_argument(
        "--other-server",
        action="store_true",
        help="with --guild: accept an export made in another server (a copy between servers)",
    )
    kb_export = kb.add_parser("export", help="write the briefing as a pack folder")
    kb_export.add_argument("dir")
    kb_export.add_argument("--guild", type=int, default=None)
    kb_list = kb.add_parser("list", help="list the topics in rotation order")
    kb_list.add_argument("--json", action="store_true")
    kb_list.add_argument("--guild", type=int, default=None)
    kb_show = kb.add_parser("show", help="print one section in the pack format")
    kb_show.add_argument("slug")
    kb_show.add_argument("--guild", type=int, default=None)

    sub.add_parser("health", help="exit 0 if the database and pack are ready (for healthchecks)")
    stats = sub.add_parser("stats", help="sections, servers, asks, gaps and daily posts")
    stats.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    stats.add_argument("--json", action="store_true")

    db = sub.add_parser("db", help="the database").add_subparsers(dest="db", required=True)
    db.add_parser("migrate", help="apply pending migrations")
    db_backup = db.add_parser("backup", help="copy the live database (safe while the bot runs)")
    db_backup.add_argument("path")
    db_purge = db.add_parser(
        "purge-guild", help="delete everything stored for one server now (cannot be undone)"
    )
    db_purge.add_argument("guild", type=int, metavar="ID", help="the server's id")
    return parser


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "run": cmd_run,
    "ask": cmd_ask,
    "kb": cmd_kb,
    "db": cmd_db,
    "health": cmd_health,
    "stats": cmd_stats,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "run":
            setup_logging(settings)
        else:
            quiet = dataclasses.replace(settings, log_level="WARNING")
            setup_logging(quiet)
        return asyncio.run(COMMANDS[args.command](settings, args))
    except BriefbotError as exc:
        print(f"briefbot: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
