"""Typed errors raised by the core; each front end turns them into one polite message."""

from __future__ import annotations

from collections.abc import Sequence

from bot.text import truncate

# The longest topic name a member can give: a slash-command option naming a topic (a title or
# alias, <= 100, or a slug) holds this many characters, and an error repeats no more of it.
TOPIC_OPTION_LIMIT = 100
# What a member is told of an unexpected error (the error itself is logged for the operator).
FALLBACK_ERROR = "Something went wrong on my side. It has been logged; please try again shortly."


class BriefbotError(Exception):
    """Base class: the message is safe to show to a user as it is."""


class SectionNotFound(BriefbotError):
    def __init__(self, slug: str) -> None:
        super().__init__(
            f"There is no topic called {truncate(slug, TOPIC_OPTION_LIMIT)!r} here. "
            "Try /topics for the list."
        )
        self.slug = slug


class InvalidSection(BriefbotError):
    """A section's field breaks a rule; `field` names it for the user."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class PackError(BriefbotError):
    """The knowledge pack is refused as a whole; every problem names its file and field."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"The knowledge pack was refused ({count} problem{'s' if count != 1 else ''}):"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class NotAllowed(BriefbotError):
    """The member lacks a permission; the message says which."""


class LimitReached(BriefbotError):
    """A server reached a limit that protects the others; the message names the limit."""


class StorageError(BriefbotError):
    """The database or a path cannot be used; the message names the path and the remedy."""


class ConfigError(BriefbotError):
    """A setting has a bad value; the message names the setting and the expected form."""
