"""A fake Discord (REST API + websocket gateway) for end-to-end tests of
discord.py bots.

See :class:`FakeDiscord`. Typical use::

    from tests.fakediscord import FakeDiscord, Perm

    async with FakeDiscord() as fake:
        guild = fake.add_guild(name="Test")
        with fake.patch_discord():
            ...  # start the bot with fake.token
"""

from .harness import run_client
from .limits import LIMITS
from .models import (
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMember,
    FakeRole,
    Fault,
    GatewayStats,
    InvalidPayload,
    RecordedFile,
    RecordedRequest,
)
from .payloads import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Perm,
    SnowflakeGenerator,
    shard_for_guild,
)
from .server import FakeDiscord, refusal_log

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "LIMITS",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "Fault",
    "GatewayStats",
    "InvalidPayload",
    "Perm",
    "RecordedFile",
    "RecordedRequest",
    "SnowflakeGenerator",
    "refusal_log",
    "run_client",
    "shard_for_guild",
]
