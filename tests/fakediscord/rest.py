"""The fake's REST API (everything below ``/api/v10``).

Requests are routed with a small regex table so every request can be recorded,
matched against injected faults, and reported as unhandled when no route fits.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web
from multidict import CIMultiDict

from . import limits
from . import payloads as P
from .limits import LIMITS
from .models import FakeInteraction, Fault, RecordedFile, RecordedRequest
from .payloads import JSON, Perm
from .ratelimits import Verdict

if TYPE_CHECKING:
    from .server import FakeDiscord

API_PREFIX = re.compile(r"^/api(?:/v\d+)?")

#: Path parameters that split a route's bucket, as Discord's "major parameters" do (the
#: interaction id and webhook token stand for the interaction's own endpoints).
MAJOR_PARAMETERS = ("channel_id", "guild_id", "interaction_id", "token")

REQUEST_TOO_LARGE = P.error_body(40005, "Request entity too large")


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response whose Content-Type is exactly ``application/json``.

    discord.py only decodes a body when the header equals ``application/json``
    (aiohttp's ``json_response`` appends ``; charset=utf-8``, which discord.py
    would hand back to the caller as a plain string)."""
    body = json.dumps(data, separators=(",", ":")).encode()
    resp = web.Response(body=body, status=status, headers=headers)
    resp.headers["Content-Type"] = "application/json"
    return resp


class Ctx:
    """Per-request context handed to route handlers."""

    def __init__(
        self, request: web.Request, record: RecordedRequest, params: dict[str, str]
    ) -> None:
        self.request = request
        self.record = record
        self.params = params
        self.json: Any = record.json
        self.files: list[RecordedFile] = record.files
        self.query = record.query

    def int_param(self, name: str) -> int:
        return int(self.params[name])


Handler = Callable[[Ctx], Awaitable[web.Response]]


class _Route:
    def __init__(self, method: str, template: str, handler: Handler, *, auth: bool) -> None:
        self.method = method
        self.template = template
        self.handler = handler
        self.auth = auth
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self.regex = re.compile(f"^{pattern}$")
        self.bucket = hashlib.md5(f"{method} {template}".encode()).hexdigest()[:32]
        self.channel_post = method == "POST" and template == "/channels/{channel_id}/messages"

    def bucket_key(self, params: dict[str, str]) -> str:
        return ":".join([self.bucket, *(params.get(p, "") for p in MAJOR_PARAMETERS)])


class RestApi:
    """All REST routes. Bound to one :class:`FakeDiscord`."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.routes: list[_Route] = []
        self._counted = 0
        r = self._add
        # login / application / gateway
        r("GET", "/users/@me", self.get_me)
        r("GET", "/users/{user_id}", self.get_user)
        r("POST", "/users/@me/channels", self.create_dm)
        r("DELETE", "/users/@me/guilds/{guild_id}", self.leave_guild)
        r("GET", "/oauth2/applications/@me", self.get_application)
        r("GET", "/applications/@me", self.get_application)
        r("GET", "/gateway", self.get_gateway, auth=False)
        r("GET", "/gateway/bot", self.get_gateway_bot)
        # application commands
        for base in (
            "/applications/{app_id}/commands",
            "/applications/{app_id}/guilds/{guild_id}/commands",
        ):
            r("GET", base, self.list_commands)
            r("PUT", base, self.bulk_commands)
            r("POST", base, self.upsert_command)
            r("GET", base + "/{command_id}", self.get_command)
            r("PATCH", base + "/{command_id}", self.edit_command)
            r("DELETE", base + "/{command_id}", self.delete_command)
        r(
            "GET",
            "/applications/{app_id}/guilds/{guild_id}/commands/permissions",
            self.command_permissions,
        )
        # interactions / webhooks (no bot auth)
        r(
            "POST",
            "/interactions/{interaction_id}/{token}/callback",
            self.interaction_callback,
            auth=False,
        )
        r("POST", "/webhooks/{app_id}/{token}", self.webhook_execute, auth=False)
        r("GET", "/webhooks/{app_id}/{token}/messages/{message_id}", self.webhook_get, auth=False)
        r(
            "PATCH",
            "/webhooks/{app_id}/{token}/messages/{message_id}",
            self.webhook_edit,
            auth=False,
        )
        r(
            "DELETE",
            "/webhooks/{app_id}/{token}/messages/{message_id}",
            self.webhook_delete,
            auth=False,
        )
        # channels / messages
        r("GET", "/channels/{channel_id}", self.get_channel)
        r("GET", "/channels/{channel_id}/messages", self.list_messages)
        r("POST", "/channels/{channel_id}/messages", self.create_message)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        r("POST", "/channels/{channel_id}/messages/bulk-delete", self.bulk_delete)
        r("POST", "/channels/{channel_id}/typing", self.typing)
        r(
            "PUT",
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
            self.add_reaction,
        )
        r(
            "DELETE",
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
            self.remove_reaction,
        )
        r(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            self.start_thread_from_message,
        )
        # guilds
        r("GET", "/guilds/{guild_id}", self.get_guild)
        r("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        r("GET", "/guilds/{guild_id}/roles", self.get_guild_roles)
        r("GET", "/guilds/{guild_id}/members", self.list_members)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)

    def _add(self, method: str, template: str, handler: Handler, *, auth: bool = True) -> None:
        self.routes.append(_Route(method, template, handler, auth=auth))

    # ------------------------------------------------------------------
    # entry point

    async def handle(self, request: web.Request) -> web.StreamResponse:
        fake = self.fake
        path = API_PREFIX.sub("", request.path) or "/"
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=CIMultiDict(request.headers),
            json=None,
            files=[],
            at=asyncio.get_running_loop().time(),
        )
        fake.requests.append(record)
        try:
            await self._read_body(request, record)
        except ValueError:
            return self._finish(
                record, None, 400, P.error_body(50109, "The request body contains invalid JSON.")
            )

        route, params = self._match(request.method, path)
        record.route = f"{route.method} {route.template}" if route else None

        fault = next((f for f in fake.faults if f.matches(request.method, path)), None)
        if fault is not None:
            fault.remaining -= 1
            fault.hits += 1
            record.fault = fault.kind
            if fault.kind == "delay":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "429":
                return self._rate_limited(record, route, fault)
            else:
                body = (
                    fault.body
                    if fault.body is not None
                    else P.DEFAULT_ERROR_BODIES.get(fault.status, P.NOT_FOUND)
                )
                return self._finish(record, route, fault.status, body)

        if route is None:
            fake.unhandled.append(record)
            allowed = [rt.method for rt in self.routes if rt.regex.match(path)]
            if allowed:
                return self._finish(record, None, 405, P.METHOD_NOT_ALLOWED)
            return self._finish(record, None, 404, P.NOT_FOUND)

        if route.auth and not self._authorized(request):
            return self._finish(record, route, 401, P.UNAUTHORIZED)

        verdict = self._count(request, route, params)
        if verdict.retry_after is not None and fake.rate_limits:
            return self._too_many(record, route, verdict)

        try:
            response = await route.handler(Ctx(request, record, params))
        except _HttpError as err:
            if err.status == 400 and isinstance(err.body, dict) and err.body.get("code") == 50035:
                fake._refused(record, err.body.get("errors") or {})
            return self._finish(record, route, err.status, err.body, verdict)
        record.status = response.status
        self._ratelimit_headers(response, route, verdict)
        fake._notify()
        return response

    def _count(self, request: web.Request, route: _Route, params: dict[str, str]) -> Verdict:
        """Count the request against the global limit (bot-token routes only: interaction
        endpoints are exempt, as on Discord) and its route bucket."""
        header = request.headers.get("Authorization", "")
        token = header[4:] if route.auth and header.startswith("Bot ") else None
        limiter, rate = self.fake.ratelimiter, self.fake.rate_table
        self._counted += 1
        if self._counted % 1000 == 0:
            limiter.forget_expired()
        if route.channel_post:
            limit, period = rate.channel_posts, rate.channel_window
        else:
            limit, period = rate.route_requests, rate.route_window
        return limiter.check(
            token=token,
            bucket=route.bucket_key(params),
            limit=limit,
            period=period,
            global_limit=rate.global_per_second,
        )

    async def _read_body(self, request: web.Request, record: RecordedRequest) -> None:
        if not request.can_read_body:
            return
        ctype = request.content_type
        if ctype.startswith("multipart/"):
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue  # nested multipart: Discord does not use it
                name = part.name or ""
                data = await part.read()
                if name == "payload_json":
                    record.json = json.loads(bytes(data).decode("utf-8"))
                elif part.filename is not None:
                    record.files.append(
                        RecordedFile(
                            field=name,
                            filename=part.filename,
                            content_type=part.headers.get("Content-Type"),
                            data=bytes(data),
                        )
                    )
                else:
                    record.form[name] = bytes(data).decode("utf-8", "replace")
            return
        raw = await request.read()
        if raw:
            record.json = json.loads(raw.decode("utf-8"))

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for rt in self.routes:
            if rt.method != method:
                continue
            m = rt.regex.match(path)
            if m:
                return rt, m.groupdict()
        return None, {}

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot "):
            return False
        return self.fake.token_ok(header[4:])

    def _finish(
        self,
        record: RecordedRequest,
        route: _Route | None,
        status: int,
        body: Any,
        verdict: Verdict | None = None,
    ) -> web.Response:
        record.status = status
        resp = json_response(body, status=status)
        if route is not None and status != 429:
            self._ratelimit_headers(resp, route, verdict)
        self.fake._notify()
        return resp

    def _ratelimit_headers(
        self, resp: web.StreamResponse, route: _Route | None, verdict: Verdict | None = None
    ) -> None:
        """The route bucket's true state after this request (only counted requests have one)."""
        if not self.fake.rate_limit_headers or route is None or verdict is None:
            return
        resp.headers["X-RateLimit-Bucket"] = route.bucket
        resp.headers["X-RateLimit-Limit"] = str(verdict.limit)
        resp.headers["X-RateLimit-Remaining"] = str(verdict.remaining)
        resp.headers["X-RateLimit-Reset"] = f"{time.time() + verdict.reset_after:.3f}"
        resp.headers["X-RateLimit-Reset-After"] = f"{verdict.reset_after:.3f}"

    def _too_many(self, record: RecordedRequest, route: _Route, verdict: Verdict) -> web.Response:
        """Discord's 429: body ``{"message", "retry_after", "global"}``, ``Retry-After`` in whole
        seconds, ``Via`` (discord.py reads a 429 without it as a Cloudflare ban) and the bucket's
        headers, or ``X-RateLimit-Global`` for the global limit."""
        retry_after = round(max(verdict.retry_after or 0.0, 0.001), 3)
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": verdict.is_global,
        }
        headers = {
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if verdict.is_global else "user",
        }
        if verdict.is_global:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                {
                    "X-RateLimit-Bucket": route.bucket,
                    "X-RateLimit-Limit": str(verdict.limit),
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                }
            )
        record.status = 429
        self.fake._notify()
        return json_response(body, status=429, headers=headers)

    def _rate_limited(
        self, record: RecordedRequest, route: _Route | None, fault: Fault
    ) -> web.Response:
        body = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.global_,
        }
        headers = {
            "Retry-After": str(max(1, math.ceil(fault.retry_after))),
            # discord.py treats a 429 without a Via header as a Cloudflare ban.
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if fault.global_ else fault.scope,
        }
        if fault.global_:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(
                {
                    "X-RateLimit-Bucket": route.bucket if route else "unknown",
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + fault.retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
                }
            )
        record.status = 429
        self.fake._notify()
        return json_response(body, status=429, headers=headers)

    # ------------------------------------------------------------------
    # helpers

    def _check_uploads(self, ctx: Ctx) -> None:
        """Discord answers 413 (code 40005) to a file over the upload limit."""
        if any(len(f.data) > LIMITS.message.file_bytes for f in ctx.files):
            raise _HttpError(413, REQUEST_TOO_LARGE)

    def _check_message(self, ctx: Ctx, data: JSON, *, editing: bool = False) -> None:
        self._check_uploads(ctx)
        err = P.validate_message(data, n_files=len(ctx.files), editing=editing)
        if err:
            raise _HttpError(400, err)

    def _check_callback(self, ctype: int, data: JSON, ctx: Ctx) -> None:
        """Validate an interaction callback's ``data``; errors are named under ``data``."""
        self._check_uploads(ctx)
        if ctype in (4, 7):
            err = P.validate_message(data, n_files=len(ctx.files), editing=(ctype == 7))
            if err and err.get("code") == 50035:
                err = P.invalid_form_body({"data": err["errors"]})
            if err:
                raise _HttpError(400, err)
        elif ctype == 8:
            choices = limits.choices_errors(data.get("choices") or [])
            if choices:
                raise _HttpError(400, P.invalid_form_body({"data": {"choices": choices}}))
        elif ctype == 9:
            modal = limits.modal_errors(data)
            if modal:
                raise _HttpError(400, P.invalid_form_body({"data": modal}))

    def _json(self, data: Any, status: int = 200) -> web.Response:
        return json_response(data, status=status)

    def _no_content(self) -> web.Response:
        return web.Response(status=204)

    def _channel(self, channel_id: int) -> Any:
        ch = self.fake._channels.get(channel_id)
        if ch is None:
            raise _HttpError(404, P.UNKNOWN_CHANNEL)
        return ch

    def _require(self, channel: Any, perms: int, *, access: bool = True) -> None:
        """Raise 403 unless the bot has ``perms`` in ``channel`` (guild channels only)."""
        if not self.fake.enforce_permissions or channel.guild_id is None:
            return
        guild = self.fake.guilds[channel.guild_id]
        have = guild.bot_permissions_in(channel.id)
        if access and not have & Perm.VIEW_CHANNEL:
            raise _HttpError(403, P.MISSING_ACCESS)
        if have & perms != perms:
            raise _HttpError(403, P.MISSING_PERMISSIONS)

    def _require_dm_delivery(self, channel: Any) -> None:
        """Raise 403 (50007) for a DM to a user who closed DMs or shares no server with the
        bot; Discord refuses the message, not the opening of the channel."""
        if channel.type != 1 or not channel.recipients:
            return
        if not self.fake.accepts_dms(int(channel.recipients[0]["id"])):
            raise _HttpError(403, P.CANNOT_MESSAGE_USER)

    def _stored_message(self, channel_id: int, message_id: str) -> JSON:
        try:
            mid = int(message_id)
        except ValueError:
            raise _HttpError(404, P.UNKNOWN_MESSAGE) from None
        msg = self.fake.messages.get(mid)
        if msg is None or int(msg["channel_id"]) != channel_id or msg.get("_deleted"):
            raise _HttpError(404, P.UNKNOWN_MESSAGE)
        return msg

    # ------------------------------------------------------------------
    # users / application / gateway

    async def get_me(self, ctx: Ctx) -> web.Response:
        return self._json(self.fake.bot_user_payload())

    async def get_user(self, ctx: Ctx) -> web.Response:
        try:
            uid = int(ctx.params["user_id"])
        except ValueError:
            raise _HttpError(404, P.UNKNOWN_USER) from None
        user = self.fake.users.get(uid)
        if user is None:
            raise _HttpError(404, P.UNKNOWN_USER)
        return self._json(user)

    async def create_dm(self, ctx: Ctx) -> web.Response:
        uid = int((ctx.json or {}).get("recipient_id", 0))
        if uid not in self.fake.users:
            raise _HttpError(
                400,
                P.invalid_form_body(
                    {"recipient_id": P.field_error("NUMBER_TYPE_COERCE", "Value is not snowflake.")}
                ),
            )
        return self._json(self.fake.dm_channel(uid).to_payload())

    async def leave_guild(self, ctx: Ctx) -> web.Response:
        gid = ctx.int_param("guild_id")
        if gid not in self.fake.guilds:
            raise _HttpError(404, P.UNKNOWN_GUILD)
        self.fake.remove_guild(gid)
        return self._no_content()

    async def get_application(self, ctx: Ctx) -> web.Response:
        return self._json(self.fake.application_payload())

    async def get_gateway(self, ctx: Ctx) -> web.Response:
        return self._json({"url": self.fake.gateway_url})

    async def get_gateway_bot(self, ctx: Ctx) -> web.Response:
        return self._json(
            {
                "url": self.fake.gateway_url,
                "shards": self.fake.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14400000,
                    "max_concurrency": 1,
                },
            }
        )

    # ------------------------------------------------------------------
    # application commands

    def _command_scope(self, ctx: Ctx) -> int | None:
        if int(ctx.params["app_id"]) != self.fake.app_id:
            raise _HttpError(
                403,
                P.error_body(
                    20012, "You are not authorized to perform this action on this application"
                ),
            )
        gid = ctx.params.get("guild_id")
        if gid is None:
            return None
        if int(gid) not in self.fake.guilds:
            raise _HttpError(403, P.MISSING_ACCESS)
        return int(gid)

    async def list_commands(self, ctx: Ctx) -> web.Response:
        scope = self._command_scope(ctx)
        return self._json(list(self.fake.commands.get(scope, {}).values()))

    async def bulk_commands(self, ctx: Ctx) -> web.Response:
        scope = self._command_scope(ctx)
        body = ctx.json if ctx.json is not None else []
        if self.fake.validate_payloads:
            err = P.validate_commands(body, guild_scoped=scope is not None)
            if err:
                raise _HttpError(400, err)
        existing = self.fake.commands.get(scope, {})
        by_key = {(c["name"], int(c.get("type", 1))): c for c in existing.values()}
        new: dict[int, JSON] = {}
        for cmd in body:
            prev = by_key.get((cmd["name"], int(cmd.get("type", 1))))
            stored = self.fake._store_command(
                cmd, scope, command_id=int(prev["id"]) if prev else None
            )
            new[int(stored["id"])] = stored
        self.fake.commands[scope] = new
        self.fake.sync_log.append((scope, [c["name"] for c in new.values()]))
        return self._json(list(new.values()))

    async def upsert_command(self, ctx: Ctx) -> web.Response:
        scope = self._command_scope(ctx)
        cmd = ctx.json or {}
        if self.fake.validate_payloads:
            errors = limits.single_command_errors(cmd, guild_scoped=scope is not None)
            if errors:
                raise _HttpError(400, P.invalid_form_body(errors))
        existing = self.fake.commands.setdefault(scope, {})
        prev = next(
            (
                c
                for c in existing.values()
                if c["name"] == cmd.get("name") and int(c.get("type", 1)) == int(cmd.get("type", 1))
            ),
            None,
        )
        stored = self.fake._store_command(cmd, scope, command_id=int(prev["id"]) if prev else None)
        existing[int(stored["id"])] = stored
        return self._json(stored, 200 if prev else 201)

    def _command(self, ctx: Ctx) -> tuple[int | None, JSON]:
        scope = self._command_scope(ctx)
        try:
            cid = int(ctx.params["command_id"])
        except ValueError:
            raise _HttpError(404, P.UNKNOWN_APPLICATION_COMMAND) from None
        cmd = self.fake.commands.get(scope, {}).get(cid)
        if cmd is None:
            raise _HttpError(404, P.UNKNOWN_APPLICATION_COMMAND)
        return scope, cmd

    async def get_command(self, ctx: Ctx) -> web.Response:
        return self._json(self._command(ctx)[1])

    async def edit_command(self, ctx: Ctx) -> web.Response:
        scope, cmd = self._command(ctx)
        merged = {**cmd, **(ctx.json or {})}
        if self.fake.validate_payloads:
            errors = limits.single_command_errors(merged, guild_scoped=scope is not None)
            if errors:
                raise _HttpError(400, P.invalid_form_body(errors))
        stored = self.fake._store_command(merged, scope, command_id=int(cmd["id"]))
        self.fake.commands[scope][int(cmd["id"])] = stored
        return self._json(stored)

    async def delete_command(self, ctx: Ctx) -> web.Response:
        scope, cmd = self._command(ctx)
        del self.fake.commands[scope][int(cmd["id"])]
        return self._no_content()

    async def command_permissions(self, ctx: Ctx) -> web.Response:
        self._command_scope(ctx)
        return self._json([])

    # ------------------------------------------------------------------
    # interaction callback

    async def interaction_callback(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        try:
            ix = fake.interactions.get(int(ctx.params["interaction_id"]))
        except ValueError:
            ix = None
        body = ctx.json or {}
        if ix is None:
            raise _HttpError(404, P.UNKNOWN_INTERACTION)
        ix.callback_attempts.append(body)
        if ix.token != ctx.params["token"]:
            raise _HttpError(401, P.error_body(50027, "Invalid Webhook Token"))
        now = asyncio.get_running_loop().time()
        if now - ix.sent_at > ix.deadline:
            ix.late_callbacks += 1
            raise _HttpError(404, P.UNKNOWN_INTERACTION)
        if ix.response is not None:
            ix.duplicate_callbacks += 1
            raise _HttpError(400, P.ALREADY_ACKNOWLEDGED)
        ctype = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        allowed = {
            2: {4, 5, 9},  # application command
            3: {4, 5, 6, 7, 9},  # component
            4: {8},  # autocomplete
            5: {4, 5, 6, 7},  # modal submit
        }.get(ix.type, set())
        if ctype not in allowed:
            raise _HttpError(
                400,
                P.error_body(
                    40043 if ctype == 8 else 50035,
                    "Interaction callback type is not allowed for this interaction type",
                    {
                        "type": P.field_error(
                            "INTERACTION_CALLBACK_TYPE_INVALID",
                            f"Callback type {ctype} not allowed for interaction type {ix.type}",
                        )
                    },
                ),
            )
        message: JSON | None = None
        if fake.validate_payloads:
            self._check_callback(ctype, data, ctx)
        if ctype == 4:
            message = fake._create_message(
                ix.channel_id or 0,
                data,
                ctx.files,
                source="interaction",
                interaction=ix,
                msg_type=20 if ix.type == 2 else 0,
            )
            ix.original_message_id = int(message["id"])
        elif ctype == 5:
            flags = int(data.get("flags") or 0) & P.MESSAGE_FLAG_EPHEMERAL
            message = fake._create_message(
                ix.channel_id or 0,
                {"content": "", "flags": flags | P.MESSAGE_FLAG_LOADING},
                [],
                source="interaction",
                interaction=ix,
                msg_type=20 if ix.type == 2 else 0,
                dispatch=True,
            )
            ix.original_message_id = int(message["id"])
            ix.deferred_pending_followup = True
        elif ctype in (6, 7):
            if ix.source_message_id is None:
                raise _HttpError(
                    400,
                    P.error_body(
                        50035,
                        "Invalid Form Body",
                        {
                            "type": P.field_error(
                                "INTERACTION_NO_MESSAGE", "This interaction has no message"
                            )
                        },
                    ),
                )
            ix.original_message_id = ix.source_message_id
            if ctype == 7:
                message = fake._edit_message(ix.source_message_id, data, ctx.files, edited=True)
            else:
                message = fake.messages.get(ix.source_message_id)
        elif ctype == 9:
            ix.modal = data
            fake.modals[str(data.get("custom_id"))] = (ix, data)
        ix.response = body
        ix.response_files = list(ctx.files)
        ix.responded_at = now
        fake._notify()
        with_response = ctx.query.get("with_response", "").lower() in ("1", "true")
        if not with_response:
            return self._no_content()
        out: JSON = {
            "interaction": {
                "id": str(ix.id),
                "type": ix.type,
                "response_message_id": str(message["id"]) if message else None,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(
                    message and int(message.get("flags", 0)) & P.MESSAGE_FLAG_EPHEMERAL
                ),
            }
        }
        if message is None:
            del out["interaction"]["response_message_id"]
        resource: JSON = {"type": ctype}
        if message is not None and ctype in (4, 5, 7):
            resource["message"] = fake._wire_message(message)
        if ctype != 8:
            out["resource"] = resource
        return self._json(out)

    # ------------------------------------------------------------------
    # webhooks (interaction follow-ups)

    def _webhook_interaction(self, ctx: Ctx) -> FakeInteraction:
        fake = self.fake
        try:
            app_id = int(ctx.params["app_id"])
        except ValueError:
            raise _HttpError(404, P.UNKNOWN_WEBHOOK) from None
        ix = fake.interactions_by_token.get(ctx.params["token"])
        if app_id != fake.app_id or ix is None:
            raise _HttpError(404, P.UNKNOWN_WEBHOOK)
        if asyncio.get_running_loop().time() - ix.sent_at > fake.token_lifetime:
            raise _HttpError(401, P.error_body(50027, "Invalid Webhook Token"))
        if ix.response is None:
            # Not acknowledged yet: Discord has no webhook for this token.
            raise _HttpError(404, P.UNKNOWN_WEBHOOK)
        return ix

    def _webhook_message(self, ix: FakeInteraction, message_id: str) -> JSON:
        if message_id == "@original":
            if ix.original_message_id is None or ix.original_deleted:
                raise _HttpError(404, P.UNKNOWN_MESSAGE)
            mid = ix.original_message_id
        else:
            try:
                mid = int(message_id)
            except ValueError:
                raise _HttpError(404, P.UNKNOWN_MESSAGE) from None
            if mid != ix.original_message_id and mid not in {int(f["id"]) for f in ix.followups}:
                raise _HttpError(404, P.UNKNOWN_MESSAGE)
        msg = self.fake.messages.get(mid)
        if msg is None or msg.get("_deleted"):
            raise _HttpError(404, P.UNKNOWN_MESSAGE)
        return msg

    async def webhook_execute(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        ix = self._webhook_interaction(ctx)
        data = ctx.json or {}
        if fake.validate_payloads:
            self._check_message(ctx, data)
            self._check_followup_count(ix)
        if (
            ix.deferred_pending_followup
            and ix.original_message_id is not None
            and not ix.original_deleted
        ):
            # The first follow-up after a "thinking" defer replaces the loading message,
            # keeping the defer's ephemeral flag.
            ix.deferred_pending_followup = False
            orig = fake.messages[ix.original_message_id]
            keep = int(orig.get("flags", 0)) & P.MESSAGE_FLAG_EPHEMERAL
            edit = dict(data)
            edit["flags"] = (int(data.get("flags") or 0) & ~P.MESSAGE_FLAG_EPHEMERAL) | keep
            msg = fake._edit_message(
                ix.original_message_id, edit, ctx.files, edited=False, clear_loading=True
            )
        else:
            msg = fake._create_message(
                ix.channel_id or 0, data, ctx.files, source="followup", interaction=ix
            )
        ix.followups.append(copy.deepcopy(fake._public_message(msg)))
        fake._notify()
        if ctx.query.get("wait", "").lower() in ("1", "true"):
            return self._json(fake._wire_message(msg))
        return self._no_content()

    def _check_followup_count(self, ix: FakeInteraction) -> None:
        """A user-installed app may make 5 follow-ups per interaction (docs: change log,
        "User-Installed Apps General Availability"); an app installed to the server is not
        limited. The replacement of a "thinking" defer counts as one, as it is one POST."""
        cap = limits.LIMITS.install.user_install_followups
        if self.fake.user_installed_only(ix.payload) and len(ix.followups) >= cap:
            raise _HttpError(
                400,
                P.invalid_form_body(
                    P.field_error(
                        "INTERACTION_FOLLOWUP_LIMIT",
                        f"A user-installed app may send at most {cap} follow-up messages",
                    )
                ),
            )

    async def webhook_get(self, ctx: Ctx) -> web.Response:
        ix = self._webhook_interaction(ctx)
        return self._json(
            self.fake._wire_message(self._webhook_message(ix, ctx.params["message_id"]))
        )

    async def webhook_edit(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        ix = self._webhook_interaction(ctx)
        msg = self._webhook_message(ix, ctx.params["message_id"])
        data = ctx.json or {}
        if fake.validate_payloads:
            self._check_message(ctx, data, editing=True)
        loading = bool(int(msg.get("flags", 0)) & P.MESSAGE_FLAG_LOADING)
        if loading:
            ix.deferred_pending_followup = False
        updated = fake._edit_message(
            int(msg["id"]), data, ctx.files, edited=not loading, clear_loading=True
        )
        return self._json(fake._wire_message(updated))

    async def webhook_delete(self, ctx: Ctx) -> web.Response:
        ix = self._webhook_interaction(ctx)
        msg = self._webhook_message(ix, ctx.params["message_id"])
        self.fake._delete_message(int(msg["id"]))
        if int(msg["id"]) == ix.original_message_id:
            ix.original_deleted = True
        return self._no_content()

    # ------------------------------------------------------------------
    # channels / messages

    async def get_channel(self, ctx: Ctx) -> web.Response:
        ch = self._channel(ctx.int_param("channel_id"))
        self._require(ch, 0)
        return self._json(ch.to_payload())

    async def list_messages(self, ctx: Ctx) -> web.Response:
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        self._require(ch, Perm.READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(ctx.query.get("limit", "50"))))
        msgs = [
            m
            for m in self.fake.messages.values()
            if int(m["channel_id"]) == cid
            and not m.get("_deleted")
            and not int(m.get("flags", 0)) & P.MESSAGE_FLAG_EPHEMERAL
        ]
        msgs.sort(key=lambda m: int(m["id"]), reverse=True)
        if "before" in ctx.query:
            msgs = [m for m in msgs if int(m["id"]) < int(ctx.query["before"])]
        if "after" in ctx.query:
            msgs = [m for m in msgs if int(m["id"]) > int(ctx.query["after"])]
            msgs = sorted(msgs, key=lambda m: int(m["id"]))[:limit]
            msgs.reverse()
        if "around" in ctx.query:
            around = int(ctx.query["around"])
            msgs.sort(key=lambda m: abs(int(m["id"]) - around))
            msgs = sorted(msgs[:limit], key=lambda m: int(m["id"]), reverse=True)
        return self._json([self.fake._wire_message(m) for m in msgs[:limit]])

    async def create_message(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        data = ctx.json or {}
        self._require_dm_delivery(ch)
        if ch.type in P.THREAD_ONLY_TYPES:
            # docs: topics/threads, Forums: only threads (posts) hold messages.
            raise _HttpError(400, P.NON_TEXT_CHANNEL)
        # docs: topics/threads, Permissions: SEND_MESSAGES has no effect in threads.
        self._require(ch, Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES)
        ref = data.get("message_reference")
        if ref and ref.get("message_id") and int(ref.get("type", 0)) == 0:
            # docs: resources/message, Create Message limitations: a reply needs
            # READ_MESSAGE_HISTORY.
            self._require(ch, Perm.READ_MESSAGE_HISTORY)
        if ctx.files:
            self._require(ch, Perm.ATTACH_FILES)
        data = dict(data)
        if ch.guild_id is not None and fake.enforce_permissions and data.get("embeds"):
            if not fake.guilds[ch.guild_id].bot_permissions_in(cid) & Perm.EMBED_LINKS:
                # Discord drops rich embeds the bot may not post.
                data["embeds"] = []
                data["_embeds_dropped"] = True
        if fake.validate_payloads:
            self._check_message(ctx, data)
        ref = data.get("message_reference")
        if ref and ref.get("message_id"):
            ref_msg = fake.messages.get(int(ref["message_id"]))
            if (ref_msg is None or ref_msg.get("_deleted")) and ref.get("fail_if_not_exists", True):
                raise _HttpError(
                    400,
                    P.invalid_form_body(
                        {
                            "message_reference": P.field_error(
                                "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                            )
                        }
                    ),
                )
        nonce = data.get("nonce")
        if data.get("enforce_nonce") and nonce is not None:
            # Discord answers a repeated nonce (from the same author, within a few minutes)
            # with the message it already created instead of posting a second one; after
            # the window (LIMITS.rate.nonce_window on the fake's clock) it posts again.
            existing = fake._nonce_message(cid, nonce)
            if existing is not None:
                fake.nonce_dedupes += 1
                return self._json(fake._wire_message(existing))
        msg = fake._create_message(cid, data, ctx.files, source="channel")
        if nonce is not None:
            fake._remember_nonce(cid, nonce, int(msg["id"]))
        return self._json(fake._wire_message(msg))

    async def get_message(self, ctx: Ctx) -> web.Response:
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        self._require(ch, Perm.READ_MESSAGE_HISTORY)
        return self._json(
            self.fake._wire_message(self._stored_message(cid, ctx.params["message_id"]))
        )

    async def edit_message(self, ctx: Ctx) -> web.Response:
        fake = self.fake
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        self._require(ch, 0)
        msg = self._stored_message(cid, ctx.params["message_id"])
        data = ctx.json or {}
        if int(msg["author"]["id"]) != fake.bot_user_id and set(data) - {"flags"}:
            raise _HttpError(403, P.CANNOT_EDIT_OTHER)
        if fake.validate_payloads:
            self._check_message(ctx, data, editing=True)
        updated = fake._edit_message(int(msg["id"]), data, ctx.files, edited=True)
        return self._json(fake._wire_message(updated))

    async def delete_message(self, ctx: Ctx) -> web.Response:
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        msg = self._stored_message(cid, ctx.params["message_id"])
        if int(msg["author"]["id"]) != self.fake.bot_user_id:
            self._require(ch, Perm.MANAGE_MESSAGES)
        else:
            self._require(ch, 0)
        self.fake._delete_message(int(msg["id"]))
        return self._no_content()

    async def bulk_delete(self, ctx: Ctx) -> web.Response:
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        self._require(ch, Perm.MANAGE_MESSAGES)
        for mid in (ctx.json or {}).get("messages", []):
            msg = self.fake.messages.get(int(mid))
            if msg is not None and int(msg["channel_id"]) == cid:
                self.fake._delete_message(int(mid))
        return self._no_content()

    async def typing(self, ctx: Ctx) -> web.Response:
        ch = self._channel(ctx.int_param("channel_id"))
        self._require(ch, Perm.SEND_MESSAGES)
        return self._no_content()

    async def add_reaction(self, ctx: Ctx) -> web.Response:
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        self._require(ch, Perm.ADD_REACTIONS | Perm.READ_MESSAGE_HISTORY)
        msg = self._stored_message(cid, ctx.params["message_id"])
        from urllib.parse import unquote

        msg.setdefault("_reactions", []).append(unquote(ctx.params["emoji"]))
        return self._no_content()

    async def remove_reaction(self, ctx: Ctx) -> web.Response:
        cid = ctx.int_param("channel_id")
        self._channel(cid)
        msg = self._stored_message(cid, ctx.params["message_id"])
        from urllib.parse import unquote

        emoji = unquote(ctx.params["emoji"])
        if emoji in msg.get("_reactions", []):
            msg["_reactions"].remove(emoji)
        return self._no_content()

    async def start_thread_from_message(self, ctx: Ctx) -> web.Response:
        """Start Thread from Message (docs: resources/channel): CREATE_PUBLIC_THREADS in the
        channel, a text or announcement channel only (not a thread, forum or voice channel),
        not in an archived or locked thread, a body within ``LIMITS.thread``, and one thread
        per message (its id is the message's): 160004 for a second."""
        fake = self.fake
        cid = ctx.int_param("channel_id")
        ch = self._channel(cid)
        self._require(ch, Perm.CREATE_PUBLIC_THREADS)
        msg = self._stored_message(cid, ctx.params["message_id"])
        state = fake.thread_states.get(cid)
        if state is not None and state["archived"]:
            raise _HttpError(
                400, P.error_body(50083, "Operation cannot be performed on an archived thread")
            )
        if state is not None and state["locked"]:
            raise _HttpError(400, P.error_body(160005, "Thread is locked"))
        if ch.type not in (0, 5):
            raise _HttpError(400, P.error_body(50024, "Cannot execute action on this channel type"))
        body = ctx.json if isinstance(ctx.json, dict) else {}
        if fake.validate_payloads:
            errors = limits.thread_errors(body)
            if errors:
                raise _HttpError(400, P.invalid_form_body(errors))
        if int(msg["id"]) in fake.thread_states:
            raise _HttpError(
                400, P.error_body(160004, "A thread has already been created for this message")
            )
        thread = fake.start_thread(
            cid,
            int(msg["id"]),
            str(body.get("name")),
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        return self._json(thread, status=201)

    # ------------------------------------------------------------------
    # guilds

    def _guild(self, ctx: Ctx) -> Any:
        try:
            guild = self.fake.guilds.get(int(ctx.params["guild_id"]))
        except ValueError:
            guild = None
        if guild is None:
            raise _HttpError(404, P.UNKNOWN_GUILD)
        return guild

    async def get_guild(self, ctx: Ctx) -> web.Response:
        guild = self._guild(ctx)
        data = guild.to_payload(include_channels=False)
        data["approximate_member_count"] = len(guild.members)
        return self._json(data)

    async def get_guild_channels(self, ctx: Ctx) -> web.Response:
        guild = self._guild(ctx)
        return self._json([c.to_payload() for c in guild.channels.values()])

    async def get_guild_roles(self, ctx: Ctx) -> web.Response:
        guild = self._guild(ctx)
        return self._json([r.to_payload() for r in guild.roles.values()])

    async def list_members(self, ctx: Ctx) -> web.Response:
        guild = self._guild(ctx)
        limit = max(1, min(1000, int(ctx.query.get("limit", "1"))))
        after = int(ctx.query.get("after", "0"))
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return self._json([m.to_payload() for m in members[:limit]])

    async def get_member(self, ctx: Ctx) -> web.Response:
        guild = self._guild(ctx)
        try:
            member = guild.members.get(int(ctx.params["user_id"]))
        except ValueError:
            member = None
        if member is None:
            raise _HttpError(404, P.error_body(10007, "Unknown Member"))
        return self._json(member.to_payload())


class _HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
