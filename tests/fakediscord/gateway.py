"""The fake's websocket gateway (HELLO / IDENTIFY / READY / RESUME / heartbeats).

discord.py connects to ``<gateway>?v=10&encoding=json&compress=zlib-stream``
(``zstd-stream`` when a zstd module is importable). With ``zlib-stream`` the
fake answers in binary frames compressed with one shared zlib context and a
``Z_SYNC_FLUSH`` after every payload, exactly like Discord; for any other value
(or ``compress_gateway=False``) it sends plain text JSON frames, which
discord.py also accepts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import secrets
import zlib
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from .payloads import JSON, shard_for_guild

if TYPE_CHECKING:
    from .server import FakeDiscord

_log = logging.getLogger(__name__)

INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
INTENT_GUILD_PRESENCES = 1 << 8

#: Privileged intents and the application flags (either, the full or the "limited" one for
#: apps in under 100 servers) that enable each in the Developer Portal (docs: events/gateway,
#: Privileged Intents; resources/application, Application Flags). Asked for without: 4014.
PRIVILEGED_INTENT_FLAGS = {
    INTENT_GUILD_PRESENCES: (1 << 12) | (1 << 13),
    INTENT_GUILD_MEMBERS: (1 << 14) | (1 << 15),
    INTENT_MESSAGE_CONTENT: (1 << 18) | (1 << 19),
}

#: Close codes after which Discord does not allow RESUME.
NON_RESUMABLE_CLOSE_CODES = {4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014}


class GatewaySession:
    """A gateway session (what READY creates and RESUME re-attaches to)."""

    def __init__(self, session_id: str, token: str, identify: JSON) -> None:
        self.session_id = session_id
        self.token = token
        self.identify = identify
        shard = identify.get("shard")
        self.shard: tuple[int, int] | None = (int(shard[0]), int(shard[1])) if shard else None
        self.intents: int = int(identify.get("intents") or 0)
        self.seq = 0
        self.buffer: collections.deque[tuple[int, str]] = collections.deque(maxlen=5000)
        self.conn: GatewayConnection | None = None
        self.invalidated = False

    @property
    def shard_id(self) -> int:
        return self.shard[0] if self.shard else 0

    def owns_guild(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        if guild_id is None:
            return self.shard[0] == 0
        return shard_for_guild(guild_id, self.shard[1]) == self.shard[0]

    def dispatch(self, event: str, data: Any) -> int:
        """Queue a DISPATCH (op 0) for this session; buffered for RESUME."""
        self.seq += 1
        text = json.dumps({"op": 0, "t": event, "s": self.seq, "d": data}, separators=(",", ":"))
        self.buffer.append((self.seq, text))
        if self.conn is not None:
            self.conn.send_text(text)
        return self.seq


class GatewayConnection:
    """One websocket connection; a writer task serialises all outgoing frames."""

    def __init__(
        self, ws: web.WebSocketResponse, *, path: str, query: dict[str, str], compress: bool
    ) -> None:
        self.ws = ws
        self.path = path
        self.query = query
        self.session: GatewaySession | None = None
        self.heartbeats = 0
        self.server_closing = False
        self.close_code: int | None = None
        self._compressor = zlib.compressobj() if compress else None
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    @property
    def compression(self) -> str | None:
        return "zlib-stream" if self._compressor is not None else None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="fakediscord-gateway-writer")

    def send_json(self, payload: JSON) -> None:
        self.send_text(json.dumps(payload, separators=(",", ":")))

    def send_text(self, text: str) -> None:
        if not self.server_closing:
            self._queue.put_nowait(text)

    async def _write_loop(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None or self.ws.closed:
                return
            try:
                if self._compressor is not None:
                    data = self._compressor.compress(text.encode()) + self._compressor.flush(
                        zlib.Z_SYNC_FLUSH
                    )
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:  # socket went away
                _log.debug("gateway writer stopped: %r", exc)
                return

    async def stop_writer(self) -> None:
        self._queue.put_nowait(None)
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._writer), timeout=2.0)
            if not self._writer.done():
                self._writer.cancel()

    async def close(self, code: int, message: str = "") -> None:
        """Close from the server side (flushes queued frames first)."""
        if self.server_closing:
            return
        await self.stop_writer()
        self.server_closing = True
        self.close_code = code
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code=code, message=message.encode()), timeout=5.0)


class Gateway:
    """Websocket endpoint plus the session registry."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()

    # ------------------------------------------------------------------
    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if not s.invalidated]

    def sessions_for_guild(self, guild_id: int | None) -> list[GatewaySession]:
        return [s for s in self.live_sessions() if s.owns_guild(guild_id)]

    def dispatch(
        self, guild_id: int | None, event: str, data: Any, *, intent: int | None = None
    ) -> int:
        """Dispatch to every live session owning ``guild_id`` (None = DMs, shard 0).
        Returns how many sessions got it."""
        n = 0
        for s in self.sessions_for_guild(guild_id):
            if intent is None or s.intents & intent:
                s.dispatch(event, data)
                n += 1
        return n

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await conn.close(1001, "fake shutting down")

    async def drop(self, shard_id: int | None, code: int) -> int:
        targets = [
            c
            for c in list(self.connections)
            if c.session is not None and (shard_id is None or c.session.shard_id == shard_id)
        ]
        for conn in targets:
            if code in NON_RESUMABLE_CLOSE_CODES and conn.session is not None:
                conn.session.invalidated = True
            await conn.close(code, "dropped by test")
        return len(targets)

    # ------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        if not ws.can_prepare(request).ok:
            return web.Response(status=404, text="websocket upgrade expected")
        await ws.prepare(request)
        query = dict(request.query)
        compress = fake.compress_gateway and query.get("compress") == "zlib-stream"
        conn = GatewayConnection(ws, path=request.path, query=query, compress=compress)
        self.connections.add(conn)
        fake.gateway_connections.append(
            {"path": request.path, "query": query, "compression": conn.compression}
        )
        fake.stats.connects += 1
        conn.start()
        if query.get("encoding", "json") != "json":
            await conn.close(4002, "only encoding=json is supported by the fake")
            self.connections.discard(conn)
            return ws
        conn.send_json(
            {"op": 10, "d": {"heartbeat_interval": fake.heartbeat_interval}, "s": None, "t": None}
        )
        timeout = fake.heartbeat_interval / 1000.0 * 2 + 5.0
        try:
            while not ws.closed and not conn.server_closing:
                try:
                    msg = await ws.receive(timeout=timeout)
                except TimeoutError:
                    await conn.close(4009, "Session timed out")
                    if conn.session is not None:
                        conn.session.invalidated = True
                    break
                if msg.type == WSMsgType.TEXT:
                    await self._on_payload(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self._on_payload(conn, msg.data.decode("utf-8", "replace"))
                elif msg.type == WSMsgType.CLOSE:
                    # Client-initiated close: 1000/1001 end the session (no RESUME).
                    code = int(msg.data or 0)
                    conn.close_code = code
                    if code in (1000, 1001) and conn.session is not None:
                        conn.session.invalidated = True
                    break
                else:  # CLOSING / CLOSED / ERROR
                    break
        finally:
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            await conn.stop_writer()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=2.0)
            self.connections.discard(conn)
            fake._notify()
        return ws

    async def _on_payload(self, conn: GatewayConnection, raw: str) -> None:
        fake = self.fake
        try:
            payload = json.loads(raw)
            op = payload.get("op")
            data = payload.get("d")
        except (ValueError, AttributeError):
            await conn.close(4002, "Error while decoding payload.")
            return
        fake.gateway_received.append(payload)
        if op == 1:
            conn.heartbeats += 1
            if fake.ack_heartbeats:
                conn.send_json({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op in (3, 4, 8):
            if conn.session is None:
                await conn.close(4003, "Not authenticated.")
                return
            if op == 3:
                fake.presence_updates.append(data)
            elif op == 8:
                self._request_members(conn.session, data or {})
        else:
            await conn.close(4001, "Unknown opcode.")

    async def _identify(self, conn: GatewayConnection, data: JSON) -> None:
        fake = self.fake
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        token = str(data.get("token") or "")
        fake.identifies.append(data)
        if not fake.token_ok(token):
            await conn.close(4004, "Authentication failed.")
            return
        shard = data.get("shard")
        if shard is not None:
            if len(shard) != 2 or not 0 <= int(shard[0]) < int(shard[1]):
                await conn.close(4010, "Invalid shard.")
                return
        if data.get("intents") is None:
            await conn.close(4013, "Invalid intent(s).")
            return
        asked = int(data["intents"])
        if any(
            asked & intent and not fake.application_flags & flags
            for intent, flags in PRIVILEGED_INTENT_FLAGS.items()
        ):
            await conn.close(4014, "Disallowed intent(s).")
            return
        session = GatewaySession(secrets.token_hex(16), token, data)
        self.sessions[session.session_id] = session
        session.conn = conn
        conn.session = session
        fake.stats.identifies += 1
        guilds = [g for g in fake.guilds.values() if session.owns_guild(g.id)]
        ready: JSON = {
            "v": 10,
            "user": fake.bot_user_payload(),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": fake.resume_gateway_url,
            "application": {"id": str(fake.app_id), "flags": fake.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "user_settings": {},
            "auth": {},
            "_trace": ['["fakediscord"]'],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        session.dispatch("READY", ready)
        for g in guilds:
            session.dispatch("GUILD_CREATE", fake._guild_create_payload(g, session.intents))
        fake.stats.ready += 1
        fake._notify()

    async def _resume(self, conn: GatewayConnection, data: JSON) -> None:
        fake = self.fake
        fake.resumes.append(data)
        session = self.sessions.get(str(data.get("session_id")))
        seq = data.get("seq")
        ok = (
            session is not None
            and not session.invalidated
            and session.token == data.get("token")
            and fake.token_ok(str(data.get("token") or ""))
        )
        if ok and session is not None and seq is not None and session.buffer:
            oldest = session.buffer[0][0]
            if int(seq) < oldest - 1:
                ok = False  # events were lost; Discord would invalidate too
        if not ok or session is None:
            fake.stats.invalid_sessions += 1
            conn.send_json({"op": 9, "d": False, "s": None, "t": None})
            return
        old = session.conn
        if old is not None and old is not conn:
            session.conn = None
            await old.close(4000, "session resumed elsewhere")
        session.conn = conn
        conn.session = session
        last = int(seq or 0)
        for s, text in list(session.buffer):
            if s > last:
                conn.send_text(text)
        session.dispatch("RESUMED", {"_trace": ['["fakediscord"]']})
        fake.stats.resumes += 1
        fake.stats.ready += 1
        fake._notify()

    def _request_members(self, session: GatewaySession, data: JSON) -> None:
        guild_id = int(data.get("guild_id") or 0)
        guild = self.fake.guilds.get(guild_id)
        if guild is None:
            return
        members = list(guild.members.values())
        user_ids = data.get("user_ids")
        if user_ids:
            wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m.id in wanted]
        query = data.get("query")
        if query:
            members = [m for m in members if str(m.user["username"]).startswith(query)]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": str(guild_id),
            "members": [m.to_payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)
