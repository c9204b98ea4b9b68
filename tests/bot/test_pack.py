"""The knowledge pack on disk: loading the curated pack, refusing bad packs, writing and zipping."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import date
from pathlib import Path

import pytest

from bot.errors import BriefbotError, InvalidSection, PackError
from bot.pack import (
    MAX_FILES,
    MAX_UNPACKED_BYTES,
    load_pack,
    load_zip,
    parse_section,
    read_path,
    read_zip,
    render_section,
    write_pack,
    zip_pack,
)
from bot.sections import SectionContent, Source

SEED = Path(__file__).resolve().parents[2] / ".." / "shared" / "seed" / "briefing-sections.txt"


def section_text(
    title: str | None = "A title",
    body: str = "A body long enough to be a section.",
    extra: str = "",
    updated: str = "2026-11-28",
) -> str:
    head = "---\n"
    if title is not None:
        head += f"title: {title}\n"
    head += f"updated: {updated}\n{extra}---\n"
    return head + body + "\n"


def good_pack(folder: Path, count: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"good-{i}.md").write_text(
            section_text(title=f"Good {i}", extra=f"order: {i}\n"), encoding="utf-8"
        )
    return folder


def refusal(folder: Path) -> PackError:
    with pytest.raises(PackError) as caught:
        load_pack(folder)
    return caught.value


def problem_for(error: PackError, filename: str) -> str:
    mine = [p for p in error.problems if p.startswith(f"{filename}:")]
    assert len(mine) == 1, error.problems
    assert mine[0] in str(error)
    return mine[0]


# -- the curated pack --------------------------------------------------------------------------


def test_curated_pack_loads_in_rotation_order(knowledge_dir, expected_slugs):
    sections = load_pack(knowledge_dir)
    assert [s.slug for s in sections] == expected_slugs
    assert len(sections) == 10
    positions = [s.position for s in sections]
    assert positions == sorted(positions)


def test_curated_bodies_are_the_seed_text_verbatim(knowledge_dir):
    if not SEED.is_file():
        # CI must compare against the seed: a skip there would hide a pack that drifted from it.
        if os.environ.get("CI", "").lower() in {"true", "1"}:
            pytest.fail(f"the seed file {SEED} is missing, and CI={os.environ['CI']} needs it")
        pytest.skip(f"the seed file {SEED} is not present on this machine")
    lines = SEED.read_text(encoding="utf-8").splitlines()
    sections = load_pack(knowledge_dir)
    assert len(lines) == len(sections)
    for section, line in zip(sections, lines, strict=True):
        assert section.body == line, section.slug


def test_curated_files_are_named_after_their_slugs(knowledge_dir):
    stems = sorted(p.stem for p in knowledge_dir.glob("*.md"))
    assert stems == sorted(s.slug for s in load_pack(knowledge_dir))


# -- refusals: the whole pack, with the file and the field named ------------------------------

BAD_FILES = {
    "missing title": ("no-title.md", section_text(title=None), "title"),
    "empty title": ("empty-title.md", section_text(title='""'), "title"),
    "blank title": ("blank-title.md", section_text(title='"   "'), "title"),
    "empty body": ("empty-body.md", section_text(body=""), "body"),
    "body over 4,000": ("long-body.md", section_text(body="x" * 4001), "body"),
    "bad slug file name": ("Bad_Slug.md", section_text(), "slug"),
    "bad slug field": ("fine-name.md", section_text(extra="slug: Not A Slug\n"), "slug"),
    "bad date": ("bad-date.md", section_text(updated="yesterday"), "updated"),
    "missing date": ("no-date.md", "---\ntitle: T\n---\nBody\n", "updated"),
    "unknown field": ("unknown.md", section_text(extra="colour: blue\n"), "colour"),
    "invalid YAML": ("bad-yaml.md", section_text(extra="aliases: [unclosed\n"), "frontmatter"),
    "no frontmatter": ("no-front.md", "Just a body, no header.\n", "frontmatter"),
    "order not a number": ("order.md", section_text(extra="order: first\n"), "order"),
    "negative order": ("negative.md", section_text(extra="order: -1\n"), "order"),
    "aliases not a list": ("aliases.md", section_text(extra="aliases: just one\n"), "aliases"),
    "source not http": (
        "source.md",
        section_text(extra="sources:\n- title: S\n  url: javascript:alert(1)\n"),
        "sources",
    ),
}


@pytest.mark.parametrize(("filename", "text", "field"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_file_refuses_the_whole_pack_naming_file_and_field(tmp_path, filename, text, field):
    folder = good_pack(tmp_path / "pack")
    (folder / filename).write_text(text, encoding="utf-8")
    error = refusal(folder)
    problem = problem_for(error, filename)
    assert f"'{field}'" in problem
    assert len(error.problems) == 1, "the good files must not be reported"


def test_body_of_exactly_4000_characters_is_accepted(tmp_path):
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "edge.md").write_text(section_text(body="y" * 4000), encoding="utf-8")
    [section] = load_pack(folder)
    assert len(section.body) == 4000


def test_duplicate_slug_field_names_both_files(tmp_path):
    folder = good_pack(tmp_path / "pack")
    (folder / "first.md").write_text(section_text(extra="slug: same-topic\n"), encoding="utf-8")
    (folder / "second.md").write_text(section_text(extra="slug: same-topic\n"), encoding="utf-8")
    error = refusal(folder)
    problem = problem_for(error, "second.md")
    assert "'slug'" in problem
    assert "same-topic" in problem
    assert "first.md" in problem


def test_slug_field_colliding_with_another_files_name_is_refused(tmp_path):
    folder = good_pack(tmp_path / "pack")
    (folder / "zz-other.md").write_text(section_text(extra="slug: good-0\n"), encoding="utf-8")
    error = refusal(folder)
    assert "'slug'" in problem_for(error, "zz-other.md")


def test_non_utf8_file_is_refused_by_name(tmp_path):
    folder = good_pack(tmp_path / "pack")
    (folder / "latin1.md").write_bytes(section_text(body="Caf\xe9 talks").encode("latin-1"))
    error = refusal(folder)
    assert "UTF-8" in problem_for(error, "latin1.md")


def test_impossible_calendar_date_is_refused_naming_updated(tmp_path):
    folder = good_pack(tmp_path / "pack")
    (folder / "feb-30.md").write_text(section_text(updated="2026-02-30"), encoding="utf-8")
    error = refusal(folder)
    assert "'updated'" in problem_for(error, "feb-30.md")


def test_timestamp_in_updated_is_refused_naming_updated():
    text = section_text(updated="2026-11-28 10:00:00")
    with pytest.raises(InvalidSection) as caught:
        parse_section(text, "stamped")
    assert caught.value.field == "updated"
    assert "date only" in caught.value.reason


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    folder = good_pack(tmp_path / "pack")
    (folder / "a-no-title.md").write_text(section_text(title=None), encoding="utf-8")
    (folder / "b-no-body.md").write_text(section_text(body=""), encoding="utf-8")
    error = refusal(folder)
    assert "'title'" in problem_for(error, "a-no-title.md")
    assert "'body'" in problem_for(error, "b-no-body.md")
    assert len(error.problems) == 2
    assert "2 problems" in str(error)


def test_folder_without_sections_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a section", encoding="utf-8")
    assert "no .md files" in str(refusal(tmp_path / "empty"))


def test_missing_folder_is_refused_naming_it(tmp_path):
    missing = tmp_path / "nowhere"
    assert str(missing) in str(refusal(missing))


def test_invalid_yaml_reports_the_line(tmp_path):
    text = "---\ntitle: T\nupdated: 2026-11-28\naliases: [unclosed\n---\nBody\n"
    with pytest.raises(InvalidSection) as caught:
        parse_section(text, "x")
    assert caught.value.field == "frontmatter"
    assert "line" in caught.value.reason


# -- writing reads back unchanged -------------------------------------------------------------

TRICKY = SectionContent(
    slug="tricky-one",
    title='Yes: "no" — #1 of 2?',
    body="First paragraph with Zelenskyy’s café.\n\n---\n\n- a list item\n# not a heading: text",
    aliases=("1949", "yes", "null", "- dash", "key: value", "ünïcödé"),
    tags=("peace-process", "true"),
    sources=(Source("A source: with colon", "https://example.org/a?b=1&c=2#frag"),),
    updated=date(2024, 2, 29),
    position=3,
)


def test_render_then_parse_round_trips_the_curated_pack(knowledge_dir):
    for section in load_pack(knowledge_dir):
        assert parse_section(render_section(section), section.slug) == section


def test_render_then_parse_round_trips_yaml_lookalikes():
    assert parse_section(render_section(TRICKY), TRICKY.slug) == TRICKY


def test_parse_normalises_to_nfc_and_strips(tmp_path):
    text = section_text(title='"  Cafe\u0301 talks  "', body="\n\n  Cafe\u0301 body  \n")
    content = parse_section(text, "cafe")
    assert content.title == "Café talks"
    assert content.body == "Café body"
    assert parse_section(render_section(content), "cafe") == content


def test_write_pack_then_load_pack_round_trips_and_removes_its_own_stale_files(
    tmp_path, knowledge_dir
):
    sections = load_pack(knowledge_dir)
    folder = tmp_path / "out"
    stale = SectionContent(
        slug="stale-topic", title="Stale", body="Gone since.", updated=date(2026, 1, 1)
    )
    write_pack([*sections, stale], folder)
    assert (folder / "stale-topic.md").is_file()
    written = write_pack(sections, folder)
    assert sorted(p.name for p in folder.glob("*.md")) == sorted(p.name for p in written)
    assert not (folder / "stale-topic.md").exists()
    assert load_pack(folder) == sections


def test_export_refuses_a_folder_holding_files_it_did_not_write(tmp_path, knowledge_dir):
    sections = load_pack(knowledge_dir)
    folder = tmp_path / "project"
    folder.mkdir()
    readme = folder / "README.md"
    readme.write_text("# My project\n", encoding="utf-8")
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(BriefbotError) as caught:
        write_pack(sections, folder)
    message = str(caught.value)
    assert "README.md" in message and "notes.txt" in message and "empty" in message
    # Nothing written, nothing deleted.
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "notes.txt"]
    assert readme.read_text(encoding="utf-8") == "# My project\n"


def test_a_crafted_marker_cannot_make_an_export_delete_outside_its_folder(tmp_path, knowledge_dir):
    sections = load_pack(knowledge_dir)
    folder = tmp_path / "out"
    write_pack(sections[:2], folder)
    victim = tmp_path / "victim.md"
    victim.write_text("not the export's", encoding="utf-8")
    marker = next(p for p in folder.iterdir() if not p.name.endswith(".md"))
    data = json.loads(marker.read_text("utf-8"))
    data["files"] += ["../victim.md", str(victim), ".hidden.md"]
    marker.write_text(json.dumps(data), encoding="utf-8")
    write_pack(sections[:1], folder)
    assert victim.read_text(encoding="utf-8") == "not the export's"
    assert sorted(p.stem for p in folder.glob("*.md")) == [sections[0].slug]


def test_export_into_a_previous_export_replaces_only_its_files(tmp_path, knowledge_dir):
    sections = load_pack(knowledge_dir)
    folder = tmp_path / "out"
    write_pack(sections, folder)
    write_pack(sections[:3], folder)  # the same folder again: allowed
    assert sorted(p.stem for p in folder.glob("*.md")) == sorted(s.slug for s in sections[:3])
    (folder / "mine.md").write_text("a file the user added", encoding="utf-8")
    with pytest.raises(BriefbotError, match=r"mine\.md"):
        write_pack(sections, folder)
    assert (folder / "mine.md").read_text(encoding="utf-8") == "a file the user added"


def test_export_marker_names_the_server(tmp_path, knowledge_dir):
    sections = load_pack(knowledge_dir)
    write_pack(sections, tmp_path / "server", guild_id=42)
    write_pack(sections, tmp_path / "curated")
    assert read_path(tmp_path / "server").exported_from == 42
    assert read_path(tmp_path / "curated").exported_from is None
    assert read_zip(zip_pack(sections, 42)).exported_from == 42
    assert read_zip(zip_pack(sections)).exported_from is None


def test_zip_round_trip(knowledge_dir):
    sections = [*load_pack(knowledge_dir), TRICKY]
    sections.sort(key=lambda s: (s.position, s.slug))
    assert load_zip(zip_pack(sections)) == sections


def test_zip_that_is_not_a_zip_is_refused():
    with pytest.raises(PackError, match="not a zip"):
        load_zip(b"PK? not really")


def test_zip_with_a_bad_file_is_refused_naming_it():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.md", section_text())
        archive.writestr("broken.md", section_text(title=None))
    with pytest.raises(PackError) as caught:
        load_zip(buffer.getvalue())
    assert "'title'" in problem_for(caught.value, "broken.md")


def test_zip_ignores_nested_and_non_markdown_entries():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("kept.md", section_text(title="Kept"))
        archive.writestr("nested/ignored.md", section_text(title=None))
        archive.writestr("readme.txt", "not a section")
    assert [s.slug for s in load_zip(buffer.getvalue())] == ["kept"]


# -- bounded input -----------------------------------------------------------------------------


def test_yaml_alias_is_refused_naming_frontmatter(tmp_path):
    laughs = "\n".join(
        [
            "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
            *(
                f"{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]"
                for a, b in zip("abcdefgh", "bcdefghi", strict=True)
            ),
        ]
    )
    folder = good_pack(tmp_path / "pack")
    (folder / "laughs.md").write_text(section_text(extra=laughs + "\n"), encoding="utf-8")
    problem = problem_for(refusal(folder), "laughs.md")
    assert "'frontmatter'" in problem and "alias" in problem
    # A single harmless-looking alias is refused too: aliases are not part of the format.
    with pytest.raises(InvalidSection, match="alias"):
        parse_section(section_text(title="&t Title", extra="aliases: [*t]\n"), "x")


def _zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_unpacking_over_10_mb_is_refused():
    assert MAX_UNPACKED_BYTES == 10 * 1024 * 1024
    bomb = _zip([("ok.md", section_text()), ("padding.bin", b"\0" * (MAX_UNPACKED_BYTES + 1))])
    assert len(bomb) < 100_000  # small on disk, large unpacked
    with pytest.raises(PackError, match="10 MB"):
        load_zip(bomb)


def test_zip_whose_sizes_lie_is_refused_cleanly():
    entry = section_text(body="word " * 2000)
    data = bytearray(_zip([("big.md", entry)]))
    # Rewrite the declared size in both headers so only reading finds out the truth.
    true_size = len(entry.encode()).to_bytes(4, "little")
    data = bytes(data).replace(true_size, (10).to_bytes(4, "little"))
    with pytest.raises(PackError):
        load_zip(data)


def test_zip_with_over_10000_files_is_refused():
    assert MAX_FILES == 10_000
    entries = [(f"e{i}.txt", b"") for i in range(MAX_FILES + 1)]
    with pytest.raises(PackError, match="10,000"):
        load_zip(_zip(entries))


def test_folder_with_over_10000_sections_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("bot.pack.MAX_FILES", 2)
    with pytest.raises(PackError, match="at most 2"):
        load_pack(good_pack(tmp_path / "pack", count=3))
