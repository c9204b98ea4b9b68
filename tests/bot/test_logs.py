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


def test_the_database_password_never_reaches_the_log(restore_logging, tmp_path: Path) -> None:
    """From the URL (percent-encoded or not) or from its file: scrubbed like the token."""
    out = io.StringIO()
    settings = Settings(
        db_url=Secret("postgresql://briefbot:p%40ss-in-url@db:5432/briefbot"), log_format="json"
    )
    setup_logging(settings, out)
    logging.getLogger("bot.test").warning("connecting with p@ss-in-url and p%40ss-in-url")
    assert "ss-in-url" not in out.getvalue()
    secret = tmp_path / "password"
    secret.write_text("from-the-file\n", encoding="utf-8")
    from_file = Settings.from_env(
        {
            "BRIEFBOT_DB": "postgresql://briefbot@db/briefbot",
            "BRIEFBOT_DB_PASSWORD_FILE": str(secret),
        }
    )
    out = io.StringIO()
    setup_logging(from_file, out)
    try:
        raise RuntimeError("auth failed for from-the-file")
    except RuntimeError:
        logging.getLogger("bot.test").exception("the password from-the-file was refused")
    assert "from-the-file" not in out.getvalue()
    assert out.getvalue().count(REDACTED) >= 2


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


def test_interaction_and_webhook_tokens_are_scrubbed_from_message_args_and_traceback(
    restore_logging,
) -> None:
    out = io.StringIO()
    setup_logging(Settings(token=Secret(TOKEN), log_format="text", log_level="DEBUG"), out)
    log = logging.getLogger("discord.http")
    ix_token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OmFiY2RlZmdoaWprbG1ub3A"
    log.debug(
        "POST %s with %s has returned 204",
        f"https://discord.com/api/v10/interactions/123456789/{ix_token}/callback",
        None,
    )
    log.debug("PATCH /webhooks/42/%s/messages/@original", ix_token)
    log.debug("WebSocket Event: %s", {"d": {"id": "1", "token": ix_token}})
    log.debug('{"op": 2, "d": {"token": "%s"}}', TOKEN)
    try:
        raise RuntimeError(f"https://discord.com/api/webhooks/42/{ix_token}?wait=true")
    except RuntimeError:
        log.warning("send failed", exc_info=True)
    text = out.getvalue()
    assert ix_token not in text and TOKEN not in text
    assert f"/interactions/123456789/{REDACTED}/callback" in text
    assert f"/webhooks/42/{REDACTED}/messages/@original" in text
    assert f"'token': '{REDACTED}'" in text
    assert f"/api/webhooks/42/{REDACTED}?wait=true" in text


async def test_at_debug_no_bot_or_interaction_token_reaches_the_log(
    tmp_path: Path, restore_logging
) -> None:
    """The real bot against the fake, logging everything: /ask, a button and a follow-up."""
    out = io.StringIO()
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        settings = replace(Settings(), token=Secret(fake.token), log_level="DEBUG")
        setup_logging(settings, out)
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "asdf"})
            data = (await ix.wait_response())["data"]
            button = data["components"][0]["components"][0]
            click = await fake.click_component(ix, button["custom_id"])
            await click.wait_response()

            bot.deadline.defer_by = 0.0  # deferred at once, then followed up
            slow = await fake.send_slash(guild.id, name="ask", options={"question": "berlin talks"})
            await slow.wait_response()
            await slow.wait_followups(1)
        issued = [fake.token, *fake.interactions_by_token]
    text = out.getvalue()
    assert len(issued) >= 4
    # discord.py did log the routes and payloads that carry them, at DEBUG:
    assert f"/interactions/{ix.id}/{REDACTED}/callback" in text
    assert f"/webhooks/{fake.app_id}/{REDACTED}" in text
    leaked = [token[:12] for token in issued if token in text]
    assert not leaked, f"tokens in the log: {leaked}"
