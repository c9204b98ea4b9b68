"""Forum posts, messages in threads and replies, as strict as Discord.

- A forum post is a public thread in the forum whose first message has the thread's id
  (docs: topics/threads, Forums); nothing can be posted in the forum itself (50008).
- Threads inherit the parent channel's permissions, and Send Messages counts for nothing in
  them: Send Messages in Threads does (docs: topics/threads, Permissions).
- A reply (a message_reference) needs Read Message History (docs: resources/message, Create
  Message limitations).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.fakediscord import FakeDiscord, Perm


async def call(fake: FakeDiscord, method: str, path: str, json: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fake.api_base + path, json=json, headers=headers) as resp,
    ):
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def test_a_forum_post_is_a_thread_whose_first_message_has_its_id() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        forum = guild.add_channel("help-forum", type=15)
        member = guild.add_member()
        thread, first = fake.post_forum_post(forum.id, "What is NATO?", "eli5", user_id=member.id)
        assert first["id"] == str(thread.id) and first["channel_id"] == str(thread.id)
        assert first["author"]["id"] == str(member.id) and first["content"] == "eli5"
        payload = fake.thread_payload(thread.id)
        assert payload["type"] == 11 and payload["parent_id"] == str(forum.id)
        assert payload["name"] == "What is NATO?" and payload["owner_id"] == str(member.id)
        assert [t["id"] for t in fake.threads_of(forum.id)] == [str(thread.id)]
        with pytest.raises(ValueError):
            fake.post_forum_post(guild.text_channel_id, "Not a forum", "hi")


async def test_nothing_is_posted_in_the_forum_itself() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        forum = guild.add_channel("help-forum", type=15)
        status, body = await call(fake, "POST", f"/channels/{forum.id}/messages", {"content": "x"})
        assert (status, body["code"]) == (400, 50008)


async def test_in_a_thread_send_messages_in_threads_counts_and_send_messages_does_not() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        forum = guild.add_channel("help-forum", type=15)
        thread, _ = fake.post_forum_post(forum.id, "Question", "what are the berlin talks")
        path = f"/channels/{thread.id}/messages"
        guild.set_bot_channel_permissions(forum.id, deny=Perm.SEND_MESSAGES_IN_THREADS)
        status, body = await call(fake, "POST", path, {"content": "answer"})
        assert (status, body["code"]) == (403, 50013)
        # Send Messages denied in the forum changes nothing for its threads.
        guild.set_bot_channel_permissions(forum.id, deny=Perm.SEND_MESSAGES)
        status, body = await call(fake, "POST", path, {"content": "answer"})
        assert status == 200, body


async def test_a_thread_inherits_its_parents_overwrites() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        forum = guild.add_channel("help-forum", type=15)
        thread, _ = fake.post_forum_post(forum.id, "Question", "hello")
        guild.set_bot_channel_permissions(forum.id, deny=Perm.VIEW_CHANNEL)
        assert not guild.bot_permissions_in(thread.id) & Perm.VIEW_CHANNEL
        status, body = await call(fake, "POST", f"/channels/{thread.id}/messages", {"content": "x"})
        assert (status, body["code"]) == (403, 50001)


async def test_a_reply_needs_read_message_history() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        channel = guild.text_channel_id
        asked = fake.post_user_message(channel, "what are the berlin talks?")
        reply = {"content": "answer", "message_reference": {"message_id": asked["id"]}}
        guild.set_bot_channel_permissions(channel, deny=Perm.READ_MESSAGE_HISTORY)
        status, body = await call(fake, "POST", f"/channels/{channel}/messages", reply)
        assert (status, body["code"]) == (403, 50013)
        # Without a reference the same message is fine: only the reply needs the history.
        status, body = await call(fake, "POST", f"/channels/{channel}/messages", {"content": "x"})
        assert status == 200, body
        guild.clear_overwrite(channel, fake.bot_user_id)
        status, body = await call(fake, "POST", f"/channels/{channel}/messages", reply)
        assert status == 200, body
        assert body["message_reference"]["message_id"] == asked["id"]
