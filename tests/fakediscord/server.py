"""``FakeDiscord``: a local Discord (REST + gateway) for end-to-end bot tests."""

# The test-facing API deliberately takes ``timeout=`` arguments.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from aiohttp import web

from . import payloads as P
from .gateway import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILDS,
    INTENT_MESSAGE_CONTENT,
    Gateway,
)
from .limits import LIMITS, RateLimits
from .models import (
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    Fault,
    GatewayStats,
    InvalidPayload,
    RecordedFile,
    RecordedRequest,
    RefusalLog,
    default_guild_roles,
)
from .payloads import JSON, Perm
from .ratelimits import RateLimiter
from .rest import RestApi

#: Options for ``send_slash``/``send_autocomplete``: either raw Discord option
#: dicts (``[{"type": 3, "name": "q", "value": "x"}]``) or ``{"q": "x"}`` whose
#: types are looked up in the synced command definition.
OptionsArg = Sequence[Mapping[str, Any]] | Mapping[str, Any] | None
MessageRef = int | str | Mapping[str, Any] | FakeInteraction | tuple[int, int]

_SELECT_TYPES = (3, 5, 6, 7, 8)

#: Unexpected refusals (400, code 50035) of every fake in this process; ``tests/conftest.py``
#: fails a test whose refusals land here (see :meth:`FakeDiscord.expect_invalid`).
refusal_log = RefusalLog()
_DM_APP_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
)


# app_permissions of an interaction where the bot is no member: a user-installed app in a
# private channel (group DM, a DM between users) or in a server without the app (docs:
# Receiving and Responding, Interaction Object: attach files, embed links and mention everyone
# in (G)DMs with other users; our choice to send the same for such a server).
_USER_APP_PERMISSIONS = int(Perm.ATTACH_FILES | Perm.EMBED_LINKS | Perm.MENTION_EVERYONE)

#: Where an interaction happens (docs: Interaction Context Types).
CONTEXT_GUILD, CONTEXT_BOT_DM, CONTEXT_PRIVATE_CHANNEL = 0, 1, 2
#: Which install of the app it goes through (docs: Application Integration Types).
GUILD_INSTALL, USER_INSTALL = 0, 1


class FakeDiscord:
    """A fake Discord API + gateway on ``127.0.0.1`` that the real discord.py
    client can log in to.

    Usage::

        async with FakeDiscord(app_id=1, bot_user_id=1) as fake:
            guild = fake.add_guild(name="Test")
            with fake.patch_discord():          # Route.BASE + DEFAULT_GATEWAY
                await bot.start(fake.token)     # (in a task)
            ix = await fake.send_slash(guild.id, name="ask", options={"question": "hi"})
            resp = await ix.wait_response()

    All state is public and meant to be asserted on: :attr:`requests`,
    :attr:`unhandled`, :attr:`messages`, :attr:`commands`, :attr:`identifies`,
    :attr:`stats`, :attr:`interactions`.
    """

    def __init__(
        self,
        *,
        app_id: int | None = None,
        bot_user_id: int | None = None,
        bot_name: str = "Briefbot",
        token: str | None = None,
        valid_tokens: Iterable[str] | None = None,
        heartbeat_interval: int = 41250,
        interaction_deadline: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        host: str = "127.0.0.1",
        port: int = 0,
        compress_gateway: bool = True,
        recommended_shards: int = 1,
        enforce_permissions: bool = True,
        validate_payloads: bool = True,
        rate_limit_headers: bool = True,
        rate_limits: bool = True,
        rate_table: RateLimits | None = None,
        clock: Callable[[], float] | None = None,
        application_flags: int = 0,
    ) -> None:
        """
        :param app_id: application id (defaults to ``bot_user_id``, as for modern apps).
        :param bot_user_id: the bot user's id (generated if omitted).
        :param token: the token tests should use (:attr:`token`); any token is accepted
            unless ``valid_tokens`` is given, then others get 401 / gateway close 4004.
        :param heartbeat_interval: HELLO heartbeat interval in milliseconds.
        :param interaction_deadline: seconds after dispatch within which the first
            callback must arrive; later callbacks get 404 Unknown interaction (10062).
        :param compress_gateway: honour ``compress=zlib-stream`` (binary frames);
            False sends plain text frames.
        :param enforce_permissions: answer 403 when the bot lacks channel permissions.
        :param validate_payloads: answer 400 (code 50035) for any payload over Discord's
            limits (:mod:`.limits`); each refusal is kept in :attr:`invalid_payloads`.
        :param rate_limits: enforce the global limit and the route buckets (429); False still
            sends truthful ``X-RateLimit-*`` headers but never refuses.
        :param rate_table: other rate-limit numbers than ``LIMITS.rate`` (e.g. a short channel
            window, so a test sees discord.py wait out a bucket in real time).
        :param clock: seconds, monotonic (default ``time.monotonic``); rate-limit windows and
            the nonce window run on it, plus whatever :meth:`advance` added.
        """
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the fake only listens on loopback")
        self.ids = P.SnowflakeGenerator()
        self.bot_user_id: int = bot_user_id or self.ids.next()
        self.app_id: int = app_id or self.bot_user_id
        self.bot_name = bot_name
        self.token: str = token or f"fake.{secrets.token_urlsafe(18)}.{secrets.token_urlsafe(27)}"
        self.valid_tokens: set[str] | None = set(valid_tokens) if valid_tokens is not None else None
        self.heartbeat_interval = int(heartbeat_interval)
        self.interaction_deadline = float(interaction_deadline)
        self.token_lifetime = float(token_lifetime)
        self.host = host
        self._port = port
        self.compress_gateway = compress_gateway
        self.recommended_shards = recommended_shards
        self.enforce_permissions = enforce_permissions
        self.validate_payloads = validate_payloads
        self.rate_limit_headers = rate_limit_headers
        self.rate_limits = rate_limits
        self.rate_table: RateLimits = rate_table or LIMITS.rate
        self._clock: Callable[[], float] = clock or time.monotonic
        self._clock_offset = 0.0
        self.ratelimiter = RateLimiter(self.now)
        #: Payloads refused with 400/50035 outside :meth:`expect_invalid` (the suite fails on any).
        self.invalid_payloads: list[InvalidPayload] = []
        #: Payloads refused inside :meth:`expect_invalid`.
        self.expected_invalid_payloads: list[InvalidPayload] = []
        self._expecting_invalid = 0
        #: (channel id, nonce) -> (message id, when posted on :meth:`now`), oldest first.
        self._nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.application_flags = application_flags
        self.ack_heartbeats = True
        """Set False to stop answering heartbeats (zombie connection)."""

        # --- state -------------------------------------------------------
        self.users: dict[int, JSON] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.outside_guilds: dict[int, FakeGuild] = {}
        """Servers the bot is not in (`add_guild(installed=False)`): only a member's own
        install of the app reaches them, through interactions."""
        self._channels: dict[int, FakeChannel] = {}
        self._deleted_channels: set[int] = set()
        self._dm_channels: dict[int, FakeChannel] = {}
        self.thread_states: dict[int, JSON] = {}
        """Threads started from a message, by thread id: owner, archive settings, archived and
        locked (docs: resources/channel, Thread Metadata Object)."""
        self.messages: dict[int, JSON] = {}
        """Every message the fake knows (channel posts, interaction responses,
        follow-ups, user posts), by id, including fake-only ``_``-prefixed keys."""
        self.attachments: dict[int, bytes] = {}
        """Uploaded attachment bytes by attachment id."""
        self.commands: dict[int | None, dict[int, JSON]] = {}
        """Synced application commands: ``{None: global, guild_id: guild}`` -> ``{id: command}``."""
        self.sync_log: list[tuple[int | None, list[str]]] = []
        """One entry per bulk overwrite: (guild_id or None, command names)."""
        self.interactions: dict[int, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}
        self.modals: dict[str, tuple[FakeInteraction, JSON]] = {}
        """Modals the bot opened, by custom_id: (interaction, modal data)."""
        self.nonce_dedupes = 0
        """How many channel posts were answered with an earlier message of the same nonce."""
        self.closed_dms: set[int] = set()
        """Users who do not take DMs from the bot (:meth:`close_dms`): a message to their DM
        channel answers 403 with code 50007, as one to a user sharing no server does."""
        self.allowed_mentions_log: list[JSON] = []
        """One ``{"message_id", "channel_id", "source", "allowed_mentions"}`` per message
        created or edited."""

        # --- recording ---------------------------------------------------
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.identifies: list[JSON] = []
        """IDENTIFY payloads (``intents``, ``shard``, ``token``, ...)."""
        self.resumes: list[JSON] = []
        self.gateway_received: list[JSON] = []
        self.gateway_connections: list[JSON] = []
        """``{"path", "query", "compression"}`` for each websocket connect."""
        self.presence_updates: list[Any] = []
        self.stats = GatewayStats()

        self.owner_user_id: int = self.ids.next()
        self._user(self.owner_user_id, "owner")
        self._user(self.bot_user_id, bot_name, bot=True)

        self.gateway = Gateway(self)
        self.rest = RestApi(self)
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Event | None = None
        self._component_counter = [0]

    # ------------------------------------------------------------------
    # lifecycle

    async def start(self) -> FakeDiscord:
        """Bind ``host:port`` (port 0 = a free port) and start serving."""
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self.rest.handle)
        for path in ("/gateway", "/gateway/", "/resume-gateway", "/resume-gateway/"):
            app.router.add_get(path, self.gateway.handle)
        app.router.add_get(
            "/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment
        )
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        addresses = self._runner.addresses
        self._port = int(addresses[0][1])
        return self

    async def close(self) -> None:
        """Close every websocket and stop the server."""
        await self.gateway.close_all()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._runner.cleanup(), timeout=10.0)
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------
    # addresses

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``GET /gateway(/bot)`` returns; set ``DiscordWebSocket.DEFAULT_GATEWAY`` to it."""
        return f"ws://{self.host}:{self._port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """Sent as READY's ``resume_gateway_url`` (a distinct path so tests can see it used)."""
        return f"ws://{self.host}:{self._port}/resume-gateway"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[FakeDiscord]:
        """Point discord.py at the fake for the duration of the block.

        Sets ``discord.http.Route.BASE`` and
        ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (a plain ``Client`` and an
        ``AutoShardedClient`` with an explicit ``shard_count`` never call
        ``GET /gateway/bot``; they connect straight to ``DEFAULT_GATEWAY``).
        """
        import yarl
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        old_base, old_gw = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield self
        finally:
            Route.BASE = old_base
            DiscordWebSocket.DEFAULT_GATEWAY = old_gw

    # ------------------------------------------------------------------
    # the clock and refusals

    def now(self) -> float:
        """The fake's clock: the injected clock plus every :meth:`advance`."""
        return self._clock() + self._clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (rate-limit windows, nonce window), without sleeping."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._clock_offset += seconds

    @contextlib.contextmanager
    def expect_invalid(self) -> Iterator[list[InvalidPayload]]:
        """Refusals inside the block are expected: kept in the yielded list (and in
        :attr:`expected_invalid_payloads`) instead of failing the test.

        For tests that send an invalid payload on purpose, e.g. to test the fake itself."""
        self._expecting_invalid += 1
        start = len(self.expected_invalid_payloads)
        seen: list[InvalidPayload] = []
        try:
            yield seen
        finally:
            self._expecting_invalid -= 1
            seen.extend(self.expected_invalid_payloads[start:])

    def _refused(self, record: RecordedRequest, errors: JSON) -> None:
        entry = InvalidPayload(record.method, record.path, errors, record)
        if self._expecting_invalid:
            self.expected_invalid_payloads.append(entry)
        else:
            self.invalid_payloads.append(entry)
            refusal_log.append(entry)

    def assert_no_invalid_payloads(self) -> None:
        """Raise AssertionError naming every payload refused (outside :meth:`expect_invalid`)."""
        if self.invalid_payloads:
            lines = "\n".join(p.describe() for p in self.invalid_payloads)
            raise AssertionError(
                f"the fake refused {len(self.invalid_payloads)} payloads:\n{lines}"
            )

    def _remember_nonce(self, channel_id: int, nonce: Any, message_id: int) -> None:
        now = self.now()
        window = self.rate_table.nonce_window
        while self._nonces:
            key, (_, at) = next(iter(self._nonces.items()))
            if now - at < window:
                break
            del self._nonces[key]
        self._nonces.pop((channel_id, str(nonce)), None)  # re-inserted last: oldest stay first
        self._nonces[(channel_id, str(nonce))] = (message_id, now)

    def _nonce_message(self, channel_id: int, nonce: Any) -> JSON | None:
        """The message posted in the last nonce window with this nonce, if any."""
        found = self._nonces.get((channel_id, str(nonce)))
        if found is None or self.now() - found[1] >= self.rate_table.nonce_window:
            return None
        msg = self.messages.get(found[0])
        return None if msg is None or msg.get("_deleted") else msg

    def token_ok(self, token: str) -> bool:
        if not token:
            return False
        return self.valid_tokens is None or token in self.valid_tokens

    # ------------------------------------------------------------------
    # waiting

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _wait_until(
        self, predicate: Callable[[], bool], timeout: float, describe: Callable[[], str]
    ) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not predicate():
            remaining = end - loop.time()
            if remaining <= 0:
                raise TimeoutError(describe())
            event = self._changed
            if event is None:
                raise RuntimeError("FakeDiscord is not started")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=min(remaining, 0.25))

    async def wait_ready(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` READY/RESUMED handshakes have completed since start."""
        await self._wait_until(
            lambda: self.stats.ready >= count,
            timeout,
            lambda: (
                f"wanted {count} READY/RESUMED handshakes, saw {self.stats.ready} ({self.stats})"
            ),
        )

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        """Wait until ``predicate()`` is true; re-checked whenever the fake's state changes."""
        await self._wait_until(
            predicate, timeout, lambda: f"timed out after {timeout}s waiting for {what}"
        )

    # ------------------------------------------------------------------
    # ids / users

    def new_id(self, *, shard: tuple[int, int] | None = None) -> int:
        """A fresh snowflake (optionally one that maps onto ``shard=(id, count)``)."""
        return self.ids.next(shard=shard)

    def _user(self, user_id: int, username: str, *, bot: bool = False) -> JSON:
        if user_id not in self.users:
            self.users[user_id] = P.user_payload(user_id, username, bot=bot)
        return self.users[user_id]

    def add_user(
        self, user_id: int | None = None, username: str | None = None, *, bot: bool = False
    ) -> JSON:
        """Register a user (not in any guild), e.g. for DMs."""
        uid = user_id or self.new_id()
        return self._user(uid, username or f"user{uid % 100000}", bot=bot)

    def bot_user_payload(self) -> JSON:
        data = dict(self.users[self.bot_user_id])
        data.update(
            verified=True, mfa_enabled=False, email=None, locale="en-US", premium_type=0, bio=""
        )
        return data

    def application_payload(self) -> JSON:
        return {
            "id": str(self.app_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": dict(self.users[self.owner_user_id]),
            "team": None,
            "flags": self.application_flags,
            "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
            "integration_types_config": {"0": {}},
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "rpc_origins": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "bot": dict(self.users[self.bot_user_id]),
        }

    # ------------------------------------------------------------------
    # guilds / channels

    def add_guild(
        self,
        guild_id: int | None = None,
        name: str = "Test Guild",
        channels: Iterable[str | Mapping[str, Any]] = ("general",),
        *,
        shard: tuple[int, int] | None = None,
        bot_permissions: int | None = None,
        everyone_permissions: int | None = None,
        owner_id: int | None = None,
        locale: str = "en-US",
        installed: bool = True,
    ) -> FakeGuild:
        """Create a guild with @everyone, the bot (with a managed role carrying
        ``bot_permissions``), the owner, a plain member (:attr:`FakeGuild.default_member_id`)
        and the given channels (names, or dicts with ``name``/``type``/``id``/``overwrites``).

        ``shard=(shard_id, shard_count)`` picks an id that Discord's formula maps to that shard.
        If the bot is connected, it receives GUILD_CREATE (as when it joins a guild).

        ``installed=False``: a server without the app (no bot member, no GUILD_CREATE, REST to it
        answers as to any server the bot is not in), where members reach Briefbot only through
        their own install (``send_slash(..., install=USER_INSTALL)``).
        """
        gid = guild_id or self.new_id(shard=shard)
        if gid in self.guilds:
            raise ValueError(f"guild {gid} exists")
        owner = owner_id or self.owner_user_id
        guild = FakeGuild(self, gid, name, owner_id=owner, locale=locale)
        default_guild_roles(self, guild, bot_permissions)
        if everyone_permissions is not None:
            guild.everyone_role.permissions = int(everyone_permissions)
        guild.members[owner] = FakeMember(
            user=self.add_user(owner), roles=[], joined_at=P.iso_now()
        )
        if installed:
            guild.members[self.bot_user_id] = FakeMember(
                user=self.users[self.bot_user_id],
                roles=[guild.bot_role_id],
                joined_at=P.iso_now(),
            )
        tester = self.add_user(None, "tester")
        guild.members[int(tester["id"])] = FakeMember(user=tester, roles=[], joined_at=P.iso_now())
        guild.default_member_id = int(tester["id"])
        for spec in channels:
            if isinstance(spec, str):
                guild.add_channel(spec)
            else:
                guild.add_channel(
                    spec.get("name", "channel"),
                    channel_id=spec.get("id"),
                    type=int(spec.get("type", 0)),
                    overwrites=spec.get("overwrites", ()),
                    topic=spec.get("topic"),
                )
        if not installed:
            self.outside_guilds[gid] = guild
            return guild
        self.guilds[gid] = guild
        self._guild_join(guild)
        return guild

    def _guild_join(self, guild: FakeGuild) -> None:
        for session in self.gateway.sessions_for_guild(guild.id):
            session.dispatch("GUILD_CREATE", self._guild_create_payload(guild, session.intents))

    def remove_guild(self, guild_id: int) -> None:
        """The bot leaves / is kicked: GUILD_DELETE, and REST to the guild answers 404."""
        guild = self.guilds[guild_id]
        self.gateway.dispatch(guild_id, "GUILD_DELETE", {"id": str(guild_id)})
        del self.guilds[guild_id]
        for cid in list(guild.channels):
            self._channels.pop(cid, None)
            self._deleted_channels.add(cid)

    def guild(self, guild_id: int) -> FakeGuild:
        return self.guilds[guild_id]

    def channel(self, channel_id: int) -> FakeChannel:
        return self._channels[channel_id]

    def dm_channel(self, user_id: int) -> FakeChannel:
        """The DM channel between the bot and ``user_id`` (created on demand)."""
        if user_id not in self._dm_channels:
            user = self.add_user(user_id)
            ch = FakeChannel(
                id=self.new_id(), guild_id=None, name="", type=1, recipients=[dict(user)]
            )
            self._dm_channels[user_id] = ch
            self._channels[ch.id] = ch
        return self._dm_channels[user_id]

    def close_dms(self, user_id: int, closed: bool = True) -> None:
        """The user turns DMs from server members off (or on again, ``closed=False``)."""
        if closed:
            self.closed_dms.add(user_id)
        else:
            self.closed_dms.discard(user_id)

    def accepts_dms(self, user_id: int) -> bool:
        """Whether Discord would deliver the bot's DM to ``user_id``: the user shares a server
        with the bot and has not closed DMs (docs: JSON error codes, 50007 "Cannot send
        messages to this user")."""
        if user_id in self.closed_dms:
            return False
        return any(
            user_id in g.members and self.bot_user_id in g.members for g in self.guilds.values()
        )

    def refuse_dm_opens(self, count: int = 1) -> Fault:
        """The next ``count`` DM channel opens (``POST /users/@me/channels``) answer 403 with
        code 40003 "You are opening direct messages too fast", as Discord does when a bot
        opens DMs faster than it allows (a limit Discord does not publish)."""
        return self.inject_error(
            "POST", r"^/users/@me/channels$", 403, count=count, body=P.OPENING_DMS_TOO_FAST
        )

    # ------------------------------------------------------------------
    # threads started from a message

    def thread_payload(self, thread_id: int, *, newly_created: bool = False) -> JSON:
        """A thread started from a message as Discord sends it (docs: resources/channel,
        Channel Object and Thread Metadata Object; gateway THREAD_CREATE adds newly_created)."""
        thread = self._channels[thread_id]
        state = self.thread_states[thread_id]
        data = thread.to_payload()
        data.update(
            owner_id=str(state["owner_id"]),
            last_message_id=str(thread.last_message_id) if thread.last_message_id else None,
            rate_limit_per_user=0,
            message_count=0,
            member_count=1,
            total_message_sent=0,
            thread_metadata={
                "archived": state["archived"],
                "auto_archive_duration": state["auto_archive_duration"],
                "archive_timestamp": state["archive_timestamp"],
                "locked": state["locked"],
                "create_timestamp": state["create_timestamp"],
            },
        )
        if newly_created:
            data["newly_created"] = True
        return data

    def start_thread(
        self,
        channel_id: int,
        message_id: int,
        name: str,
        *,
        user_id: int | None = None,
        auto_archive_duration: int = 1440,
    ) -> JSON:
        """Open a public thread on a message, as a member (``user_id``) or the bot does.

        As Discord does (docs: resources/channel, Start Thread from Message): the thread has the
        message's id (so a message has one thread at most), a text channel's is a
        PUBLIC_THREAD (11), an announcement channel's an ANNOUNCEMENT_THREAD (10); THREAD_CREATE
        (newly_created) and the message's MESSAGE_UPDATE (its ``thread`` set) follow.
        """
        parent = self._channels[channel_id]
        message = self.messages[message_id]
        if parent.guild_id is None or int(message["channel_id"]) != channel_id:
            raise ValueError(f"message {message_id} is not in guild channel {channel_id}")
        guild = self.guilds[parent.guild_id]
        owner = user_id if user_id is not None else self.bot_user_id
        thread = FakeChannel(
            id=message_id,
            guild_id=guild.id,
            name=name,
            type=10 if parent.type == 5 else 11,
            parent_id=channel_id,
        )
        now = P.iso_now()
        self.thread_states[message_id] = {
            "owner_id": owner,
            "auto_archive_duration": auto_archive_duration,
            "archived": False,
            "locked": False,
            "archive_timestamp": now,
            "create_timestamp": now,
        }
        guild.channels[thread.id] = thread
        self._channels[thread.id] = thread
        payload = self.thread_payload(thread.id)
        message["thread"] = payload
        self._guild_event(
            guild, "THREAD_CREATE", self.thread_payload(thread.id, newly_created=True)
        )
        self._dispatch_message_event("MESSAGE_UPDATE", message)
        self._notify()
        return payload

    def set_thread_state(
        self, thread_id: int, *, archived: bool | None = None, locked: bool | None = None
    ) -> None:
        """Archive or lock a thread started from a message (dispatches THREAD_UPDATE)."""
        state = self.thread_states[thread_id]
        if archived is not None:
            state["archived"] = archived
            state["archive_timestamp"] = P.iso_now()
        if locked is not None:
            state["locked"] = locked
        thread = self._channels[thread_id]
        if thread.guild_id is not None:
            self._guild_event(
                self.guilds[thread.guild_id], "THREAD_UPDATE", self.thread_payload(thread_id)
            )

    def threads_of(self, channel_id: int) -> list[JSON]:
        """Threads started from messages of ``channel_id``, oldest first."""
        return [
            self.thread_payload(tid)
            for tid in sorted(self.thread_states)
            if tid in self._channels and self._channels[tid].parent_id == channel_id
        ]

    def _guild_create_payload(self, guild: FakeGuild, intents: int) -> JSON:
        members = None if intents & INTENT_GUILD_MEMBERS else [self.bot_user_id]
        return guild.to_payload(members=members)

    def _guild_event(
        self,
        guild: FakeGuild,
        event: str,
        data: JSON,
        *,
        intent: int | None = INTENT_GUILDS,
        always_for_bot: bool = False,
    ) -> None:
        if guild.id not in self.guilds:
            return  # still being built
        self.gateway.dispatch(guild.id, event, data, intent=None if always_for_bot else intent)

    def dispatch_event(
        self, event: str, data: Any, *, guild_id: int | None = None, intent: int | None = None
    ) -> int:
        """Send an arbitrary DISPATCH to the sessions owning ``guild_id``.
        Returns how many sessions got it."""
        n = self.gateway.dispatch(guild_id, event, data, intent=intent)
        self._notify()
        return n

    # ------------------------------------------------------------------
    # commands

    def _store_command(
        self, cmd: Mapping[str, Any], scope: int | None, *, command_id: int | None
    ) -> JSON:
        ctype = int(cmd.get("type", 1))
        stored: JSON = {
            "id": str(command_id or self.new_id()),
            "application_id": str(self.app_id),
            "version": str(self.new_id()),
            "type": ctype,
            "name": cmd.get("name"),
            "name_localizations": cmd.get("name_localizations"),
            "description": cmd.get("description", "") if ctype == 1 else "",
            "description_localizations": cmd.get("description_localizations"),
            "default_member_permissions": cmd.get("default_member_permissions"),
            "dm_permission": cmd.get("dm_permission", True),
            "contexts": cmd.get("contexts"),
            "integration_types": cmd.get("integration_types") or [0],
            "nsfw": bool(cmd.get("nsfw", False)),
        }
        if cmd.get("options"):
            stored["options"] = copy.deepcopy(list(cmd["options"]))
        if scope is not None:
            stored["guild_id"] = str(scope)
        return stored

    def command(self, name: str, guild_id: int | None = None, *, type: int = 1) -> JSON | None:
        """The synced command called ``name`` visible in ``guild_id`` (guild ones win)."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for cmd in self.commands.get(scope, {}).values():
                if cmd["name"] == name and int(cmd.get("type", 1)) == type:
                    return cmd
        return None

    def command_names(self, guild_id: int | None = None) -> list[str]:
        """Names of the commands synced for ``guild_id`` (None = global)."""
        return sorted(c["name"] for c in self.commands.get(guild_id, {}).values())

    # ------------------------------------------------------------------
    # messages

    def _attachment_url(self, channel_id: int, att_id: int, filename: str) -> str:
        return f"{self.base_url}/attachments/{channel_id}/{att_id}/{filename}"

    async def _serve_attachment(self, request: web.Request) -> web.StreamResponse:
        try:
            data = self.attachments[int(request.match_info["attachment_id"])]
        except (KeyError, ValueError):
            return web.Response(status=404)
        return web.Response(body=data)

    def _new_attachments(
        self,
        channel_id: int,
        meta: Sequence[Mapping[str, Any]],
        files: Sequence[RecordedFile],
        *,
        ephemeral: bool,
    ) -> list[JSON]:
        out = []
        for pos, f in enumerate(files):
            m = re.fullmatch(r"files\[(\d+)\]", f.field)
            index = int(m.group(1)) if m else pos
            info = next((a for a in meta if str(a.get("id")) == str(index)), {})
            att_id = self.new_id()
            self.attachments[att_id] = f.data
            filename = info.get("filename") or f.filename
            att: JSON = {
                "id": str(att_id),
                "filename": filename,
                "size": len(f.data),
                "url": self._attachment_url(channel_id, att_id, filename),
                "proxy_url": self._attachment_url(channel_id, att_id, filename),
                "content_type": f.content_type or "application/octet-stream",
            }
            if info.get("description"):
                att["description"] = info["description"]
            if ephemeral:
                att["ephemeral"] = True
            out.append(att)
        return out

    def _components(self, components: Any) -> list[JSON]:
        comps = copy.deepcopy(list(components or []))
        P.number_components(comps, self._component_counter)
        return comps

    @staticmethod
    def _embeds(embeds: Any) -> list[JSON]:
        out = []
        for emb in embeds or []:
            e = copy.deepcopy(dict(emb))
            e.setdefault("type", "rich")
            out.append(e)
        return out

    def _mentions(self, msg: JSON, content: str, allowed: Mapping[str, Any] | None) -> None:
        replied: int | None = None
        ref = msg.get("referenced_message")
        if ref:
            replied = int(ref["author"]["id"])
        users, roles, everyone = P.resolve_mentions(content, allowed, replied_user_id=replied)
        msg["mentions"] = [
            dict(
                self.users.get(u)
                or {"id": str(u), "username": "unknown", "discriminator": "0", "avatar": None}
            )
            for u in users
        ]
        msg["mention_roles"] = [str(r) for r in roles]
        msg["mention_everyone"] = everyone

    def _create_message(
        self,
        channel_id: int,
        data: Mapping[str, Any],
        files: Sequence[RecordedFile],
        *,
        source: str,
        interaction: FakeInteraction | None = None,
        msg_type: int = 0,
        author: JSON | None = None,
        dispatch: bool = True,
        message_id: int | None = None,
    ) -> JSON:
        mid = message_id or self.new_id()
        flags = int(data.get("flags") or 0)
        if interaction is not None and self.forced_ephemeral(interaction.payload):
            flags |= P.MESSAGE_FLAG_EPHEMERAL
        ephemeral = bool(flags & P.MESSAGE_FLAG_EPHEMERAL)
        content = str(data.get("content") or "")
        allowed = data.get("allowed_mentions")
        msg: JSON = {
            "id": str(mid),
            "channel_id": str(channel_id),
            "author": dict(author or self.users[self.bot_user_id]),
            "content": content,
            "timestamp": P.iso_now(),
            "edited_timestamp": None,
            "tts": bool(data.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._new_attachments(
                channel_id, data.get("attachments") or [], files, ephemeral=ephemeral
            ),
            "embeds": self._embeds(data.get("embeds")),
            "pinned": False,
            "type": msg_type,
            "flags": flags,
            "components": self._components(data.get("components")),
            "allowed_mentions": copy.deepcopy(allowed),
            "_source": source,
        }
        if data.get("nonce") is not None:
            msg["nonce"] = data["nonce"]
        if data.get("_embeds_dropped"):
            msg["_embeds_dropped"] = True
        if data.get("poll"):
            msg["poll"] = copy.deepcopy(data["poll"])
        ref = data.get("message_reference")
        if ref and ref.get("message_id"):
            ref_msg = self.messages.get(int(ref["message_id"]))
            msg["message_reference"] = {
                "type": int(ref.get("type", 0)),
                "message_id": str(ref["message_id"]),
                "channel_id": str(ref.get("channel_id") or channel_id),
            }
            if ref.get("guild_id"):
                msg["message_reference"]["guild_id"] = str(ref["guild_id"])
            if ref_msg is not None and not ref_msg.get("_deleted"):
                msg["referenced_message"] = self._wire_message(ref_msg)
                if msg_type == 0:
                    msg["type"] = 19
        if interaction is not None:
            msg["webhook_id"] = str(self.app_id)
            msg["application_id"] = str(self.app_id)
            user = self.users.get(interaction.user_id) or {"id": str(interaction.user_id)}
            meta: JSON = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": dict(user),
                "authorizing_integration_owners": dict(
                    interaction.payload.get("authorizing_integration_owners", {})
                ),
            }
            if source == "followup" and interaction.original_message_id:
                meta["original_response_message_id"] = str(interaction.original_message_id)
            if interaction.source_message_id:
                meta["interacted_message_id"] = str(interaction.source_message_id)
            msg["interaction_metadata"] = meta
            if interaction.type in (2, 4):
                msg["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": (interaction.payload.get("data") or {}).get("name", ""),
                    "user": dict(user),
                }
            msg["_interaction_id"] = interaction.id
        self._mentions(msg, content, allowed)
        self.messages[mid] = msg
        ch = self._channels.get(channel_id)
        if ch is not None and not ephemeral:
            ch.last_message_id = mid
        self.allowed_mentions_log.append(
            {
                "message_id": mid,
                "channel_id": channel_id,
                "source": source,
                "allowed_mentions": copy.deepcopy(allowed),
            }
        )
        if dispatch and not ephemeral:
            self._dispatch_message_event("MESSAGE_CREATE", msg)
        self._notify()
        return msg

    def _edit_message(
        self,
        message_id: int,
        data: Mapping[str, Any],
        files: Sequence[RecordedFile],
        *,
        edited: bool,
        clear_loading: bool = False,
    ) -> JSON:
        msg = self.messages[message_id]
        channel_id = int(msg["channel_id"])
        ephemeral = bool(int(msg.get("flags", 0)) & P.MESSAGE_FLAG_EPHEMERAL)
        if "content" in data:
            msg["content"] = str(data.get("content") or "")
        if "embeds" in data:
            msg["embeds"] = self._embeds(data.get("embeds"))
        if "components" in data:
            msg["components"] = self._components(data.get("components"))
        if "flags" in data and data.get("flags") is not None:
            new_flags = int(data["flags"])
            keep = int(msg.get("flags", 0)) & (P.MESSAGE_FLAG_EPHEMERAL | P.MESSAGE_FLAG_LOADING)
            mutable = (
                P.MESSAGE_FLAG_SUPPRESS_EMBEDS
                | P.MESSAGE_FLAG_IS_COMPONENTS_V2
                | P.MESSAGE_FLAG_SUPPRESS_NOTIFICATIONS
            )
            msg["flags"] = keep | (new_flags & mutable)
        if clear_loading:
            msg["flags"] = int(msg.get("flags", 0)) & ~P.MESSAGE_FLAG_LOADING
        if "allowed_mentions" in data:
            msg["allowed_mentions"] = copy.deepcopy(data.get("allowed_mentions"))
        if "attachments" in data or files:
            meta = list(data.get("attachments") or [])
            if "attachments" in data:
                keep_ids = {str(a.get("id")) for a in meta}
                existing = [a for a in msg["attachments"] if a["id"] in keep_ids]
            else:
                existing = list(msg["attachments"])
            msg["attachments"] = existing + self._new_attachments(
                channel_id, meta, files, ephemeral=ephemeral
            )
        if edited:
            msg["edited_timestamp"] = P.iso_now()
        self._mentions(msg, msg["content"], msg.get("allowed_mentions"))
        self.allowed_mentions_log.append(
            {
                "message_id": message_id,
                "channel_id": channel_id,
                "source": "edit",
                "allowed_mentions": copy.deepcopy(data.get("allowed_mentions")),
            }
        )
        if not ephemeral:
            self._dispatch_message_event("MESSAGE_UPDATE", msg)
        self._notify()
        return msg

    def _delete_message(self, message_id: int) -> None:
        msg = self.messages[message_id]
        msg["_deleted"] = True
        if not int(msg.get("flags", 0)) & P.MESSAGE_FLAG_EPHEMERAL:
            ch = self._channels.get(int(msg["channel_id"]))
            data: JSON = {"id": str(message_id), "channel_id": msg["channel_id"]}
            gid = ch.guild_id if ch else None
            if gid:
                data["guild_id"] = str(gid)
            intent = INTENT_GUILD_MESSAGES if gid else INTENT_DIRECT_MESSAGES
            self.gateway.dispatch(gid, "MESSAGE_DELETE", data, intent=intent)
        self._notify()

    def _dispatch_message_event(self, event: str, msg: JSON) -> None:
        ch = self._channels.get(int(msg["channel_id"]))
        if ch is None:
            return
        gid = ch.guild_id
        data = self._wire_message(msg)
        if gid is not None:
            data["guild_id"] = str(gid)
            guild = self.guilds.get(gid)
            author_id = int(msg["author"]["id"])
            if guild is not None and author_id in guild.members and not msg.get("webhook_id"):
                member = guild.members[author_id].to_payload()
                member.pop("user", None)
                data["member"] = member
        needed = INTENT_GUILD_MESSAGES if gid is not None else INTENT_DIRECT_MESSAGES
        author_is_bot = int(msg["author"]["id"]) == self.bot_user_id
        mentions_bot = any(int(u["id"]) == self.bot_user_id for u in msg.get("mentions", []))
        for session in self.gateway.sessions_for_guild(gid):
            if not session.intents & needed:
                continue
            payload = data
            if not (
                session.intents & INTENT_MESSAGE_CONTENT
                or author_is_bot
                or mentions_bot
                or gid is None
            ):
                payload = dict(data, content="", embeds=[], attachments=[], components=[])
            session.dispatch(event, payload)

    def _public_message(self, msg: JSON | None) -> JSON:
        """Message as tests see it: includes ``allowed_mentions``, no fake-internal keys."""
        if msg is None:
            return {}
        return {k: copy.deepcopy(v) for k, v in msg.items() if not k.startswith("_")}

    def _wire_message(self, msg: JSON) -> JSON:
        """Message as Discord would return it."""
        out = self._public_message(msg)
        out.pop("allowed_mentions", None)
        return out

    def channel_messages(
        self, channel_id: int, *, include_interactions: bool = False, include_deleted: bool = False
    ) -> list[JSON]:
        """Messages in a channel, oldest first. By default only those posted with
        ``POST /channels/{id}/messages`` (and by users); ``include_interactions``
        adds non-ephemeral interaction responses and follow-ups."""
        out = []
        for msg in sorted(self.messages.values(), key=lambda m: int(m["id"])):
            if int(msg["channel_id"]) != channel_id:
                continue
            if msg.get("_deleted") and not include_deleted:
                continue
            if msg.get("_source") in ("interaction", "followup"):
                if not include_interactions or int(msg.get("flags", 0)) & P.MESSAGE_FLAG_EPHEMERAL:
                    continue
            out.append(self._public_message(msg))
        return out

    async def wait_for_messages(
        self,
        channel_id: int,
        n: int = 1,
        timeout: float = 5.0,
        *,
        include_interactions: bool = False,
    ) -> list[JSON]:
        """Wait until ``channel_messages(channel_id)`` has at least ``n`` messages."""
        await self._wait_until(
            lambda: (
                len(self.channel_messages(channel_id, include_interactions=include_interactions))
                >= n
            ),
            timeout,
            lambda: (
                f"channel {channel_id}: wanted {n} messages, have "
                f"{self.channel_messages(channel_id, include_interactions=include_interactions)}"
            ),
        )
        return self.channel_messages(channel_id, include_interactions=include_interactions)

    def message(self, message_id: int) -> JSON | None:
        """Current state of a message (as tests see it), or None."""
        msg = self.messages.get(int(message_id))
        return self._public_message(msg) if msg else None

    def message_files(self, message: int | Mapping[str, Any]) -> dict[str, bytes]:
        """``{filename: bytes}`` of a message's attachments."""
        mid = int(message if isinstance(message, int) else message["id"])
        msg = self.messages[mid]
        return {a["filename"]: self.attachments[int(a["id"])] for a in msg.get("attachments", [])}

    def post_user_message(
        self, channel_id: int, content: str, user_id: int | None = None, **extra: Any
    ) -> JSON:
        """Simulate a user posting a message (dispatches MESSAGE_CREATE per intents)."""
        ch = self._channels[channel_id]
        if user_id is None:
            if ch.guild_id is None:
                user_id = int(ch.recipients[0]["id"])
            else:
                user_id = self.guilds[ch.guild_id].default_member_id
        user = self.users.get(user_id) or self.add_user(user_id)
        if ch.guild_id is not None:
            self.guilds[ch.guild_id].ensure_member(user_id)
        data = {"content": content, **extra}
        return self._public_message(
            self._create_message(channel_id, data, [], source="user", author=user)
        )

    def post_forum_post(
        self, forum_id: int, title: str, content: str, user_id: int | None = None
    ) -> tuple[FakeChannel, JSON]:
        """Simulate a member opening a post in a forum (type 15) or media (16) channel.

        As Discord does (docs: topics/threads, Forums): the post is a public thread (type 11)
        whose parent is the forum, its first message has the thread's id, THREAD_CREATE
        (newly_created, GUILDS intent) comes first, then that message's MESSAGE_CREATE.
        """
        forum = self._channels[forum_id]
        if forum.guild_id is None or forum.type not in P.THREAD_ONLY_TYPES:
            raise ValueError(f"channel {forum_id} is not a forum or media channel")
        guild = self.guilds[forum.guild_id]
        if user_id is None:
            user_id = guild.default_member_id
        user = self.users.get(user_id) or self.add_user(user_id)
        guild.ensure_member(user_id)
        thread = FakeChannel(
            id=self.new_id(), guild_id=guild.id, name=title, type=11, parent_id=forum_id
        )
        now = P.iso_now()
        self.thread_states[thread.id] = {
            "owner_id": user_id,
            "auto_archive_duration": 4320,
            "archived": False,
            "locked": False,
            "archive_timestamp": now,
            "create_timestamp": now,
        }
        guild.channels[thread.id] = thread
        self._channels[thread.id] = thread
        self._guild_event(
            guild, "THREAD_CREATE", self.thread_payload(thread.id, newly_created=True)
        )
        message = self._create_message(
            thread.id, {"content": content}, [], source="user", author=user, message_id=thread.id
        )
        forum.last_message_id = thread.id
        return thread, self._public_message(message)

    # ------------------------------------------------------------------
    # requests / faults

    def requests_matching(
        self, method: str | None = None, path_regex: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method and ``re.search(path_regex, path)``."""
        rx = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (rx is None or rx.search(r.path))
        ]

    def assert_no_unhandled(self) -> None:
        """Raise AssertionError if the bot called any route the fake does not implement."""
        if self.unhandled:
            calls = ", ".join(f"{r.method} {r.path}" for r in self.unhandled)
            raise AssertionError(f"unexpected Discord API calls: {calls}")

    def inject_429(
        self,
        method: str,
        path_regex: str,
        count: int = 1,
        retry_after: float = 0.2,
        global_: bool = False,
        *,
        scope: str = "user",
    ) -> Fault:
        r"""The next ``count`` matching requests answer 429 with Discord's headers
        (``Retry-After``, ``X-RateLimit-*``, ``Via``) and body
        ``{"message": "You are being rate limited.", "retry_after": ..., "global": ...}``.
        ``method="*"`` matches any method; ``path_regex`` is searched (``re.search``)
        in the path below the API base, e.g. ``r"^/channels/\d+/messages$"``."""
        fault = Fault(
            "429",
            method.upper(),
            re.compile(path_regex),
            count,
            status=429,
            retry_after=retry_after,
            global_=global_,
            scope=scope,
        )
        self.faults.append(fault)
        return fault

    def inject_error(
        self,
        method: str,
        path_regex: str,
        status: int,
        count: int = 1,
        body: Mapping[str, Any] | None = None,
    ) -> Fault:
        """The next ``count`` matching requests answer ``status`` with ``body``
        (default: Discord's body for that status, e.g. 403
        ``{"code": 50001, "message": "Missing Access"}``).
        Note discord.py retries 500/502/504 itself (sleeping 1 s, 3 s, ...)."""
        fault = Fault(
            "error",
            method.upper(),
            re.compile(path_regex),
            count,
            status=status,
            body=dict(body) if body is not None else None,
        )
        self.faults.append(fault)
        return fault

    def inject_delay(self, method: str, path_regex: str, seconds: float, count: int = 1) -> Fault:
        """Delay the next ``count`` matching requests by ``seconds`` before handling them."""
        fault = Fault("delay", method.upper(), re.compile(path_regex), count, delay=seconds)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------
    # gateway control

    async def drop_gateway(self, shard_id: int | None = None, code: int = 4000) -> int:
        """Close the websocket(s) (of one shard, or all) from the server side.
        Resumable codes (e.g. 1001, 4000) keep the session so discord.py RESUMEs;
        4007/4009/... invalidate it. Returns how many connections were closed."""
        n = await self.gateway.drop(shard_id, code)
        self._notify()
        return n

    def invalidate_session(self, shard_id: int | None = None, resumable: bool = False) -> int:
        """Send INVALID_SESSION (op 9) to the connected session(s); with
        ``resumable=False`` the session is dropped, forcing a new IDENTIFY."""
        n = 0
        for conn in list(self.gateway.connections):
            s = conn.session
            if s is None or (shard_id is not None and s.shard_id != shard_id):
                continue
            if not resumable:
                s.invalidated = True
            conn.send_json({"op": 9, "d": resumable, "s": None, "t": None})
            n += 1
        return n

    def request_reconnect(self, shard_id: int | None = None) -> int:
        """Send RECONNECT (op 7): discord.py closes and resumes."""
        n = 0
        for conn in list(self.gateway.connections):
            s = conn.session
            if s is None or (shard_id is not None and s.shard_id != shard_id):
                continue
            conn.send_json({"op": 7, "d": None, "s": None, "t": None})
            n += 1
        return n

    def sent_events(self, event: str | None = None, *, shard_id: int | None = None) -> list[JSON]:
        """Gateway DISPATCH payloads (``{"op": 0, "t", "s", "d"}``) sent to sessions,
        optionally only ``event`` and/or one shard (from the replay buffers)."""
        import json as _json

        out: list[JSON] = []
        for session in self.gateway.sessions.values():
            if shard_id is not None and session.shard_id != shard_id:
                continue
            for _seq, text in session.buffer:
                payload = _json.loads(text)
                if event is None or payload.get("t") == event:
                    out.append(payload)
        return out

    def connected_shards(self) -> list[tuple[int, int] | None]:
        """Shard tuples (None when unsharded) of currently connected, identified sessions."""
        return [
            c.session.shard
            for c in self.gateway.connections
            if c.session is not None and not c.server_closing
        ]

    # ------------------------------------------------------------------
    # interactions

    def _member_payload(
        self,
        guild: FakeGuild,
        user_id: int,
        channel_id: int,
        *,
        roles: Iterable[int] | None,
        permissions: int | None,
    ) -> JSON:
        member = guild.ensure_member(user_id)
        data = member.to_payload()
        role_ids = [int(r) for r in roles] if roles is not None else member.roles
        data["roles"] = [str(r) for r in role_ids]
        if permissions is None:
            if user_id == guild.owner_id:
                permissions = P.ALL_PERMISSIONS
            else:
                base = guild.everyone_role.permissions
                for rid in role_ids:
                    role = guild.roles.get(rid)
                    if role is not None:
                        base |= role.permissions
                ch = guild.channels.get(channel_id)
                permissions = P.apply_overwrites(
                    P.ALL_PERMISSIONS if base & Perm.ADMINISTRATOR else base,
                    guild_id=guild.id,
                    member_id=user_id,
                    member_role_ids=role_ids,
                    overwrites=ch.overwrites if ch else [],
                )
        data["permissions"] = str(int(permissions))
        return data

    def _interaction_payload(
        self,
        itype: int,
        data: JSON | None,
        *,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int | None,
        roles: Iterable[int] | None,
        member_permissions: int | None,
        locale: str,
        install: int = GUILD_INSTALL,
        context: int | None = None,
        owners: Mapping[str, str] | None = None,
    ) -> JSON:
        """An INTERACTION_CREATE payload as Discord builds it for that place and install.

        ``install`` is the install the member reaches the app through: GUILD_INSTALL (the
        server's, or a bot DM's: owner "0") or USER_INSTALL (the member's own account). Discord
        lists every install that authorized the interaction (docs: Authorizing Integration
        Owners Object): a user install in a server that also has the app lists both.
        ``context``: CONTEXT_GUILD with a guild, else CONTEXT_BOT_DM (the default without one)
        or CONTEXT_PRIVATE_CHANNEL (a group DM or a DM between users; user installs only).
        ``owners`` (a click on a message) repeats those of the interaction that sent it.
        """
        ix_id = self.new_id()
        payload: JSON = {
            "id": str(ix_id),
            "application_id": str(self.app_id),
            "type": itype,
            "token": f"fakeixtoken.{ix_id}.{secrets.token_urlsafe(32)}",
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 26214400,
        }
        if data is not None:
            payload["data"] = data
        if guild_id is not None:
            guild = self.guilds.get(guild_id) or self.outside_guilds.get(guild_id)
            if guild is None:
                raise LookupError(f"unknown guild {guild_id}")
            if context not in (None, CONTEXT_GUILD):
                raise ValueError("an interaction in a server has context 0 (GUILD)")
            installed_here = guild_id in self.guilds
            if install == GUILD_INSTALL and not installed_here and owners is None:
                raise LookupError(
                    f"the app is not installed in server {guild_id}: only a member's own "
                    "install (install=USER_INSTALL) reaches it"
                )
            if owners is None:
                owners = self._owners(
                    install,
                    guild_id if installed_here else None,
                    user_id or guild.default_member_id,
                )
            if "0" not in owners and "1" not in owners:
                raise ValueError(f"no install of the app authorizes this interaction: {owners}")
            cid = channel_id or guild.text_channel_id
            ch = guild.channels.get(cid)
            if ch is None:
                raise LookupError(f"channel {cid} is not in guild {guild_id}")
            uid = user_id or guild.default_member_id
            member = self._member_payload(
                guild, uid, cid, roles=roles, permissions=member_permissions
            )
            channel = ch.to_payload()
            channel["permissions"] = member["permissions"]
            payload.update(
                guild_id=str(guild_id),
                channel_id=str(cid),
                channel=channel,
                guild={"id": str(guild_id), "locale": guild.locale, "features": []},
                guild_locale=guild.locale,
                member=member,
                app_permissions=str(
                    guild.bot_permissions_in(cid) if installed_here else _USER_APP_PERMISSIONS
                ),
                authorizing_integration_owners=dict(owners),
                context=CONTEXT_GUILD,
            )
        else:
            if user_id is None:
                raise ValueError("a DM interaction needs user_id")
            context = CONTEXT_BOT_DM if context is None else context
            if context == CONTEXT_GUILD:
                raise ValueError("an interaction outside a server cannot have context 0")
            if owners is None:
                owners = self._owners(install, None, user_id)
            if context == CONTEXT_PRIVATE_CHANNEL and "1" not in owners:
                # docs: Interaction Context Types: PRIVATE_CHANNEL "only for globally-scoped
                # commands" of a user-installed app; a server's install never reaches there.
                raise ValueError("only a user install reaches a private channel")
            dm = self._channels.get(channel_id) if channel_id else None
            if dm is None:
                dm = (
                    self.dm_channel(user_id)
                    if context == CONTEXT_BOT_DM
                    else self.private_channel(user_id)
                )
            user = self.users.get(user_id) or self.add_user(user_id)
            channel = dm.to_payload()
            payload.update(
                channel_id=str(dm.id),
                channel=channel,
                user=dict(user),
                app_permissions=str(
                    _DM_APP_PERMISSIONS if context == CONTEXT_BOT_DM else _USER_APP_PERMISSIONS
                ),
                authorizing_integration_owners=dict(owners),
                context=context,
            )
        return payload

    def _owners(self, install: int, guild_id: int | None, user_id: int | None) -> dict[str, str]:
        """authorizing_integration_owners for an install: a server's ("0": its id, or "0" in a
        bot DM), a member's ("1": their id, plus the server's where the app is installed too)."""
        if install == GUILD_INSTALL:
            return {"0": str(guild_id or 0)}
        if install != USER_INSTALL:
            raise ValueError(f"unknown install {install}")
        owners = {"1": str(user_id)}
        if guild_id is not None:
            owners["0"] = str(guild_id)
        return owners

    def private_channel(self, user_id: int, other_ids: Sequence[int] = ()) -> FakeChannel:
        """A group DM of ``user_id`` and others (a DM between two users if one other), which
        the bot is not in: only a user-installed app's interactions reach it."""
        user = self.users.get(user_id) or self.add_user(user_id)
        others = [self.users.get(u) or self.add_user(u) for u in other_ids] or [
            self.add_user(None, "friend")
        ]
        recipients = [dict(user), *(dict(o) for o in others)]
        ch = FakeChannel(
            id=self.new_id(),
            guild_id=None,
            name="",
            type=1 if len(recipients) == 2 else 3,
            recipients=recipients,
        )
        self._channels[ch.id] = ch
        return ch

    def user_installed_only(self, payload: Mapping[str, Any]) -> bool:
        """Whether an interaction reached the app through a member's own install alone (not a
        server's install, nor a bot DM): such an app is limited in what it may answer."""
        owners = payload.get("authorizing_integration_owners") or {}
        return "0" not in owners

    def forced_ephemeral(self, payload: Mapping[str, Any]) -> bool:
        """Whether Discord makes every answer to this interaction ephemeral: a user-installed
        app in a server without it, for a member lacking Use External Apps in the channel
        (docs: change log, "New Use External Apps Permission")."""
        if not payload.get("guild_id") or not self.user_installed_only(payload):
            return False
        member = payload.get("member") or {}
        return not int(member.get("permissions") or 0) & Perm.USE_EXTERNAL_APPS

    def _check_offered(self, command: Mapping[str, Any] | None, payload: Mapping[str, Any]) -> None:
        """Refuse to send what no Discord client would let a member invoke: a command in a
        context it does not allow, or through an install it is not available to."""
        if command is None:
            return
        context = int(payload["context"])
        contexts = command.get("contexts")
        if command.get("guild_id"):
            # A server's own commands exist in that server only, through its install.
            if context != CONTEXT_GUILD or "0" not in payload["authorizing_integration_owners"]:
                raise LookupError(f"{command['name']!r} is a command of one server only")
        elif contexts is not None and context not in contexts:
            raise LookupError(
                f"{command['name']!r} is not offered in context {context} (contexts {contexts})"
            )
        elif contexts is None and context == CONTEXT_BOT_DM and not command.get("dm_permission"):
            raise LookupError(f"{command['name']!r} is not offered in DMs (dm_permission false)")
        installs = [int(i) for i in command.get("integration_types") or [GUILD_INSTALL]]
        owners = {int(k) for k in payload["authorizing_integration_owners"]}
        if not owners & set(installs):
            raise LookupError(
                f"{command['name']!r} is not available to installs {sorted(owners)} "
                f"(integration_types {installs})"
            )

    async def _send_interaction(self, payload: JSON, *, connect_timeout: float) -> FakeInteraction:
        return await self._send_interaction_with_source(payload, None, connect_timeout)

    def _option_type(self, definition: Mapping[str, Any] | None, value: Any) -> int:
        if definition is not None:
            return int(definition["type"])
        if isinstance(value, bool):
            return 5
        if isinstance(value, int):
            return 4
        if isinstance(value, float):
            return 10
        return 3

    def _build_options(
        self,
        command: Mapping[str, Any] | None,
        path: Sequence[str],
        options: OptionsArg,
        resolved: JSON,
        *,
        guild_id: int | None,
        channel_id: int | None,
        focused: str | None = None,
    ) -> list[JSON]:
        if options is None:
            raw: list[JSON] = []
        elif isinstance(options, Mapping):
            raw = []
            for name, value in options.items():
                definition = P.find_command_option(command, path, name) if command else None
                otype = self._option_type(definition, value)
                allowed = (definition or {}).get("channel_types")
                channel = self._channels.get(int(value)) if otype == 7 else None
                if allowed and channel is not None and channel.type not in allowed:
                    # Discord offers only the channel types the option allows (docs:
                    # Application Commands, option structure: channel_types).
                    raise LookupError(
                        f"option {name!r}: a channel of type {channel.type}, not in {allowed}"
                    )
                raw.append(
                    self._option_value(
                        otype, name, value, resolved, guild_id=guild_id, channel_id=channel_id
                    )
                )
        else:
            raw = [dict(o) for o in options]
        if focused is not None:
            names = [o["name"] for o in raw]
            if focused not in names:
                definition = P.find_command_option(command, path, focused) if command else None
                raw.append(
                    {
                        "name": focused,
                        "type": int(definition["type"]) if definition else 3,
                        "value": "",
                    }
                )
            for o in raw:
                if o["name"] == focused:
                    o["focused"] = True
        wrapped: list[JSON] = raw
        for i, part in reversed(list(enumerate(path))):
            otype = 1 if i == len(path) - 1 else 2
            wrapped = [{"type": otype, "name": part, "options": wrapped}]
        return wrapped

    def _option_value(
        self,
        otype: int,
        name: str,
        value: Any,
        resolved: JSON,
        *,
        guild_id: int | None,
        channel_id: int | None,
    ) -> JSON:
        guild = self.guilds.get(guild_id) if guild_id else None
        if otype in (6, 9) and (otype == 6 or int(value) in self.users):
            uid = int(value)
            user = self.users.get(uid) or self.add_user(uid)
            resolved.setdefault("users", {})[str(uid)] = dict(user)
            if guild is not None and channel_id is not None:
                member = self._member_payload(guild, uid, channel_id, roles=None, permissions=None)
                member.pop("user", None)
                resolved.setdefault("members", {})[str(uid)] = member
            return {"name": name, "type": otype, "value": str(uid)}
        if otype in (8, 9):
            rid = int(value)
            if guild is None or rid not in guild.roles:
                raise LookupError(f"option {name!r}: unknown role {rid}")
            resolved.setdefault("roles", {})[str(rid)] = guild.roles[rid].to_payload()
            return {"name": name, "type": otype, "value": str(rid)}
        if otype == 7:
            cid = int(value)
            ch = self._channels.get(cid)
            if ch is None:
                raise LookupError(f"option {name!r}: unknown channel {cid}")
            data = ch.to_payload()
            if guild is not None:
                data["permissions"] = str(guild.permissions_for(guild.default_member_id, cid))
            resolved.setdefault("channels", {})[str(cid)] = data
            return {"name": name, "type": otype, "value": str(cid)}
        if otype == 11:
            filename, blob = value if isinstance(value, tuple) else ("file.bin", bytes(value))
            att_id = self.new_id()
            self.attachments[att_id] = bytes(blob)
            url = self._attachment_url(channel_id or 0, att_id, filename)
            resolved.setdefault("attachments", {})[str(att_id)] = {
                "id": str(att_id),
                "filename": filename,
                "size": len(blob),
                "url": url,
                "proxy_url": url,
                "content_type": "application/octet-stream",
                "ephemeral": True,
            }
            return {"name": name, "type": otype, "value": str(att_id)}
        # Discord sends each value in its option's declared type: a test that passes another
        # (an int for a string option) would exercise a payload Discord never sends.
        expected = {3: str, 4: int, 5: bool, 10: (int, float)}.get(otype)
        wrong_bool = otype in (4, 10) and isinstance(value, bool)
        if expected is not None and (not isinstance(value, expected) or wrong_bool):
            raise TypeError(
                f"option {name!r} is of type {otype}; Discord would not send {value!r} for it"
            )
        return {"name": name, "type": otype, "value": value}

    def _command_data(
        self,
        *,
        name: str,
        ctype: int,
        guild_id: int | None,
        require_synced: bool,
    ) -> tuple[JSON | None, JSON]:
        cmd = self.command(name, guild_id, type=ctype)
        if cmd is None:
            if require_synced:
                synced = {str(k): self.command_names(k) for k in self.commands}
                raise LookupError(
                    f"command {name!r} (type {ctype}) was never synced; synced: {synced}"
                )
            data: JSON = {"id": str(self.new_id()), "name": name, "type": ctype}
            if guild_id is not None:
                data["guild_id"] = str(guild_id)
            return None, data
        data = {"id": cmd["id"], "name": name, "type": ctype}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return cmd, data

    @staticmethod
    def _subcommand_path(subcommand: str | Sequence[str] | None) -> list[str]:
        if subcommand is None:
            return []
        if isinstance(subcommand, str):
            return subcommand.split()
        return list(subcommand)

    async def send_slash(
        self,
        guild_id: int | None,
        channel_id: int | None = None,
        user_id: int | None = None,
        *,
        name: str,
        options: OptionsArg = None,
        subcommand: str | Sequence[str] | None = None,
        member_permissions: int | None = None,
        roles: Iterable[int] | None = None,
        locale: str = "en-US",
        require_synced: bool = True,
        connect_timeout: float = 5.0,
        install: int = GUILD_INSTALL,
        context: int | None = None,
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND (type 2, chat input) interaction.

        :param guild_id: guild (None for a DM; then ``user_id`` is required).
        :param channel_id: defaults to the guild's first text channel.
        :param user_id: defaults to the guild's plain member; unknown ids become members.
        :param options: ``{"name": value}`` (types taken from the synced command;
            user/channel/role options get ``resolved`` data; attachments take
            ``(filename, bytes)``) or raw option dicts.
        :param subcommand: ``"sub"``, ``"group sub"`` or ``("group", "sub")``.
        :param member_permissions: override ``member.permissions`` (else computed
            from roles and channel overwrites).
        :param roles: override the member's role ids in the payload.
        :param require_synced: raise LookupError if the command was never synced.
        :param install: GUILD_INSTALL or USER_INSTALL (see ``_interaction_payload``).
        :param context: CONTEXT_BOT_DM (default without a guild) or CONTEXT_PRIVATE_CHANNEL.

        A command the member could not invoke there (its ``contexts`` and
        ``integration_types`` as synced) raises LookupError: Discord would not offer it.
        """
        path = self._subcommand_path(subcommand)
        cmd, data = self._command_data(
            name=name, ctype=1, guild_id=guild_id, require_synced=require_synced
        )
        resolved: JSON = {}
        cid = channel_id or (self._any_guild(guild_id).text_channel_id if guild_id else None)
        opts = self._build_options(cmd, path, options, resolved, guild_id=guild_id, channel_id=cid)
        if opts:
            data["options"] = opts
        if resolved:
            data["resolved"] = resolved
        payload = self._interaction_payload(
            2,
            data,
            guild_id=guild_id,
            channel_id=cid,
            user_id=user_id,
            roles=roles,
            member_permissions=member_permissions,
            locale=locale,
            install=install,
            context=context,
        )
        self._check_offered(cmd, payload)
        return await self._send_interaction(payload, connect_timeout=connect_timeout)

    def _any_guild(self, guild_id: int) -> FakeGuild:
        """A server, with the bot or without it (``add_guild(installed=False)``)."""
        guild = self.guilds.get(guild_id) or self.outside_guilds.get(guild_id)
        if guild is None:
            raise LookupError(f"unknown guild {guild_id}")
        return guild

    async def send_message_command(
        self,
        guild_id: int | None,
        channel_id: int | None = None,
        user_id: int | None = None,
        *,
        name: str,
        message: MessageRef | Mapping[str, Any] | None = None,
        content: str = "",
        embeds: Sequence[Mapping[str, Any]] = (),
        author_id: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
        install: int = GUILD_INSTALL,
        context: int | None = None,
        connect_timeout: float = 5.0,
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND interaction of a message command (type 3): a
        member picked ``name`` from a message's Apps menu.

        The target is a message the fake stores (``message``: id, dict or interaction), or a
        new one posted now by ``author_id`` (default: a new user) with ``content`` and
        ``embeds`` (a link preview: ``{"type": "link", "title", "description", "url"}``).
        As Discord sends it (docs: Application Commands, Message Commands; Receiving and
        Responding, Resolved Data Structure): ``data.target_id`` is the message's id and
        ``data.resolved.messages`` carries the whole message, its content included, whatever
        intents the app has (the Message Content intent's documented exception for messages
        an app command targets). The command must be synced and offered there (see
        ``send_slash``).
        """
        cmd, data = self._command_data(name=name, ctype=3, guild_id=guild_id, require_synced=True)
        if message is not None:
            target = self._resolve_message(message)  # type: ignore[arg-type]
            cid = int(target["channel_id"])
        else:
            if guild_id is not None:
                cid = channel_id or self._any_guild(guild_id).text_channel_id
            elif user_id is None:
                raise ValueError("a message command outside a server needs user_id")
            elif channel_id is not None:
                cid = channel_id
            elif context == CONTEXT_PRIVATE_CHANNEL:
                cid = self.private_channel(user_id).id
            else:
                cid = self.dm_channel(user_id).id
            author = self.users.get(author_id) if author_id else None
            if author is None:
                author = self.add_user(author_id, "author")
            target = self._create_message(
                cid,
                {"content": content, "embeds": [dict(e) for e in embeds]},
                [],
                source="user",
                author=dict(author),
                # Where the bot is, it hears of the post as of any (as its intents allow).
                dispatch=guild_id in self.guilds,
            )
        data["target_id"] = str(target["id"])
        data["resolved"] = {"messages": {str(target["id"]): self._wire_message(target)}}
        payload = self._interaction_payload(
            2,
            data,
            guild_id=guild_id,
            channel_id=cid,
            user_id=user_id,
            roles=None,
            member_permissions=member_permissions,
            locale=locale,
            install=install,
            context=context,
        )
        self._check_offered(cmd, payload)
        return await self._send_interaction(payload, connect_timeout=connect_timeout)

    async def send_autocomplete(
        self,
        guild_id: int | None,
        channel_id: int | None = None,
        user_id: int | None = None,
        *,
        name: str,
        focused: str | None = None,
        options: OptionsArg = None,
        subcommand: str | Sequence[str] | None = None,
        member_permissions: int | None = None,
        roles: Iterable[int] | None = None,
        locale: str = "en-US",
        require_synced: bool = True,
        connect_timeout: float = 5.0,
        install: int = GUILD_INSTALL,
        context: int | None = None,
    ) -> FakeInteraction:
        """Dispatch an APPLICATION_COMMAND_AUTOCOMPLETE (type 4) interaction; the
        option named ``focused`` gets ``"focused": true`` (added with "" if absent);
        with raw option dicts you may mark it yourself instead.
        The bot's answer is ``ix.choices`` after ``await ix.wait_response()``."""
        path = self._subcommand_path(subcommand)
        cmd, data = self._command_data(
            name=name, ctype=1, guild_id=guild_id, require_synced=require_synced
        )
        resolved: JSON = {}
        cid = channel_id or (self._any_guild(guild_id).text_channel_id if guild_id else None)
        data["options"] = self._build_options(
            cmd, path, options, resolved, guild_id=guild_id, channel_id=cid, focused=focused
        )
        leaves = data["options"]
        while leaves and int(leaves[0].get("type", 0)) in (1, 2):
            leaves = leaves[0].get("options") or []
        if sum(1 for o in leaves if o.get("focused")) != 1:
            raise ValueError("an autocomplete interaction needs exactly one focused option")
        payload = self._interaction_payload(
            4,
            data,
            guild_id=guild_id,
            channel_id=cid,
            user_id=user_id,
            roles=roles,
            member_permissions=member_permissions,
            locale=locale,
            install=install,
            context=context,
        )
        self._check_offered(cmd, payload)
        return await self._send_interaction(payload, connect_timeout=connect_timeout)

    def _resolve_message(self, message: MessageRef) -> JSON:
        if isinstance(message, FakeInteraction):
            if message.original_message_id is None:
                raise LookupError(f"{message!r} has no original response message")
            mid = message.original_message_id
        elif isinstance(message, tuple):
            mid = int(message[1])
        elif isinstance(message, Mapping):
            mid = int(message["id"])
        else:
            mid = int(message)
        msg = self.messages.get(mid)
        if msg is None or msg.get("_deleted"):
            raise LookupError(f"message {mid} is unknown to the fake (or deleted)")
        return msg

    async def click_component(
        self,
        message: MessageRef,
        custom_id: str,
        *,
        component_type: int | None = None,
        values: Sequence[Any] | None = None,
        user_id: int | None = None,
        member_permissions: int | None = None,
        roles: Iterable[int] | None = None,
        locale: str = "en-US",
        strict: bool = True,
        connect_timeout: float = 5.0,
    ) -> FakeInteraction:
        """Dispatch a MESSAGE_COMPONENT (type 3) interaction for a component on a
        message the fake has seen (message dict, id, ``(channel_id, message_id)``
        or a FakeInteraction meaning its original response).

        ``component_type`` defaults to the component's type in the message;
        ``values`` is for selects. With ``strict`` the custom_id must exist on
        the message and not be disabled."""
        msg = self._resolve_message(message)
        comp = next(
            (
                c
                for c in P.walk_components(msg.get("components"))
                if c.get("custom_id") == custom_id
            ),
            None,
        )
        if strict:
            if comp is None:
                ids = [
                    c.get("custom_id")
                    for c in P.walk_components(msg.get("components"))
                    if c.get("custom_id")
                ]
                raise LookupError(
                    f"no component {custom_id!r} on message {msg['id']}; custom_ids: {ids}"
                )
            if comp.get("disabled"):
                raise ValueError(f"component {custom_id!r} is disabled")
        ctype = int(component_type or (comp["type"] if comp else 2))
        data: JSON = {"custom_id": custom_id, "component_type": ctype}
        ch = self._channels.get(int(msg["channel_id"]))
        guild_id = ch.guild_id if ch else None
        if ctype in _SELECT_TYPES:
            vals = [str(v) for v in values or []]
            data["values"] = vals
            resolved: JSON = {}
            if ctype in (5, 6, 7, 8):
                kind = {5: 6, 6: 8, 8: 7}.get(ctype)
                for v in vals:
                    otype = kind if kind is not None else (6 if int(v) in self.users else 8)
                    self._option_value(
                        otype,
                        "value",
                        v,
                        resolved,
                        guild_id=guild_id,
                        channel_id=ch.id if ch else None,
                    )
                data["resolved"] = resolved
        if user_id is None and guild_id is None and ch is not None and ch.recipients:
            user_id = int(ch.recipients[0]["id"])
        # A click goes through the install that sent the message (docs: Authorizing
        # Integration Owners Object: a user install's owner is the member who installed it,
        # whoever clicks), in the place the message is.
        meta = msg.get("interaction_metadata") or {}
        owners = meta.get("authorizing_integration_owners") or None
        in_bot_dm = ch is not None and ch in self._dm_channels.values()
        context = (
            None
            if guild_id is not None
            else CONTEXT_BOT_DM
            if in_bot_dm or ch is None
            else CONTEXT_PRIVATE_CHANNEL
        )
        payload = self._interaction_payload(
            3,
            data,
            guild_id=guild_id,
            channel_id=int(msg["channel_id"]),
            user_id=user_id,
            roles=roles,
            member_permissions=member_permissions,
            locale=locale,
            context=context,
            owners=owners,
        )
        wire = self._wire_message(msg)
        payload["message"] = wire
        return await self._send_interaction_with_source(payload, int(msg["id"]), connect_timeout)

    async def _send_interaction_with_source(
        self, payload: JSON, source_message_id: int | None, connect_timeout: float
    ) -> FakeInteraction:
        gid = int(payload["guild_id"]) if payload.get("guild_id") else None
        await self._wait_until(
            lambda: bool(self.gateway.sessions_for_guild(gid)),
            connect_timeout,
            lambda: (
                f"no gateway session owns guild {gid}"
                f" (is the bot connected? shards: {self.connected_shards()})"
            ),
        )
        ix = FakeInteraction(
            self,
            payload,
            sent_at=asyncio.get_running_loop().time(),
            deadline=self.interaction_deadline,
        )
        ix.source_message_id = source_message_id
        self.interactions[ix.id] = ix
        self.interactions_by_token[ix.token] = ix
        self.gateway.dispatch(gid, "INTERACTION_CREATE", payload)
        self._notify()
        return ix

    @staticmethod
    def _modal_leaf(
        comp: Mapping[str, Any], values: Mapping[str, Any], used: set[str], strict: bool
    ) -> JSON:
        cid = str(comp.get("custom_id"))
        ctype = int(comp.get("type", 4))
        out: JSON = {"type": ctype, "custom_id": cid}
        if comp.get("id") is not None:
            out["id"] = comp["id"]
        value = values.get(cid)
        if cid in values:
            used.add(cid)
        if ctype == 4:
            text = "" if value is None else str(value)
            if strict:
                if comp.get("required", True) and not text:
                    raise ValueError(f"text input {cid!r} is required")
                if comp.get("max_length") is not None and len(text) > int(comp["max_length"]):
                    raise ValueError(
                        f"text input {cid!r} is longer than max_length {comp['max_length']}"
                    )
                if (
                    text
                    and comp.get("min_length") is not None
                    and len(text) < int(comp["min_length"])
                ):
                    raise ValueError(
                        f"text input {cid!r} is shorter than min_length {comp['min_length']}"
                    )
            out["value"] = text
        elif ctype in (3, 5, 6, 7, 8, 19, 22):
            out["values"] = [str(v) for v in (value or [])]
        elif ctype in (21, 23):
            out["value"] = value
        return out

    def _modal_components(
        self, modal: Mapping[str, Any] | None, values: Mapping[str, Any], strict: bool
    ) -> list[JSON]:
        used: set[str] = set()
        out: list[JSON] = []
        if modal is None:
            for cid, value in values.items():
                if isinstance(value, (list, tuple)):
                    leaf: JSON = {"type": 3, "custom_id": cid, "values": [str(v) for v in value]}
                else:
                    leaf = {
                        "type": 4,
                        "custom_id": cid,
                        "value": "" if value is None else str(value),
                    }
                out.append({"type": 1, "components": [leaf]})
            return out
        for comp in modal.get("components") or []:
            ctype = int(comp.get("type", 1))
            if ctype == 1:
                row: JSON = {
                    "type": 1,
                    "components": [
                        self._modal_leaf(c, values, used, strict)
                        for c in comp.get("components") or []
                    ],
                }
                if comp.get("id") is not None:
                    row["id"] = comp["id"]
                out.append(row)
            elif ctype == 18 and isinstance(comp.get("component"), Mapping):
                label: JSON = {
                    "type": 18,
                    "component": self._modal_leaf(comp["component"], values, used, strict),
                }
                if comp.get("id") is not None:
                    label["id"] = comp["id"]
                out.append(label)
            elif ctype == 10:
                out.append({"type": 10, "id": comp.get("id")})
        unknown = set(values) - used
        if strict and unknown:
            raise LookupError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(unknown)}")
        return out

    async def submit_modal(
        self,
        custom_id: str,
        values: Mapping[str, Any],
        *,
        interaction: FakeInteraction | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        member_permissions: int | None = None,
        roles: Iterable[int] | None = None,
        locale: str = "en-US",
        strict: bool = True,
        connect_timeout: float = 5.0,
    ) -> FakeInteraction:
        """Dispatch a MODAL_SUBMIT (type 5) interaction.

        ``values`` maps input custom_ids to values (str for text inputs, lists
        for selects). If the bot opened a modal with this ``custom_id`` (type-9
        callback), the submitted components mirror its layout (action rows or
        type-18 labels) and guild/channel/user default to that interaction's;
        with ``strict`` unknown inputs, missing required inputs and length
        violations raise."""
        src_modal: JSON | None = None
        src = interaction
        if src is None and custom_id in self.modals:
            src = self.modals[custom_id][0]
        if src is not None and src.modal is not None and src.modal.get("custom_id") == custom_id:
            src_modal = src.modal
        elif custom_id in self.modals:
            src_modal = self.modals[custom_id][1]
        if src is not None:
            guild_id = guild_id if guild_id is not None else src.guild_id
            channel_id = channel_id or src.channel_id
            user_id = user_id or src.user_id
        elif guild_id is None and user_id is None:
            raise LookupError(
                f"no modal {custom_id!r} was opened; pass guild_id/user_id explicitly"
            )
        data: JSON = {
            "custom_id": custom_id,
            "components": self._modal_components(src_modal, values, strict),
        }
        payload = self._interaction_payload(
            5,
            data,
            guild_id=guild_id,
            channel_id=channel_id,
            user_id=user_id,
            roles=roles,
            member_permissions=member_permissions,
            locale=locale,
        )
        source_message_id = src.source_message_id if src is not None else None
        if source_message_id is not None and source_message_id in self.messages:
            payload["message"] = self._wire_message(self.messages[source_message_id])
        return await self._send_interaction_with_source(payload, source_message_id, connect_timeout)
