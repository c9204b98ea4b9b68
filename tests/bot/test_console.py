"""The local console: commands in, plain text out, through the same service."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.console import HELP, PAGE_SIZE, Console

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def console(service, out) -> Console:
    return Console(service, out=out, clock=lambda: NOW)


async def run_line(console: Console, out: io.StringIO, line: str) -> tuple[bool, str]:
    out.seek(0)
    out.truncate()
    keep_going = await console.handle(line)
    return keep_going, out.getvalue()


async def test_help(console, out):
    keep_going, text = await run_line(console, out, "/help")
    assert keep_going
    assert text == HELP + "\n"
    for command in ("/ask", "/explain", "/topics", "/briefing", "/quit"):
        assert command in text


async def test_blank_line_does_nothing(console, out):
    assert await run_line(console, out, "   ") == (True, "")


async def test_topics_lists_every_topic_in_rotation_order(console, out, expected_slugs):
    keep_going, text = await run_line(console, out, "/topics")
    assert keep_going
    assert "page 1 of 1" in text
    positions = [text.index(f"[{slug}]") for slug in expected_slugs]
    assert positions == sorted(positions)
    assert "More:" not in text


@pytest.mark.parametrize("arg", ["2", "99", "0", "abc", ""])
async def test_topics_page_is_clamped(console, out, expected_slugs, arg):
    _, text = await run_line(console, out, f"/topics {arg}".strip())
    pages = -(-len(expected_slugs) // PAGE_SIZE)
    expected_page = min(max(int(arg) if arg.isdigit() else 1, 1), pages)
    assert f"page {expected_page} of {pages}" in text
    assert f"[{expected_slugs[0]}]" in text


async def test_topics_with_a_superscript_digit_does_not_crash(console, out):
    keep_going, text = await run_line(console, out, "/topics ²")
    assert keep_going
    assert "page 1 of" in text


async def test_explain_by_slug(console, out, service):
    section = await service.section("berlin-talks", None)
    _, text = await run_line(console, out, "/explain berlin-talks")
    assert text.startswith(f"# {section.title}\n")
    assert " ".join(section.content.body.split()) in " ".join(text.split())
    assert f"Updated {section.content.updated.isoformat()}" in text
    related = service.related(section, None)
    assert related, "berlin-talks has related topics; without them this check is empty"
    assert "Related topics: " + ", ".join(f"{s.title} [{s.slug}]" for s in related) in text


async def test_explain_without_topic_prints_usage(console, out):
    _, text = await run_line(console, out, "/explain")
    assert text.startswith("Usage: /explain")


async def test_explain_unknown_topic_offers_closest(console, out):
    _, text = await run_line(console, out, "/explain how do I bake bread")
    assert "I don't have a briefing on that yet." in text
    assert text.count("/explain ") == 3


async def test_unknown_command(console, out):
    keep_going, text = await run_line(console, out, "/frobnicate now")
    assert keep_going
    assert "Unknown command /frobnicate" in text


async def test_commands_are_case_insensitive(console, out):
    _, text = await run_line(console, out, "/HELP")
    assert text == HELP + "\n"


async def test_briefing_now_uses_the_injected_clock(service, out):
    titles = [s.title for s in service.topics(None)]
    for now in (NOW, NOW + timedelta(days=1)):
        console = Console(service, out=out, clock=lambda now=now: now)
        _, text = await run_line(console, out, "/briefing now")
        assert text.startswith(f"== Daily explainer — {now.date().isoformat()} ==\n")
        assert sum(f"\n# {title}\n" in text for title in titles) == 1, text


async def test_briefing_now_does_not_advance_the_rotation(console, out):
    _, first = await run_line(console, out, "/briefing now")
    _, second = await run_line(console, out, "/briefing now")
    assert first == second


async def test_briefing_with_an_unknown_action_prints_usage(console, out):
    _, text = await run_line(console, out, "/briefing later")
    assert text.startswith("Usage: /briefing now")


async def test_plain_text_is_asked(console, out, service):
    _, plain = await run_line(console, out, "berln talks")
    _, asked = await run_line(console, out, "/ask berln talks")
    assert plain == asked
    assert plain.startswith(f"# {(await service.section('berlin-talks', None)).title}\n")


async def test_ask_without_question_prints_usage(console, out):
    _, text = await run_line(console, out, "/ask")
    assert text.startswith("Usage: /ask")


async def test_console_does_not_log_questions(console, out, service):
    await run_line(console, out, "berln talks")
    rows = await service.db.conn.execute_fetchall("SELECT count(*) FROM asks")
    assert rows[0][0] == 0


@pytest.mark.parametrize("command", ["/quit", "/exit", "/QUIT"])
async def test_quit_returns_false(console, out, command):
    keep_going, text = await run_line(console, out, command)
    assert keep_going is False
    assert text == ""


async def test_run_ends_cleanly_at_end_of_input(console, out):
    calls = 0

    async def no_more_lines() -> str | None:
        nonlocal calls
        calls += 1
        return None

    await console.run(no_more_lines)
    assert calls == 1
    assert out.getvalue().rstrip().endswith("Bye.")


async def test_run_stops_at_quit_without_reading_further(console, out):
    lines = iter(["/help\n", "/quit\n", "/topics\n"])
    read: list[str] = []

    async def next_line() -> str | None:
        line = next(lines, None)
        if line is not None:
            read.append(line)
        return line

    await console.run(next_line)
    assert read == ["/help\n", "/quit\n"]
    text = out.getvalue()
    assert HELP in text
    assert "Topics (page" not in text
    assert text.rstrip().endswith("Bye.")
