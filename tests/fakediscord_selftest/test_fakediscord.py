"""Self-tests of the fake Discord: a tiny real discord.py bot runs against it."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
import pytest_asyncio
from discord import app_commands

from tests.fakediscord import FakeDiscord, Perm, run_client

T = 15.0  # hard cap per test (each normally takes well under 2 s)
MESSAGES = r"^/channels/\d+/messages$"
FRUITS = ["apple", "apricot", "banana", "cherry"]


# ---------------------------------------------------------------------------
# the tiny bot


class VoteButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"vote:(?P<count>\d+)"):
    """Persistent button whose state lives in its custom_id."""

    def __init__(self, count: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Votes: {count}",
                style=discord.ButtonStyle.primary,
                custom_id=f"vote:{count}",
            )
        )
        self.count = count

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> VoteButton:
        return cls(int(match["count"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            content=f"votes: {self.count + 1}", view=vote_view(self.count + 1)
        )


def vote_view(count: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(count))
    return view


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text: discord.ui.TextInput[Any] = discord.ui.TextInput(
        label="Your feedback", custom_id="feedback_text", max_length=200
    )

    def __init__(self) -> None:
        super().__init__(custom_id="feedback_modal")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"thanks: {self.text.value}", ephemeral=True)


class LabelModal(discord.ui.Modal, title="Rename"):
    """Uses the newer Label (type 18) wrapping instead of action rows."""

    def __init__(self) -> None:
        super().__init__(custom_id="rename_modal")
        self.name_input: discord.ui.TextInput[Any] = discord.ui.TextInput(custom_id="new_name")
        self.add_item(discord.ui.Label(text="New name", component=self.name_input))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"renamed to {self.name_input.value}")


class NoteModal(discord.ui.Modal, title="Note"):
    note: discord.ui.TextInput[Any] = discord.ui.TextInput(label="Note", custom_id="note")

    def __init__(self, choice: str) -> None:
        super().__init__(custom_id="note_modal")
        self.choice = choice

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            content=f"{self.choice}: {self.note.value}", view=None
        )


class MenuView(discord.ui.View):
    """Non-persistent view: discord.py binds it to the message id it learns from
    the ``with_response`` callback body."""

    @discord.ui.select(
        custom_id="menu:select",
        options=[
            discord.SelectOption(label="A", value="a"),
            discord.SelectOption(label="B", value="b"),
        ],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[Any]) -> None:
        await interaction.response.send_modal(NoteModal(select.values[0]))


def add_commands(tree: app_commands.CommandTree[Any]) -> None:
    @tree.command(name="menu", description="Show a menu")
    async def menu(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("choose", view=MenuView())

    @tree.command(name="ask", description="Ask a question")
    @app_commands.describe(question="What to ask")
    async def ask(interaction: discord.Interaction, question: str) -> None:
        await interaction.response.send_message(f"answer: {question}")

    @tree.command(name="slow", description="Deferred answer")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send("done thinking")
        await interaction.followup.send("second followup")

    async def fruit_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f, value=f) for f in FRUITS if f.startswith(current)]

    @tree.command(name="pick", description="Pick a fruit")
    @app_commands.autocomplete(fruit=fruit_autocomplete)
    async def pick(interaction: discord.Interaction, fruit: str) -> None:
        await interaction.response.send_message(f"picked {fruit}")

    @tree.command(name="panel", description="Post a voting panel")
    async def panel(interaction: discord.Interaction) -> None:
        assert isinstance(interaction.channel, discord.TextChannel)
        await interaction.channel.send("votes: 0", view=vote_view(0))
        await interaction.response.send_message("posted", ephemeral=True)

    @tree.command(name="feedback", description="Open the feedback form")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(FeedbackModal())

    @tree.command(name="rename", description="Open the rename form")
    async def rename(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(LabelModal())

    @tree.command(name="say", description="Say something in the channel")
    async def say(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(ephemeral=True)
        assert isinstance(interaction.channel, discord.TextChannel)
        await interaction.channel.send(text)
        await interaction.followup.send("sent", ephemeral=True)

    @tree.command(name="sleepy", description="Answers too late")
    async def sleepy(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.4)
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            interaction.client.late_error_codes.append(exc.code)  # type: ignore[attr-defined]

    @tree.command(name="export", description="Send a file")
    async def export(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "here", file=discord.File(io.BytesIO(b"hello brief"), filename="brief.txt")
        )

    brief = app_commands.Group(name="brief", description="Briefing commands")

    @brief.command(name="today", description="Today's briefing")
    @app_commands.describe(count="How many items")
    async def today(interaction: discord.Interaction, count: int = 3) -> None:
        await interaction.response.send_message(f"today x{count}")

    tree.add_command(brief)


def make_bot(
    base: type[discord.Client] = discord.Client,
    *,
    guild_only: int | None = None,
    **kwargs: Any,
) -> Any:
    """A discord.Client (or AutoShardedClient) with a CommandTree, guilds intent only."""

    class TinyBot(base):  # type: ignore[valid-type, misc]
        def __init__(self) -> None:
            super().__init__(
                intents=discord.Intents(guilds=True),
                allowed_mentions=discord.AllowedMentions.none(),
                guild_ready_timeout=0.05,
                **kwargs,
            )
            self.tree = app_commands.CommandTree(self)
            self.late_error_codes: list[int] = []
            add_commands(self.tree)
            if guild_only is not None:

                @self.tree.command(
                    name="admin", description="Guild only", guild=discord.Object(guild_only)
                )
                async def admin(interaction: discord.Interaction) -> None:
                    await interaction.response.send_message("admin ok")

        async def setup_hook(self) -> None:
            self.add_dynamic_items(VoteButton)
            await self.tree.sync()
            if guild_only is not None:
                await self.tree.sync(guild=discord.Object(guild_only))

        async def before_identify_hook(
            self, shard_id: int | None, *, initial: bool = False
        ) -> None:
            return None  # discord.py sleeps 5 s before every non-first IDENTIFY

    return TinyBot()


def running(fake: FakeDiscord, bot: Any) -> Any:
    return run_client(fake, bot)


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as f:
        yield f


# ---------------------------------------------------------------------------
# tests


@pytest.mark.asyncio
async def test_login_ready_and_guild_create(fake: FakeDiscord) -> None:
    guild = fake.add_guild(name="Alpha", channels=["general", "news"])
    async with asyncio.timeout(T), running(fake, make_bot()) as bot:
        g = bot.get_guild(guild.id)
        assert g is not None and g.name == "Alpha"
        assert {c.name for c in g.text_channels} == {"general", "news"}
        assert g.me is not None and g.me.guild_permissions.send_messages
        assert bot.user.id == fake.bot_user_id
        assert bot.application_id == fake.app_id
        ident = fake.identifies[0]
        assert ident["intents"] == discord.Intents(guilds=True).value
        assert "shard" not in ident  # plain Client does not shard
        conn = fake.gateway_connections[0]
        assert conn["query"]["v"] == "10" and conn["query"]["encoding"] == "json"
        assert conn["compression"] == "zlib-stream"
        called = [(r.method, r.path) for r in fake.requests]
        assert called[:2] == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me")]
        assert all(r.headers.get("Authorization") == f"Bot {fake.token}" for r in fake.requests)
        assert fake.stats.identifies == 1 and fake.stats.ready == 1
        fake.assert_no_unhandled()


@pytest.mark.asyncio
async def test_command_sync_recorded_and_guild_command_dispatched(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    async with asyncio.timeout(T), running(fake, make_bot(guild_only=guild.id)) as bot:
        assert "ask" in fake.command_names() and "brief" in fake.command_names()
        assert fake.command_names(guild.id) == ["admin"]
        puts = fake.requests_matching("PUT", r"/commands$")
        assert [r.path for r in puts] == [
            f"/applications/{fake.app_id}/commands",
            f"/applications/{fake.app_id}/guilds/{guild.id}/commands",
        ]
        fetched = await bot.tree.fetch_commands()
        ask = fake.command("ask")
        assert ask is not None and ask["options"][0]["name"] == "question"
        assert {c.name: c.id for c in fetched}["ask"] == int(ask["id"])

        ix = await fake.send_slash(guild.id, name="admin")
        assert ix.payload["data"]["guild_id"] == str(guild.id)
        resp = await ix.wait_response()
        assert resp["data"]["content"] == "admin ok"

        ix = await fake.send_slash(guild.id, name="brief", subcommand="today", options={"count": 5})
        assert ix.payload["data"]["options"][0]["options"][0]["type"] == 4  # typed from sync
        assert (await ix.wait_response())["data"]["content"] == "today x5"
        with pytest.raises(LookupError):
            await fake.send_slash(guild.id, name="never-synced")
        fake.assert_no_unhandled()


@pytest.mark.asyncio
async def test_slash_command_answered(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    async with asyncio.timeout(T), running(fake, make_bot()):
        ix = await fake.send_slash(guild.id, name="ask", options={"question": "why <@42>?"})
        resp = await ix.wait_response(timeout=5)
        assert resp["type"] == 4
        assert resp["data"]["content"] == "answer: why <@42>?"
        assert resp["data"]["allowed_mentions"] == {"parse": []}
        assert ix.latency is not None and ix.latency < 3.0
        assert ix.original is not None and ix.original["mentions"] == []
        assert ix.original["interaction_metadata"]["id"] == str(ix.id)
        cb = fake.requests_matching("POST", r"/callback$")[-1]
        assert cb.query.get("with_response") in ("1", "true") and cb.status == 200
        assert fake.allowed_mentions_log[-1]["allowed_mentions"] == {"parse": []}

        dm_user = fake.add_user(username="dmuser")
        dm = await fake.send_slash(
            None, user_id=int(dm_user["id"]), name="ask", options={"question": "dm"}
        )
        assert dm.payload["channel"]["type"] == 1 and dm.payload["user"]["id"] == dm_user["id"]
        assert (await dm.wait_response())["data"]["content"] == "answer: dm"
        fake.assert_no_unhandled()


@pytest.mark.asyncio
async def test_deferred_command_followed_up(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    async with asyncio.timeout(T), running(fake, make_bot()):
        ix = await fake.send_slash(guild.id, name="slow")
        assert (await ix.wait_response())["type"] == 5
        first, second = await ix.wait_followups(2)
        assert first["content"] == "done thinking"
        assert second["content"] == "second followup"
        # The first follow-up after a thinking defer replaces the loading message.
        assert ix.original is not None and ix.original["id"] == first["id"]
        assert not ix.original["flags"] & (1 << 7)
        assert second["id"] != first["id"]
        fake.assert_no_unhandled()


@pytest.mark.asyncio
async def test_autocomplete_answered_with_choices(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    async with asyncio.timeout(T), running(fake, make_bot()):
        ix = await fake.send_autocomplete(
            guild.id, name="pick", options={"fruit": "ap"}, focused="fruit"
        )
        assert ix.payload["data"]["options"] == [
            {"name": "fruit", "type": 3, "value": "ap", "focused": True}
        ]
        resp = await ix.wait_response()
        assert resp["type"] == 8
        assert ix.choices == [
            {"name": "apple", "value": "apple"},
            {"name": "apricot", "value": "apricot"},
        ]


@pytest.mark.asyncio
async def test_persistent_button_click_after_bot_restart(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel_id = guild.text_channel_id
    async with asyncio.timeout(T):
        async with running(fake, make_bot()):
            ix = await fake.send_slash(guild.id, name="panel")
            assert (await ix.wait_response())["data"]["flags"] == 64
            [panel] = await fake.wait_for_messages(channel_id, 1)
        assert panel["components"][0]["components"][0]["custom_id"] == "vote:0"

        # A brand-new bot process: the button still works via the DynamicItem.
        async with running(fake, make_bot()):
            click = await fake.click_component(panel, "vote:0")
            assert click.payload["message"]["id"] == panel["id"]
            resp = await click.wait_response()
            assert resp["type"] == 7
            updated = fake.message(int(panel["id"]))
            assert updated is not None and updated["content"] == "votes: 1"
            assert updated["components"][0]["components"][0]["custom_id"] == "vote:1"
            with pytest.raises(LookupError):
                await fake.click_component(panel, "vote:0")  # no longer on the message
            click2 = await fake.click_component(panel, "vote:1")
            await click2.wait_response()
            assert fake.message(int(panel["id"]))["content"] == "votes: 2"  # type: ignore[index]
    assert fake.stats.identifies == 2


@pytest.mark.asyncio
async def test_modal_submit_parsed(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    async with asyncio.timeout(T), running(fake, make_bot()):
        ix = await fake.send_slash(guild.id, name="feedback")
        resp = await ix.wait_response()
        assert resp["type"] == 9 and resp["data"]["custom_id"] == "feedback_modal"
        sub = await fake.submit_modal("feedback_modal", {"feedback_text": "great bot"})
        assert sub.payload["data"]["components"][0]["type"] == 1
        sresp = await sub.wait_response()
        assert sresp["type"] == 4
        assert sresp["data"]["content"] == "thanks: great bot"
        assert sresp["data"]["flags"] == 64
        with pytest.raises(ValueError):
            await fake.submit_modal("feedback_modal", {"feedback_text": "x" * 201})

        # Label (type 18) layout, as discord.py 2.7 sends for ui.Label.
        ix = await fake.send_slash(guild.id, name="rename")
        assert (await ix.wait_response())["data"]["components"][0]["type"] == 18
        sub = await fake.submit_modal("rename_modal", {"new_name": "Brief"}, interaction=ix)
        assert sub.payload["data"]["components"][0]["component"]["value"] == "Brief"
        assert (await sub.wait_response())["data"]["content"] == "renamed to Brief"


@pytest.mark.asyncio
async def test_injected_429_is_waited_out_and_message_arrives_once(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    channel_id = guild.text_channel_id
    async with asyncio.timeout(T), running(fake, make_bot()):
        fake.inject_429("POST", MESSAGES, count=1, retry_after=0.3)
        ix = await fake.send_slash(guild.id, name="say", options={"text": "hello world"})
        await ix.wait_followups(1)
        posts = fake.requests_matching("POST", MESSAGES)
        assert [r.status for r in posts] == [429, 200]
        assert posts[1].at - posts[0].at >= 0.29
        await asyncio.sleep(0.3)
        msgs = fake.channel_messages(channel_id)
        assert [m["content"] for m in msgs] == ["hello world"]
        assert msgs[0]["allowed_mentions"] == {"parse": []}
        assert fake.faults[0].hits == 1

        # Follow-ups go through discord.py's webhook adapter; a global 429 too.
        fake.inject_429("POST", r"^/webhooks/", count=1, retry_after=0.2)
        fake.inject_429("POST", MESSAGES, count=1, retry_after=0.2, global_=True)
        ix = await fake.send_slash(guild.id, name="say", options={"text": "second"})
        [followup] = await ix.wait_followups(1)
        assert followup["content"] == "sent" and followup["flags"] & 64
        await asyncio.sleep(0.2)
        assert [m["content"] for m in fake.channel_messages(channel_id)] == [
            "hello world",
            "second",
        ]
        assert [f.hits for f in fake.faults] == [1, 1, 1]
        fake.assert_no_unhandled()


@pytest.mark.asyncio
async def test_gateway_drop_resumes_and_keeps_working() -> None:
    async with asyncio.timeout(T), FakeDiscord(heartbeat_interval=300) as fake:
        guild = fake.add_guild()
        async with running(fake, make_bot()):
            await asyncio.sleep(0.4)  # a few heartbeats
            assert any(m.get("op") == 1 for m in fake.gateway_received)
            assert await fake.drop_gateway(code=4000) == 1
            # Sent while disconnected: buffered and replayed on RESUME.
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "still there?"})
            await fake.wait_ready(2)
            assert fake.stats.resumes == 1 and fake.stats.identifies == 1
            assert fake.gateway_connections[-1]["path"] == "/resume-gateway"
            assert (await ix.wait_response())["data"]["content"] == "answer: still there?"

            # A non-resumable invalidation forces a fresh IDENTIFY.
            assert fake.invalidate_session() == 1
            await fake.wait_ready(3)
            assert fake.stats.identifies == 2
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "again"})
            assert (await ix.wait_response())["data"]["content"] == "answer: again"


@pytest.mark.asyncio
async def test_two_shards_get_their_own_guilds(fake: FakeDiscord) -> None:
    g0 = fake.add_guild(name="zero", shard=(0, 2))
    g1 = fake.add_guild(name="one", shard=(1, 2))
    bot = make_bot(discord.AutoShardedClient, shard_count=2)
    async with asyncio.timeout(T), running(fake, bot):
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        assert bot.get_guild(g0.id).shard_id == 0
        assert bot.get_guild(g1.id).shard_id == 1
        sessions = {s.shard: s for s in fake.gateway.sessions.values()}
        assert sessions[(0, 2)].owns_guild(g0.id) and not sessions[(0, 2)].owns_guild(g1.id)
        for g in (g0, g1):
            ix = await fake.send_slash(g.id, name="ask", options={"question": g.name})
            assert (await ix.wait_response())["data"]["content"] == f"answer: {g.name}"
        assert await fake.drop_gateway(shard_id=1) == 1
        await fake.wait_ready(3)
        ix = await fake.send_slash(g1.id, name="ask", options={"question": "after drop"})
        assert (await ix.wait_response())["data"]["content"] == "answer: after drop"


@pytest.mark.asyncio
async def test_invalid_token_is_rejected() -> None:
    async with asyncio.timeout(T), FakeDiscord(valid_tokens={"good-token"}) as fake:
        bot = make_bot()
        with fake.patch_discord():
            try:
                with pytest.raises(discord.LoginFailure):
                    await bot.login("bad-token")
            finally:
                await bot.close()
        assert fake.requests[0].status == 401


@pytest.mark.asyncio
async def test_errors_permissions_and_deleted_channels(fake: FakeDiscord) -> None:
    guild = fake.add_guild(channels=["general", "gone"])
    general = guild.text_channel_id
    gone = next(c.id for c in guild.channels.values() if c.name == "gone")
    async with asyncio.timeout(T), running(fake, make_bot()) as bot:
        channel = bot.get_channel(general)
        fake.inject_error("POST", MESSAGES, 403)
        with pytest.raises(discord.Forbidden) as exc:
            await channel.send("nope")
        assert exc.value.code == 50001

        guild.set_bot_channel_permissions(general, deny=Perm.EMBED_LINKS)
        await fake.wait_for(lambda: not channel.permissions_for(channel.guild.me).embed_links)
        msg = await channel.send("text", embed=discord.Embed(title="dropped"))
        assert msg.embeds == [] and fake.channel_messages(general)[-1]["embeds"] == []

        guild.set_bot_channel_permissions(general, deny=Perm.SEND_MESSAGES)
        with pytest.raises(discord.Forbidden) as exc:
            await channel.send("muted")
        assert exc.value.code == 50013

        guild.delete_channel(gone)
        await fake.wait_for(lambda: bot.get_channel(gone) is None)
        with pytest.raises(discord.NotFound) as nf:
            await bot.http.send_message(gone, params=discord.http.handle_message_parameters("x"))
        assert nf.value.code == 10003

        await bot.http.delete_message(general, msg.id, reason="tidy up")
        delete = fake.requests_matching("DELETE", MESSAGES[:-1])[-1]
        assert delete.audit_log_reason == "tidy up" and delete.status == 204
        assert fake.message(msg.id) is not None and not fake.channel_messages(general)[1:]

        with pytest.raises(discord.NotFound):
            await bot.http.request(discord.http.Route("GET", "/not-a-route"))
        assert [r.path for r in fake.unhandled] == ["/not-a-route"]


@pytest.mark.asyncio
async def test_late_callback_gets_unknown_interaction() -> None:
    async with asyncio.timeout(T), FakeDiscord(interaction_deadline=0.2) as fake:
        guild = fake.add_guild()
        async with running(fake, make_bot()) as bot:
            ix = await fake.send_slash(guild.id, name="sleepy")
            await fake.wait_for(lambda: ix.late_callbacks == 1)
            assert ix.response is None
            await fake.wait_for(lambda: bot.late_error_codes == [10062])


@pytest.mark.asyncio
async def test_files_are_recorded(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    async with asyncio.timeout(T), running(fake, make_bot()) as bot:
        ix = await fake.send_slash(guild.id, name="export")
        await ix.wait_response()
        assert [f.filename for f in ix.response_files] == ["brief.txt"]
        assert ix.original is not None
        assert fake.message_files(ix.original) == {"brief.txt": b"hello brief"}

        channel = bot.get_channel(guild.text_channel_id)
        sent = await channel.send(
            "report", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), filename="r.csv")
        )
        assert await sent.attachments[0].read() == b"a,b\n1,2\n"
        req = fake.requests_matching("POST", MESSAGES)[-1]
        assert req.json["content"] == "report" and req.files[0].data == b"a,b\n1,2\n"


SUBPROCESS_BOT = r"""
import asyncio, sys
import discord, yarl
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

api, gateway, token, shard = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
Route.BASE = api
DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


class Bot(discord.AutoShardedClient):
    def __init__(self):
        super().__init__(intents=discord.Intents(guilds=True), shard_ids=[shard], shard_count=2,
                         guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="ask", description="Ask a question")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            await interaction.response.send_message(f"process shard {shard}: {question}")

    async def before_identify_hook(self, shard_id, *, initial=False):
        return None


async def main():
    async with Bot() as bot:
        async with asyncio.timeout(30):
            await bot.start(token)


asyncio.run(main())
"""


@pytest.mark.asyncio
async def test_shards_in_separate_processes() -> None:
    async with asyncio.timeout(30), FakeDiscord(compress_gateway=False) as fake:
        g0 = fake.add_guild(name="zero", shard=(0, 2))
        g1 = fake.add_guild(name="one", shard=(1, 2))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SUBPROCESS_BOT,
            fake.api_base,
            fake.gateway_url,
            fake.token,
            "1",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            bot = make_bot(discord.AutoShardedClient, shard_ids=[0], shard_count=2)
            async with running(fake, bot):
                await fake.wait_for(
                    lambda: sorted(fake.connected_shards()) == [(0, 2), (1, 2)], timeout=20
                )
                assert {c["compression"] for c in fake.gateway_connections} == {None}
                ix0 = await fake.send_slash(g0.id, name="ask", options={"question": "a"})
                ix1 = await fake.send_slash(g1.id, name="ask", options={"question": "b"})
                assert (await ix0.wait_response())["data"]["content"] == "answer: a"
                assert (await ix1.wait_response())["data"]["content"] == "process shard 1: b"
                assert bot.get_guild(g1.id) is None  # not this process's shard
        finally:
            if proc.returncode is None:
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout=5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@pytest.mark.asyncio
async def test_select_modal_from_component_reconnect_and_guild_removal(fake: FakeDiscord) -> None:
    guild = fake.add_guild()
    async with asyncio.timeout(T), running(fake, make_bot()) as bot:
        ix = await fake.send_slash(guild.id, name="menu")
        await ix.wait_response()
        click = await fake.click_component(ix, "menu:select", values=["b"])
        assert click.payload["data"] == {
            "custom_id": "menu:select",
            "component_type": 3,
            "values": ["b"],
        }
        assert (await click.wait_response())["type"] == 9
        sub = await fake.submit_modal("note_modal", {"note": "hello"})
        assert sub.payload["message"]["id"] == ix.original["id"]  # type: ignore[index]
        assert (await sub.wait_response())["type"] == 7
        assert ix.original is not None
        assert ix.original["content"] == "b: hello" and ix.original["components"] == []

        # Guilds intent only: a user's message is not dispatched to the bot.
        fake.post_user_message(guild.text_channel_id, "hi bot")
        assert fake.sent_events("MESSAGE_CREATE") == []

        assert fake.request_reconnect() == 1
        await fake.wait_ready(2)
        assert fake.stats.resumes == 1
        fake.remove_guild(guild.id)
        await fake.wait_for(lambda: bot.get_guild(guild.id) is None)
        assert fake.sent_events("GUILD_DELETE")[0]["d"] == {"id": str(guild.id)}
