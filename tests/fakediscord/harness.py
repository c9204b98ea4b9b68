"""Helpers to run a real discord.py client against a :class:`FakeDiscord`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import discord

    from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound="discord.Client")


@contextlib.asynccontextmanager
async def run_client(
    fake: FakeDiscord,
    client: ClientT,
    *,
    token: str | None = None,
    ready_timeout: float = 10.0,
    close_timeout: float = 10.0,
) -> AsyncIterator[ClientT]:
    """Start ``client`` against ``fake`` (inside :meth:`FakeDiscord.patch_discord`),
    wait until ``client.is_ready()``, yield it, and always close it.

    Raises the client's own exception if it dies before becoming ready (e.g.
    ``discord.LoginFailure``), or ``TimeoutError`` after ``ready_timeout``.

    Tips for fast tests: pass ``guild_ready_timeout=0.05`` to the client, and
    override ``before_identify_hook`` to return immediately (discord.py sleeps
    5 s before every IDENTIFY but the first, e.g. for the second shard or after
    a non-resumable reconnect).
    """
    with fake.patch_discord():
        task: asyncio.Task[Any] = asyncio.create_task(
            client.start(token or fake.token), name="fakediscord-client"
        )
        try:
            async with asyncio.timeout(ready_timeout):
                while not client.is_ready():
                    if task.done():
                        task.result()
                        raise RuntimeError("client stopped before becoming ready")
                    await asyncio.sleep(0.02)
            yield client
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), timeout=close_timeout)
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout=5.0)
