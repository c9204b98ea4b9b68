"""State objects of the fake: guilds, channels, roles, members, interactions,
recorded requests and injected faults."""

# The test-facing API deliberately takes ``timeout=`` arguments.
# ruff: noqa: ASYNC109

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .payloads import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    JSON,
    Perm,
    apply_overwrites,
    iso_now,
    member_payload,
    overwrite_payload,
    role_payload,
    user_payload,
)

if TYPE_CHECKING:
    from .server import FakeDiscord


# ---------------------------------------------------------------------------
# Requests and faults


@dataclasses.dataclass
class RecordedFile:
    """A file uploaded in a multipart body."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclasses.dataclass
class RecordedRequest:
    """One HTTP request the fake received (REST, webhook or interaction callback)."""

    method: str
    path: str
    """Path below the API base, e.g. ``/channels/123/messages``."""
    query: dict[str, str]
    headers: Mapping[str, str]
    """Case-insensitive request headers (e.g. ``X-Audit-Log-Reason``)."""
    json: Any
    """Parsed JSON body, or the parsed ``payload_json`` part of a multipart body."""
    files: list[RecordedFile]
    at: float
    """``loop.time()`` when received."""
    form: dict[str, str] = dataclasses.field(default_factory=dict)
    """Other (non-file) multipart fields."""
    status: int = 0
    """Status code the fake answered with."""
    route: str | None = None
    """Matched route template, e.g. ``POST /channels/{channel_id}/messages``; None if unhandled."""
    fault: str | None = None
    """``"429"``, ``"error"`` or ``"delay"`` when an injected fault applied."""

    @property
    def audit_log_reason(self) -> str | None:
        """The decoded ``X-Audit-Log-Reason`` header, if any."""
        from urllib.parse import unquote

        value = self.headers.get("X-Audit-Log-Reason")
        return unquote(value) if value is not None else None


@dataclasses.dataclass(frozen=True)
class InvalidPayload:
    """A request the fake refused as Discord would (HTTP 400, code 50035, the fields named)."""

    method: str
    path: str
    errors: JSON
    """The nested ``errors`` of the answer (see :func:`.limits.error_paths`)."""
    request: RecordedRequest

    def describe(self) -> str:
        from .limits import error_paths

        lines = error_paths(self.errors) or ["(no field named)"]
        return f"{self.method} {self.path}: " + "; ".join(lines)


class RefusalLog:
    """Every unexpected refusal of every fake in this process, for the suite's autouse check.

    Kept outside the instances because a test's fake is usually garbage by its teardown.
    """

    def __init__(self) -> None:
        self._entries: list[InvalidPayload] = []

    def append(self, entry: InvalidPayload) -> None:
        self._entries.append(entry)

    def mark(self) -> int:
        return len(self._entries)

    def take_since(self, mark: int) -> list[InvalidPayload]:
        """The refusals logged after ``mark``, removed from the log."""
        taken = self._entries[mark:]
        del self._entries[mark:]
        return taken


@dataclasses.dataclass
class Fault:
    """An injected fault matching ``method`` and ``path_regex`` (``re.search`` on the path)."""

    kind: str  # "429" | "error" | "delay"
    method: str
    pattern: re.Pattern[str]
    remaining: int
    status: int = 0
    body: Any = None
    retry_after: float = 0.0
    global_: bool = False
    scope: str = "user"
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.remaining > 0
            and (self.method in ("*", method))
            and bool(self.pattern.search(path))
        )


# ---------------------------------------------------------------------------
# Guild model


@dataclasses.dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None
    color: int = 0
    hoist: bool = False
    mentionable: bool = False

    def to_payload(self) -> JSON:
        return role_payload(
            self.id,
            self.name,
            self.permissions,
            position=self.position,
            managed=self.managed,
            bot_id=self.bot_id,
            color=self.color,
            hoist=self.hoist,
            mentionable=self.mentionable,
        )


@dataclasses.dataclass
class FakeMember:
    user: JSON
    roles: list[int]
    joined_at: str
    nick: str | None = None

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def to_payload(self) -> JSON:
        return member_payload(self.user, self.roles, self.joined_at, nick=self.nick)


@dataclasses.dataclass
class FakeChannel:
    id: int
    guild_id: int | None
    name: str
    type: int = 0
    position: int = 0
    overwrites: list[JSON] = dataclasses.field(default_factory=list)
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    recipients: list[JSON] = dataclasses.field(default_factory=list)
    last_message_id: int | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in (10, 11, 12)

    def to_payload(self) -> JSON:
        if self.type in (1, 3):
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": str(self.last_message_id) if self.last_message_id else None,
                "recipients": [dict(r) for r in self.recipients],
                "flags": 0,
            }
        data: JSON = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [dict(o) for o in self.overwrites],
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "nsfw": self.nsfw,
            "flags": 0,
        }
        if self.type in (0, 5, 15, 16):
            data.update(
                topic=self.topic,
                rate_limit_per_user=0,
                last_message_id=str(self.last_message_id) if self.last_message_id else None,
                default_auto_archive_duration=1440,
            )
        if self.type in (2, 13):
            data.update(bitrate=64000, user_limit=0, rtc_region=None, rate_limit_per_user=0)
        if self.type in (15, 16):
            data.update(
                available_tags=[], default_reaction_emoji=None, default_thread_rate_limit_per_user=0
            )
        return data


class FakeGuild:
    """A guild in the fake. Created with :meth:`FakeDiscord.add_guild`.

    Mutating helpers update the state and, when the bot is connected, send the
    matching gateway events (CHANNEL_CREATE/UPDATE/DELETE, GUILD_ROLE_*,
    GUILD_MEMBER_UPDATE) to the session that owns this guild.
    """

    def __init__(
        self,
        fake: FakeDiscord,
        guild_id: int,
        name: str,
        *,
        owner_id: int,
        locale: str = "en-US",
    ) -> None:
        self._fake = fake
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.locale = locale
        self.roles: dict[int, FakeRole] = {}
        self.members: dict[int, FakeMember] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.joined_at = iso_now()
        self.bot_role_id: int = 0
        self.default_member_id: int = 0
        """A plain member (only @everyone) used when a test omits ``user_id``."""

    # -- identity helpers -------------------------------------------------
    @property
    def everyone_role(self) -> FakeRole:
        return self.roles[self.id]

    @property
    def text_channel_id(self) -> int:
        """The first text channel (the default one created with the guild)."""
        for ch in sorted(self.channels.values(), key=lambda c: c.position):
            if ch.type == 0:
                return ch.id
        raise LookupError(f"guild {self.id} has no text channel")

    @property
    def bot_member(self) -> FakeMember:
        return self.members[self._fake.bot_user_id]

    # -- mutation ---------------------------------------------------------
    def add_role(
        self,
        name: str,
        permissions: int = 0,
        *,
        role_id: int | None = None,
        position: int | None = None,
        mentionable: bool = False,
    ) -> FakeRole:
        """Create a role; dispatches GUILD_ROLE_CREATE if connected."""
        rid = role_id or self._fake.new_id()
        pos = position if position is not None else len(self.roles)
        role = FakeRole(rid, name, int(permissions), position=pos, mentionable=mentionable)
        self.roles[rid] = role
        self._fake._guild_event(
            self, "GUILD_ROLE_CREATE", {"guild_id": str(self.id), "role": role.to_payload()}
        )
        return role

    def set_role_permissions(self, role_id: int, permissions: int) -> None:
        """Change a role's permissions (use ``guild.id`` for @everyone)."""
        role = self.roles[role_id]
        role.permissions = int(permissions)
        self._fake._guild_event(
            self, "GUILD_ROLE_UPDATE", {"guild_id": str(self.id), "role": role.to_payload()}
        )

    def add_member(
        self,
        user_id: int | None = None,
        username: str | None = None,
        *,
        roles: Iterable[int] = (),
        permissions: int | None = None,
        bot: bool = False,
        nick: str | None = None,
    ) -> FakeMember:
        """Add a member. ``permissions`` creates a dedicated role carrying them."""
        uid = user_id or self._fake.new_id()
        user = self._fake._user(uid, username or f"user{uid % 100000}", bot=bot)
        role_ids = [int(r) for r in roles]
        if permissions is not None:
            role = self.add_role(f"perms-{uid % 100000}", permissions)
            role_ids.append(role.id)
        member = FakeMember(user=user, roles=role_ids, joined_at=iso_now(), nick=nick)
        self.members[uid] = member
        add = member.to_payload()
        add["guild_id"] = str(self.id)
        self._fake._guild_event(self, "GUILD_MEMBER_ADD", add, intent=1 << 1)
        return member

    def ensure_member(self, user_id: int) -> FakeMember:
        """Return the member, creating a plain one if needed."""
        if user_id in self.members:
            return self.members[user_id]
        return self.add_member(user_id)

    def set_member_roles(self, user_id: int, roles: Iterable[int]) -> None:
        member = self.members[user_id]
        member.roles = [int(r) for r in roles]
        data = member.to_payload()
        data["guild_id"] = str(self.id)
        self._fake._guild_event(
            self,
            "GUILD_MEMBER_UPDATE",
            data,
            intent=1 << 1,
            always_for_bot=(user_id == self._fake.bot_user_id),
        )

    def set_bot_permissions(self, permissions: int) -> None:
        """Set the guild-level permissions of the bot's managed role."""
        self.set_role_permissions(self.bot_role_id, permissions)

    def add_channel(
        self,
        name: str = "general",
        *,
        channel_id: int | None = None,
        type: int = 0,
        overwrites: Iterable[JSON] = (),
        parent_id: int | None = None,
        topic: str | None = None,
    ) -> FakeChannel:
        """Create a channel (type 0 text by default); dispatches CHANNEL_CREATE."""
        cid = channel_id or self._fake.new_id()
        ch = FakeChannel(
            id=cid,
            guild_id=self.id,
            name=name,
            type=type,
            position=len(self.channels),
            overwrites=[dict(o) for o in overwrites],
            parent_id=parent_id,
            topic=topic,
        )
        self.channels[cid] = ch
        self._fake._channels[cid] = ch
        self._fake._guild_event(self, "CHANNEL_CREATE", ch.to_payload())
        return ch

    def set_overwrite(
        self,
        channel_id: int,
        target_id: int,
        *,
        allow: int = 0,
        deny: int = 0,
        target_type: int | None = None,
    ) -> None:
        """Set a permission overwrite on a channel for a role (type 0) or member (type 1).
        The target type is inferred from the guild's roles when omitted."""
        ch = self.channels[channel_id]
        ttype = target_type if target_type is not None else (0 if target_id in self.roles else 1)
        ch.overwrites = [o for o in ch.overwrites if int(o["id"]) != target_id]
        ch.overwrites.append(overwrite_payload(target_id, ttype, int(allow), int(deny)))
        self._fake._guild_event(self, "CHANNEL_UPDATE", ch.to_payload())

    def clear_overwrite(self, channel_id: int, target_id: int) -> None:
        ch = self.channels[channel_id]
        ch.overwrites = [o for o in ch.overwrites if int(o["id"]) != target_id]
        self._fake._guild_event(self, "CHANNEL_UPDATE", ch.to_payload())

    def set_bot_channel_permissions(
        self, channel_id: int, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Member overwrite for the bot in one channel, e.g. ``deny=Perm.EMBED_LINKS``."""
        self.set_overwrite(
            channel_id, self._fake.bot_user_id, allow=allow, deny=deny, target_type=1
        )

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel: REST to it answers 404 Unknown Channel (10003)."""
        ch = self.channels.pop(channel_id)
        self._fake._channels.pop(channel_id, None)
        self._fake._deleted_channels.add(channel_id)
        self._fake._guild_event(self, "CHANNEL_DELETE", ch.to_payload())

    # -- permissions ------------------------------------------------------
    def base_permissions(self, user_id: int) -> int:
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members.get(user_id)
        perms = self.everyone_role.permissions
        for rid in member.roles if member else []:
            role = self.roles.get(rid)
            if role is not None:
                perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def permissions_for(self, user_id: int, channel_id: int | None = None) -> int:
        """Discord's computed permissions of a member, optionally in a channel."""
        base = self.base_permissions(user_id)
        if channel_id is None or base == ALL_PERMISSIONS:
            return base
        ch = self.channels.get(channel_id)
        if ch is not None and ch.is_thread and ch.parent_id is not None:
            # docs: topics/threads, Permissions: threads inherit the parent channel's.
            ch = self.channels.get(ch.parent_id)
        if ch is None:
            return base
        member = self.members.get(user_id)
        return apply_overwrites(
            base,
            guild_id=self.id,
            member_id=user_id,
            member_role_ids=member.roles if member else [],
            overwrites=ch.overwrites,
        )

    def bot_permissions_in(self, channel_id: int) -> int:
        return self.permissions_for(self._fake.bot_user_id, channel_id)

    # -- payloads ---------------------------------------------------------
    def to_payload(
        self, *, members: Iterable[int] | None = None, include_channels: bool = True
    ) -> JSON:
        """GUILD_CREATE-shaped guild payload. ``members`` limits the member list."""
        member_ids = (
            list(self.members) if members is None else [m for m in members if m in self.members]
        )
        data: JSON = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "preferred_locale": self.locale,
            "features": [],
            "roles": [r.to_payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
            "application_id": None,
            "widget_enabled": False,
        }
        if include_channels:
            data.update(
                joined_at=self.joined_at,
                large=False,
                unavailable=False,
                member_count=len(self.members),
                members=[self.members[m].to_payload() for m in member_ids],
                channels=[c.to_payload() for c in self.channels.values()],
                threads=[],
                presences=[],
                voice_states=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
        return data


# ---------------------------------------------------------------------------
# Interactions


class FakeInteraction:
    """An interaction the fake sent to the bot, and everything the bot answered.

    Attributes are updated live by the fake's REST handlers; use the ``wait_*``
    coroutines to synchronise with the bot.
    """

    def __init__(
        self, fake: FakeDiscord, payload: JSON, *, sent_at: float, deadline: float
    ) -> None:
        self._fake = fake
        self.payload: JSON = payload
        """The INTERACTION_CREATE payload that was dispatched."""
        self.id: int = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = int(payload["type"])
        self.guild_id: int | None = int(payload["guild_id"]) if payload.get("guild_id") else None
        self.channel_id: int | None = (
            int(payload["channel_id"]) if payload.get("channel_id") else None
        )
        user = payload.get("member", {}).get("user") or payload.get("user") or {}
        self.user_id: int = int(user.get("id", 0))
        self.sent_at: float = sent_at
        self.deadline: float = deadline
        self.response: JSON | None = None
        """The accepted callback body: ``{"type": 4, "data": {...}}``."""
        self.response_files: list[RecordedFile] = []
        self.responded_at: float | None = None
        self.callback_attempts: list[JSON] = []
        """Every callback body POSTed, including rejected ones (late or duplicate)."""
        self.late_callbacks: int = 0
        """Callbacks rejected with 404 Unknown interaction (10062): they came after the deadline."""
        self.duplicate_callbacks: int = 0
        self.followups: list[JSON] = []
        """Follow-up messages (as stored when created; see :meth:`message` for current state)."""
        self.original_message_id: int | None = None
        self.original_deleted: bool = False
        self.deferred_pending_followup: bool = False
        self.modal: JSON | None = None
        """``data`` of a type-9 modal callback."""
        self.source_message_id: int | None = None
        """For component interactions: the message the component was on."""

    # -- properties -------------------------------------------------------
    @property
    def latency(self) -> float | None:
        """Seconds from the event being sent to the first callback received."""
        if self.responded_at is None:
            return None
        return self.responded_at - self.sent_at

    @property
    def response_type(self) -> int | None:
        return int(self.response["type"]) if self.response else None

    @property
    def original(self) -> JSON | None:
        """Current state of the original response message (after edits), or None."""
        if self.original_message_id is None or self.original_deleted:
            return None
        msg = self._fake.messages.get(self.original_message_id)
        return self._fake._public_message(msg) if msg else None

    @property
    def choices(self) -> list[JSON] | None:
        """Autocomplete choices of a type-8 response."""
        if self.response and int(self.response["type"]) == 8:
            return list((self.response.get("data") or {}).get("choices") or [])
        return None

    def message(self, message_id: int) -> JSON | None:
        msg = self._fake.messages.get(message_id)
        return self._fake._public_message(msg) if msg else None

    # -- waiting ----------------------------------------------------------
    async def wait_response(self, timeout: float = 5.0) -> JSON:
        """Wait for the (first accepted) callback and return its body ``{type, data}``."""
        await self._fake._wait_until(
            lambda: self.response is not None,
            timeout,
            lambda: (
                f"interaction {self.id} got no callback within {timeout}s"
                f" (attempts: {self.callback_attempts})"
            ),
        )
        assert self.response is not None
        return self.response

    async def wait_followups(self, n: int = 1, timeout: float = 5.0) -> list[JSON]:
        """Wait until at least ``n`` follow-ups were sent; return their current state."""
        await self._fake._wait_until(
            lambda: len(self.followups) >= n,
            timeout,
            lambda: (
                f"interaction {self.id}: wanted {n} followups,"
                f" got {len(self.followups)} within {timeout}s"
            ),
        )
        out = []
        for f in self.followups:
            cur = self._fake.messages.get(int(f["id"]))
            out.append(self._fake._public_message(cur) if cur else f)
        return out

    async def wait_original(
        self, predicate: Callable[[JSON], bool] | None = None, timeout: float = 5.0
    ) -> JSON:
        """Wait until the original response exists (and satisfies ``predicate``)."""

        def ok() -> bool:
            orig = self.original
            if orig is None:
                return False
            if predicate is None:
                return not (int(orig.get("flags", 0)) & (1 << 7))  # not a "thinking" message
            return bool(predicate(orig))

        await self._fake._wait_until(
            ok, timeout, lambda: f"interaction {self.id}: original is {self.original!r}"
        )
        orig = self.original
        assert orig is not None
        return orig

    def __repr__(self) -> str:
        return f"<FakeInteraction id={self.id} type={self.type} response_type={self.response_type}>"


@dataclasses.dataclass
class GatewayStats:
    """Counters about gateway handshakes."""

    connects: int = 0
    identifies: int = 0
    resumes: int = 0
    invalid_sessions: int = 0
    ready: int = 0
    """READY + RESUMED handshakes completed."""


def default_guild_roles(fake: FakeDiscord, guild: FakeGuild, bot_permissions: int | None) -> None:
    guild.roles[guild.id] = FakeRole(
        guild.id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS, position=0
    )
    bot_role = FakeRole(
        fake.new_id(),
        fake.bot_name,
        DEFAULT_BOT_PERMISSIONS if bot_permissions is None else int(bot_permissions),
        position=1,
        managed=True,
        bot_id=fake.bot_user_id,
    )
    guild.roles[bot_role.id] = bot_role
    guild.bot_role_id = bot_role.id


__all__ = [
    "FakeChannel",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "Fault",
    "GatewayStats",
    "RecordedFile",
    "RecordedRequest",
    "user_payload",
]
