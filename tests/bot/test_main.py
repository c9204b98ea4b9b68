"""The command line, run in-process through `main(argv)`; one test runs `python -m bot` for real."""

from __future__ import annotations

import asyncio
import codecs
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import bot.__main__ as cli_module
from bot.__main__ import EXIT_ERROR, main
from bot.console import Console
from bot.errors import BriefbotError, StorageError
from bot.pack import load_pack, parse_section
from bot.service import BriefingService
from bot.store.asks import AskLog
from bot.store.database import SqliteDatabase, migrations
from bot.store.moderation import ModerationStore
from bot.store.postgres import database as postgres_database


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "cli" / "briefbot.sqlite3"


@pytest.fixture
def cli(clean_env, db_path, knowledge_dir, capsys):
    """Run `main(argv)` with BRIEFBOT_DB in tmp_path; returns (exit code, stdout, stderr)."""
    clean_env.setenv("BRIEFBOT_DB", str(db_path))
    clean_env.setenv("BRIEFBOT_KNOWLEDGE", str(knowledge_dir))

    def run(*argv: str, stdin: str | bytes | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
            clean_env.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("briefbot: ")
    return lines[0]


# -- ask --------------------------------------------------------------------------------------


def test_ask_json_answers_a_typo(cli):
    code, out, err = cli("ask", "--json", "berln talks")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert {"question", "answer", "results"} <= set(data)
    assert data["question"] == "berln talks"
    assert data["answer"]["slug"] == "berlin-talks"
    assert 1 <= len(data["results"]) <= 5
    assert data["results"][0]["slug"] == "berlin-talks"
    assert data["answer"]["score"] == data["results"][0]["score"]


def test_ask_json_off_topic_has_null_answer_and_suggestions(cli, expected_slugs):
    code, out, _ = cli("ask", "--json", "how do I bake bread")
    assert code == 0
    data = json.loads(out)
    assert data["answer"] is None
    assert data["suggestions"]
    assert {s["slug"] for s in data["suggestions"]} <= set(expected_slugs)


def test_ask_json_reads_questions_from_stdin(cli):
    questions = ["berln talks", "", "how do I bake bread", "securty guarantees"]
    code, out, _ = cli("ask", "--json", "-", stdin="\n".join(questions))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["question"] for r in rows] == questions
    assert [r["answer"] and r["answer"]["slug"] for r in rows] == [
        "berlin-talks",
        None,
        None,
        "security-guarantees",
    ]
    assert "error" in rows[1] and "error" not in rows[2]


ANSWER_KEYS = {"question", "answer", "results", "suggestions"}


def refused_lines(clean_env, refused: str) -> None:
    """Make the service refuse `refused` with a BriefbotError, as it refuses what it cannot ask."""
    ask = BriefingService.ask

    async def asking(self, question, guild_id, *, record=True):
        if question == refused:
            raise BriefbotError("That question cannot be asked here.")
        return await ask(self, question, guild_id, record=record)

    clean_env.setattr(BriefingService, "ask", asking)


def test_ask_json_batch_writes_one_line_per_input_line_in_order(cli, clean_env, knowledge_dir):
    titles = {s.title: s.slug for s in load_pack(knowledge_dir)}
    asked = [text for s in load_pack(knowledge_dir) for text in (s.title, *s.aliases)]
    unusable = {
        "": "blank",
        "   \t ": "blank",
        "berlin " * 60: "300",
        "Berlin \ufffd talks?": "UTF-8",
        "refuse this one": "cannot be asked",
    }
    refused_lines(clean_env, "refuse this one")
    lines = [asked[i % len(asked)] for i in range(459 - len(unusable))]
    for offset, text in enumerate(unusable):
        lines.insert(offset * 97 + 3, text)
    data = "\r\n".join(lines).encode("utf-8").replace("\ufffd".encode(), b"\xff")

    code, out, err = cli("ask", "--json", "-", stdin=codecs.BOM_UTF8 + data)

    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(lines) == 459
    assert [row["question"] for row in rows] == lines
    for text, row in zip(lines, rows, strict=True):
        if text in unusable:
            assert row == {**row, "answer": None, "results": [], "suggestions": []}
            assert set(row) == ANSWER_KEYS | {"error"}
            assert unusable[text] in row["error"]
        else:
            assert set(row) == ANSWER_KEYS
        if text in titles:
            assert row["answer"]["slug"] == titles[text]


def test_ask_text_batch_names_each_unusable_line_on_stderr(cli, clean_env, knowledge_dir):
    berlin = next(s for s in load_pack(knowledge_dir) if s.slug == "berlin-talks")
    refused_lines(clean_env, "refuse this one")
    stdin = b"berln talks\n\n  \nrefuse this one\n\xffoops\n" + b"x" * 301 + b"\nberln talks\n"
    code, out, err = cli("ask", "-", stdin=stdin)
    assert code == 0
    assert out.count(berlin.body) == 2
    assert err.splitlines() == [
        "briefbot: line 2: This line is blank: there is no question on it.",
        "briefbot: line 3: This line is blank: there is no question on it.",
        "briefbot: line 4: That question cannot be asked here.",
        "briefbot: line 5: This line is not UTF-8 text (byte 1); please save it as UTF-8.",
        "briefbot: line 6: This question is 301 characters long; please ask in at most 300.",
    ]


def test_ask_batch_stops_when_the_bot_cannot_answer_at_all(cli, clean_env):
    async def broken(self, question, guild_id, *, record=True):
        raise StorageError("briefbot.sqlite3 cannot be read: check the disk.")

    clean_env.setattr(BriefingService, "ask", broken)
    code, out, err = cli("ask", "--json", "-", stdin="berln talks\nsecurty guarantees\n")
    assert (code, out) == (EXIT_ERROR, "")
    assert "cannot be read" in one_line_error(err)


@pytest.mark.parametrize("question", ["   ", "x" * 301])
def test_ask_one_unusable_question_is_one_line_error(cli, question):
    code, out, err = cli("ask", "--json", question)
    assert (code, out) == (EXIT_ERROR, "")
    one_line_error(err)


def test_ask_guild_answers_as_that_server_sees_it(cli, db_path, knowledge_dir, pack_dir):
    berlin = pack_dir / "berlin-talks.md"
    text = berlin.read_text("utf-8").replace("title: ", "title: Zanzibar ferry notes, ", 1)
    berlin.write_text(text, "utf-8")

    async def import_override() -> None:
        service = await BriefingService.open(db_path, knowledge_dir)
        try:
            await service.import_guild_pack(pack_dir, 42)
        finally:
            await service.close()

    asyncio.run(import_override())

    def titles(*guild: str) -> list[str | None]:
        code, out, err = cli("ask", "--json", *guild, "-", stdin="berln talks\nzanzibar ferry\n")
        assert (code, err) == (0, "")
        return [r["answer"] and r["answer"]["title"] for r in map(json.loads, out.splitlines())]

    ours = "Zanzibar ferry notes, What are the Berlin talks?"
    assert titles("--guild", "42") == [ours, ours]
    for elsewhere in (("--guild", "43"), ()):
        berlin_title, ferry = titles(*elsewhere)
        assert berlin_title == "What are the Berlin talks?"
        assert ferry != ours


def test_ask_plain_prints_the_section_or_the_closest_topics(cli, knowledge_dir):
    berlin = next(s for s in load_pack(knowledge_dir) if s.slug == "berlin-talks")
    code, out, _ = cli("ask", "berln talks")
    assert code == 0
    assert out.startswith(f"{berlin.title}  [berlin-talks, score ")
    assert berlin.body in out
    code, out, _ = cli("ask", "how do I bake bread")
    assert code == 0
    assert out.startswith("No confident answer. Closest topics: ")


def test_ask_does_not_log_questions(cli, db_path):
    assert cli("ask", "--guild", "42", "berln talks")[0] == 0
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM asks").fetchone()[0] == 0


# -- kb ---------------------------------------------------------------------------------------


def test_kb_export_then_import_changes_nothing(cli, tmp_path, knowledge_dir):
    out_dir = tmp_path / "exported"
    code, out, _ = cli("kb", "export", str(out_dir))
    assert code == 0
    assert f"Exported 10 sections to {out_dir}" in out
    assert load_pack(out_dir) == load_pack(knowledge_dir)
    code, out, _ = cli("kb", "import", str(out_dir))
    assert code == 0
    assert "0 added, 0 updated, 0 retired" in out


def test_kb_export_into_a_folder_holding_other_files_deletes_nothing(cli, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# Read me\n", encoding="utf-8")
    code, _, err = cli("kb", "export", str(project))
    assert code == EXIT_ERROR
    assert "README.md" in one_line_error(err)
    assert [p.name for p in project.iterdir()] == ["README.md"]


def test_kb_import_guild_takes_a_server_export_into_that_server_only(cli, tmp_path, pack_dir):
    berlin = pack_dir / "berlin-talks.md"
    berlin.write_text(
        berlin.read_text("utf-8").replace("title: ", "title: Our notes on ", 1), "utf-8"
    )
    code, out, err = cli("kb", "import", "--guild", "42", str(pack_dir))
    assert code == 0, err
    assert "into server 42: 1 added, 0 updated, 0 retired, 9 unchanged" in out
    _, here, _ = cli("kb", "show", "berlin-talks", "--guild", "42")
    _, curated, _ = cli("kb", "show", "berlin-talks")
    assert "title: Our notes on" in here
    assert "title: Our notes on" not in curated
    code, _, err = cli("kb", "import", "--guild", "42")
    assert code == EXIT_ERROR and "needs the file" in one_line_error(err)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "oops.md").write_text("---\ntitle: T\n---\nno date\n", "utf-8")
    code, _, err = cli("kb", "import", "--guild", "42", str(bad))
    assert code == EXIT_ERROR and "oops.md: field 'updated'" in err


def test_kb_import_guild_keeps_the_servers_topic_cap(cli, clean_env, pack_dir):
    clean_env.setenv("BRIEFBOT_MAX_GUILD_TOPICS", "2")
    for slug in ("berlin-talks", "us-role", "nato-purpose"):
        page = pack_dir / f"{slug}.md"
        page.write_text(page.read_text("utf-8").replace("title: ", "title: Ours, ", 1), "utf-8")
    code, _, err = cli("kb", "import", "--guild", "42", str(pack_dir))
    assert code == EXIT_ERROR
    assert "3 topics of its own" in one_line_error(err) and "most" in err
    _, here, _ = cli("kb", "show", "berlin-talks", "--guild", "42")
    assert "title: Ours," not in here  # nothing was imported
    (pack_dir / "nato-purpose.md").unlink()
    code, out, err = cli("kb", "import", "--guild", "42", str(pack_dir))
    assert code == 0, err
    assert "2 added" in out


def test_kb_import_of_a_changed_pack_reports_it(cli, pack_dir):
    (pack_dir / "berlin-talks.md").unlink()
    code, out, _ = cli("kb", "import", str(pack_dir))
    assert code == 0
    assert "0 added, 0 updated, 1 retired, 9 unchanged" in out
    _, listed, _ = cli("kb", "list", "--json")
    assert "berlin-talks" not in [row["slug"] for row in json.loads(listed)]


def test_kb_list_json(cli, expected_slugs, knowledge_dir):
    code, out, _ = cli("kb", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["slug"] for r in rows] == expected_slugs
    pack = {s.slug: s for s in load_pack(knowledge_dir)}
    for row in rows:
        section = pack[row["slug"]]
        assert row == {
            "slug": section.slug,
            "title": section.title,
            "order": section.position,
            "updated": section.updated.isoformat(),
            "scope": None,
        }


def test_kb_list_text_is_in_rotation_order(cli, expected_slugs):
    code, out, _ = cli("kb", "list")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(expected_slugs)
    assert [line.split()[1] for line in lines] == expected_slugs


def test_kb_show_prints_the_section_in_pack_format(cli, knowledge_dir):
    code, out, _ = cli("kb", "show", "berlin-talks")
    assert code == 0
    expected = next(s for s in load_pack(knowledge_dir) if s.slug == "berlin-talks")
    assert parse_section(out, "berlin-talks") == expected


def test_kb_show_unknown_slug_is_one_line_error(cli):
    code, out, err = cli("kb", "show", "no-such-topic")
    assert code == EXIT_ERROR
    assert out == ""
    assert "no-such-topic" in one_line_error(err)


def test_kb_import_of_a_bad_pack_names_the_file_and_changes_nothing(cli, pack_dir):
    assert cli("kb", "list")[0] == 0
    (pack_dir / "us-role.md").write_text("---\nupdated: 2026-11-28\n---\nNo title.\n", "utf-8")
    (pack_dir / "berlin-talks.md").unlink()
    code, _, err = cli("kb", "import", str(pack_dir))
    assert code == EXIT_ERROR
    assert "Traceback" not in err
    assert "us-role.md" in err
    assert "'title'" in err
    _, listed, _ = cli("kb", "list", "--json")
    assert len(json.loads(listed)) == 10


def test_first_start_with_a_bad_pack_names_the_file(cli, clean_env, pack_dir):
    (pack_dir / "Bad_Slug.md").write_text("---\ntitle: T\nupdated: 2026-01-01\n---\nB\n", "utf-8")
    clean_env.setenv("BRIEFBOT_KNOWLEDGE", str(pack_dir))
    code, out, err = cli("ask", "berlin")
    assert code == EXIT_ERROR
    assert out == ""
    assert "Traceback" not in err
    assert "Bad_Slug.md" in err


def test_kb_import_of_a_missing_folder(cli, tmp_path):
    missing = tmp_path / "nowhere"
    code, _, err = cli("kb", "import", str(missing))
    assert code == EXIT_ERROR
    assert str(missing) in err


# -- db ---------------------------------------------------------------------------------------


def test_db_migrate_reports_versions(cli, db_path):
    latest = len(migrations())
    code, out, _ = cli("db", "migrate")
    assert code == 0
    assert out.strip() == f"{db_path}: schema version 0 -> {latest}."
    code, out, _ = cli("db", "migrate")
    assert out.strip() == f"{db_path}: schema version {latest} -> {latest}."


async def _slugs_in(path: Path) -> list[str]:
    service = await BriefingService.open(path, None)
    try:
        return [s.slug for s in service.topics(None)]
    finally:
        await service.close()


def test_db_backup_is_a_usable_copy(cli, tmp_path, expected_slugs):
    assert cli("kb", "list")[0] == 0
    target = tmp_path / "backup.sqlite3"
    code, out, _ = cli("db", "backup", str(target))
    assert code == 0
    assert str(target) in out
    assert asyncio.run(_slugs_in(target)) == expected_slugs


def test_db_backup_into_a_missing_folder_is_one_line_error(cli, tmp_path):
    missing = tmp_path / "missing" / "copy.sqlite3"
    code, _, err = cli("db", "backup", str(missing))
    assert code == EXIT_ERROR
    assert str(missing.parent) in one_line_error(err)


# -- unusable settings end in one line, exit 1 ---------------------------------------------------

COMMANDS = [
    ("ask", "--json", "berln talks"),
    ("kb", "list"),
    ("db", "migrate"),
    ("db", "backup", "backup.sqlite3"),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_database_path_inside_a_regular_file(cli, clean_env, tmp_path, argv):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    clean_env.setenv("BRIEFBOT_DB", str(blocker / "db.sqlite3"))
    code, out, err = cli(*argv)
    assert code == EXIT_ERROR
    assert out == ""
    assert str(blocker) in one_line_error(err)


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_database_path_that_is_a_folder(cli, clean_env, tmp_path, argv):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    clean_env.setenv("BRIEFBOT_DB", str(folder))
    code, _, err = cli(*argv)
    assert code == EXIT_ERROR
    assert str(folder) in one_line_error(err)


def test_corrupt_database_is_one_line_error(cli, clean_env, tmp_path):
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"garbage, not SQLite\n" * 300)
    clean_env.setenv("BRIEFBOT_DB", str(corrupt))
    code, _, err = cli("kb", "list")
    assert code == EXIT_ERROR
    assert str(corrupt) in one_line_error(err)


def test_bad_setting_is_one_line_error(cli, clean_env):
    clean_env.setenv("BRIEFBOT_DEV_GUILD", "not-a-number")
    code, _, err = cli("kb", "list")
    assert code == EXIT_ERROR
    assert "BRIEFBOT_DEV_GUILD" in one_line_error(err)


def test_usage_errors_exit_2(cli):
    with pytest.raises(SystemExit) as caught:
        cli("kb")
    assert caught.value.code == 2


# -- run without a token: the local console -------------------------------------------------------


def test_run_without_token_serves_the_console_from_stdin(
    cli, clean_env, expected_slugs, knowledge_dir
):
    # Console's `out` defaults to the sys.stdout of import time; hand it the captured one.
    clean_env.setattr(cli_module, "Console", lambda service: Console(service, out=sys.stdout))
    title = next(s.title for s in load_pack(knowledge_dir) if s.slug == "berlin-talks")
    code, out, _ = cli("run", stdin="/topics\nberln talks\n/quit\n/help\n")
    assert code == 0
    for slug in expected_slugs:
        assert f"[{slug}]" in out
    assert f"# {title}" in out
    assert "Commands (the same" not in out, "lines after /quit must not run"
    assert out.rstrip().endswith("Bye.")


# -- the real entry point ------------------------------------------------------------------------


def test_python_dash_m_bot_ask_json(repo_root, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "BRIEFBOT_"))}
    env["BRIEFBOT_DB"] = str(tmp_path / "sub.sqlite3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo_root), env.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "berln talks"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    [line] = completed.stdout.splitlines()
    data = json.loads(line)
    assert data["answer"]["slug"] == "berlin-talks"
    assert len(data["results"]) <= 5


def test_run_discord_refuses_to_fall_back_to_the_console(monkeypatch, capsys) -> None:
    from bot.__main__ import main

    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("DISCORD_TOKEN_FILE", raising=False)
    assert main(["run", "--discord"]) == 2
    assert "no DISCORD_TOKEN" in capsys.readouterr().err


def test_db_purge_guild_deletes_that_servers_data_at_once(cli, db_path):
    async def fill() -> None:
        db = await SqliteDatabase.open(db_path)
        try:
            asks = AskLog(db)
            for guild in (111, 222):
                await asks.record(guild, "a question", None, None)
                await ModerationStore(db).update(guild, mod_role_id=guild)
            await asks.close()  # the ask log is written in batches
        finally:
            await db.close()

    asyncio.run(fill())
    code, out, _ = cli("db", "purge-guild", "111")
    assert code == 0
    assert out.strip() == (
        "Deleted everything stored for server 111: 1 from asks, 1 from guild_settings."
    )
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT guild_id FROM asks").fetchall() == [(222,)]
        assert conn.execute("SELECT guild_id FROM guild_settings").fetchall() == [(222,)]
    code, out, _ = cli("db", "purge-guild", "111")
    assert out.strip() == "Deleted everything stored for server 111: nothing was there."


@pytest.mark.parametrize("guild", ["0", "-111"])
def test_db_purge_guild_refuses_what_is_not_a_server_id(cli, db_path, guild):
    async def fill() -> None:
        db = await SqliteDatabase.open(db_path)
        try:
            asks = AskLog(db)
            await asks.record(0, "asked at the console", None, None)
            await asks.record(-111, "a negative id", None, None)
            await asks.close()  # the ask log is written in batches
        finally:
            await db.close()

    asyncio.run(fill())
    code, out, err = cli("db", "purge-guild", guild)
    assert (code, out) == (EXIT_ERROR, "")
    assert one_line_error(err) == f"briefbot: {guild} is not a server id (copy it from Discord)."
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM asks").fetchone() == (2,)


# -- db copy, and db backup on PostgreSQL ---------------------------------------------------------


def test_db_copy_copies_every_row_and_says_how_many(cli, db_path, tmp_path, expected_slugs):
    assert cli("kb", "list")[0] == 0  # the first start imports the curated pack
    target = tmp_path / "copy" / "moved.sqlite3"
    code, out, err = cli("db", "copy", str(db_path), str(target))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Copied {db_path} to {target}:"
    counts = dict(line.split() for line in lines[1:-2])
    with sqlite3.connect(db_path) as conn:
        sections = conn.execute("SELECT count(*) FROM sections").fetchone()[0]
        revisions = conn.execute("SELECT count(*) FROM revisions").fetchone()[0]
    assert counts["sections"] == str(sections) and counts["revisions"] == str(revisions)
    assert len(counts) == 19 and "sections_fts" not in counts
    assert lines[-2].split() == [
        "total",
        str(sum(int(c.replace(",", "")) for c in counts.values())),
        "rows",
    ]
    assert lines[-1] == f"Rebuilt the search index of {len(expected_slugs)} curated sections."
    assert asyncio.run(_slugs_in(target)) == expected_slugs


def test_db_copy_refuses_a_target_that_is_not_empty(cli, db_path, tmp_path):
    assert cli("kb", "list")[0] == 0
    target = tmp_path / "busy.sqlite3"
    assert cli("db", "copy", str(db_path), str(target))[0] == 0
    with sqlite3.connect(target) as conn:
        before = conn.execute("SELECT count(*), max(id) FROM revisions").fetchone()

    code, out, err = cli("db", "copy", str(db_path), str(target))

    assert (code, out) == (EXIT_ERROR, "")
    assert one_line_error(err) == (
        f"briefbot: The target {target} is not empty: its table sections holds rows. db copy "
        "writes only into an empty database (a new SQLite file or a new PostgreSQL database); "
        "nothing was written."
    )
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*), max(id) FROM revisions").fetchone() == before


def test_db_copy_into_postgresql_shows_no_password(cli, db_path, postgres_url):
    assert cli("kb", "list")[0] == 0
    # The test server trusts its socket, so any password is accepted: it must never be shown.
    url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret-word@")
    assert url != postgres_url
    shown = url.replace(":s3cret-word@", ":***@")

    code, out, err = cli("db", "copy", str(db_path), url)
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"Copied {db_path} to {shown}:"

    code, out, err = cli("db", "copy", str(db_path), url)
    assert (code, out) == (EXIT_ERROR, "")
    assert one_line_error(err).startswith(
        f"briefbot: The target {shown} is not empty: its table sections holds rows."
    )
    assert "s3cret-word" not in err


def test_db_copy_takes_the_password_file_for_a_url_without_one(
    cli, clean_env, db_path, tmp_path, monkeypatch
):
    secret = tmp_path / "password"
    secret.write_text("from-the-file\n", encoding="utf-8")
    clean_env.setenv("BRIEFBOT_DB", "postgresql://briefbot@127.0.0.1:1/briefbot")
    clean_env.setenv("BRIEFBOT_DB_PASSWORD_FILE", str(secret))
    given = {}

    class Opened:
        async def close(self) -> None:
            pass

    async def open_database(location, *, password=None, **_):
        """Notes the password each database is opened with; the second open ends the copy."""
        given[str(location)] = password
        if len(given) == 2:
            raise StorageError("stop here")
        return Opened()

    monkeypatch.setattr(cli_module, "open_database", open_database)
    code, _, _ = cli(
        "db", "copy", "postgresql://briefbot@127.0.0.1:1/old", "postgresql://u:pw@127.0.0.1:1/new"
    )
    assert code == EXIT_ERROR
    assert given == {
        "postgresql://briefbot@127.0.0.1:1/old": "from-the-file",
        "postgresql://u:pw@127.0.0.1:1/new": None,  # a URL with its own password keeps it
    }


def test_db_backup_on_postgresql_without_pg_dump_says_which_tool(
    cli, clean_env, postgres_url, monkeypatch
):
    monkeypatch.setattr(postgres_database.shutil, "which", lambda name: None)
    clean_env.setenv("BRIEFBOT_DB", postgres_url)
    code, out, err = cli("db", "backup", "backup.pgdump")
    assert (code, out) == (EXIT_ERROR, "")
    line = one_line_error(err)
    assert "pg_dump --format=custom" in line and "pg_restore" in line
    assert "Briefbot's `db backup` copies SQLite files" in line
