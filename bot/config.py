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
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.errors import ConfigError

DEFAULT_DB = Path("data/briefbot.sqlite3")
DEFAULT_KNOWLEDGE = Path("knowledge")
DEFAULT_API_BASE = "https://discord.com/api/v10"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# What one server may do: changes by /kb add and /kb edit per window, and its own topics.
DEFAULT_EDIT_RATE = (30, 600.0)
DEFAULT_MAX_GUILD_TOPICS = 500
# How long the asks log keeps a question (the gaps report and statistics read it).
DEFAULT_ASK_RETENTION_DAYS = 90
_UNITS = {"s": 1, "m": 60, "h": 3600}

# Every environment setting the code reads, and its default as .env.example spells it.
# A test checks that docker-compose.yml and .env.example agree with this list.
SETTINGS: dict[str, str] = {
    "DISCORD_TOKEN": "",
    "DISCORD_TOKEN_FILE": "",
    "BRIEFBOT_DB": str(DEFAULT_DB),
    "BRIEFBOT_DB_PASSWORD_FILE": "",
    "BRIEFBOT_KNOWLEDGE": str(DEFAULT_KNOWLEDGE),
    "BRIEFBOT_DEV_GUILD": "",
    "DISCORD_API_BASE": "",
    "DISCORD_GATEWAY_URL": "",
    "BRIEFBOT_LOG_FORMAT": "text",
    "BRIEFBOT_LOG_LEVEL": "INFO",
    "BRIEFBOT_SHARD_COUNT": "",
    "BRIEFBOT_SHARD_IDS": "",
    "BRIEFBOT_EDIT_RATE": "30/10m",
    "BRIEFBOT_MAX_GUILD_TOPICS": "500",
    "BRIEFBOT_ASK_RETENTION_DAYS": "90",
    "BRIEFBOT_MESSAGE_CONTENT": "false",
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


POSTGRES_SCHEMES = ("postgresql", "postgres")


def shown_url(url: str) -> str:
    """A database URL as messages and logs may show it: whatever stands between `://` and the
    last `@` after the user's name replaced by stars (read as text, so that a password that
    would confuse a URL parser is hidden too)."""
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not separator or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def url_password(url: str) -> str | None:
    """The password a database URL holds (as `shown_url` finds it), or None."""
    _, separator, rest = url.partition("://")
    userinfo, at, _ = rest.rpartition("@")
    if not separator or not at or ":" not in userinfo:
        return None
    return userinfo.split(":", 1)[1] or None


def check_postgres_url(raw: str, name: str) -> None:
    """Refuse a PostgreSQL URL (the setting or argument `name`) that would be misread, or
    would put its password where it can be seen; the message never shows the URL."""
    userinfo = raw.split("://", 1)[1].rpartition("@")[0]
    if any(c in userinfo for c in "/?#[]"):
        raise ConfigError(
            f"{name}'s user or password holds a character a URL reserves (/ ? # [ ]): "
            "percent-encode it (%2F %3F %23 %5B %5D), or put the password in "
            "BRIEFBOT_DB_PASSWORD_FILE."
        )
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(
            f"{name} is not a valid PostgreSQL URL (its host or port cannot be read): "
            "expected postgresql://user@host:port/database."
        ) from None
    if any(key.lower() in {"password", "passfile"} for key, _ in parse_qsl(parts.query)):
        raise ConfigError(
            f"{name} sets a password in its query (?password=): put it in "
            "BRIEFBOT_DB_PASSWORD_FILE instead (or in the URL's user part)."
        )
    if not parts.path.strip("/") or not (parts.hostname or "host=" in parts.query):
        raise ConfigError(
            f"{name} must name the server and the database: postgresql://user@host:port/database."
        )


def _database(env: Mapping[str, str]) -> dict[str, Any]:
    """BRIEFBOT_DB: a SQLite file path, or a postgresql:// URL (then a Secret, for it may hold
    the password); BRIEFBOT_DB_PASSWORD_FILE: PostgreSQL's password, read from a file."""
    raw = env.get("BRIEFBOT_DB", "").strip()
    password_file = env.get("BRIEFBOT_DB_PASSWORD_FILE", "").strip()
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if not scheme:
        if password_file:
            raise ConfigError(
                "BRIEFBOT_DB_PASSWORD_FILE is for a PostgreSQL database, but BRIEFBOT_DB is a "
                "SQLite file path: unset one of them."
            )
        return {"db_path": Path(raw or DEFAULT_DB)}
    if scheme not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"BRIEFBOT_DB must be a SQLite file path or a postgresql://user@host:port/database "
            f"URL, not a {scheme}:// URL."
        )
    check_postgres_url(raw, "BRIEFBOT_DB")
    password: Secret | None = None
    if password_file:
        if url_password(raw) is not None:
            raise ConfigError(
                "BRIEFBOT_DB holds a password and BRIEFBOT_DB_PASSWORD_FILE names another: "
                "keep the password in one place."
            )
        try:
            text = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"BRIEFBOT_DB_PASSWORD_FILE names {password_file}, which cannot be read "
                f"({exc.strerror})."
            ) from None
        if not text:
            raise ConfigError(f"BRIEFBOT_DB_PASSWORD_FILE names {password_file}, which is empty.")
        password = Secret(text)
    return {"db_url": Secret(raw), "db_password": password}


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


def _flag(env: Mapping[str, str], name: str) -> bool:
    """true or false (also yes/no, on/off, 1/0); empty is false."""
    raw = env.get(name, "").strip()
    value = raw.lower()
    if value in ("", "false", "no", "off", "0"):
        return False
    if value in ("true", "yes", "on", "1"):
        return True
    raise ConfigError(f"{name} must be true or false, not {raw[:20]!r}.")


def _whole(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, not {raw[:20]!r}.")
    return int(raw)


def _rate(env: Mapping[str, str], name: str, default: tuple[int, float]) -> tuple[int, float]:
    """'30/10m': at most 30 in any 10 minutes (units s, m or h)."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    count, slash, window = raw.replace(" ", "").partition("/")
    number, unit = window[:-1], window[-1:]
    if (
        not slash
        or not (count.isascii() and count.isdigit() and 1 <= int(count) <= 100_000)
        or unit not in _UNITS
        or not (number.isascii() and number.isdigit() and 1 <= int(number) <= 100_000)
    ):
        raise ConfigError(
            f"{name} must be a count per time, like 30/10m (units s, m, h), not {raw[:20]!r}."
        )
    return int(count), float(int(number) * _UNITS[unit])


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: Path = DEFAULT_DB
    # A PostgreSQL database instead (BRIEFBOT_DB=postgresql://...), and its password when it
    # comes from BRIEFBOT_DB_PASSWORD_FILE: both secret, for both may hold the password.
    db_url: Secret | None = field(default=None, repr=False)
    db_password: Secret | None = field(default=None, repr=False)
    knowledge_dir: Path = DEFAULT_KNOWLEDGE
    token: Secret | None = field(default=None, repr=False)
    dev_guild: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    # (changes, seconds): how many /kb add and /kb edit saves one server may make per window.
    edit_rate: tuple[int, float] = DEFAULT_EDIT_RATE
    max_guild_topics: int = DEFAULT_MAX_GUILD_TOPICS
    ask_retention_days: int = DEFAULT_ASK_RETENTION_DAYS
    # Help channels: the guild messages intent plus the privileged Message Content intent.
    message_content: bool = False

    @property
    def database(self) -> str:
        """Where the store is: the PostgreSQL URL, or the SQLite file's path."""
        return self.db_url.reveal() if self.db_url else str(self.db_path)

    @property
    def database_password(self) -> str | None:
        return self.db_password.reveal() if self.db_password else None

    @property
    def secrets(self) -> list[str]:
        """What no log line may show: the token, and the database's password wherever it
        came from (the URL, or its file)."""
        found = [self.token.reveal()] if self.token else []
        if self.db_password:
            found.append(self.db_password.reveal())
        if self.db_url:
            password = url_password(self.db_url.reveal())
            if password:
                found.extend({password, unquote(password)})
        return [s for s in found if s]

    @property
    def database_shown(self) -> str:
        """`database` as a message may show it (no password)."""
        return shown_url(self.db_url.reveal()) if self.db_url else str(self.db_path)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            **_database(env),
            knowledge_dir=Path(env.get("BRIEFBOT_KNOWLEDGE", "").strip() or DEFAULT_KNOWLEDGE),
            token=_token(env),
            dev_guild=_snowflake(env, "BRIEFBOT_DEV_GUILD"),
            api_base=_url(env, "DISCORD_API_BASE", ("http", "https")),
            gateway_url=_url(env, "DISCORD_GATEWAY_URL", ("ws", "wss")),
            log_format=_choice(env, "BRIEFBOT_LOG_FORMAT", LOG_FORMATS, "text"),
            log_level=_choice(env, "BRIEFBOT_LOG_LEVEL", LOG_LEVELS, "INFO", upper=True),
            edit_rate=_rate(env, "BRIEFBOT_EDIT_RATE", DEFAULT_EDIT_RATE),
            max_guild_topics=_whole(
                env, "BRIEFBOT_MAX_GUILD_TOPICS", DEFAULT_MAX_GUILD_TOPICS, 1, 1_000_000
            ),
            ask_retention_days=_whole(
                env, "BRIEFBOT_ASK_RETENTION_DAYS", DEFAULT_ASK_RETENTION_DAYS, 1, 36_500
            ),
            message_content=_flag(env, "BRIEFBOT_MESSAGE_CONTENT"),
            **_shards(env),
        )
