"""Topic autocomplete choices stay within Discord's 25 choices of at most 100 characters."""

from __future__ import annotations

from pathlib import Path

from bot.search import Choice
from bot.ui.choices import topic_choices
from bot.ui.fit import CHOICE_NAME_LIMIT, CHOICES_LIMIT
from tests.discord_support import running_bot
from tests.fakediscord import FakeDiscord
from tests.fakediscord.limits import choices_errors


def test_topic_choices_are_capped_and_names_cut() -> None:
    found = [Choice("Ü" * 300 + str(n), f"topic-{n}") for n in range(40)]
    choices = topic_choices(found)
    assert len(choices) == CHOICES_LIMIT
    assert [c.value for c in choices] == [f"topic-{n}" for n in range(CHOICES_LIMIT)]
    assert all(len(c.name) <= CHOICE_NAME_LIMIT for c in choices)
    assert choices_errors([c.to_dict() for c in choices]) == {}


def test_short_topic_choices_pass_unchanged() -> None:
    choices = topic_choices([Choice("Berlin talks", "berlin-talks")])
    assert [(c.name, c.value) for c in choices] == [("Berlin talks", "berlin-talks")]
    assert topic_choices([]) == []


async def test_every_topic_option_and_the_time_zone_autocomplete_through_discord(
    tmp_path: Path,
) -> None:
    asked = [
        ("explain", None, "topic"),
        ("briefing", "next", "topic"),
        ("kb", "edit", "topic"),
        ("kb", "remove", "topic"),
        ("kb", "history", "topic"),
        ("kb", "revert", "topic"),
    ]
    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="News")
        async with running_bot(fake, tmp_path / "db.sqlite3"):
            for name, sub, option in asked:
                ix = await fake.send_autocomplete(
                    guild.id, name=name, subcommand=sub, options={option: "berl"}, focused=option
                )
                await ix.wait_response()
                assert ix.choices, (name, sub)
                assert ix.choices[0]["value"] == "berlin-talks", (name, sub)
            ix = await fake.send_autocomplete(
                guild.id,
                name="briefing",
                subcommand="set",
                options={"timezone": "berlin"},
                focused="timezone",
            )
            await ix.wait_response()
            assert [c["value"] for c in ix.choices] == ["Europe/Berlin"]
        fake.assert_no_unhandled()
