"""Start Thread from Message, as strict as Discord: the permission, the channel types, archived
and locked threads, the body's limits, one thread per message, and the THREAD_CREATE event."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.fakediscord import FakeDiscord, Perm
from tests.fakediscord.limits import error_paths
from tests.fakediscord.payloads import DEFAULT_BOT_PERMISSIONS

THREADS = int(DEFAULT_BOT_PERMISSIONS | Perm.CREATE_PUBLIC_THREADS)


async def call(fake: FakeDiscord, method: str, path: str, json: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fake.api_base + path, json=json, headers=headers) as resp,
    ):
        return resp.status, await resp.json()


async def post(fake: FakeDiscord, channel_id: int) -> int:
    status, body = await call(fake, "POST", f"/channels/{channel_id}/messages", {"content": "hi"})
    assert status == 200, body
    return int(body["id"])


async def test_a_thread_takes_the_message_id_and_is_announced() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(bot_permissions=THREADS)
        channel = guild.text_channel_id
        message = await post(fake, channel)
        status, body = await call(
            fake,
            "POST",
            f"/channels/{channel}/messages/{message}/threads",
            {"name": "What NATO is", "auto_archive_duration": 1440},
        )
        assert status == 201, body
        assert body["id"] == str(message) and body["type"] == 11
        assert body["parent_id"] == str(channel) and body["name"] == "What NATO is"
        assert body["owner_id"] == str(fake.bot_user_id)
        assert body["thread_metadata"]["auto_archive_duration"] == 1440
        assert fake.message(message)["thread"]["id"] == str(message)
        assert [t["id"] for t in fake.threads_of(channel)] == [str(message)]

        again = await call(
            fake, "POST", f"/channels/{channel}/messages/{message}/threads", {"name": "Again"}
        )
        assert again == (
            400,
            {"code": 160004, "message": "A thread has already been created for this message"},
        )
        assert len(fake.threads_of(channel)) == 1


async def test_creating_threads_needs_the_permission() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        channel = guild.text_channel_id
        message = await post(fake, channel)
        path = f"/channels/{channel}/messages/{message}/threads"
        # The bot's own role lacks it; @everyone has it by default, as on Discord.
        guild.set_role_permissions(
            guild.id, guild.everyone_role.permissions & ~Perm.CREATE_PUBLIC_THREADS
        )
        status, body = await call(fake, "POST", path, {"name": "x"})
        assert (status, body["code"]) == (403, 50013)
        guild.set_bot_permissions(THREADS)
        guild.set_bot_channel_permissions(channel, deny=Perm.CREATE_PUBLIC_THREADS)
        status, body = await call(fake, "POST", path, {"name": "x"})
        assert (status, body["code"]) == (403, 50013)
        assert fake.threads_of(channel) == []


async def test_the_body_is_held_to_discords_limits() -> None:
    async with FakeDiscord() as fake:
        channel = fake.add_guild(bot_permissions=THREADS).text_channel_id
        message = await post(fake, channel)
        path = f"/channels/{channel}/messages/{message}/threads"
        for body, field in (
            ({"name": "x" * 101}, "name"),
            ({"name": ""}, "name"),
            ({}, "name"),
            ({"name": "ok", "auto_archive_duration": 30}, "auto_archive_duration"),
            ({"name": "ok", "rate_limit_per_user": 21601}, "rate_limit_per_user"),
        ):
            with fake.expect_invalid():
                status, answer = await call(fake, "POST", path, body)
            assert status == 400 and answer["code"] == 50035, answer
            assert {p.split(":")[0] for p in error_paths(answer["errors"])} == {field}
        status, _ = await call(fake, "POST", path, {"name": "x" * 100})
        assert status == 201


async def test_no_thread_in_a_thread_a_forum_or_an_unknown_message() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(bot_permissions=THREADS)
        channel = guild.text_channel_id
        message = await post(fake, channel)
        status, _ = await call(
            fake, "POST", f"/channels/{channel}/messages/{message}/threads", {"name": "t"}
        )
        assert status == 201
        inner = await post(fake, message)  # a message inside that thread
        path = f"/channels/{message}/messages/{inner}/threads"
        assert (await call(fake, "POST", path, {"name": "t"}))[1]["code"] == 50024
        fake.set_thread_state(message, locked=True)
        assert (await call(fake, "POST", path, {"name": "t"}))[1]["code"] == 160005
        fake.set_thread_state(message, archived=True)
        assert (await call(fake, "POST", path, {"name": "t"}))[1]["code"] == 50083

        voice = guild.add_channel("talk", type=2).id
        status, body = await call(fake, "POST", f"/channels/{voice}/messages/{inner}/threads")
        assert (status, body["code"]) == (404, 10008)  # not a message of that channel
        status, body = await call(
            fake, "POST", f"/channels/{channel}/messages/1/threads", {"name": "t"}
        )
        assert (status, body["code"]) == (404, 10008)


async def test_a_member_can_open_the_thread_first() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild(bot_permissions=THREADS)
        channel = guild.text_channel_id
        message = await post(fake, channel)
        fake.start_thread(channel, message, "mine", user_id=guild.default_member_id)
        status, body = await call(
            fake, "POST", f"/channels/{channel}/messages/{message}/threads", {"name": "bot's"}
        )
        assert (status, body["code"]) == (400, 160004)
        assert fake.threads_of(channel)[0]["owner_id"] == str(guild.default_member_id)
