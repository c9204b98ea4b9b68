"""What a briefing section is, and the limits every section must keep wherever it comes from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from bot.errors import InvalidSection
from bot.text import clean, fold

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG = 64
MAX_TITLE = 200
MAX_BODY = 4000
MAX_ALIASES = 20
MAX_ALIAS = 100
MAX_TAGS = 20
MAX_TAG = 50
MAX_SOURCES = 10
MAX_SOURCE_TITLE = 200
MAX_URL = 500
# The form shows sources as "Title | URL" lines in boxes of 4,000 characters (Discord's limit for
# a text input). Ten of the longest take 7,039, so they are split over two boxes: see
# `content_to_form`. The caps above are the ones every stored section was saved under.
MAX_SOURCES_TEXT = 4000

Status = Literal["active", "retired", "hidden"]


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class SectionContent:
    """The editable content of a section: what a pack file or a moderator's form holds."""

    slug: str
    title: str
    body: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    sources: tuple[Source, ...] = ()
    updated: date = field(default_factory=date.today)
    position: int = 0

    def changed_fields(self, other: SectionContent) -> list[str]:
        """Names of the fields whose values differ from `other`'s."""
        names = ("title", "body", "aliases", "tags", "sources", "updated", "position")
        return [n for n in names if getattr(self, n) != getattr(other, n)]

    def to_json(self) -> dict[str, object]:
        return {
            "slug": self.slug,
            "title": self.title,
            "body": self.body,
            "aliases": list(self.aliases),
            "tags": list(self.tags),
            "sources": [{"title": s.title, "url": s.url} for s in self.sources],
            "updated": self.updated.isoformat(),
            "position": self.position,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SectionContent:
        return cls(
            slug=str(data["slug"]),
            title=str(data["title"]),
            body=str(data["body"]),
            aliases=tuple(str(a) for a in data.get("aliases") or []),
            tags=tuple(str(t) for t in data.get("tags") or []),
            sources=tuple(
                Source(str(s["title"]), str(s["url"])) for s in data.get("sources") or []
            ),
            updated=date.fromisoformat(str(data["updated"])),
            position=int(data.get("position") or 0),
        )


class Version(NamedTuple):
    """One revision of one stored section: what a form was opened from, to detect a conflict."""

    section_id: int
    revision: int


@dataclass(frozen=True, slots=True)
class Section:
    """A stored section: its content plus where it lives and its state."""

    id: int
    guild_id: int | None
    content: SectionContent
    status: Status
    revision: int

    @property
    def slug(self) -> str:
        return self.content.slug

    @property
    def title(self) -> str:
        return self.content.title

    @property
    def version(self) -> Version:
        return Version(self.id, self.revision)

    @property
    def position(self) -> int:
        return self.content.position

    @property
    def topic(self) -> Topic:
        return Topic(self.id, self.guild_id, self.content.slug, self.content.title, self.position)


class Topic(NamedTuple):
    """A section as lists, menus and the rotation see it: which one, what it is called, and
    where it sits. The search keeps these in memory; the whole section is read when shown."""

    id: int
    guild_id: int | None
    slug: str
    title: str
    position: int


def validate_slug(slug: str) -> str:
    slug = clean(slug)
    if not slug:
        raise InvalidSection("slug", "is empty")
    if len(slug) > MAX_SLUG:
        raise InvalidSection("slug", f"is longer than {MAX_SLUG} characters")
    if not SLUG_RE.match(slug):
        raise InvalidSection(
            "slug",
            f"{slug!r} must be lowercase letters, digits and single hyphens (like 'us-role')",
        )
    return slug


def _text(name: str, value: str, limit: int) -> str:
    value = clean(value)
    if not value:
        raise InvalidSection(name, "is empty")
    if len(value) > limit:
        raise InvalidSection(name, f"is {len(value):,} characters; the limit is {limit:,}")
    return value


def _distinct(name: str, values: tuple[str, ...], count: int, limit: int) -> tuple[str, ...]:
    kept: dict[str, str] = {}
    for value in values:
        value = clean(value)
        if not value:
            continue
        if len(value) > limit:
            raise InvalidSection(name, f"{value[:40]!r}… is longer than {limit} characters")
        kept.setdefault(fold(value), value)
    if len(kept) > count:
        raise InvalidSection(name, f"has {len(kept)} entries; the limit is {count}")
    return tuple(kept.values())


def validate_url(url: str) -> str:
    url = clean(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidSection("sources", f"{url[:80]!r} is not an http or https link")
    if len(url) > MAX_URL:
        raise InvalidSection("sources", f"{url[:80]!r}… is longer than {MAX_URL} characters")
    return url


def one_line(value: str) -> str:
    """`value` with its line breaks made spaces: the form shows an alias or a source per line."""
    return " ".join(part.strip() for part in value.splitlines() if part.strip())


def validate(content: SectionContent) -> SectionContent:
    """Return `content` normalised, or raise InvalidSection.

    Text is NFC and stripped, aliases and tags de-duplicated, and each alias and source title
    one line, as the form shows them (so what the form reads back is what was saved).
    """
    sources = tuple(
        Source(_text("sources", one_line(s.title), MAX_SOURCE_TITLE), validate_url(s.url))
        for s in content.sources
    )
    if len(sources) > MAX_SOURCES:
        raise InvalidSection("sources", f"has {len(sources)} links; the limit is {MAX_SOURCES}")
    if content.position < 0:
        raise InvalidSection("order", "must be zero or a positive number")
    return SectionContent(
        slug=validate_slug(content.slug),
        title=_text("title", content.title, MAX_TITLE),
        body=_text("body", content.body, MAX_BODY),
        aliases=_distinct(
            "aliases", tuple(one_line(a) for a in content.aliases), MAX_ALIASES, MAX_ALIAS
        ),
        tags=_distinct("tags", content.tags, MAX_TAGS, MAX_TAG),
        sources=sources,
        updated=content.updated,
        position=content.position,
    )
