"""The knowledge pack on disk: one Markdown file per section with YAML frontmatter.

Loading validates every file and refuses the pack as a whole if any file is bad, so a typo in
one file can never half-import a pack. Writing produces exactly what loading reads back.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from bot.errors import InvalidSection, PackError
from bot.sections import SectionContent, Source, validate

FIELDS = frozenset({"title", "aliases", "tags", "updated", "sources", "order", "slug"})
SUFFIX = ".md"


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
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
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
    if not folder.is_dir():
        raise PackError([f"{folder}: not a folder of Markdown files"])
    files = sorted(folder.glob(f"*{SUFFIX}"))
    return _load(((path.name, path.stem, path.read_bytes()) for path in files), str(folder))


def load_path(path: Path) -> list[SectionContent]:
    """A pack folder, or a zip of one (what /kb export attaches)."""
    if path.suffix == ".zip" and path.is_file():
        return load_zip(path.read_bytes())
    return load_pack(path)


def load_zip(data: bytes) -> list[SectionContent]:
    """A pack zipped by `export` (the Discord attachment form)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise PackError(["the attachment is not a zip file"]) from None
    with archive:
        names = sorted(n for n in archive.namelist() if n.endswith(SUFFIX) and "/" not in n)
        entries = [(n, n.removesuffix(SUFFIX), archive.read(n)) for n in names]
    return _load(entries, "archive")


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


def write_pack(sections: Iterable[SectionContent], folder: Path) -> list[Path]:
    """Write one file per section; files of sections no longer present are removed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for content in sections:
        path = folder / f"{content.slug}{SUFFIX}"
        path.write_text(render_section(content), encoding="utf-8")
        written.append(path)
    for stale in set(folder.glob(f"*{SUFFIX}")) - set(written):
        stale.unlink()
    return written


def zip_pack(sections: Iterable[SectionContent]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for content in sections:
            archive.writestr(f"{content.slug}{SUFFIX}", render_section(content))
    return buffer.getvalue()
