"""Logging: human-readable lines or JSON lines, with secrets scrubbed from every record."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.config import Settings

# Attributes every LogRecord has; anything else was passed with `extra=` and is worth keeping.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
REDACTED = "[redacted]"


# What discord.py logs at DEBUG and is as good as a password for 15 minutes: the interaction
# token in REST paths (/interactions/{id}/{token}/callback, /webhooks/{app id}/{token}/...), in
# whole webhook URLs, and in gateway payloads ('token': '...' in a dict, "token": "..." in JSON).
_TOKEN_PATTERNS = (
    re.compile(r"(/(?:webhooks|interactions)/\d+/)[^/\s?#'\"]+"),
    re.compile(r"""(["']token["']\s*:\s*["'])[^"']+"""),
)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with the given secrets, interaction tokens and webhook tokens replaced."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class RedactSecrets(logging.Filter):
    """Scrubs every record, at every level: its message, arguments, traceback and extras."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = self._scrub(message), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self._scrub(value))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def setup_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """One handler on the root logger, in the configured format and level."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(RedactSecrets(settings.secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler
