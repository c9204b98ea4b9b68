"""bot/ui/replies.py: what a member is told when something fails."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.errors import SectionNotFound, StorageError
from bot.ui.replies import STORAGE_ERROR, reply_error


class Interaction:
    """Stands in for an interaction: records what `reply_error` sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.response = self
        self.guild_id = 7
        self.id = 1

    def is_done(self) -> bool:
        return False

    async def send_message(self, **kwargs: Any) -> None:
        self.sent.append(kwargs)


async def test_a_storage_error_names_no_path_to_members_and_is_logged_for_the_operator(
    caplog: pytest.LogCaptureFixture,
) -> None:
    interaction = Interaction()
    error = StorageError("The database /srv/briefbot/data/briefbot.sqlite3 is full.")
    with caplog.at_level(logging.ERROR, logger="bot.ui.replies"):
        await reply_error(interaction, error, "/kb add")  # type: ignore[arg-type]
    (sent,) = interaction.sent
    assert sent["content"] == STORAGE_ERROR and sent["ephemeral"] is True
    assert "/srv/briefbot" not in sent["content"]
    assert any("/srv/briefbot" in record.getMessage() for record in caplog.records)


async def test_a_refusal_written_for_members_is_shown_as_it_is() -> None:
    interaction = Interaction()
    await reply_error(interaction, SectionNotFound("us-role"), "/kb edit")  # type: ignore[arg-type]
    (sent,) = interaction.sent
    assert "us-role" in sent["content"] and sent["ephemeral"] is True
