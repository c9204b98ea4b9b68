"""The discord.py client: intents, REST and gateway endpoints, command sync, the one error handler.

`run_bot` is what `python -m bot run` calls when a token is set; the end-to-end tests start
the bot through `create_bot` + `Briefbot.start` exactly the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import hashlib
import json
import logging
import random
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.autoanswer import Autoanswer
from bot.briefing import POLL_SECONDS, Scheduler
from bot.config import DEFAULT_API_BASE, Settings
from bot.deadline import Deadline
from bot.editing import Editor
from bot.errors import BriefbotError
from bot.follows import POLL_SECONDS as NOTIFY_SECONDS
from bot.follows import Follows, Notifier
from bot.learning import Learning
from bot.limits import Cooldown
from bot.retention import Retention
from bot.service import FOLLOW_SECONDS, BriefingService
from bot.store.database import utcnow
from bot.store.follows import FollowStore
from bot.ui.autoanswer import AUTOANSWER_DYNAMIC_ITEMS, REPLY_TASK
from bot.ui.drafts import DRAFT_DYNAMIC_ITEMS
from bot.ui.feedback import FEEDBACK_DYNAMIC_ITEMS
from bot.ui.follow import FOLLOW_DYNAMIC_ITEMS, DiscordMessenger
from bot.ui.forms import FORM_DYNAMIC_ITEMS
from bot.ui.kb import KB_DYNAMIC_ITEMS
from bot.ui.posting import DiscordPoster
from bot.ui.replies import log_interaction, reply_error
from bot.ui.review import REVIEW_DYNAMIC_ITEMS
from bot.ui.share import SHARE_DYNAMIC_ITEMS, SHARE_RATE, SHARE_SECONDS
from bot.ui.views import DYNAMIC_ITEMS

log = logging.getLogger(__name__)

T = TypeVar("T")

# What retrying cannot fix (a refused token, intents the portal has not enabled): one line, exit 2.
EXIT_BAD_TOKEN = 2
# Reaching Discord at start-up: wait 1 s, 2 s, 4 s... at most 60 s, half of each wait random.
RETRY_FIRST = 1.0
RETRY_CAP = 60.0
# What "Discord cannot be reached" looks like: no network, DNS down, refused, timed out, 5xx.
UNREACHABLE = (
    OSError,
    aiohttp.ClientError,
    TimeoutError,
    discord.DiscordServerError,
    discord.GatewayNotFound,
)
# Gateway close codes that mean the token was refused.
TOKEN_REFUSED_CODES = frozenset({4004})
# Before discord.py connects, the gateway must say hello (op 10) within this many seconds.
GATEWAY_HELLO = 10
GATEWAY_HELLO_TIMEOUT = 30.0
GATEWAY_VERSION = 10
# How discord.py names the tasks that run a slash command, a DynamicItem's callback (every
# Briefbot button and menu) and an on_interaction listener (Briefbot's forms); and the task
# answering a member's message in a help channel.
INTERACTION_TASK_NAMES = (
    "CommandTree-invoker",
    "discord-ui-dynamic-item-",
    "discord-ui-view-dispatch-",
    "discord.py: on_interaction",
    REPLY_TASK,
)
SHUTDOWN_GRACE = 10.0
EXTENSIONS = (
    "bot.cogs.ask",
    "bot.cogs.briefing",
    "bot.cogs.kb",
    "bot.cogs.autoanswer",
    "bot.cogs.follows",
    "bot.cogs.context",
)
SYNC_HASH_KEY = "command_sync_hash"


def intents(message_content: bool = False) -> discord.Intents:
    """Guilds only (no members or presences); with `message_content` (BRIEFBOT_MESSAGE_CONTENT,
    for help channels) also guild messages and Discord's privileged Message Content intent."""
    if message_content:
        return discord.Intents(guilds=True, guild_messages=True, message_content=True)
    return discord.Intents(guilds=True)


def quiet_voice_warnings() -> None:
    """Briefbot has no voice features, so discord.py's missing-voice-library warnings are noise."""
    for flag in ("warn_nacl", "warn_dave"):
        if hasattr(discord.VoiceClient, flag):
            setattr(discord.VoiceClient, flag, False)


def point_at(settings: Settings) -> None:
    """Send REST and the gateway where the settings say (a proxy, or the test's fake Discord).

    discord.py has no option for either; these two class attributes are where it reads them.
    """
    discord.http.Route.BASE = settings.api_base or DEFAULT_API_BASE
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


class BriefbotTree(app_commands.CommandTree["Briefbot"]):
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """While shutting down, new work gets a polite word instead of silence."""
        if self.client.closing:
            await interaction.response.send_message(
                "Briefbot is restarting; please try again in a minute.", ephemeral=True
            )
            return False
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        cause: BaseException = error
        if isinstance(error, app_commands.CommandInvokeError):
            cause = error.original
        if isinstance(error, app_commands.NoPrivateMessage):
            cause = BriefbotError("Briefbot's commands work in servers, not in direct messages.")
        elif isinstance(error, app_commands.CheckFailure) and not isinstance(cause, BriefbotError):
            cause = BriefbotError(str(error) or "You can't use this command here.")
        refused = isinstance(cause, BriefbotError)
        if not refused:
            self.client.failed_interactions += 1
        log_interaction(interaction, command, "refused" if refused else "error")
        await reply_error(interaction, cause, f"/{command}")


def interaction_tasks() -> set[asyncio.Task[Any]]:
    """discord.py's tasks answering interactions now: commands, components, forms."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current and task.get_name().startswith(INTERACTION_TASK_NAMES)
    }


def settle_heap() -> None:
    """After a catalog swap: freeze what is alive now out of the collector's full collections.

    The catalog lives until the next change: frozen, the collector stops rescanning it on every
    full collection (the pauses would land in the middle of answering). Freezing also catches
    whatever was in flight (an interaction, a task), and a frozen cycle is never collected: so
    what the previous load froze is unfrozen and collected first. That is one full collection
    per change, on the event loop.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class Briefbot(commands.Bot):
    def __init__(
        self,
        service: BriefingService,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        poll_seconds: float | None = POLL_SECONDS,
        follow_seconds: float | None = FOLLOW_SECONDS,
        notify_seconds: float | None = NOTIFY_SECONDS,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents(settings.message_content),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=BriefbotTree,
            # Briefbot never reads messages back, so it keeps no message cache.
            max_messages=None,
            **options,
        )
        self.service = service
        # The collector is the process's: the bot keeps the catalog out of it from now on.
        service.after_reload = settle_heap
        settle_heap()
        self.editor = Editor(
            service, edit_rate=settings.edit_rate, max_topics=settings.max_guild_topics
        )
        self.learning = Learning(service, self.editor)
        self.autoanswer = Autoanswer(
            service, reading=settings.message_content, clock=lambda: clock().timestamp()
        )
        # Members' follows, and the DMs each change of a followed topic sends (with the bot).
        self.follows = Follows(service, FollowStore(service.db))
        self.notifier = Notifier(
            self.follows.store, DiscordMessenger(self), clock, owns=self.owns_guild
        )
        self.sharing = Cooldown(SHARE_RATE, SHARE_SECONDS, lambda: clock().timestamp())
        # How often to look for changed topics and DMs due (None: never; tests drive `tick`).
        self.notify_seconds = notify_seconds
        self._notifier_task: asyncio.Task[None] | None = None
        self.settings = settings
        self.clock = clock
        # Answers in progress, and when one must be deferred to stay inside Discord's 3 s.
        self.deadline = Deadline()
        # Interactions that ended in an unexpected error (each one also logged with its id).
        self.failed_interactions = 0
        # How often to look for sections another process changed (None: never).
        self.follow_seconds = follow_seconds
        self._follow_task: asyncio.Task[None] | None = None
        self.poll_seconds = poll_seconds
        self.scheduler = Scheduler(
            service.schedules, service, DiscordPoster(self, service), clock, owns=self.owns_guild
        )
        self.retention = Retention(
            service.db,
            ask_days=settings.ask_retention_days,
            is_member=lambda guild_id: self.get_guild(guild_id) is not None,
            owns=self.owns_guild,
            reload=service.reload,
        )
        self._stop = asyncio.Event()
        self._scheduler_task: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self.closing = False

    def local_today(self, zone: str | None) -> date:
        now = self.clock()
        return now.astimezone(ZoneInfo(zone)).date() if zone else now.date()

    def owns_guild(self, guild_id: int) -> bool:
        """Whether this process's shards serve `guild_id` (all of them when not sharded).

        Several processes may share one database; each posts only for its own servers, and
        the claim row still makes a day's post happen once.
        """
        count, ids = self.settings.shard_count, self.settings.shard_ids
        if not count or count <= 1 or ids is None:
            return True
        return (guild_id >> 22) % count in ids

    async def setup_hook(self) -> None:
        # Runs at the end of every login, and a login is retried while Discord is unreachable.
        for extension in EXTENSIONS:
            if extension not in self.extensions:
                await self.load_extension(extension)
        if self.follow_seconds is not None and self._follow_task is None:
            self._follow_task = asyncio.create_task(
                self.service.follow_changes(self.follow_seconds), name="briefbot-follow-changes"
            )
        self.add_dynamic_items(
            *DYNAMIC_ITEMS,
            *FEEDBACK_DYNAMIC_ITEMS,
            *FOLLOW_DYNAMIC_ITEMS,
            *KB_DYNAMIC_ITEMS,
            *REVIEW_DYNAMIC_ITEMS,
            *FORM_DYNAMIC_ITEMS,
            *DRAFT_DYNAMIC_ITEMS,
            *AUTOANSWER_DYNAMIC_ITEMS,
            *SHARE_DYNAMIC_ITEMS,
        )
        await self.sync_commands()
        if self.poll_seconds is not None and self._scheduler_task is None:
            self._scheduler_task = asyncio.create_task(
                self.scheduler.run(self._stop, self.poll_seconds), name="briefbot-daily-explainer"
            )
        if self.notify_seconds is not None and self._notifier_task is None:
            self._notifier_task = asyncio.create_task(
                self.notifier.run(self._stop, self.notify_seconds, ready=self.wait_until_ready),
                name="briefbot-follow-notifier",
            )
        # Old questions and removed servers' data: pruned once connected, then every hour.
        if self._retention_task is None:
            self._retention_task = asyncio.create_task(
                self.retention.run(self._stop, ready=self.wait_until_ready),
                name="briefbot-retention",
            )

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """Removed from a server (an outage is on_guild_unavailable): its data goes in 30 days."""
        await self.retention.guilds.mark_removed(guild.id)
        log.info("removed from server %s; its data is deleted in 30 days", guild.id)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        if await self.retention.guilds.cancel_removal(guild.id):
            log.info("added back to server %s; its data is kept", guild.id)

    on_guild_available = on_guild_join

    async def on_message(self, message: discord.Message) -> None:
        """Briefbot has no prefix commands. commands.Bot would read every message (with the
        Message Content intent, every server's) for one, and log a message that starts with
        Briefbot's mention as a command not found: its first word, with a traceback. The help
        channels read messages in their own listener."""

    async def close(self) -> None:
        """Stop taking new work, let in-flight answers and posts finish (10 s at most), close."""
        self.closing = True
        self._stop.set()
        if self._follow_task is not None:
            self._follow_task.cancel()
        try:
            async with asyncio.timeout(SHUTDOWN_GRACE):
                if self._scheduler_task is not None:
                    await self._scheduler_task
                if self._retention_task is not None:
                    await self._retention_task
                if self._notifier_task is not None:
                    await self._notifier_task
                # Interactions that arrive meanwhile are refused politely; wait for those too.
                while answering := interaction_tasks():
                    await asyncio.wait(answering)
        except TimeoutError:
            log.warning("shutdown: gave up waiting for in-flight work after %ss", SHUTDOWN_GRACE)
            if self._scheduler_task is not None:
                self._scheduler_task.cancel()
            if self._retention_task is not None:
                self._retention_task.cancel()
            if self._notifier_task is not None:
                self._notifier_task.cancel()
            for task in interaction_tasks():
                task.cancel()
        await self.editor.close()  # the gaps report's worker process
        await super().close()

    async def sync_commands(self) -> bool:
        """Sync slash commands only when their definitions changed since the last sync."""
        guild = discord.Object(self.settings.dev_guild) if self.settings.dev_guild else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
            self._server_installed_only(guild)
        definitions = [c.to_dict(self.tree) for c in self.tree.get_commands(guild=guild)]
        scope = f"guild:{guild.id}" if guild else "global"
        digest = hashlib.sha256(
            json.dumps([scope, definitions], sort_keys=True).encode()
        ).hexdigest()
        key = f"{SYNC_HASH_KEY}:{scope}"
        if await self.service.db.get_meta(key) == digest:
            log.info("slash commands unchanged since the last sync (%s)", scope)
            return False
        await self.tree.sync(guild=guild)
        await self.service.db.set_meta(key, digest)
        log.info("synced %d slash commands (%s)", len(definitions), scope)
        return True

    def _server_installed_only(self, guild: discord.abc.Snowflake) -> None:
        """Make the copies synced to the development server server-installed, server-only.

        A member's own install (and DMs, group DMs) needs global commands: Discord reads
        `integration_types` and `contexts` only on those. The copies are new objects, so the
        global commands keep both for a later sync without BRIEFBOT_DEV_GUILD.
        """
        offered: list[str] = []
        for command in self.tree.get_commands(guild=guild):
            installs, contexts = command.allowed_installs, command.allowed_contexts
            beyond = (installs is not None and installs.user) or (
                contexts is not None and (contexts.dm_channel or contexts.private_channel)
            )
            if not beyond:
                continue
            local = copy.copy(command)
            local.allowed_installs = None
            local.allowed_contexts = app_commands.AppCommandContext(guild=True)
            self.tree.add_command(local, guild=guild, override=True)
            offered.append(command.name)
        if offered:
            log.info(
                "BRIEFBOT_DEV_GUILD is set: commands go to server %s only, so user install "
                "(DMs, group DMs, servers without Briefbot) is not offered for %s; unset it to "
                "sync globally",
                guild.id,
                ", ".join(sorted(offered)),
            )

    async def run_within_deadline(
        self, interaction: discord.Interaction, work: Awaitable[T], *, ephemeral: bool = False
    ) -> T:
        """Await `work` in its turn, deferring first only if Discord's 3 seconds are at risk
        (`bot.deadline`: not ready 1.5 s after Discord created the interaction, or predictably
        not by then behind the answers ahead of it).

        `ephemeral` makes the "thinking…" placeholder (and so the reply) visible only to the
        member. Shutdown waits for this work (it runs in an interaction's task).

        A defer that fails (the interaction expired in a burst, a 5xx) is logged and the work
        still runs to its end: the caller then answers, or fails in the one error handler,
        which logs and counts it. The work is never dropped unawaited.
        """
        return await self.deadline.run(
            interaction.created_at.timestamp(),
            work,
            lambda: self._defer(interaction, ephemeral),
        )

    async def _defer(self, interaction: discord.Interaction, ephemeral: bool) -> None:
        """Show "thinking…" unless already answered; a failure is logged, not raised."""
        if interaction.response.is_done():
            return
        try:
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        except discord.HTTPException as exc:
            log.warning(
                "could not defer interaction %s (HTTP %s); answering without it",
                interaction.id,
                exc.status,
                extra={"guild": interaction.guild_id, "interaction": interaction.id},
            )

    async def on_app_command_completion(
        self, interaction: discord.Interaction, command: app_commands.Command[Any, ..., Any]
    ) -> None:
        log_interaction(interaction, command.qualified_name, "ok")


class ShardedBriefbot(Briefbot, commands.AutoShardedBot):
    """The same bot over a range of shards in one process (BRIEFBOT_SHARD_COUNT / _IDS)."""


def create_bot(service: BriefingService, settings: Settings, **options: Any) -> Briefbot:
    point_at(settings)
    quiet_voice_warnings()
    return _new_bot(service, settings, **options)


def _new_bot(service: BriefingService, settings: Settings, **options: Any) -> Briefbot:
    if settings.shard_count:
        return ShardedBriefbot(
            service,
            settings,
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids or range(settings.shard_count)),
            **options,
        )
    return Briefbot(service, settings, **options)


Sleep = Callable[[float], Awaitable[None]]


def retry_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry `attempt` (1, 2, ...): doubling, capped, half of it random
    so that many bots cut off together do not all come back in the same second."""
    ceiling = min(RETRY_CAP, RETRY_FIRST * 2.0 ** min(attempt - 1, 32))
    return ceiling / 2 + rng() * ceiling / 2


def _unreachable(exc: BaseException) -> str:
    """One line on why Discord could not be reached (never the token: it is in no message)."""
    if isinstance(exc, discord.DiscordServerError):
        return f"Discord answered HTTP {exc.status}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _is_hello(message: aiohttp.WSMessage) -> bool:
    if message.type is not aiohttp.WSMsgType.TEXT:
        return False
    with contextlib.suppress(ValueError):
        payload = json.loads(message.data)
        return isinstance(payload, dict) and payload.get("op") == GATEWAY_HELLO
    return False


async def gateway_answers(url: yarl.URL) -> None:
    """Open Discord's gateway, wait for its hello, close again; raise (UNREACHABLE) if it cannot.

    discord.py's `connect(reconnect=True)` cannot retry a first connection that fails (2.7
    logs a traceback, then raises AttributeError: it has no websocket to resume), so the
    gateway is handed to it only once Discord has answered.
    """
    async with (
        asyncio.timeout(GATEWAY_HELLO_TIMEOUT),
        aiohttp.ClientSession() as session,
        session.ws_connect(url.with_query(v=GATEWAY_VERSION, encoding="json")) as ws,
    ):
        message = await ws.receive()
    if message.type is aiohttp.WSMsgType.CLOSE:
        raise ConnectionError(f"the gateway closed with code {message.data} before its hello")
    if not _is_hello(message):
        raise ConnectionError(f"the gateway sent {message.type.name} instead of its hello")


class Startup:
    """Log in and connect while Discord may be unreachable: one warning line per failure, one
    backoff for both steps; once connected, discord.py reconnects by itself.

    Each login attempt gets a new bot: discord.py has no public way to drop the HTTP session a
    failed login opened, and a closed Client cannot log in again. After a login, the same bot
    waits for the gateway.
    """

    def __init__(
        self,
        service: BriefingService,
        settings: Settings,
        *,
        sleep: Sleep | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.service = service
        self.settings = settings
        self.sleep = sleep or self._wait
        self.rng = rng
        self.bot: Briefbot | None = None
        self.attempt = 0
        self._stopping = asyncio.Event()
        self._closing: asyncio.Future[None] | None = None

    def stop(self) -> None:
        """SIGTERM or SIGINT: no further attempt, and the current bot closes."""
        self._stopping.set()
        if self.bot is not None:
            self._closing = asyncio.ensure_future(self.bot.close())

    async def run(self, token: str) -> None:
        """Return when the bot is closed. What retrying cannot fix propagates:
        discord.LoginFailure, discord.PrivilegedIntentsRequired, discord.ConnectionClosed."""
        while not self._stopping.is_set():
            self.bot = bot = _new_bot(self.service, self.settings)
            async with bot:
                try:
                    await bot.login(token)
                except UNREACHABLE as exc:
                    reason = _unreachable(exc)
                else:
                    await self._connect(bot)
                    return
            await self._retry("Discord", reason)

    async def _connect(self, bot: Briefbot) -> None:
        while not self._stopping.is_set():
            try:
                await gateway_answers(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
            except UNREACHABLE as exc:
                reason = _unreachable(exc)
            else:
                try:
                    await bot.connect(reconnect=True)
                    return
                except AttributeError:
                    # The gateway failed again between its hello and discord.py's first
                    # connection, which discord.py cannot retry (see gateway_answers).
                    if isinstance(bot, ShardedBriefbot) or bot.ws is not None:
                        raise
                    reason = "its first connection failed"
            await self._retry("Discord's gateway", reason)

    async def _retry(self, what: str, reason: str) -> None:
        if self._stopping.is_set():
            return
        self.attempt += 1
        delay = retry_delay(self.attempt, self.rng)
        log.warning(
            "cannot reach %s (%s); retrying in %.1f s",
            what,
            reason,
            delay,
            extra={"attempt": self.attempt},
        )
        await self.sleep(delay)

    async def _wait(self, seconds: float) -> None:
        """Sleep, or stop sleeping as soon as SIGTERM or SIGINT arrives."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()


def _refusal(exc: BaseException) -> str | None:
    """The one line for what retrying cannot fix, or None for anything else."""
    if isinstance(exc, discord.LoginFailure) or (
        isinstance(exc, discord.ConnectionClosed) and exc.code in TOKEN_REFUSED_CODES
    ):
        return (
            "Discord refused the bot token (it is wrong or was reset). Copy a new one "
            "from the Developer Portal's Bot page into DISCORD_TOKEN."
        )
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return (
            "Discord refused the gateway intents Briefbot asked for (close code 4014). Enable "
            "them on the Developer Portal's Bot page (Privileged Gateway Intents: Message "
            "Content Intent, which BRIEFBOT_MESSAGE_CONTENT=true asks for), then start again; "
            "or set BRIEFBOT_MESSAGE_CONTENT=false to run without help channels."
        )
    if isinstance(exc, discord.ConnectionClosed):
        return (
            f"Discord closed the gateway with code {exc.code} ({exc.reason or 'no reason'}), "
            "which retrying cannot fix; check BRIEFBOT_SHARD_COUNT and BRIEFBOT_SHARD_IDS."
        )
    return None


async def run_bot(
    settings: Settings, *, sleep: Sleep | None = None, rng: Callable[[], float] = random.random
) -> int:
    """Run until SIGTERM or SIGINT (exit 0), retrying while Discord cannot be reached.

    A refused token or intents get one line on stderr and exit code 2.
    """
    assert settings.token is not None
    service = await BriefingService.open(
        settings.database, settings.knowledge_dir, password=settings.database_password
    )
    point_at(settings)
    quiet_voice_warnings()
    startup = Startup(service, settings, sleep=sleep, rng=rng)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, startup.stop)
    try:
        log.info("starting the Discord bot", extra={"shards": settings.shard_ids})
        await startup.run(settings.token.reveal())
    except (
        discord.LoginFailure,
        discord.PrivilegedIntentsRequired,
        discord.ConnectionClosed,
    ) as exc:
        line = _refusal(exc)
        if line is None:
            raise
        print(f"briefbot: {line}", file=sys.stderr)
        return EXIT_BAD_TOKEN
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await service.close()
    return 0
