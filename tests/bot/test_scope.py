"""What guild ids None and 0 stand for (bot/scope.py)."""

from __future__ import annotations

from bot.scope import CONSOLE, CURATED, NO_SERVER, scope_of, viewer_of


def test_an_interaction_outside_a_server_acts_for_no_server() -> None:
    assert scope_of(None) == NO_SERVER == 0
    assert scope_of(1234) == 1234


def test_the_console_sees_the_curated_pack_and_a_server_its_own_view() -> None:
    assert CURATED is None
    assert viewer_of(CONSOLE) is CURATED
    assert viewer_of(1234) == 1234
