"""Direct messages, as strict as Discord: a DM reaches only a user who shares a server with the
bot and has not closed DMs (else 403, 50007), and DM opens can be refused as too fast (403,
40003); either refusal is an injected or modelled fault, never an invalid payload."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.fakediscord import FakeDiscord


async def call(fake: FakeDiscord, method: str, path: str, json: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fake.api_base + path, json=json, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def dm(fake: FakeDiscord, user_id: int) -> tuple[int, Any]:
    status, channel = await call(fake, "POST", "/users/@me/channels", {"recipient_id": user_id})
    assert status == 200, channel
    assert channel["type"] == 1 and channel["recipients"][0]["id"] == str(user_id)
    return await call(fake, "POST", f"/channels/{channel['id']}/messages", {"content": "hi"})


async def test_a_dm_reaches_a_member_and_not_a_stranger_or_one_who_closed_dms() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        member = guild.add_member().id
        stranger = fake.add_user()["id"]
        status, body = await dm(fake, member)
        assert status == 200 and body["content"] == "hi"
        closed = {"code": 50007, "message": "Cannot send messages to this user"}
        assert await dm(fake, int(stranger)) == (403, closed)
        fake.close_dms(member)
        assert not fake.accepts_dms(member)
        assert await dm(fake, member) == (403, closed)
        fake.close_dms(member, closed=False)
        assert (await dm(fake, member))[0] == 200
        assert len(fake.channel_messages(fake.dm_channel(member).id)) == 2
        assert fake.invalid_payloads == []


async def test_dm_opens_refused_as_too_fast_then_allowed_again() -> None:
    async with FakeDiscord() as fake:
        member = fake.add_guild().add_member().id
        fake.refuse_dm_opens(2)
        too_fast = {"code": 40003, "message": "You are opening direct messages too fast."}
        for _ in range(2):
            assert await call(fake, "POST", "/users/@me/channels", {"recipient_id": member}) == (
                403,
                too_fast,
            )
        assert (await dm(fake, member))[0] == 200
