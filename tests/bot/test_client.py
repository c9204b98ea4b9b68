"""The client as `python -m bot run` starts it: endpoints, intents, command sync, a bad token."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import discord
import pytest
import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket

from tests.discord_support import KNOWLEDGE, running_bot, settings_for
from tests.fakediscord import FakeDiscord

REPO = Path(__file__).resolve().parents[2]


async def test_commands_sync_to_the_dev_guild_only_when_changed(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Dev")
        async with running_bot(fake, db, dev_guild=guild.id):
            pass
        async with running_bot(fake, db, dev_guild=guild.id):
            pass
        guild_syncs = fake.requests_matching("PUT", rf"/guilds/{guild.id}/commands$")
        global_syncs = fake.requests_matching("PUT", r"/applications/\d+/commands$")
        assert len(guild_syncs) == 1
        assert global_syncs == []
        assert set(fake.command_names(guild.id)) >= {"ask", "explain", "topics", "briefing"}
        # The same database pointed at global scope syncs globally once.
        async with running_bot(fake, db):
            pass
        assert len(fake.requests_matching("PUT", r"/applications/\d+/commands$")) == 1


async def test_global_commands_have_the_public_names_and_options(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            ask = fake.command("ask")
            explain = fake.command("explain")
            briefing = fake.command("briefing")
        assert ask is not None and explain is not None and briefing is not None
        question = ask["options"][0]
        assert (question["name"], question["min_length"], question["max_length"]) == (
            "question",
            1,
            300,
        )
        assert explain["options"][0]["autocomplete"] is True
        assert sorted(o["name"] for o in briefing["options"]) == [
            "next",
            "now",
            "off",
            "pause",
            "resume",
            "set",
            "show",
        ]


def _run(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {
        "PATH": os.environ.get("PATH", ""),
        "BRIEFBOT_DB": str(tmp_path / "db.sqlite3"),
        "BRIEFBOT_KNOWLEDGE": str(KNOWLEDGE),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


async def test_a_refused_token_gets_one_line_and_exit_code_2(tmp_path: Path) -> None:
    token = "NotARealToken.abcdefghijklmnop.qrstuvwxyz0123"
    async with FakeDiscord(valid_tokens={"some-other-token-entirely-0123456789"}) as fake:
        result = await asyncio.to_thread(
            _run,
            {
                "DISCORD_TOKEN": token,
                "DISCORD_API_BASE": fake.api_base,
                "DISCORD_GATEWAY_URL": fake.gateway_url,
            },
            tmp_path,
        )
    assert result.returncode == 2
    # Start-up log records may precede it; the failure itself is one line, not a traceback.
    lines = [line for line in result.stderr.splitlines() if line.startswith("briefbot:")]
    assert len(lines) == 1 and "refused the bot token" in lines[0]
    assert not [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert token not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


async def test_token_file_is_read_and_never_printed(tmp_path: Path) -> None:
    token = "FileToken.abcdefghijklmnop.qrstuvwxyz0123456"
    secret = tmp_path / "token"
    secret.write_text(token + "\n")
    async with FakeDiscord(valid_tokens={"valid-token-that-differs-0123456789"}) as fake:
        result = await asyncio.to_thread(
            _run,
            {
                "DISCORD_TOKEN_FILE": str(secret),
                "DISCORD_API_BASE": fake.api_base,
                "DISCORD_GATEWAY_URL": fake.gateway_url,
            },
            tmp_path,
        )
        tried = fake.requests_matching("GET", r"^/users/@me$")
    assert result.returncode == 2
    assert tried and tried[0].headers["Authorization"] == f"Bot {token}"
    assert token not in result.stderr + result.stdout


async def test_reconnect_keeps_the_same_service(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3") as bot:
            service = bot.service
            await fake.drop_gateway(code=1001)
            await fake.wait_ready(count=2, timeout=15)
            ix = await fake.send_slash(guild.id, name="topics")
            data = (await ix.wait_response(timeout=10))["data"]
            assert bot.service is service
        assert data["embeds"][0]["title"] == "Topics"


async def test_shutdown_waits_for_the_tasks_discord_py_answers_interactions_in() -> None:
    from bot.client import interaction_tasks

    async def idle() -> None:
        await asyncio.sleep(3600)

    # The names discord.py 2.x gives them: a slash command, a DynamicItem click, a listener.
    names = [
        "CommandTree-invoker",
        "discord-ui-dynamic-item-ConfirmRemove-bb:kbrm:1:2",
        "discord.py: on_interaction",
        "briefbot-daily-explainer",
    ]
    # ...as the installed discord.py really names them (this fails if a release renames one).
    sources = "".join(
        inspect.getsource(f)
        for f in (
            discord.app_commands.CommandTree._from_interaction,
            discord.ui.view.ViewStore.dispatch_dynamic_items,
            discord.Client._schedule_event,
        )
    )
    for prefix in ("'CommandTree-invoker'", "f'discord-ui-dynamic-item-", "f'discord.py: "):
        assert prefix in sources
    tasks = [asyncio.create_task(idle(), name=name) for name in names]
    try:
        found = {task.get_name() for task in interaction_tasks()}
        assert found == set(names[:3])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_retry_delay_doubles_with_jitter_and_is_capped() -> None:
    from bot.client import RETRY_CAP, retry_delay

    assert [retry_delay(n, rng=lambda: 0.0) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert [retry_delay(n, rng=lambda: 1.0) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert retry_delay(50, rng=lambda: 1.0) == RETRY_CAP == 60.0
    assert retry_delay(50, rng=lambda: 0.0) == RETRY_CAP / 2


async def test_discord_unreachable_at_start_is_retried_until_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.client import run_bot

    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        # No network yet: the REST endpoint refuses connections.
        settings = settings_for(
            fake, tmp_path / "db.sqlite3", api_base=f"http://127.0.0.1:{closed_port()}/api/v10"
        )
        assert settings.token is not None
        token = settings.token.reveal()
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 1:
                # The network comes up, but Discord answers 503 once more.
                fake.inject_error("GET", r"^/users/@me$", 503, count=1)
                discord.http.Route.BASE = fake.api_base

        with caplog.at_level(logging.INFO):
            running = asyncio.create_task(run_bot(settings, sleep=sleep, rng=lambda: 0.5))
            await fake.wait_ready(1, timeout=15)
            os.kill(os.getpid(), signal.SIGTERM)  # run_bot's handler closes the bot
            code = await asyncio.wait_for(running, timeout=15)
    assert code == 0
    assert waits == [0.75, 1.5]
    retries = [r for r in caplog.records if "cannot reach Discord" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    assert "ClientConnectorError" in retries[0].getMessage()
    assert "retrying in 0.8 s" in retries[0].getMessage()
    assert "Discord answered HTTP 503" in retries[1].getMessage()
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in retries)
    assert token not in caplog.text


@pytest.mark.parametrize(
    ("close_code", "says"),
    [(4004, "refused the bot token"), (4014, "refused the gateway intents")],
)
async def test_what_retrying_cannot_fix_stops_with_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    close_code: int,
    says: str,
) -> None:
    from bot.client import run_bot

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        settings = settings_for(fake, tmp_path / "db.sqlite3")
        assert settings.token is not None
        with caplog.at_level(logging.INFO):
            running = asyncio.create_task(run_bot(settings, sleep=sleep))
            await fake.wait_ready(1, timeout=15)
            await fake.drop_gateway(code=close_code)
            code = await asyncio.wait_for(running, timeout=15)
    err = capsys.readouterr().err
    assert code == 2
    assert waits == []  # not retried
    lines = [line for line in err.splitlines() if line.startswith("briefbot:")]
    assert len(lines) == 1 and says in lines[0]
    assert "Traceback" not in err
    assert settings.token.reveal() not in err + caplog.text


async def _until_ready(fake: FakeDiscord, running: asyncio.Task[int]) -> None:
    """Wait for the bot's READY; if run_bot ends first, fail with what ended it."""
    ready = asyncio.create_task(fake.wait_ready(1, timeout=15))
    await asyncio.wait({running, ready}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        ready.cancel()
        raise AssertionError(f"run_bot ended before connecting: {running.result()}")
    await ready


async def test_an_unreachable_gateway_at_start_is_retried_until_it_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from bot.client import run_bot

    async with FakeDiscord() as fake:
        fake.add_guild(name="News")
        # REST answers, but nothing listens where the gateway is.
        settings = settings_for(
            fake, tmp_path / "db.sqlite3", gateway_url=f"ws://127.0.0.1:{closed_port()}/gateway"
        )
        assert settings.token is not None
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 2:
                # The gateway comes up.
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

        with caplog.at_level(logging.INFO):
            running = asyncio.create_task(run_bot(settings, sleep=sleep, rng=lambda: 0.5))
            await _until_ready(fake, running)
            starting = list(caplog.records)  # everything logged until connected
            os.kill(os.getpid(), signal.SIGTERM)  # run_bot's handler closes the bot
            code = await asyncio.wait_for(running, timeout=15)
        logins = fake.requests_matching("GET", r"^/users/@me$")
    err = capsys.readouterr().err
    assert code == 0
    assert waits == [0.75, 1.5]
    assert len(logins) == 1  # logged in once; only the gateway was retried
    retries = [r for r in starting if "cannot reach" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    assert all(r.getMessage().startswith("cannot reach Discord's gateway (") for r in retries)
    assert "ClientConnectorError" in retries[0].getMessage()
    assert "retrying in 0.8 s" in retries[0].getMessage()
    assert "retrying in 1.5 s" in retries[1].getMessage()
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in retries)
    assert not [r for r in starting if r.exc_info or r.levelno >= logging.ERROR]
    assert "Traceback" not in err
    assert settings.token.reveal() not in err + caplog.text


async def test_a_gateway_that_fails_right_after_its_hello_is_retried_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Briefbot's check sees the hello, then discord.py's own first connection is closed."""
    from bot.client import run_bot

    connections: list[int] = []

    async def flaky(request: web.Request) -> web.WebSocketResponse:
        connections.append(1)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if len(connections) == 1:
            await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
            await ws.receive()  # until the client closes
        else:
            await ws.close(code=4000)  # before the hello
        return ws

    app = web.Application()
    app.router.add_get("/gateway", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with FakeDiscord() as fake:
            fake.add_guild(name="News")
            settings = settings_for(
                fake, tmp_path / "db.sqlite3", gateway_url=f"ws://127.0.0.1:{port}/gateway"
            )
            waits: list[float] = []

            async def sleep(seconds: float) -> None:
                waits.append(seconds)
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

            with caplog.at_level(logging.INFO):
                running = asyncio.create_task(run_bot(settings, sleep=sleep, rng=lambda: 0.5))
                await _until_ready(fake, running)
                starting = list(caplog.records)
                os.kill(os.getpid(), signal.SIGTERM)
                code = await asyncio.wait_for(running, timeout=15)
    finally:
        await runner.cleanup()
    assert code == 0
    assert len(connections) == 2 and waits == [0.75]
    retries = [r.getMessage() for r in starting if "cannot reach" in r.getMessage()]
    assert retries == [
        "cannot reach Discord's gateway (its first connection failed); retrying in 0.8 s"
    ]
    assert not [r for r in starting if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_command_line_import_reaches_the_running_bot_within_2_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.__main__ import main

    db = tmp_path / "db.sqlite3"
    server = tmp_path / "export"
    server.mkdir()
    (server / "local-meetup.md").write_text(
        "---\ntitle: When is the zanzibarian meetup?\nupdated: 2026-11-28\n---\n"
        "The zanzibarian meetup is on Fridays.\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("BRIEFBOT_DB", str(db))
    monkeypatch.setenv("BRIEFBOT_KNOWLEDGE", str(KNOWLEDGE))
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, db) as bot:
            refreshed = asyncio.Event()
            real_refresh = bot.service.refresh

            async def refresh(guild_id: int) -> None:
                await real_refresh(guild_id)
                refreshed.set()

            bot.service.refresh = refresh  # type: ignore[method-assign]
            argv = ["kb", "import", "--guild", str(guild.id), str(server)]
            assert await asyncio.to_thread(main, argv) == 0  # its own connection, like a process
            await asyncio.wait_for(refreshed.wait(), timeout=2)
            assert bot.service.topic(guild.id, "local-meetup") is not None
            ix = await fake.send_slash(
                guild.id, name="ask", options={"question": "zanzibarian meetup"}
            )
            data = (await ix.wait_response())["data"]
        assert data["embeds"][0]["title"] == "When is the zanzibarian meetup?"
