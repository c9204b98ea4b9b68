"""The knowledge pack on disk: one Markdown file per section with YAML frontmatter.

Loading validates every file and refuses the pack as a whole if any file is bad, so a typo in
one file can never half-import a pack. Writing produces exactly what loading reads back.

Input is bounded before it is parsed: a zip or folder of more than MAX_FILES files or
MAX_UNPACKED_BYTES bytes, or frontmatter using a YAML alias (the "billion laughs"), is refused.
An export writes a marker file listing what it wrote (and for which server), so a later export
into the same folder replaces only those files and never deletes anything else.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from bot.errors import BriefbotError, InvalidSection, PackError
from bot.sections import SectionContent, Source, validate

FIELDS = frozenset({"title", "aliases", "tags", "updated", "sources", "order", "slug"})
SUFFIX = ".md"
# What one import may unpack: more files or bytes than this is refused before parsing.
MAX_FILES = 10_000
MAX_UNPACKED_BYTES = 10 * 1024 * 1024
# Written by every export beside its files: which server it is and which files it wrote.
MARKER = ".briefbot-export.json"


@dataclass(frozen=True, slots=True)
class Pack:
    """Sections read from a folder or zip, and the server a `/kb export` says they came from."""

    sections: list[SectionContent]
    exported_from: int | None = None


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: one line of `*a` can expand to gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "uses a YAML alias (*name), which packs do not allow", mark
            )
        return super().compose_node(parent, index)


class _NoAliasYAML(YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=_NoAliasLoader)


_FRONTMATTER = _NoAliasYAML()


def _string_list(name: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        raise InvalidSection(name, "must be a list of text entries")
    return tuple(str(v) for v in value)


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        raise InvalidSection("updated", f"'{value}' has a time; give a date only (YYYY-MM-DD)")
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidSection("updated", f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def _sources(value: Any) -> tuple[Source, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidSection("sources", "must be a list of {title, url} entries")
    sources = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"title", "url"}:
            raise InvalidSection("sources", "each entry needs exactly a title and a url")
        sources.append(Source(str(entry["title"]), str(entry["url"])))
    return tuple(sources)


def parse_section(text: str, default_slug: str) -> SectionContent:
    """Parse one file's text; raises InvalidSection naming the field at fault."""
    try:
        post = frontmatter.loads(text, handler=_FRONTMATTER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        if "YAML alias" in str(getattr(exc, "problem", "")):
            raise InvalidSection(
                "frontmatter", f"uses a YAML alias (*name){where}; write the value out instead"
            ) from None
        raise InvalidSection("frontmatter", f"is not valid YAML{where}") from None
    except ValueError as exc:
        # PyYAML builds dates itself and raises ValueError for impossible ones (2026-02-30).
        raise InvalidSection("updated", f"is not a real date ({exc})") from None
    meta = post.metadata
    if not meta:
        raise InvalidSection("frontmatter", "is missing (the file must start with '---')")
    unknown = sorted(set(meta) - FIELDS)
    if unknown:
        raise InvalidSection(
            unknown[0], f"is not a known field (known: {', '.join(sorted(FIELDS))})"
        )
    title = meta.get("title")
    if not isinstance(title, str):
        raise InvalidSection("title", "is missing or not text")
    order = meta.get("order", 0)
    if not isinstance(order, int) or isinstance(order, bool):
        raise InvalidSection("order", "must be a whole number")
    if "updated" not in meta:
        raise InvalidSection("updated", "is missing (an ISO date, YYYY-MM-DD)")
    content = SectionContent(
        slug=str(meta.get("slug", default_slug)),
        title=title,
        body=post.content,
        aliases=_string_list("aliases", meta.get("aliases")),
        tags=_string_list("tags", meta.get("tags")),
        sources=_sources(meta.get("sources")),
        updated=_date(meta["updated"]),
        position=order,
    )
    return validate(content)


def load_pack(folder: Path) -> list[SectionContent]:
    """Every section in `folder`, in rotation order; PackError lists all problems found."""
    return read_folder(folder).sections


def load_path(path: Path) -> list[SectionContent]:
    """A pack folder, or a zip of one (what /kb export attaches)."""
    return read_path(path).sections


def load_zip(data: bytes) -> list[SectionContent]:
    """A pack zipped by `export` (the Discord attachment form)."""
    return read_zip(data).sections


def read_path(path: Path) -> Pack:
    """A pack folder or zip, with the server its export marker names (if any)."""
    if path.suffix == ".zip" and path.is_file():
        if path.stat().st_size > MAX_UNPACKED_BYTES:
            raise PackError([f"{path.name}: {_too_large()}"])
        return read_zip(path.read_bytes())
    return read_folder(path)


def read_folder(folder: Path) -> Pack:
    if not folder.is_dir():
        raise PackError([f"{folder}: not a folder of Markdown files"])
    files = sorted(folder.glob(f"*{SUFFIX}"))
    _check_count(len(files), str(folder))
    if sum(path.stat().st_size for path in files) > MAX_UNPACKED_BYTES:
        raise PackError([f"{folder}: {_too_large()}"])
    marker = folder / MARKER
    exported_from = _marker_guild(marker.read_bytes(), str(marker)) if marker.is_file() else None
    entries = [(path.name, path.stem, path.read_bytes()) for path in files]
    return Pack(_load(entries, str(folder)), exported_from)


def read_zip(data: bytes) -> Pack:
    """A zip of a pack, unpacked within MAX_FILES files and MAX_UNPACKED_BYTES bytes."""
    if len(data) > MAX_UNPACKED_BYTES:
        raise PackError([f"the archive: {_too_large()}"])
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise PackError(["the attachment is not a zip file"]) from None
    with archive:
        infos = archive.infolist()
        _check_count(len(infos), "the archive")
        # The sizes a zip declares can lie, so reading is bounded as well.
        if sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:
            raise PackError([f"the archive: {_too_large()}"])
        budget = MAX_UNPACKED_BYTES
        entries = []
        exported_from = None
        for info in sorted(infos, key=lambda i: i.filename):
            name = info.filename
            if "/" in name or not (name.endswith(SUFFIX) or name == MARKER):
                continue
            try:
                with archive.open(info) as member:
                    raw = member.read(budget + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise PackError([f"{name}: cannot be unpacked ({exc})"]) from None
            budget -= len(raw)
            if budget < 0:
                raise PackError([f"the archive: {_too_large()}"])
            if name == MARKER:
                exported_from = _marker_guild(raw, name)
            else:
                entries.append((name, name.removesuffix(SUFFIX), raw))
    return Pack(_load(entries, "archive"), exported_from)


def _too_large() -> str:
    return (
        f"unpacks to more than {MAX_UNPACKED_BYTES // (1024 * 1024)} MB, the most one import takes"
    )


def _check_count(count: int, where: str) -> None:
    if count > MAX_FILES:
        raise PackError([f"{where}: holds {count:,} files; one import takes at most {MAX_FILES:,}"])


def _marker_guild(raw: bytes, where: str) -> int | None:
    """The server an export marker names (None: the curated pack)."""
    try:
        guild = json.loads(raw.decode("utf-8")).get("guild")
    except (UnicodeDecodeError, ValueError, AttributeError):
        raise PackError([f"{where}: is not an export marker Briefbot wrote"]) from None
    if guild is not None and (not isinstance(guild, int) or isinstance(guild, bool)):
        raise PackError([f"{where}: names no valid server id"])
    return guild


def _marker(guild_id: int | None, names: Iterable[str]) -> str:
    return json.dumps({"guild": guild_id, "files": sorted(names)}, indent=2) + "\n"


def _load(entries: Iterable[tuple[str, str, bytes]], where: str) -> list[SectionContent]:
    problems: list[str] = []
    sections: list[SectionContent] = []
    seen: dict[str, str] = {}
    for name, stem, raw in entries:
        try:
            content = parse_section(raw.decode("utf-8"), stem)
        except UnicodeDecodeError:
            problems.append(f"{name}: is not UTF-8 text")
            continue
        except InvalidSection as exc:
            problems.append(f"{name}: field '{exc.field}' {exc.reason}")
            continue
        if content.slug in seen:
            problems.append(
                f"{name}: field 'slug' {content.slug!r} is also used by {seen[content.slug]}"
            )
            continue
        seen[content.slug] = name
        sections.append(content)
    if not sections and not problems:
        problems.append(f"{where}: holds no {SUFFIX} files")
    if problems:
        raise PackError(problems)
    return sorted(sections, key=lambda s: (s.position, s.slug))


def render_section(content: SectionContent) -> str:
    """The file text for one section, in the form `parse_section` reads back unchanged."""
    meta: dict[str, Any] = {"title": content.title}
    if content.aliases:
        meta["aliases"] = list(content.aliases)
    if content.tags:
        meta["tags"] = list(content.tags)
    meta["updated"] = content.updated
    meta["order"] = content.position
    if content.sources:
        meta["sources"] = [{"title": s.title, "url": s.url} for s in content.sources]
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{head}---\n{content.body}\n"


def previous_export(folder: Path) -> set[str]:
    """The file names the last export into `folder` wrote (empty without a marker)."""
    marker = folder / MARKER
    if not marker.is_file():
        return set()
    try:
        files = json.loads(marker.read_text("utf-8")).get("files")
    except (UnicodeDecodeError, ValueError, AttributeError):
        return set()
    if not isinstance(files, list):
        return set()
    # Only plain page names: a crafted marker must not name a file outside the folder.
    return {
        f
        for f in files
        if isinstance(f, str) and f == Path(f).name and f.endswith(SUFFIX) and f[0] != "."
    }


def write_pack(
    sections: Iterable[SectionContent], folder: Path, guild_id: int | None = None
) -> list[Path]:
    """Write one file per section, and the marker listing them.

    `folder` must be new, empty, or hold only what a previous export wrote (its marker says
    which files): anything else is refused before a file is written, so an export never
    overwrites or deletes a file it did not write. A previous export's files that are no
    longer sections are removed.
    """
    contents = list(sections)
    previous = previous_export(folder)
    if folder.exists():
        if not folder.is_dir():
            raise BriefbotError(f"Not exporting to {folder}: it is a file, not a folder.")
        foreign = sorted(
            entry.name
            for entry in folder.iterdir()
            if entry.name != MARKER and not (entry.name in previous and entry.is_file())
        )
        if foreign:
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            raise BriefbotError(
                f"Not exporting to {folder}: it holds files an export did not write ({shown}). "
                "Export into a new or empty folder, or one a previous export wrote."
            )
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"{content.slug}{SUFFIX}" for content in contents]
    # Listed before they exist, so an export cut short can be repeated over its own files.
    _write_marker(folder, guild_id, previous | set(names))
    written = []
    for name, content in zip(names, contents, strict=True):
        path = folder / name
        path.write_text(render_section(content), encoding="utf-8")
        written.append(path)
    for stale in sorted(previous - set(names)):
        (folder / stale).unlink(missing_ok=True)
    _write_marker(folder, guild_id, names)
    return written


def _write_marker(folder: Path, guild_id: int | None, names: Iterable[str]) -> None:
    partial = folder / f"{MARKER}.partial"
    partial.write_text(_marker(guild_id, names), encoding="utf-8")
    partial.replace(folder / MARKER)


def zip_pack(sections: Iterable[SectionContent], guild_id: int | None = None) -> bytes:
    """The pack as a zip, with the marker naming the server it came from."""
    buffer = io.BytesIO()
    names = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for content in sections:
            name = f"{content.slug}{SUFFIX}"
            archive.writestr(name, render_section(content))
            names.append(name)
        archive.writestr(MARKER, _marker(guild_id, names))
    return buffer.getvalue()
