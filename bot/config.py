"""Every setting, read from the environment and validated once at start-up.

A bad value names the setting and the expected form; the token is wrapped so that it never
shows in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

DEFAULT_DB = Path("data/briefbot.sqlite3")
DEFAULT_KNOWLEDGE = Path("knowledge")
DEFAULT_API_BASE = "https://discord.com/api/v10"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Every environment setting the code reads, and its default as .env.example spells it.
# A test checks that docker-compose.yml and .env.example agree with this list.
SETTINGS: dict[str, str] = {
    "DISCORD_TOKEN": "",
    "DISCORD_TOKEN_FILE": "",
    "BRIEFBOT_DB": str(DEFAULT_DB),
    "BRIEFBOT_KNOWLEDGE": str(DEFAULT_KNOWLEDGE),
    "BRIEFBOT_DEV_GUILD": "",
    "DISCORD_API_BASE": "",
    "DISCORD_GATEWAY_URL": "",
    "BRIEFBOT_LOG_FORMAT": "text",
    "BRIEFBOT_LOG_LEVEL": "INFO",
    "BRIEFBOT_SHARD_COUNT": "",
    "BRIEFBOT_SHARD_IDS": "",
}


class Secret:
    """A string that refuses to show itself: `str()`, `repr()` and f-strings print stars."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def _snowflake(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**64:
        raise ConfigError(f"{name} must be a Discord server id (digits only), not {raw[:30]!r}.")
    return int(raw)


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.startswith(tuple(f"{s}://" for s in schemes)):
        raise ConfigError(f"{name} must be a URL starting with {' or '.join(schemes)}://.")
    return raw.rstrip("/")


def _token(env: Mapping[str, str]) -> Secret | None:
    token = env.get("DISCORD_TOKEN", "").strip()
    token_file = env.get("DISCORD_TOKEN_FILE", "").strip()
    if token and token_file:
        raise ConfigError("Set DISCORD_TOKEN or DISCORD_TOKEN_FILE, not both.")
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"DISCORD_TOKEN_FILE names {token_file}, which cannot be read ({exc.strerror})."
            ) from None
        if not token:
            raise ConfigError(f"DISCORD_TOKEN_FILE names {token_file}, which is empty.")
    if token and (any(c.isspace() for c in token) or len(token) < 20):
        raise ConfigError(
            "DISCORD_TOKEN does not look like a bot token (copy it from the Developer Portal's "
            "Bot page)."
        )
    return Secret(token) if token else None


def _choice(
    env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str, upper: bool = False
) -> str:
    raw = env.get(name, "").strip() or default
    value = raw.upper() if upper else raw.lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {raw[:20]!r}.")
    return value


def _shards(env: Mapping[str, str]) -> dict[str, Any]:
    """BRIEFBOT_SHARD_COUNT (a whole number) and BRIEFBOT_SHARD_IDS ('0-3' or '0,2,4')."""
    count_raw = env.get("BRIEFBOT_SHARD_COUNT", "").strip()
    ids_raw = env.get("BRIEFBOT_SHARD_IDS", "").strip()
    if not count_raw:
        if ids_raw:
            raise ConfigError("BRIEFBOT_SHARD_IDS needs BRIEFBOT_SHARD_COUNT as well.")
        return {}
    if not (count_raw.isascii() and count_raw.isdigit()) or not 1 <= int(count_raw) <= 100_000:
        raise ConfigError(
            f"BRIEFBOT_SHARD_COUNT must be a whole number from 1, not {count_raw[:20]!r}."
        )
    count = int(count_raw)
    if not ids_raw:
        return {"shard_count": count, "shard_ids": tuple(range(count))}
    ids: set[int] = set()
    try:
        for part in ids_raw.split(","):
            low, dash, high = part.strip().partition("-")
            first, last = int(low), int(high) if dash else int(low)
            ids.update(range(first, last + 1))
    except ValueError:
        raise ConfigError(
            f"BRIEFBOT_SHARD_IDS must be shard numbers like 0-3 or 0,2,4, not {ids_raw[:30]!r}."
        ) from None
    if not ids or min(ids) < 0 or max(ids) >= count:
        raise ConfigError(
            f"BRIEFBOT_SHARD_IDS must lie within 0-{count - 1} (BRIEFBOT_SHARD_COUNT)."
        )
    return {"shard_count": count, "shard_ids": tuple(sorted(ids))}


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: Path = DEFAULT_DB
    knowledge_dir: Path = DEFAULT_KNOWLEDGE
    token: Secret | None = field(default=None, repr=False)
    dev_guild: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            db_path=Path(env.get("BRIEFBOT_DB", "").strip() or DEFAULT_DB),
            knowledge_dir=Path(env.get("BRIEFBOT_KNOWLEDGE", "").strip() or DEFAULT_KNOWLEDGE),
            token=_token(env),
            dev_guild=_snowflake(env, "BRIEFBOT_DEV_GUILD"),
            api_base=_url(env, "DISCORD_API_BASE", ("http", "https")),
            gateway_url=_url(env, "DISCORD_GATEWAY_URL", ("ws", "wss")),
            log_format=_choice(env, "BRIEFBOT_LOG_FORMAT", LOG_FORMATS, "text"),
            log_level=_choice(env, "BRIEFBOT_LOG_LEVEL", LOG_LEVELS, "INFO", upper=True),
            **_shards(env),
        )
