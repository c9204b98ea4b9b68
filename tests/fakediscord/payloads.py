"""Discord payload shapes, snowflakes, permissions and validation for the fake.

Everything here is plain data manipulation (no I/O): snowflake generation,
Discord's permission algorithm, builders for user/member/role/channel/guild/
message/command objects, the JSON error bodies Discord answers with, and thin
wrappers that turn the validators of :mod:`.limits` into those bodies.
"""

from __future__ import annotations

import datetime as _dt
import enum
import itertools
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from . import limits

JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000


def iso_now() -> str:
    """Current UTC time formatted like Discord timestamps."""
    return _dt.datetime.now(_dt.UTC).isoformat()


class SnowflakeGenerator:
    """Generates increasing, realistic Discord snowflakes.

    ``(snowflake >> 22)`` is milliseconds since the Discord epoch, which is also
    what Discord's shard formula uses: ``(guild_id >> 22) % shard_count``.
    """

    def __init__(self) -> None:
        self._last_ts = 0
        self._increment = 0

    def next(self, *, shard: tuple[int, int] | None = None) -> int:
        """Return a new snowflake; with ``shard=(shard_id, shard_count)`` the id
        maps onto that shard under Discord's sharding formula."""
        ts = max(int(time.time() * 1000) - DISCORD_EPOCH_MS, self._last_ts)
        if shard is not None:
            shard_id, shard_count = shard
            if not 0 <= shard_id < shard_count:
                raise ValueError(f"invalid shard {shard!r}")
            ts += (shard_id - ts) % shard_count
        if ts == self._last_ts:
            self._increment += 1
            if self._increment > 0xFFF:
                ts += shard[1] if shard is not None else 1
                self._increment = 0
        else:
            self._increment = 0
        self._last_ts = ts
        return (ts << 22) | (1 << 17) | self._increment


def shard_for_guild(guild_id: int, shard_count: int) -> int:
    """Discord's sharding formula."""
    return (guild_id >> 22) % shard_count


class Perm(enum.IntFlag):
    """Discord permission bits (the subset bots usually care about)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    MANAGE_GUILD_EXPRESSIONS = 1 << 30
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    USE_EXTERNAL_STICKERS = 1 << 37
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50


ALL_PERMISSIONS = (1 << 51) - 1

#: What a fresh guild's @everyone role gets (close to Discord's default).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.STREAM
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.MENTION_EVERYONE
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
    | Perm.USE_EXTERNAL_STICKERS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.SEND_POLLS
    | Perm.USE_EXTERNAL_APPS
)

#: What the bot's managed role gets unless a test says otherwise.
DEFAULT_BOT_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
)


def apply_overwrites(
    base: int,
    *,
    guild_id: int,
    member_id: int,
    member_role_ids: Iterable[int],
    overwrites: Iterable[Mapping[str, Any]],
) -> int:
    """Apply channel permission overwrites to ``base`` the way Discord does
    (@everyone overwrite, then the union of role overwrites, then the member
    overwrite) including the implicit denials for VIEW_CHANNEL/SEND_MESSAGES."""
    if base & Perm.ADMINISTRATOR:
        return ALL_PERMISSIONS
    perms = base
    ows = list(overwrites)
    role_ids = {int(r) for r in member_role_ids}
    for ow in ows:
        if int(ow["id"]) == guild_id:
            perms &= ~int(ow.get("deny", 0))
            perms |= int(ow.get("allow", 0))
    allow = deny = 0
    for ow in ows:
        oid = int(ow["id"])
        if int(ow.get("type", 0)) == 0 and oid != guild_id and oid in role_ids:
            allow |= int(ow.get("allow", 0))
            deny |= int(ow.get("deny", 0))
    perms &= ~deny
    perms |= allow
    for ow in ows:
        if int(ow.get("type", 0)) == 1 and int(ow["id"]) == member_id:
            perms &= ~int(ow.get("deny", 0))
            perms |= int(ow.get("allow", 0))
    if not perms & Perm.VIEW_CHANNEL:
        return 0
    if not perms & Perm.SEND_MESSAGES:
        perms &= ~int(
            Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES
        )
    return perms


# ---------------------------------------------------------------------------
# Error bodies (exactly what Discord answers)


def error_body(code: int, message: str, errors: JSON | None = None) -> JSON:
    body: JSON = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


# docs: topics/opcodes-and-status-codes, JSON Error Codes. Discord answers both with 403.
CANNOT_MESSAGE_USER = error_body(50007, "Cannot send messages to this user")
OPENING_DMS_TOO_FAST = error_body(40003, "You are opening direct messages too fast.")
UNAUTHORIZED = error_body(0, "401: Unauthorized")
NOT_FOUND = error_body(0, "404: Not Found")
METHOD_NOT_ALLOWED = error_body(0, "405: Method Not Allowed")
UNKNOWN_CHANNEL = error_body(10003, "Unknown Channel")
UNKNOWN_GUILD = error_body(10004, "Unknown Guild")
UNKNOWN_MESSAGE = error_body(10008, "Unknown Message")
UNKNOWN_USER = error_body(10013, "Unknown User")
UNKNOWN_WEBHOOK = error_body(10015, "Unknown Webhook")
UNKNOWN_APPLICATION_COMMAND = error_body(10063, "Unknown application command")
UNKNOWN_INTERACTION = error_body(10062, "Unknown interaction")
ALREADY_ACKNOWLEDGED = error_body(40060, "Interaction has already been acknowledged.")
MISSING_ACCESS = error_body(50001, "Missing Access")
MISSING_PERMISSIONS = error_body(50013, "Missing Permissions")
EMPTY_MESSAGE = error_body(50006, "Cannot send an empty message")
CANNOT_EDIT_OTHER = error_body(50005, "Cannot edit a message authored by another user")
# docs: topics/threads, Forums: "Messages cannot be sent directly in forum channels."
NON_TEXT_CHANNEL = error_body(50008, "Cannot send messages in a non-text channel")
# Forum (15) and media (16) channels hold only threads (docs: resources/channel, Channel Types).
THREAD_ONLY_TYPES = frozenset({15, 16})

DEFAULT_ERROR_BODIES: dict[int, JSON] = {
    400: error_body(50035, "Invalid Form Body", {}),
    401: UNAUTHORIZED,
    403: MISSING_ACCESS,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    500: error_body(0, "500: Internal Server Error"),
    502: error_body(0, "502: Bad Gateway"),
    503: error_body(0, "503: Service Unavailable"),
}


def invalid_form_body(errors: JSON) -> JSON:
    return error_body(50035, "Invalid Form Body", errors)


def field_error(code: str, message: str) -> JSON:
    return {"_errors": [{"code": code, "message": message}]}


# ---------------------------------------------------------------------------
# Object builders


def user_payload(
    user_id: int, username: str, *, bot: bool = False, global_name: str | None = None
) -> JSON:
    data: JSON = {
        "id": str(user_id),
        "username": username,
        "global_name": global_name if global_name is not None else (None if bot else username),
        "discriminator": "0000" if bot else "0",
        "avatar": None,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
    }
    if bot:
        data["bot"] = True
    return data


def role_payload(
    role_id: int,
    name: str,
    permissions: int,
    *,
    position: int = 0,
    managed: bool = False,
    bot_id: int | None = None,
    color: int = 0,
    hoist: bool = False,
    mentionable: bool = False,
) -> JSON:
    data: JSON = {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "managed": managed,
        "mentionable": mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
        "description": None,
    }
    if bot_id is not None:
        data["tags"] = {"bot_id": str(bot_id)}
    return data


def member_payload(
    user: JSON, role_ids: Iterable[int], joined_at: str, *, nick: str | None = None
) -> JSON:
    return {
        "user": dict(user),
        "nick": nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in role_ids],
        "joined_at": joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }


def overwrite_payload(target_id: int, target_type: int, allow: int, deny: int) -> JSON:
    return {"id": str(target_id), "type": target_type, "allow": str(allow), "deny": str(deny)}


# ---------------------------------------------------------------------------
# Mentions


_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def resolve_mentions(
    content: str,
    allowed_mentions: Mapping[str, Any] | None,
    *,
    replied_user_id: int | None = None,
) -> tuple[list[int], list[int], bool]:
    """Return (user_ids, role_ids, everyone) that would actually be pinged,
    following Discord's ``allowed_mentions`` rules (absent = everything parsed)."""
    users = [int(u) for u in _USER_MENTION.findall(content or "")]
    roles = [int(r) for r in _ROLE_MENTION.findall(content or "")]
    everyone = "@everyone" in (content or "") or "@here" in (content or "")
    if allowed_mentions is None:
        pinged_users = list(dict.fromkeys(users))
        if replied_user_id is not None and replied_user_id not in pinged_users:
            pinged_users.append(replied_user_id)
        return pinged_users, list(dict.fromkeys(roles)), everyone
    parse = set(allowed_mentions.get("parse") or [])
    allowed_users = {int(u) for u in allowed_mentions.get("users") or []}
    allowed_roles = {int(r) for r in allowed_mentions.get("roles") or []}
    out_users = [u for u in dict.fromkeys(users) if "users" in parse or u in allowed_users]
    out_roles = [r for r in dict.fromkeys(roles) if "roles" in parse or r in allowed_roles]
    if (
        replied_user_id is not None
        and allowed_mentions.get("replied_user")
        and replied_user_id not in out_users
    ):
        out_users.append(replied_user_id)
    return out_users, out_roles, everyone and "everyone" in parse


# ---------------------------------------------------------------------------
# Validation of message payloads (Discord's documented limits)

MESSAGE_FLAG_SUPPRESS_EMBEDS = 1 << 2
MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7
MESSAGE_FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
MESSAGE_FLAG_IS_COMPONENTS_V2 = limits.FLAG_IS_COMPONENTS_V2


def validate_message(
    payload: Mapping[str, Any], *, n_files: int = 0, editing: bool = False
) -> JSON | None:
    """A message create/edit body checked against :mod:`.limits`: a Discord error body or None."""
    errors = limits.message_errors(payload, n_files=n_files, editing=editing)
    if errors:
        return invalid_form_body(errors)
    if not editing and limits.is_empty_message(payload, n_files=n_files):
        return dict(EMPTY_MESSAGE)
    return None


def validate_commands(commands: Any, *, guild_scoped: bool = False) -> JSON | None:
    """A bulk-overwrite body checked against :mod:`.limits`: a Discord error body or None."""
    errors = limits.command_errors(commands, guild_scoped=guild_scoped)
    return invalid_form_body(errors) if errors else None


def find_command_option(command: Mapping[str, Any], path: Iterable[str], name: str) -> JSON | None:
    """Find the definition of option ``name`` under subcommand ``path`` in a stored command."""
    options: list[Any] = list(command.get("options") or [])
    for part in path:
        nxt = next(
            (o for o in options if o.get("name") == part and int(o.get("type", 0)) in (1, 2)), None
        )
        if nxt is None:
            return None
        options = list(nxt.get("options") or [])
    found = next((o for o in options if o.get("name") == name), None)
    return dict(found) if found is not None else None


_counter = itertools.count(1)


def next_component_id() -> int:
    return next(_counter)


def number_components(components: Any, start: list[int]) -> None:
    """Give every component without an ``id`` a sequential numeric id (Discord does)."""
    if not isinstance(components, list):
        return
    for comp in components:
        if not isinstance(comp, dict):
            continue
        if "id" not in comp:
            start[0] += 1
            comp["id"] = start[0]
        for key in ("components",):
            number_components(comp.get(key), start)
        if isinstance(comp.get("component"), dict):
            number_components([comp["component"]], start)
        if isinstance(comp.get("accessory"), dict):
            number_components([comp["accessory"]], start)


def walk_components(components: Any) -> Iterable[JSON]:
    """Yield every component dict in a (possibly nested) component tree."""
    if not isinstance(components, list):
        return
    for comp in components:
        if not isinstance(comp, dict):
            continue
        yield comp
        yield from walk_components(comp.get("components"))
        if isinstance(comp.get("component"), dict):
            yield from walk_components([comp["component"]])
        if isinstance(comp.get("accessory"), dict):
            yield from walk_components([comp["accessory"]])
