"""The command line: `python -m bot` (or `briefbot`) run, ask, kb, db, health and stats.

Every failure a user can cause ends in one line on stderr naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from bot.config import Settings, check_postgres_url, shown_url, url_password
from bot.console import Console, stdin_lines
from bot.errors import BriefbotError, ConfigError, PackError, StorageError
from bot.logs import setup_logging
from bot.service import Answer, BriefingService
from bot.store.backends import is_postgres, open_database
from bot.store.database import Database

log = logging.getLogger("bot")

EXIT_ERROR = 1
EXIT_USAGE = 2


# Errors that say the bot cannot answer at all, not that one line is wrong: they end a batch.
CANNOT_ANSWER = (StorageError, PackError, ConfigError)
# A question longer than this is refused, not searched: as many characters as /ask takes on Discord.
MAX_QUESTION = 300


class Question(NamedTuple):
    """A question as given (bytes not in UTF-8 shown as U+FFFD), and why it cannot be asked."""

    text: str
    problem: str | None = None


def _question(raw: bytes) -> Question:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Question(
            raw.decode("utf-8", "replace"),
            f"This line is not UTF-8 text (byte {exc.start + 1}); please save it as UTF-8.",
        )
    if not text.strip():
        return Question(text, "This line is blank: there is no question on it.")
    return _checked(text)


def _checked(text: str) -> Question:
    if len(text) > MAX_QUESTION:
        return Question(
            text,
            f"This question is {len(text):,} characters long; please ask in at most "
            f"{MAX_QUESTION}.",
        )
    return Question(text)


def read_questions(stream: BinaryIO) -> Iterator[Question]:
    """Every line of `stream` as one question, blank and unreadable lines too, in order."""
    for number, raw in enumerate(stream, start=1):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)  # Windows editors start UTF-8 files with one
        yield _question(raw.removesuffix(b"\n").removesuffix(b"\r"))


async def _ask(service: BriefingService, question: Question, guild_id: int | None) -> Answer:
    if question.problem is not None:
        raise BriefbotError(question.problem)
    return await service.ask(question.text, guild_id, record=False)


def _answer_json(question: str, answer: Answer) -> dict[str, Any]:
    best = answer.section
    return {
        "question": question,
        "answer": (
            {"slug": best.slug, "title": best.title, "score": answer.score} if best else None
        ),
        "results": [
            {"slug": h.slug, "title": h.title, "score": h.score} for h in answer.results[:5]
        ],
        "suggestions": [{"slug": s.slug, "title": s.title} for s in answer.suggestions],
    }


def _refusal_json(question: str, problem: str) -> dict[str, Any]:
    """The row of a line that could not be asked: a normal row's keys, no answer, and why."""
    return {
        "question": question,
        "answer": None,
        "results": [],
        "suggestions": [],
        "error": problem,
    }


def _print_answer(question: str, answer: Answer, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_answer_json(question, answer), ensure_ascii=False), flush=True)
    elif answer.section:
        print(f"{answer.section.title}  [{answer.section.slug}, score {answer.score}]")
        print(answer.section.content.body, flush=True)
    else:
        names = ", ".join(s.slug for s in answer.suggestions)
        print(f"No confident answer. Closest topics: {names}", flush=True)


async def _open(settings: Settings) -> BriefingService:
    return await BriefingService.open(
        settings.database, settings.knowledge_dir, password=settings.database_password
    )


async def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    """One question from the command line, or with `-` one per line of stdin.

    A batch answers every line, in order: a line that cannot be asked (blank, too long, not
    UTF-8, refused by the service) gets a JSON row with an `error`, or in text a line on stderr,
    and the batch goes on; it exits 0 once every line has had its answer or its error. An error
    about the bot rather than the line (CANNOT_ANSWER) ends it: one line on stderr, exit 1.
    """
    service = await _open(settings)
    try:
        if args.question != "-":
            question = _checked(args.question)
            answer = await _ask(service, question, args.guild)  # refused: one line, exit 1
            _print_answer(question.text, answer, as_json=args.json)
            return 0
        for number, question in enumerate(read_questions(sys.stdin.buffer), start=1):
            try:
                answer = await _ask(service, question, args.guild)
            except CANNOT_ANSWER:
                raise
            except BriefbotError as exc:
                if args.json:
                    row = _refusal_json(question.text, str(exc))
                    print(json.dumps(row, ensure_ascii=False), flush=True)
                else:
                    print(f"briefbot: line {number}: {exc}", file=sys.stderr, flush=True)
                continue
            _print_answer(question.text, answer, as_json=args.json)
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
            topics = await service.sections.visible_sections(args.guild)
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
            section = await service.section(args.slug, args.guild)
            from bot.pack import render_section

            print(render_section(section.content), end="")
    finally:
        await service.close()
    return 0


async def _open_db(settings: Settings, *, migrate: bool = True) -> Database:
    return await open_database(
        settings.database, password=settings.database_password, migrate=migrate
    )


async def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db == "migrate":
        db = await _open_db(settings, migrate=False)
        try:
            before, after = await db.migrate()
        finally:
            await db.close()
        print(f"{settings.database_shown}: schema version {before} -> {after}.")
    elif args.db == "backup":
        db = await _open_db(settings)
        try:
            target = await db.backup(Path(args.path))
        finally:
            await db.close()
        print(f"Backed up {settings.database_shown} to {target}.")
    elif args.db == "copy":
        await _copy(settings, args.source, args.target)
    elif args.db == "purge-guild":
        from bot.store.guilds import GuildData

        if args.guild <= 0:
            # 0 is the console's scope, not a server: nothing a user means to delete.
            raise BriefbotError(f"{args.guild} is not a server id (copy it from Discord).")
        db = await _open_db(settings)
        try:
            deleted = await GuildData(db).purge(args.guild)
        finally:
            await db.close()
        rows = ", ".join(f"{count} from {table}" for table, count in sorted(deleted.items()))
        print(f"Deleted everything stored for server {args.guild}: {rows or 'nothing was there'}.")
    return 0


async def _copy(settings: Settings, source: str, target: str) -> None:
    """`db copy`: every row of SOURCE into the empty TARGET (see bot/store/copy.py)."""
    from bot.store.copy import copy_database

    def password(location: str, name: str) -> str | None:
        # A PostgreSQL URL without a password takes BRIEFBOT_DB_PASSWORD_FILE's.
        if not is_postgres(location):
            return None
        check_postgres_url(location, name)
        return settings.database_password if url_password(location) is None else None

    passwords = password(source, "SOURCE"), password(target, "TARGET")

    reading = await open_database(source, password=passwords[0])
    try:
        writing = await open_database(target, password=passwords[1])
        try:
            report = await copy_database(reading, writing)
        finally:
            await writing.close()
    finally:
        await reading.close()
    print(f"Copied {shown_url(source)} to {shown_url(target)}:")
    width = max(len(name) for name in report.rows)
    for name, count in report.rows.items():
        print(f"  {name:<{width}}  {count:>9,}")
    print(f"  {'total':<{width}}  {report.total:>9,} rows")
    print(f"Rebuilt the search index of {report.indexed:,} curated sections.")


async def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the database opens, its migrations are current and the pack is loaded."""
    from bot.store import SectionStore

    if settings.db_url is None and not settings.db_path.is_file():
        print(f"unhealthy: no database at {settings.db_path} yet", file=sys.stderr)
        return EXIT_ERROR
    db = await _open_db(settings, migrate=False)
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
    db_copy = db.add_parser(
        "copy",
        help="copy every row into an empty database, SQLite or PostgreSQL either way "
        "(stop the bot first)",
    )
    db_copy.add_argument(
        "source",
        metavar="SOURCE",
        help="a SQLite file or a postgresql:// URL (leave its password out: a command line is "
        "seen by others; BRIEFBOT_DB_PASSWORD_FILE gives it)",
    )
    db_copy.add_argument(
        "target", metavar="TARGET", help="an empty (or new) SQLite file or PostgreSQL database"
    )
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
