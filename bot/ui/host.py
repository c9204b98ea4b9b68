"""What the Discord layer needs of the running bot, as a `Protocol`: the UI and the cogs ask
for a `Host`, never for the concrete client class, so nothing here imports `bot.client`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Protocol, TypeVar, cast, runtime_checkable

import discord

from bot.autoanswer import Autoanswer
from bot.editing import Editor
from bot.follows import Follows
from bot.learning import Learning
from bot.limits import Cooldown
from bot.service import BriefingService

T = TypeVar("T")


@runtime_checkable
class Host(Protocol):
    """The running bot as its commands, buttons and forms see it."""

    service: BriefingService
    editor: Editor
    learning: Learning
    # Help channels: which channels read members' messages, and the replies' rule.
    autoanswer: Autoanswer
    follows: Follows
    # Share here's clicks, per member per place: each one posts a public card.
    sharing: Cooldown
    clock: Callable[[], datetime]
    # True from the moment shutdown begins: new work is refused or kept, never half-done.
    closing: bool

    def local_today(self, zone: str | None) -> date: ...

    async def run_within_deadline(
        self, interaction: discord.Interaction, work: Awaitable[T], *, ephemeral: bool = False
    ) -> T: ...


def as_host(client: discord.Client) -> Host:
    """`client` as a Host: every Briefbot is one (anything else is a wiring mistake)."""
    if not isinstance(client, Host):
        raise TypeError(f"{type(client).__name__} is not a Briefbot host")
    return client


def host_of(interaction: discord.Interaction) -> Host:
    """The bot answering `interaction`: the same client `as_host` checked when the cogs loaded,
    so it is not checked again on every interaction."""
    return cast(Host, interaction.client)


def service_of(interaction: discord.Interaction) -> BriefingService:
    return host_of(interaction).service


def editor_of(interaction: discord.Interaction) -> Editor:
    return host_of(interaction).editor


def learning_of(interaction: discord.Interaction) -> Learning:
    return host_of(interaction).learning


def follows_of(interaction: discord.Interaction) -> Follows:
    return host_of(interaction).follows
