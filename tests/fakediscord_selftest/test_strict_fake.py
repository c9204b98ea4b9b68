"""The fake answers like Discord over HTTP: 400/50035 with the field named on every route, 413 for
an upload over the limit, 429 from the global and channel limits on a clock the test drives, the
nonce window, and the suite's autouse check that fails a test whose payload was refused."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakediscord import FakeDiscord, refusal_log, run_client
from tests.fakediscord.limits import LIMITS, RateLimits, error_paths

T = 15.0
REPO = Path(__file__).resolve().parents[2]


class ManualClock:
    """A clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def call(
    fake: FakeDiscord,
    method: str,
    path: str,
    *,
    json: Any = None,
    data: Any = None,
    auth: bool = True,
) -> tuple[int, Any, Any]:
    """One raw request to the fake: (status, headers, decoded body)."""
    headers = {"Authorization": f"Bot {fake.token}"} if auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method, fake.api_base + path, json=json, data=data, headers=headers
        ) as resp,
    ):
        body = await resp.json() if resp.content_type == "application/json" else None
        return resp.status, resp.headers, body


def named(body: Any) -> set[str]:
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body", body
    return {line.split(":")[0] for line in error_paths(body["errors"])}


# ---------------------------------------------------------------------------
# refusals on every route


async def test_a_refused_post_is_recorded_and_logged_for_the_autouse_check() -> None:
    mark = refusal_log.mark()
    async with FakeDiscord() as fake:
        channel = fake.add_guild().text_channel_id
        status, _, body = await call(
            fake, "POST", f"/channels/{channel}/messages", json={"content": "x" * 2001}
        )
        assert status == 400 and named(body) == {"content"}
        assert [p.path for p in fake.invalid_payloads] == [f"/channels/{channel}/messages"]
        assert "content: BASE_TYPE_MAX_LENGTH" in fake.invalid_payloads[0].describe()
        with pytest.raises(AssertionError, match="refused 1 payloads"):
            fake.assert_no_invalid_payloads()
        # Taken out of the log here, or this test's own teardown check would fail it.
        assert refusal_log.take_since(mark) == fake.invalid_payloads


async def test_expected_refusals_and_injected_faults_are_not_counted() -> None:
    async with FakeDiscord() as fake:
        channel = fake.add_guild().text_channel_id
        path = f"/channels/{channel}/messages"
        with fake.expect_invalid() as refused:
            status, _, _ = await call(fake, "POST", path, json={"content": "x" * 2001})
        assert status == 400 and len(refused) == 1
        fake.inject_error("POST", r"/messages$", 400, body={"code": 50035, "errors": {}})
        fake.inject_429("POST", r"/messages$")
        fake.inject_error("POST", r"/messages$", 403)
        for expected in (400, 429, 403):
            assert (await call(fake, "POST", path, json={"content": "hi"}))[0] == expected
        assert fake.invalid_payloads == []


async def test_channel_message_edit_and_post_name_the_field() -> None:
    async with FakeDiscord() as fake:
        channel = fake.add_guild().text_channel_id
        path = f"/channels/{channel}/messages"
        status, _, msg = await call(fake, "POST", path, json={"content": "hi"})
        assert status == 200
        big = [{"description": "d" * 4000}, {"description": "d" * 2001}]
        row = {"type": 1, "components": [{"type": 2, "style": 1, "custom_id": "c" * 101}]}
        with fake.expect_invalid():
            status, _, body = await call(fake, "PATCH", f"{path}/{msg['id']}", json={"embeds": big})
            assert status == 400 and named(body) == {"embeds"}
            status, _, body = await call(fake, "POST", path, json={"components": [row]})
            assert status == 400 and named(body) == {"components.0.components.0.custom_id"}
            status, _, body = await call(
                fake, "POST", path, json={"content": "a", "nonce": "n" * 26}
            )
            assert status == 400 and named(body) == {"nonce"}


async def test_command_registration_refused_on_overwrite_upsert_and_edit() -> None:
    async with FakeDiscord() as fake:
        base = f"/applications/{fake.app_id}/commands"
        good = {"type": 1, "name": "ask", "description": "Ask"}
        with fake.expect_invalid() as refused:
            status, _, body = await call(fake, "PUT", base, json=[{**good, "name": "Ask"}])
            assert status == 400 and named(body) == {"0.name"}
            status, _, body = await call(fake, "POST", base, json={**good, "description": ""})
            assert status == 400 and named(body) == {"description"}
            status, _, stored = await call(fake, "POST", base, json=good)
            assert status == 201
            status, _, body = await call(
                fake, "PATCH", f"{base}/{stored['id']}", json={"description": "d" * 101}
            )
            assert status == 400 and named(body) == {"description"}
        assert len(refused) == 3


async def test_an_upload_over_the_limit_gets_413() -> None:
    async with FakeDiscord() as fake:
        channel = fake.add_guild().text_channel_id
        statuses = []
        for size in (LIMITS.message.file_bytes, LIMITS.message.file_bytes + 1):
            form = aiohttp.FormData()
            form.add_field("payload_json", '{"content": "file"}', content_type="application/json")
            form.add_field("files[0]", b"\0" * size, filename="big.bin")
            status, _, body = await call(fake, "POST", f"/channels/{channel}/messages", data=form)
            statuses.append(status)
        assert statuses == [200, 413]
        assert body == {"message": "Request entity too large", "code": 40005}


# ---------------------------------------------------------------------------
# interaction callbacks and webhooks, from a real discord.py bot


class SloppyBot(discord.Client):
    """Sends whatever size it is told to, and keeps the HTTP errors it gets back."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents(guilds=True), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.errors: list[discord.HTTPException] = []
        self.n_choices = 25

        @self.tree.command(name="form", description="Open a form")
        async def form(interaction: discord.Interaction, label: int) -> None:
            modal = discord.ui.Modal(title="Form", custom_id="form")
            modal.add_item(discord.ui.TextInput(label="l" * label, custom_id="text"))
            await self.keep(interaction.response.send_modal(modal))

        @self.tree.command(name="say", description="Answer")
        async def say(interaction: discord.Interaction, length: int) -> None:
            await self.keep(interaction.response.send_message("x" * length))

        @self.tree.command(name="later", description="Answer later")
        async def later(interaction: discord.Interaction, length: int) -> None:
            await interaction.response.defer()
            await self.keep(interaction.followup.send("x" * length))
            await self.keep(interaction.edit_original_response(content="y" * length))

        async def many(interaction: discord.Interaction, current: str) -> list[Any]:
            return [app_commands.Choice(name=f"c{i}", value=str(i)) for i in range(self.n_choices)]

        @self.tree.command(name="pick", description="Pick")
        @app_commands.autocomplete(item=many)
        async def pick(interaction: discord.Interaction, item: str) -> None:
            await interaction.response.send_message(item)

    async def keep(self, request: Any) -> None:
        try:
            await request
        except discord.HTTPException as exc:
            self.errors.append(exc)

    async def setup_hook(self) -> None:
        await self.tree.sync()


async def test_interaction_callbacks_and_webhooks_refused_with_the_field_named() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        async with asyncio.timeout(T), run_client(fake, SloppyBot()) as bot:
            ix = await fake.send_slash(guild.id, name="form", options={"label": 45})
            assert (await ix.wait_response())["type"] == 9
            ix = await fake.send_slash(guild.id, name="say", options={"length": 2000})
            await ix.wait_response()
            ix = await fake.send_autocomplete(
                guild.id, name="pick", options={"item": ""}, focused="item"
            )
            await ix.wait_response()
            assert bot.errors == [] and fake.invalid_payloads == []

            bot.n_choices = 26
            with fake.expect_invalid() as refused:
                for name, options in (("form", {"label": 46}), ("say", {"length": 2001})):
                    await fake.send_slash(guild.id, name=name, options=options)
                await fake.send_autocomplete(
                    guild.id, name="pick", options={"item": ""}, focused="item"
                )
                await fake.send_slash(guild.id, name="later", options={"length": 2001})
                await fake.wait_for(lambda: len(fake.expected_invalid_payloads) == 5, 5.0)
        assert [e.status for e in bot.errors] == [400] * 4  # autocomplete errors are discord.py's
        where = {(p.path.split("/")[1], path) for p in refused for path in named_paths(p.errors)}
        assert where == {
            ("interactions", "data.components.0.components.0.label"),
            ("interactions", "data.content"),
            ("interactions", "data.choices"),
            ("webhooks", "content"),
        }
        assert sorted(p.method for p in refused if p.path.startswith("/webhooks")) == [
            "PATCH",
            "POST",
        ]


def named_paths(errors: dict[str, Any]) -> set[str]:
    return {line.split(":")[0] for line in error_paths(errors)}


# ---------------------------------------------------------------------------
# rate limits on the fake's clock


async def test_channel_bucket_429_then_recovers_when_the_clock_moves() -> None:
    clock = ManualClock()
    async with FakeDiscord(clock=clock) as fake:
        channel = fake.add_guild().text_channel_id
        path = f"/channels/{channel}/messages"
        remaining = []
        for _ in range(LIMITS.rate.channel_posts):
            status, headers, _ = await call(fake, "POST", path, json={"content": "hi"})
            assert status == 200
            remaining.append(int(headers["X-RateLimit-Remaining"]))
            assert float(headers["X-RateLimit-Reset-After"]) == LIMITS.rate.channel_window
        assert remaining == [4, 3, 2, 1, 0]
        clock.now += 2.0
        status, headers, body = await call(fake, "POST", path, json={"content": "sixth"})
        assert status == 429
        assert body == {
            "message": "You are being rate limited.",
            "retry_after": 3.0,
            "global": False,
        }
        assert headers["Retry-After"] == "3" and headers["X-RateLimit-Remaining"] == "0"
        assert headers["X-RateLimit-Scope"] == "user" and "Via" in headers
        other = fake.add_guild().text_channel_id
        assert (await call(fake, "POST", f"/channels/{other}/messages", json={"content": "x"}))[
            0
        ] == 200
        fake.advance(3.0)
        status, headers, _ = await call(fake, "POST", path, json={"content": "sixth"})
        assert status == 200 and headers["X-RateLimit-Remaining"] == "4"


async def test_global_limit_429_exempts_interaction_endpoints_and_recovers() -> None:
    clock = ManualClock()
    async with FakeDiscord(clock=clock) as fake:
        channel = fake.add_guild().text_channel_id
        for i in range(LIMITS.rate.global_per_second):
            route = "/users/@me" if i % 2 else f"/channels/{channel}"
            assert (await call(fake, "GET", route))[0] == 200
        status, headers, body = await call(fake, "GET", "/gateway/bot")
        assert status == 429 and body["global"] is True and body["retry_after"] == 1.0
        assert headers["X-RateLimit-Global"] == "true" and headers["Retry-After"] == "1"
        # Interaction webhooks are not bound to the global limit: an unknown token is a 404.
        status, _, _ = await call(
            fake, "POST", f"/webhooks/{fake.app_id}/nope", json={"content": "x"}, auth=False
        )
        assert status == 404
        clock.now += 1.0
        assert (await call(fake, "GET", "/gateway/bot"))[0] == 200


async def test_rate_limits_off_still_sends_truthful_headers() -> None:
    async with FakeDiscord(clock=ManualClock(), rate_limits=False) as fake:
        channel = fake.add_guild().text_channel_id
        for _ in range(LIMITS.rate.channel_posts + 2):
            status, headers, _ = await call(
                fake, "POST", f"/channels/{channel}/messages", json={"content": "hi"}
            )
            assert status == 200
        assert headers["X-RateLimit-Remaining"] == "0"


async def test_discord_py_waits_out_a_channel_bucket() -> None:
    """discord.py reads the headers, waits the bucket out and posts everything, in order."""
    table = RateLimits(channel_posts=2, channel_window=0.3)
    async with FakeDiscord(rate_table=table) as fake:
        guild = fake.add_guild()
        bot = discord.Client(intents=discord.Intents(guilds=True), guild_ready_timeout=0.05)
        async with asyncio.timeout(T), run_client(fake, bot):
            channel = bot.get_partial_messageable(guild.text_channel_id)
            for i in range(5):
                await channel.send(f"post {i}")
        posted = [m["content"] for m in fake.channel_messages(guild.text_channel_id)]
        assert posted == [f"post {i}" for i in range(5)]
        refused = fake.requests_matching("POST", r"/messages$")
        assert [r.status for r in refused].count(429) == 0  # it waited instead of colliding


# ---------------------------------------------------------------------------
# the nonce window


async def test_nonce_deduplicates_within_the_window_only() -> None:
    clock = ManualClock()
    async with FakeDiscord(clock=clock) as fake:
        channel = fake.add_guild().text_channel_id
        path = f"/channels/{channel}/messages"
        body = {"content": "daily", "nonce": "n" * 25, "enforce_nonce": True}
        first = (await call(fake, "POST", path, json=body))[2]["id"]
        fake.advance(LIMITS.rate.nonce_window - 1)
        assert (await call(fake, "POST", path, json=body))[2]["id"] == first
        assert fake.nonce_dedupes == 1
        fake.advance(1)
        again = (await call(fake, "POST", path, json=body))[2]["id"]
        assert again != first
        assert [m["id"] for m in fake.channel_messages(channel)] == [first, again]


# ---------------------------------------------------------------------------
# the suite's autouse check, run on a real test file


CASES = """
from tests.fakediscord import FakeDiscord
import aiohttp


async def post(fake, content):
    channel = fake.add_guild().text_channel_id
    async with aiohttp.ClientSession() as s, s.post(
        f"{fake.api_base}/channels/{channel}/messages",
        json={"content": content},
        headers={"Authorization": f"Bot {fake.token}"},
    ) as resp:
        return resp.status


async def test_sends_an_invalid_payload():
    async with FakeDiscord() as fake:
        assert await post(fake, "x" * 2001) == 400  # passes: only the teardown check fails it


async def test_expects_it():
    async with FakeDiscord() as fake:
        with fake.expect_invalid():
            assert await post(fake, "x" * 2001) == 400


async def test_valid():
    async with FakeDiscord() as fake:
        assert await post(fake, "x" * 2000) == 200
"""


def test_autouse_check_fails_a_test_whose_payload_was_refused(tmp_path: Path) -> None:
    # The case file must sit under tests/ so tests/conftest.py applies; it is removed after.
    case = REPO / "tests" / "fakediscord_selftest" / f"_refusal_cases_{tmp_path.name}.py"
    case.write_text(textwrap.dedent(CASES))
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", str(case), "-q", "-rE"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        case.unlink()
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert out.count("ERROR at teardown of") == 1, out
    assert "ERROR at teardown of test_sends_an_invalid_payload" in out, out
    assert "POST /channels/" in out and "content: BASE_TYPE_MAX_LENGTH" in out, out
