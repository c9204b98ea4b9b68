"""Every card, report, form and reply Briefbot can build fits Discord's limits, whatever the text.

Sections here sit at the edge of what validation lets in (4,000-character bodies, 20 aliases
of 100, ten sources of the longest title and link) and are written in Markdown-heavy text,
mentions, Ukrainian, Arabic, CJK and emoji joined with ZWJ. Each renderer's output becomes the
JSON discord.py would send, and the fake Discord's own validators (`tests/fakediscord/limits.py`,
one table of Discord's documented limits) must find nothing wrong with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.briefing import header_for
from bot.client import EXTENSIONS, Briefbot
from bot.config import Settings
from bot.editing import Conflict, Rejected, RevisionPage, content_to_form, form_to_content
from bot.errors import BriefbotError, InvalidSection, PackError, SectionNotFound
from bot.learning import AdditionPage, ReviewItem, ReviewPage
from bot.sections import (
    MAX_ALIAS,
    MAX_ALIASES,
    MAX_BODY,
    MAX_SLUG,
    MAX_SOURCE_TITLE,
    MAX_SOURCES,
    MAX_TITLE,
    MAX_URL,
    Section,
    SectionContent,
    Source,
    validate,
)
from bot.service import BriefingService
from bot.store.learning import Addition
from bot.store.sections import Revision
from bot.ui.cards import no_answer_text, section_cards
from bot.ui.feedback import MeantSelect, feedback_items, suggestions_view
from bot.ui.fit import TOPIC_OPTION_LIMIT
from bot.ui.forms import SectionForm, conflict_embeds, edit_form, reopen_view, submitted_fields
from bot.ui.kb import HISTORY_PAGE, history_page
from bot.ui.replies import reply_error
from bot.ui.reports import stale_embed, status_embed
from bot.ui.review import review_embed, review_view
from bot.ui.views import section_view, topics_page
from tests.fakediscord.limits import (
    choices_errors,
    command_errors,
    error_paths,
    message_errors,
    modal_errors,
)

GUILD = 2**63 - 1  # the longest snowflake: custom ids carry it
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text that is hard to fit: each escapes, joins or widens differently.
PATTERNS = {
    "markdown": "__**~~||> `` \\ [x](y) # - _*~|>` ",
    "mentions": "@everyone <@123456789012345678> @here <@&987654321098765432> ",
    "ukrainian": "Що таке Рамштайн? Гарантії безпеки для України. ",
    "arabic": "ما هو حلف شمال الأطلسي؟ ",
    "cjk": "北大西洋公约组织是什么？乌克兰的安全保障。",
    "emoji": "👨‍👩‍👧‍👦🇺🇦👍🏽❤️‍🔥🏳️‍🌈",
    "combining": "é̃ö̈ ",
    "underscores": "_" * 50,
    "paragraphs": "A sentence. Another one!\n\nA new paragraph? Yes.\n",
    "long word": "x" * 80,
}
URL_PATTERNS = (
    "a_b(c)*d~e|f`g",
    "шлях-до-джерела/",
    "%20()_",
    "q?x=1&y=(2)#frag_",
    "?next=|https://example.net/",
)
# The limits every section was saved under until source titles were cut to 100 characters and
# links to 290 for a while: stored databases hold sections at these, whatever validation says.
STORED_SOURCE_TITLE = 200
STORED_URL = 500


def repeat(pattern: str, length: int) -> str:
    """`pattern` repeated to exactly `length` characters, trimmed of outer whitespace."""
    return (pattern * (length // len(pattern) + 1))[:length].strip() or "x"


@st.composite
def texts(draw: st.DrawFn, limit: int) -> str:
    """Text of one or more hard patterns, at the limit half of the time."""
    chosen = draw(st.lists(st.sampled_from(list(PATTERNS.values())), min_size=1, max_size=3))
    length = draw(st.one_of(st.just(limit), st.integers(1, limit)))
    return repeat("".join(chosen), length)


@st.composite
def urls(draw: st.DrawFn, limit: int = MAX_URL) -> str:
    path = "".join(draw(st.lists(st.sampled_from(URL_PATTERNS), min_size=1, max_size=4)))
    start = "https://example.org/"
    length = draw(st.one_of(st.just(limit), st.integers(len(start) + 1, limit)))
    return (start + path * limit)[:length].strip()


@st.composite
def unchecked_contents(
    draw: st.DrawFn, title_limit: int = MAX_SOURCE_TITLE, url_limit: int = MAX_URL
) -> SectionContent:
    """Content at or under the limits, not yet through `validate` (as a stored row may be)."""
    count = draw(st.integers(0, MAX_ALIASES))
    aliases = tuple(f"{i} {draw(texts(MAX_ALIAS))}"[:MAX_ALIAS] for i in range(count))
    sources = tuple(
        Source(draw(texts(title_limit)), draw(urls(url_limit)))
        for _ in range(draw(st.integers(0, MAX_SOURCES)))
    )
    slug = draw(st.sampled_from(["a", "x" * MAX_SLUG, "nato-purpose"]))
    return SectionContent(
        slug=slug,
        title=draw(texts(MAX_TITLE)),
        body=draw(texts(MAX_BODY)),
        aliases=aliases,
        sources=sources,
        updated=date(2026, 11, 28),
    )


contents = unchecked_contents().map(validate)


def section_of(content: SectionContent, number: int = 1) -> Section:
    return Section(
        id=2**53 + number, guild_id=GUILD, content=content, status="active", revision=10**6
    )


sections = contents.map(section_of)


def extreme(pattern: str) -> Section:
    """A section at every limit at once, written in one pattern."""
    text = PATTERNS[pattern]
    number = list(PATTERNS).index(pattern)
    return section_of(
        validate(
            SectionContent(
                slug="x" * MAX_SLUG,
                title=repeat(text, MAX_TITLE),
                body=repeat(text, MAX_BODY),
                aliases=tuple(
                    f"{i} {repeat(text, MAX_ALIAS)}"[:MAX_ALIAS] for i in range(MAX_ALIASES)
                ),
                sources=tuple(
                    Source(
                        repeat(text, MAX_SOURCE_TITLE),
                        (f"https://example.org/{i}/" + "a_b(c)" * MAX_URL)[:MAX_URL],
                    )
                    for i in range(MAX_SOURCES)
                ),
                updated=date(2026, 11, 28),
            )
        ),
        number,
    )


def numbered(found: list[Section]) -> list[Section]:
    """Distinct ids, as the service's related and suggested topics have."""
    return [dataclasses.replace(s, id=s.id + i + 100) for i, s in enumerate(found)]


def assert_fits(payload: Mapping[str, Any]) -> None:
    errors = message_errors(payload)
    assert errors == {}, "\n".join(error_paths(errors))


def message(
    content: str | None = None,
    embeds: list[discord.Embed] | None = None,
    view: discord.ui.View | None = None,
) -> dict[str, Any]:
    """The JSON body discord.py sends for these arguments."""
    payload: dict[str, Any] = {}
    if content is not None:
        payload["content"] = content
    if embeds is not None:
        payload["embeds"] = [embed.to_dict() for embed in embeds]
    if view is not None:
        payload["components"] = view.to_components()
    return payload


def assert_modal_fits(form: discord.ui.Modal) -> None:
    errors = modal_errors(form.to_dict())
    assert errors == {}, "\n".join(error_paths(errors))


def squeeze(text: str) -> str:
    return "".join(text.split())


# -- answer cards and what comes with them -------------------------------------------------


def check_cards(section: Section, related: list[Section], header: str | None) -> None:
    cards = section_cards(section, header)
    view = section_view(GUILD, section, related)
    for i, card in enumerate(cards):
        last = i == len(cards) - 1
        assert_fits(message(embeds=card.embeds, view=view if last else None))
    # Nothing cut silently: the whole body is there, and every link.
    shown = [embed.to_dict() for card in cards for embed in card.embeds]
    body = "".join(e.get("description", "") for e in shown if "description" in e)
    assert squeeze(body) == squeeze(section.content.body)
    fields = "\n".join(f["value"] for e in shown for f in e.get("fields", []))
    for source in section.content.sources:
        assert source.url.replace("(", "%28").replace(")", "%29").replace(" ", "%20") in fields


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_a_section_at_every_limit_fits_as_an_answer_and_as_the_daily_post(pattern: str) -> None:
    section = extreme(pattern)
    related = [extreme(p) for p in PATTERNS][:5]
    check_cards(section, related, None)
    check_cards(section, related, header_for(date(2026, 11, 28)))


@PROPERTY
@given(section=sections, related=st.lists(sections, max_size=3), post=st.booleans())
def test_answer_cards_fit_whatever_the_section(
    section: Section, related: list[Section], post: bool
) -> None:
    check_cards(section, numbered(related), header_for(date(2026, 11, 28)) if post else None)


@PROPERTY
@given(question=texts(300), suggestions=st.lists(sections, max_size=3))
def test_the_no_answer_reply_fits(question: str, suggestions: list[Section]) -> None:
    text = no_answer_text(question)
    assert_fits(message(content=text, view=suggestions_view(GUILD, numbered(suggestions))))
    assert "@everyone" not in text and "<@123456789012345678>" not in text


def stub_interaction(topics: list[Section]) -> Any:
    service = SimpleNamespace(topics=lambda guild_id: topics)
    return SimpleNamespace(client=SimpleNamespace(service=service), guild_id=GUILD)


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_every_page_of_the_topic_list_fits(pattern: str) -> None:
    topics = [extreme(pattern)] * 25
    for page in range(3):
        embed, view = topics_page(stub_interaction(topics), page)
        assert_fits(message(embeds=[embed], view=view))


# -- moderators' replies and reports -----------------------------------------------------------


@PROPERTY
@given(current=st.one_of(st.none(), sections), title=texts(MAX_TITLE), body=texts(MAX_BODY))
def test_the_edit_conflict_reply_fits(current: Section | None, title: str, body: str) -> None:
    typed = {"title": title, "aliases": "", "body": body, "sources": ""}
    embeds = conflict_embeds(current, typed)
    assert_fits(message(str(Conflict(current, 2**62)), embeds, reopen_view(GUILD, 2**62)))


def test_the_edit_conflict_of_two_long_texts_shows_both_and_fits() -> None:
    current = extreme("markdown")
    typed = content_to_form(extreme("ukrainian").content)
    embeds = conflict_embeds(current, typed)
    assert_fits(message(str(Conflict(current, 1)), embeds, reopen_view(GUILD, 1)))
    now, yours = (embed.description or "" for embed in embeds)
    # Shared fairly: neither text is squeezed out by the other.
    assert len(now) > 2500 and len(yours) > 2500


def review_page(
    kind: str, question: str, topics: list[Section], count: int, days: int
) -> ReviewPage:
    listed = [t.topic for t in numbered(topics)]
    item = ReviewItem(
        kind,  # type: ignore[arg-type]
        "0123456789abcdef",
        question,
        count,
        "2026-11-28T09:30:00+00:00",
        examples=(question, question[::-1]),
        answered=listed[0],
        picks=tuple((t, count) for t in listed[:3]),
        choices=tuple(t._replace(id=t.id + 1000 * i) for i, t in enumerate(listed * 25))[:25],
        full=frozenset(t.id for t in listed[:2]),
    )
    pages = 10**6
    return ReviewPage(item, pages - 1, pages, days, {"unanswered": pages, "outdated": count})


@PROPERTY
@given(
    question=texts(300),
    topics=st.lists(sections, min_size=1, max_size=3),
    count=st.integers(1, 10**9),
    days=st.integers(1, 365),
    kind=st.sampled_from(["unanswered", "misanswered", "outdated"]),
)
def test_every_review_page_fits(
    question: str, topics: list[Section], count: int, days: int, kind: str
) -> None:
    shown = review_page(kind, question, topics, count, days)
    note = f"Taught “{question}” to **{topics[0].title}**"
    assert_fits(message(embeds=[review_embed(shown, note)], view=review_view(GUILD, shown)))
    empty = ReviewPage(None, 0, 1, days, {})
    assert_fits(message(embeds=[review_embed(empty, note)], view=review_view(GUILD, empty)))


@PROPERTY
@given(topics=st.lists(sections, min_size=1, max_size=30))
def test_answer_feedback_and_the_which_topic_menu_fit(topics: list[Section]) -> None:
    listed = numbered(topics)
    section = listed[0]
    related = [t.topic for t in listed]
    view = section_view(GUILD, section, related, feedback_items(GUILD, GUILD, GUILD))
    assert_fits(message(embeds=section_cards(section)[-1].embeds, view=view))
    menu = discord.ui.View(timeout=None)
    menu.add_item(MeantSelect(GUILD, GUILD, GUILD, related))
    assert_fits(message(content="Which topic did you mean?", view=menu))
    assert_fits(message(view=suggestions_view(GUILD, related, GUILD)))


@PROPERTY
@given(topics=st.lists(sections, min_size=1, max_size=3), days=st.integers(1, 3650))
def test_the_stale_report_fits(topics: list[Section], days: int) -> None:
    assert_fits(message(embeds=[stale_embed(topics * 13, days)]))


@PROPERTY
@given(
    section=sections,
    authors=st.lists(texts(100), min_size=1, max_size=25),
    details=st.lists(texts(MAX_ALIAS), max_size=35),
)
def test_every_history_page_fits(section: Section, authors: list[str], details: list[str]) -> None:
    revisions = [
        Revision(
            section_id=section.id,
            number=10**6 - i,
            author=author,
            author_id=2**63 - 1,
            created_at="2026-11-28T09:30:15+00:00",
            action="reverted",
            changed=("title", "body", "aliases", "tags", "sources", "updated", "position"),
            content=section.content,
            status="active",
        )
        for i, author in enumerate(authors)
    ]
    actions = ("taught", "reviewed", "undone")
    additions = [
        Addition(
            guild_id=GUILD,
            slug=section.slug,
            number=10**6 - i,
            action=actions[i % 3],
            detail=detail,
            target=10**6 - i - 1 if i % 3 == 2 else None,
            active=i % 2 == 0,
            author=authors[i % len(authors)],
            created_at="2026-11-28T09:30:15+00:00",
        )
        for i, detail in enumerate(details)
    ]
    pages = -(-len(revisions) // HISTORY_PAGE)
    added_pages = max(1, -(-len(additions) // HISTORY_PAGE))
    seen: list[int] = []
    for page in range(max(pages, added_pages)):
        at = min(page, pages - 1)
        shown = RevisionPage(
            section, revisions[at * HISTORY_PAGE : (at + 1) * HISTORY_PAGE], at, pages
        )
        on = min(page, added_pages - 1)
        added = AdditionPage(
            additions[on * HISTORY_PAGE : (on + 1) * HISTORY_PAGE], on, added_pages, len(details)
        )
        embed, view = history_page(GUILD, shown, added)
        assert_fits(message(embeds=[embed], view=view))
        assert embed.footer.text and embed.footer.text.startswith(f"Page {page + 1} of ")
        listed = "\n".join(f.value or "" for f in embed.fields)
        seen += [int(line.split("**")[1][1:]) for line in listed.splitlines() if "**t" in line]
    # Every addition is on some page, each once, newest first.
    assert seen == [a.number for a in additions]


class Stored(SimpleNamespace):
    """A stored row as the status embed reads it; fields it does not set read as None."""

    def __getattr__(self, name: str) -> None:
        return None


def status(reason: str | None, topic: Section) -> Any:
    schedule = Stored(
        channel_id=2**63 - 1,
        local_time="23:59",
        timezone="America/Argentina/ComodRivadavia",
        paused_reason=reason,
    )
    last = Stored(local_date=date(2026, 11, 28), slug="x" * MAX_SLUG, status="failed")
    return Stored(
        schedule=schedule,
        next_local=datetime(2026, 11, 29, 23, 59),
        next_topic=topic,
        last_post=last,
    )


@PROPERTY
@given(reason=texts(6000), topic=sections)
def test_the_briefing_status_fits(reason: str, topic: Section) -> None:
    assert_fits(message(embeds=[status_embed(status(reason, topic))]))
    assert_fits(message(embeds=[status_embed(status(None, topic))]))


# -- the moderators' form ----------------------------------------------------------------------


def read_back(section: Section) -> SectionContent:
    """What saving the edit form unchanged stores: its prefilled values, as a submit has them."""
    fields = submitted_fields(edit_form(GUILD, section).to_dict())
    content = section.content
    return form_to_content(fields, content.slug, content, content.updated)


def stored_at_old_limits(pattern: str) -> Section:
    """A section at every limit, with ten sources of a 200-character title and a 500-character
    link, as a database written before the sources' limits were cut holds it (unvalidated)."""
    text = PATTERNS[pattern]
    sources = tuple(
        Source(
            repeat(text, STORED_SOURCE_TITLE),
            (f"https://example.org/{i}/?next=|https://example.net/" + "a_b(c)|f" * STORED_URL)[
                :STORED_URL
            ],
        )
        for i in range(MAX_SOURCES)
    )
    return section_of(dataclasses.replace(extreme(pattern).content, sources=sources))


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_the_edit_form_opens_for_a_section_at_every_limit(pattern: str) -> None:
    section = extreme(pattern)
    assert_modal_fits(edit_form(GUILD, section))
    assert read_back(section) == section.content


@PROPERTY
@given(section=sections)
def test_the_edit_form_opens_for_any_valid_section_and_saves_it_unchanged(
    section: Section,
) -> None:
    assert_modal_fits(edit_form(GUILD, section))
    assert read_back(section) == section.content


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_the_edit_form_opens_for_a_section_saved_under_the_old_source_limits(pattern: str) -> None:
    section = stored_at_old_limits(pattern)
    assert {len(s.title) for s in section.content.sources} <= {199, 200}
    assert {len(s.url) for s in section.content.sources} == {STORED_URL}
    form = edit_form(GUILD, section)
    assert_modal_fits(form)
    boxes = [item for item in form.children if isinstance(item, discord.ui.TextInput)]
    assert len(boxes) == 5 and len({box.custom_id for box in boxes}) == 5
    # Read back, the sources are the stored ones: none lost, cut or split at a "|".
    assert read_back(section).sources == validate(section.content).sources
    assert validate(section.content) == section.content or pattern == "paragraphs"


@PROPERTY
@given(
    content=unchecked_contents(title_limit=STORED_SOURCE_TITLE, url_limit=STORED_URL),
)
def test_the_edit_form_opens_for_any_stored_section_and_reads_it_back(
    content: SectionContent,
) -> None:
    section = section_of(content)
    assert_modal_fits(edit_form(GUILD, section))
    assert read_back(section) == validate(content)


def test_a_form_reopened_with_the_longest_text_discord_lets_a_moderator_type_fits() -> None:
    typed = {
        "title": "t" * 200,
        "aliases": "a" * 2020,
        "body": "b" * 4000,
        "sources": "s" * 4000,
        "more_sources": "m" * 4000,
    }
    for form in (
        SectionForm(GUILD, "x" * MAX_SLUG, (2**63 - 1, 10**9), typed),
        SectionForm(GUILD, None, None, typed),
        SectionForm(GUILD, "x" * MAX_SLUG, None, typed, draft=2**63 - 1),
    ):
        assert_modal_fits(form)
        assert submitted_fields(form.to_dict()) == typed


def test_a_draft_kept_before_the_second_sources_box_reopens_with_it_empty() -> None:
    typed = {"title": "t", "aliases": "", "body": "b", "sources": "S | https://example.org"}
    form = SectionForm(GUILD, "a", None, typed, draft=1)
    assert_modal_fits(form)
    assert submitted_fields(form.to_dict()) == {**typed, "more_sources": ""}


# -- error replies ----------------------------------------------------------------------------


class Reply:
    """Stands in for an interaction: records what `reply_error` sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.response = self
        self.guild_id = GUILD
        self.id = 1

    def is_done(self) -> bool:
        return False

    async def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


def refusals(topic: str, typed: str) -> list[BaseException]:
    """Every kind of refusal a member or moderator can meet, echoing their words."""
    found: list[BaseException] = [
        SectionNotFound(topic),
        BriefbotError(f"{topic} has no revision 100000; /kb history shows revisions 1 to 3."),
        PackError([f"{typed}.md: body: is 9,999 characters" for _ in range(200)]),
        Conflict(None, 2**62),
        RuntimeError(typed),
    ]
    for content in (
        SectionContent(slug="a", title=typed * 3, body="b"),
        SectionContent(slug="a", title="t", body=typed * 20),
        SectionContent(slug="a", title="t", body="b", aliases=(typed * 2,)),
        SectionContent(slug="a", title="t", body="b", sources=(Source("t", typed),)),
        SectionContent(slug=typed, title="t", body="b"),
    ):
        try:
            validate(content)
        except InvalidSection as error:
            found.extend([error, Rejected(error, 2**62)])
    return found


@PROPERTY
@given(topic=texts(100), typed=texts(300))
async def test_every_error_reply_fits(topic: str, typed: str) -> None:
    for error in refusals(topic, typed):
        reply = Reply()
        await reply_error(reply, error, "/kb edit")  # type: ignore[arg-type]
        (sent,) = reply.sent
        assert sent["ephemeral"] is True
        assert_fits({"content": sent["content"]})


# -- commands and autocomplete --------------------------------------------------------------


def options_named_topic(commands: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`/kb edit` -> its `topic` option, for every command (or subcommand) that has one."""
    found: dict[str, dict[str, Any]] = {}

    def walk(command: dict[str, Any], path: str) -> None:
        for option in command.get("options") or []:
            if option.get("type") in (1, 2):
                walk(option, f"{path} {option['name']}")
            elif option["name"] == "topic":
                found[path] = option

    for command in commands:
        walk(command, f"/{command['name']}")
    return found


async def test_the_registered_commands_are_valid_and_topic_names_are_bounded(
    service: BriefingService, tmp_path: Path
) -> None:
    bot = Briefbot(service, Settings(db_path=tmp_path / "db.sqlite3"))
    for extension in EXTENSIONS:
        await bot.load_extension(extension)
    commands = [command.to_dict(bot.tree) for command in bot.tree.get_commands()]
    errors = command_errors(commands)
    assert errors == {}, "\n".join(error_paths(errors))
    topics = options_named_topic(commands)
    assert {"/kb edit", "/kb remove", "/kb history", "/kb revert", "/briefing next"} <= set(topics)
    for path, option in topics.items():
        # /explain takes a question in the member's words; the others name a topic.
        assert option["max_length"] == (300 if path == "/explain" else TOPIC_OPTION_LIMIT), path


async def test_autocomplete_offers_valid_choices_for_extreme_titles(
    service: BriefingService,
) -> None:
    guild = 42
    for i, pattern in enumerate(PATTERNS):
        content = dataclasses.replace(extreme(pattern).content, slug=f"extreme-{i}")
        await service.sections.save_for_guild(
            guild, content, opened=None, author="test", author_id=1
        )
    await service.reload()
    assert len(service.autocomplete("", guild)) > len(PATTERNS)
    partials = ["", "what is", "x" * 200, *(p[:40] for p in PATTERNS.values())]
    for partial in partials:
        choices = [{"name": c.name, "value": c.value} for c in service.autocomplete(partial, guild)]
        errors = choices_errors(choices)
        assert errors == {}, (partial, "\n".join(error_paths(errors)))
