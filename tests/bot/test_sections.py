"""The rules every section keeps: slugs, lengths, de-duplication, links and JSON form."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bot.editing import SOURCE_BOXES, content_to_form, form_to_content
from bot.errors import InvalidSection
from bot.sections import (
    MAX_ALIAS,
    MAX_ALIASES,
    MAX_BODY,
    MAX_SLUG,
    MAX_SOURCE_TITLE,
    MAX_SOURCES,
    MAX_SOURCES_TEXT,
    MAX_TITLE,
    MAX_URL,
    SectionContent,
    Source,
    validate,
    validate_slug,
    validate_url,
)

BASE = SectionContent(slug="us-role", title="Title", body="Body text.", updated=date(2026, 1, 2))


def refused(content: SectionContent) -> InvalidSection:
    with pytest.raises(InvalidSection) as caught:
        validate(content)
    return caught.value


@pytest.mark.parametrize("slug", ["us-role", "a", "nato2", "2026-talks", "a" * MAX_SLUG])
def test_valid_slugs(slug):
    assert validate_slug(slug) == slug


def test_slug_is_stripped():
    assert validate_slug("  us-role \n") == "us-role"


@pytest.mark.parametrize(
    "slug",
    [
        "",
        "   ",
        "Us-Role",
        "us_role",
        "us--role",
        "-us",
        "us-",
        "us role",
        "a" * (MAX_SLUG + 1),
        "café",
        "us/role",
        "us.role",
    ],
)
def test_invalid_slugs(slug):
    with pytest.raises(InvalidSection) as caught:
        validate_slug(slug)
    assert caught.value.field == "slug"


def test_title_and_body_limits_are_inclusive():
    ok = validate(replace(BASE, title="t" * MAX_TITLE, body="b" * MAX_BODY))
    assert len(ok.title) == MAX_TITLE
    assert len(ok.body) == MAX_BODY
    assert refused(replace(BASE, title="t" * (MAX_TITLE + 1))).field == "title"
    error = refused(replace(BASE, body="b" * (MAX_BODY + 1)))
    assert error.field == "body"
    assert "4,001" in error.reason


@pytest.mark.parametrize("field", ["title", "body"])
@pytest.mark.parametrize("value", ["", "  \n\t "])
def test_blank_title_or_body_is_refused(field, value):
    assert refused(replace(BASE, **{field: value})).field == field


def test_validate_normalises_to_nfc_and_strips():
    content = validate(replace(BASE, title="  Cafe\u0301  ", body="\nCafe\u0301\n"))
    assert content.title == "Café"
    assert content.body == "Café"


def test_aliases_are_deduplicated_case_insensitively_keeping_the_first_spelling():
    content = validate(replace(BASE, aliases=("Berlin talks", "BERLIN TALKS", " ", "Other")))
    assert content.aliases == ("Berlin talks", "Other")


def test_alias_limits():
    assert refused(replace(BASE, aliases=("a" * (MAX_ALIAS + 1),))).field == "aliases"
    many = tuple(f"alias {i}" for i in range(MAX_ALIASES + 1))
    assert refused(replace(BASE, aliases=many)).field == "aliases"
    assert len(validate(replace(BASE, aliases=many[:MAX_ALIASES])).aliases) == MAX_ALIASES


def test_tags_are_deduplicated():
    assert validate(replace(BASE, tags=("europe", "Europe", "diplomacy"))).tags == (
        "europe",
        "diplomacy",
    )


@pytest.mark.parametrize(
    "url",
    ["https://example.org/x", "http://example.org", "https://example.org/a?b=1#c"],
)
def test_http_links_are_accepted(url):
    assert validate_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org",
        "javascript:alert(1)",
        "https://",
        "example.org",
        "",
        "https://example.org/" + "x" * 500,
    ],
)
def test_other_links_are_refused(url):
    with pytest.raises(InvalidSection) as caught:
        validate_url(url)
    assert caught.value.field == "sources"


def test_source_count_and_title_limits():
    many = tuple(Source(f"S{i}", f"https://example.org/{i}") for i in range(MAX_SOURCES + 1))
    assert refused(replace(BASE, sources=many)).field == "sources"
    assert refused(replace(BASE, sources=(Source(" ", "https://example.org"),))).field == "sources"


def test_negative_position_is_refused():
    assert refused(replace(BASE, position=-1)).field == "order"


def test_changed_fields_names_exactly_what_differs():
    other = replace(BASE, body="New body.", tags=("x",))
    assert other.changed_fields(BASE) == ["body", "tags"]
    assert BASE.changed_fields(BASE) == []
    assert replace(BASE, slug="other-slug").changed_fields(BASE) == []


def test_json_round_trip():
    content = SectionContent(
        slug="s",
        title="T",
        body="B",
        aliases=("a", "b"),
        tags=("t",),
        sources=(Source("S", "https://example.org"),),
        updated=date(2025, 12, 31),
        position=7,
    )
    assert SectionContent.from_json(content.to_json()) == content


def test_ten_of_the_longest_sources_fill_the_forms_two_boxes_and_read_back_the_same():
    # The form shows sources as "Title | URL" lines in two boxes Discord caps at 4,000 each.
    assert (MAX_SOURCE_TITLE, MAX_URL) == (200, 500)  # what every stored section was saved under
    longest = tuple(
        Source("t" * MAX_SOURCE_TITLE, f"https://example.org/{i}/".ljust(MAX_URL, "p"))
        for i in range(MAX_SOURCES)
    )
    content = validate(replace(BASE, sources=longest))
    fields = content_to_form(content)
    assert [len(fields[box]) for box in SOURCE_BOXES] == [5 * 703 + 4] * 2
    assert max(len(fields[box]) for box in SOURCE_BOXES) <= MAX_SOURCES_TEXT == 4000
    assert form_to_content(fields, BASE.slug, content, BASE.updated) == content


def test_sources_that_fit_one_box_leave_the_second_empty():
    few = tuple(Source(f"S{i}", f"https://example.org/{i}") for i in range(MAX_SOURCES))
    fields = content_to_form(validate(replace(BASE, sources=few)))
    assert fields["sources"].count("\n") == MAX_SOURCES - 1 and fields["more_sources"] == ""


def test_sources_typed_in_either_box_are_read_as_one_list():
    fields = {
        **content_to_form(BASE),
        "sources": "A | https://example.org/a",
        "more_sources": "\nB | https://example.org/b\n",
    }
    assert form_to_content(fields, BASE.slug, BASE, BASE.updated).sources == (
        Source("A", "https://example.org/a"),
        Source("B", "https://example.org/b"),
    )
    many = "\n".join(f"S{i} | https://example.org/{i}" for i in range(6))
    with pytest.raises(InvalidSection) as caught:
        form_to_content({**fields, "sources": many, "more_sources": many}, "a", None, BASE.updated)
    assert "limit is 10" in caught.value.reason


@pytest.mark.parametrize(
    "source",
    [
        Source("Title | with a bar", "https://example.org/a"),
        Source("T", "https://example.org/a|b"),
        Source("T", "https://example.org/?next=|https://example.net/x"),
        Source("Bar at the end |", "https://example.org/"),
        Source("https://example.org/a|b", "https://example.org/a|b"),
        Source("HTTP guide", "HTTPS://example.org/a"),
    ],
)
def test_a_bar_in_a_title_or_link_reads_back_the_same(source):
    content = validate(replace(BASE, sources=(source,)))
    fields = content_to_form(content)
    assert form_to_content(fields, BASE.slug, content, BASE.updated) == content


def test_a_link_of_another_kind_after_the_bar_is_refused_by_name():
    fields = {**content_to_form(BASE), "sources": "Title | ftp://example.org/x"}
    with pytest.raises(InvalidSection) as caught:
        form_to_content(fields, BASE.slug, BASE, BASE.updated)
    assert caught.value.reason.startswith("'ftp://example.org/x' is not")


def test_line_breaks_in_a_source_title_or_alias_become_spaces_as_the_form_shows_them():
    content = replace(
        BASE,
        aliases=("first line\n\n  second",),
        sources=(Source("Title\non two lines", "https://example.org"),),
    )
    checked = validate(content)
    assert checked.aliases == ("first line second",)
    assert checked.sources == (Source("Title on two lines", "https://example.org"),)
    # A row stored before this reads back in the form as validation now keeps it.
    fields = content_to_form(content)
    assert form_to_content(fields, BASE.slug, content, BASE.updated) == checked


def test_source_titles_and_links_over_their_limits_are_refused():
    long_title = Source("t" * (MAX_SOURCE_TITLE + 1), "https://example.org")
    long_url = Source("t", "https://example.org/".ljust(MAX_URL + 1, "p"))
    assert refused(replace(BASE, sources=(long_title,))).field == "sources"
    assert "longer than" in refused(replace(BASE, sources=(long_url,))).reason


def test_a_bare_link_is_shown_once_in_the_form_and_reads_back_the_same():
    bare = Source("https://example.org/a", "https://example.org/a")
    content = validate(replace(BASE, sources=(bare,)))
    assert content_to_form(content)["sources"] == "https://example.org/a"
    fields = content_to_form(content)
    assert form_to_content(fields, BASE.slug, content, BASE.updated).sources == (bare,)
