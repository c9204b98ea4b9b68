"""Logging: JSON lines or text, interaction records, and the token scrubbed everywhere."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import Secret, Settings
from bot.logs import REDACTED, setup_logging
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.secretsecretsecretsecret"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_extras_and_never_the_token(restore_logging) -> None:
    out = io.StringIO()
    settings = Settings(token=Secret(TOKEN), log_format="json", log_level="INFO")
    setup_logging(settings, out)
    log = logging.getLogger("bot.test")
    log.info("plain %s", TOKEN, extra={"guild": 42, "note": f"x{TOKEN}y"})
    try:
        raise RuntimeError(f"boom with {TOKEN}")
    except RuntimeError:
        log.exception("failed")
    log.debug("hidden at INFO")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [entry["message"] for entry in lines] == [f"plain {REDACTED}", "failed"]
    assert lines[0]["guild"] == 42 and lines[0]["note"] == f"x{REDACTED}y"
    assert "RuntimeError: boom with [redacted]" in lines[1]["traceback"]
    assert TOKEN not in out.getvalue()


def test_text_format_and_level(restore_logging) -> None:
    out = io.StringIO()
    setup_logging(Settings(log_format="text", log_level="WARNING"), out)
    logging.getLogger("bot.test").info("not shown")
    logging.getLogger("bot.test").warning("shown", extra={"outcome": "ok"})
    text = out.getvalue()
    assert "not shown" not in text
    assert "WARNING bot.test: shown outcome=ok" in text


async def test_each_interaction_logs_command_server_outcome_and_latency(
    tmp_path: Path, restore_logging
) -> None:
    out = io.StringIO()
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        settings = replace(Settings(), token=Secret(fake.token), log_format="json")
        setup_logging(settings, out)
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ix = await fake.send_slash(guild.id, name="topics")
            await ix.wait_response()
            refused = await fake.send_slash(
                guild.id, name="briefing", subcommand="pause", member_permissions=0
            )
            await refused.wait_response()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    done = [r for r in records if r.get("command") in ("topics", "briefing pause")]
    assert {(r["command"], r["outcome"]) for r in done} == {
        ("topics", "ok"),
        ("briefing pause", "refused"),
    }
    assert all(r["guild"] == guild.id and r["latency_ms"] >= 0 for r in done)
    assert fake.token not in out.getvalue()
