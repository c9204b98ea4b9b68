"""Topic autocomplete choices stay within Discord's 25 choices of at most 100 characters."""

from __future__ import annotations

from bot.search import Choice
from bot.ui.choices import topic_choices
from bot.ui.fit import CHOICE_NAME_LIMIT, CHOICES_LIMIT
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
