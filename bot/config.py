"""Every setting, read from the environment and validated once at start-up.

A bad value names the setting and the expected form; the token is wrapped so that it never
shows in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ConfigError

DEFAULT_DB = Path("data/briefbot.sqlite3")
DEFAULT_KNOWLEDGE = Path("knowledge")
DEFAULT_API_BASE = "https://discord.com/api/v10"


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


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: Path = DEFAULT_DB
    knowledge_dir: Path = DEFAULT_KNOWLEDGE
    token: Secret | None = field(default=None, repr=False)
    dev_guild: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None

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
        )
