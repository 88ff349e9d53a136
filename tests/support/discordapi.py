"""A STAND-IN of the pieces of Discord's HTTP API and gateway the adapter uses. It is NOT Discord.

An aiohttp server on 127.0.0.1 (aiohttp ships with discord.py). The real discord.py client is pointed
at it by setting `discord.http.Route.BASE` (the one URL prefix every REST and webhook call is built
from) and, for the gateway, `discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`; login, command sync,
interaction callbacks, follow-ups, edits, channel messages and DMs all go over real HTTP through
discord.py's own code. It records every call (method, path, JSON payload, uploaded files) and serves
attachment bytes from a fake CDN path.

It enforces the documented rules the adapter must live with:
- an unknown route is 404 `{"message": "404: Not Found", "code": 0}`;
- message content over 2000 characters, or more than 10 files, is 400 code 50035 (Invalid Form Body);
- a request whose files exceed the upload limit (10 MiB unless a test lowers it) is 413 code 40005;
- every answer carries the X-RateLimit-* headers, and `rate_limit(...)` makes the next matching
  requests 429 with `{"message", "retry_after", "global"}` (with or without the `Via` header that real
  Discord answers carry; discord.py treats a 429 without it as a Cloudflare ban and does not retry);
- a channel in `no_send` (the bot lacks Send Messages) refuses messages with 403 code 50013, a user in
  `closed_dms` refuses DMs with 403 code 50007;
- an interaction token is valid for 15 minutes from the interaction's creation (its id's timestamp),
  then webhook calls with it are 401 code 50027 "Invalid Webhook Token"; `refuse_token` refuses one
  early. (The 3-second limit on the first callback is not enforced: tests fake old interactions by
  their id's timestamp.)

The gateway (`/gateway`, a websocket) speaks enough of the protocol for `Client.connect`: HELLO with a
heartbeat interval, IDENTIFY -> READY (session_id, resume_gateway_url) and GUILD_CREATE, heartbeat ACK,
RESUME -> RESUMED, and `gateway_dispatch` sends events (INTERACTION_CREATE, MESSAGE_CREATE). Sharding
as Discord does it: IDENTIFY's `shard` [id, count] must have 0 <= id < count (else close 4010
"Invalid shard"); a connection gets READY/GUILD_CREATE for, and the events of, only the guilds with
(guild_id >> 22) % count == id, and DMs only on shard 0 (`guilds` lists the bot's guilds). An
interaction is acknowledged once: a second callback is 400 code 40060. With
`compress=zlib-stream` in the URL (what discord.py asks for unless zstandard is installed) every
payload is one zlib stream, each message ending in a Z_SYNC_FLUSH, as Discord sends it.

The builders at the bottom make typed gateway payloads (`INTERACTION_CREATE`, `MESSAGE_CREATE`) that
tests hand to `ConnectionState.parse_*` (the entry points the gateway uses) or send over the gateway.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

APP_ID = 900_000_000_000_000_001
BOT_ID = APP_ID
GUILD_ID = 900_000_000_000_000_002
CHANNEL_ID = 900_000_000_000_000_003
USER_ID = 900_000_000_000_000_004
DM_CHANNEL_ID = 900_000_000_000_000_005
DISCORD_EPOCH_MS = 1_420_070_400_000

MAX_CONTENT = 2000
MAX_FILES = 10
UPLOAD_LIMIT = 10 * 1024 * 1024
TOKEN_SECONDS = 15 * 60
HEARTBEAT_MS = 1000
# Permission bits (https://discord.com/developers/docs/topics/permissions)
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
ALL_PERMISSIONS = 2248473465835073
WITHOUT_SEND = ALL_PERMISSIONS & ~SEND_MESSAGES

BOT_USER = {
    "id": str(BOT_ID),
    "username": "voiceover",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
USER = {
    "id": str(USER_ID),
    "username": "maya",
    "discriminator": "0",
    "global_name": "Maya",
    "avatar": None,
}


def snowflake(at: float | None = None, seq: int = 0) -> int:
    """A Discord id whose timestamp is `at` (seconds since the epoch); ids carry creation time."""
    ms = int((time.time() if at is None else at) * 1000)
    return ((ms - DISCORD_EPOCH_MS) << 22) | (seq & 0x3FFFFF)


def created_at(snowflake_id: int) -> float:
    return ((snowflake_id >> 22) + DISCORD_EPOCH_MS) / 1000


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes
    status: int = 200  # what the stand-in answered

    @property
    def allowed_mentions(self) -> dict[str, Any] | None:
        return self.json.get("allowed_mentions") if isinstance(self.json, dict) else None

    @property
    def content(self) -> str:
        if isinstance(self.json, dict):
            data = self.json.get("data") if "type" in self.json else self.json
            if isinstance(data, dict):
                return str(data.get("content") or "")
        return ""

    @property
    def ok(self) -> bool:
        return self.status < 300


@dataclass
class RateLimit:
    """The next `times` requests whose path contains `fragment` (and whose method matches) get 429."""

    fragment: str
    times: int = 1
    method: str | None = None
    retry_after: float = 0.05
    via: bool = True
    is_global: bool = False


def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
    return _json({"message": message, "code": code, **extra}, status=status)


def _form_error(field_name: str, code: str, message: str) -> web.Response:
    errors = {field_name: {"_errors": [{"code": code, "message": message}]}}
    return _error(400, 50035, "Invalid Form Body", errors=errors)


class DiscordStandIn:
    """The stand-in server; `calls` holds every request in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.cdn: dict[str, bytes] = {}
        self.commands: list[dict[str, Any]] = []  # the last set synced (any scope)
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[str, list[dict[str, Any]]] = {}
        # Files above this many bytes get Discord's 413 (its limit can be below the guild's figure).
        self.upload_limit: int | None = UPLOAD_LIMIT
        self.no_send: set[int] = set()  # channels where the bot lacks Send Messages
        self.closed_dms: set[int] = set()  # users who do not accept DMs from the bot
        self.rate_limits: list[RateLimit] = []
        self.tokens: dict[str, float] = {}  # interaction token -> creation time (from its id)
        self.refused: set[str] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        # gateway
        self.sockets: list[_GatewaySocket] = []
        self.identified = asyncio.Event()
        self.identify: dict[str, Any] | None = None
        self.heartbeats = 0
        self.compression: str | None = None  # the `compress` the last connection asked for
        self.session_id = "standin-session"
        self.identifies: list[dict[str, Any]] = []  # every IDENTIFY payload, in order
        self.guilds: dict[int, int] = {GUILD_ID: CHANNEL_ID}  # the bot's guilds: a channel each
        self.acknowledged: set[str] = set()  # interaction ids with a callback
        self._resumed: dict[str, tuple[int, int]] = {}  # session id -> its shard

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base + "/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def add_file(self, name: str, data: bytes) -> str:
        """Serve bytes as an attachment; returns its CDN URL."""
        key = f"{next(self._ids)}/{name}"
        self.cdn[key] = data
        return f"{self.base}/cdn/attachments/{key}"

    def rate_limit(self, fragment: str, **kw: Any) -> RateLimit:
        rule = RateLimit(fragment, **kw)
        self.rate_limits.append(rule)
        return rule

    def refuse_token(self, token: str) -> None:
        """Discord refuses this interaction token from now on (401 code 50027)."""
        self.refused.add(token)

    # queries for tests

    def api_calls(self) -> list[Call]:
        return [c for c in self.calls if c.path.startswith("/api/")]

    def find(self, method: str, fragment: str) -> list[Call]:
        return [c for c in self.api_calls() if c.method == method and fragment in c.path]

    # server

    async def start(self) -> DiscordStandIn:
        app = web.Application(client_max_size=1024**3)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._api)
        app.router.add_get("/cdn/attachments/{key:.*}", self._cdn)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        for sock in list(self.sockets):
            await sock.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.calls.append(Call(request.method, request.path, dict(request.query), None))
        data = self.cdn.get(request.match_info["key"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _read(self, request: web.Request) -> tuple[Any, dict[str, bytes]]:
        files: dict[str, bytes] = {}
        payload: Any = None
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                body = await part.read()
                if part.name == "payload_json":
                    payload = json.loads(body)
                else:
                    files[part.filename or part.name or "file"] = bytes(body)
        elif request.can_read_body:
            raw = await request.read()
            payload = json.loads(raw) if raw else None
        return payload, files

    def _message(self, channel_id: str, payload: Any, files: dict[str, bytes]) -> dict[str, Any]:
        body = payload if isinstance(payload, dict) else {}
        mid = str(snowflake(seq=next(self._ids)))
        attachments = [
            {
                "id": str(snowflake(seq=next(self._ids))),
                "filename": name,
                "size": len(data),
                "url": f"{self.base}/cdn/attachments/out/{name}",
                "proxy_url": f"{self.base}/cdn/attachments/out/{name}",
            }
            for name, data in files.items()
        ]
        return {
            "id": mid,
            "channel_id": channel_id,
            "author": BOT_USER,
            "content": body.get("content") or "",
            "timestamp": "2025-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": [],
            "pinned": False,
            "type": 0,
            "components": body.get("components") or [],
            "flags": 0,
            "application_id": str(APP_ID),
            "webhook_id": str(APP_ID),
        }

    async def _api(self, request: web.Request) -> web.StreamResponse:
        payload, files = await self._read(request)
        call = Call(request.method, request.path, dict(request.query), payload, files)
        self.calls.append(call)
        response = self._answer(call)
        call.status = response.status
        bucket = call.path.removeprefix("/api/v10").split("/")[1] if "/" in call.path else ""
        response.headers.setdefault("X-RateLimit-Limit", "5")
        response.headers.setdefault("X-RateLimit-Remaining", "4")
        response.headers.setdefault("X-RateLimit-Reset", f"{time.time() + 1:.3f}")
        response.headers.setdefault("X-RateLimit-Reset-After", "1.000")
        response.headers.setdefault("X-RateLimit-Bucket", f"standin-{bucket}")
        return response

    def _limited(self, call: Call) -> web.Response | None:
        for rule in self.rate_limits:
            if rule.times <= 0 or rule.fragment not in call.path:
                continue
            if rule.method is not None and rule.method != call.method:
                continue
            rule.times -= 1
            headers = {
                "Retry-After": str(max(1, round(rule.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + rule.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{rule.retry_after:.3f}",
                "X-RateLimit-Scope": "global" if rule.is_global else "user",
            }
            if rule.is_global:
                headers["X-RateLimit-Global"] = "true"
            if rule.via:
                headers["Via"] = "1.1 google"
            body = {
                "message": "You are being rate limited.",
                "retry_after": rule.retry_after,
                "global": rule.is_global,
            }
            return _json(body, status=429, headers=headers)
        return None

    def _checked(self, payload: Any, files: dict[str, bytes]) -> web.Response | None:
        """Discord's limits on a message body."""
        body = payload if isinstance(payload, dict) else {}
        if isinstance(body.get("data"), dict):  # an interaction callback
            body = body["data"]
        content = body.get("content")
        if isinstance(content, str) and len(content) > MAX_CONTENT:
            return _form_error(
                "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length."
            )
        if len(files) > MAX_FILES:
            return _form_error(
                "files", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_FILES} or fewer in length."
            )
        if self.upload_limit is not None and any(
            len(b) > self.upload_limit for b in files.values()
        ):
            return _error(413, 40005, "Request entity too large")
        return None

    def _answer(self, call: Call) -> web.Response:
        m, tail, payload, files = (
            call.method,
            call.path.removeprefix("/api/v10"),
            call.json,
            call.files,
        )
        limited = self._limited(call)
        if limited is not None:
            return limited
        refused = self._checked(payload, files)
        if refused is not None:
            return refused
        parts = tail.strip("/").split("/")
        if m == "GET" and tail == "/users/@me":
            return _json(BOT_USER)
        if m == "GET" and tail in ("/gateway", "/gateway/bot"):
            return _json(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 999,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if m == "GET" and tail == "/oauth2/applications/@me":
            return _json(
                {
                    "id": str(APP_ID),
                    "name": "voiceover",
                    "icon": None,
                    "description": "",
                    "rpc_origins": [],
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "0" * 64,
                    "flags": 0,
                    "owner": USER,
                    "team": None,
                }
            )
        if parts[:1] == ["applications"] and parts[-1] == "commands" and len(parts) in (3, 5):
            return self._commands(m, parts, payload)
        if m == "POST" and parts[0] == "users" and tail == "/users/@me/channels":
            recipient = int((payload or {}).get("recipient_id") or 0)
            return _json(
                {
                    "id": str(DM_CHANNEL_ID),
                    "type": 1,
                    "last_message_id": None,
                    "recipients": [
                        USER if recipient == USER_ID else {**USER, "id": str(recipient)}
                    ],
                }
            )
        if (
            m == "POST"
            and parts[0] == "interactions"
            and len(parts) == 4
            and parts[3] == "callback"
        ):
            iid, token = parts[1], parts[2]
            if iid in self.acknowledged:
                return _error(400, 40060, "Interaction has already been acknowledged.")
            self.acknowledged.add(iid)
            self.tokens.setdefault(token, created_at(int(iid)))
            kind = payload.get("type") if isinstance(payload, dict) else None
            return _json(
                {
                    "interaction": {
                        "id": iid,
                        "type": kind,
                        "response_message_loading": kind == 5,
                        "response_message_ephemeral": False,
                    }
                }
            )
        if parts[0] == "webhooks" and len(parts) >= 3:
            token = parts[2]
            issued = self.tokens.get(token)
            if token in self.refused or issued is None or time.time() > issued + TOKEN_SECONDS:
                return _error(401, 50027, "Invalid Webhook Token")
            if m == "DELETE":
                return web.Response(status=204)
            if m in ("POST", "PATCH"):
                return _json(self._message(str(CHANNEL_ID), payload, files))
        if parts[0] == "channels" and len(parts) >= 3 and parts[2] == "messages":
            channel_id = parts[1]
            if m == "POST" and len(parts) == 3:
                if int(channel_id) in self.no_send:
                    return _error(403, 50013, "Missing Permissions")
                if channel_id == str(DM_CHANNEL_ID) and USER_ID in self.closed_dms:
                    return _error(403, 50007, "Cannot send messages to this user")
                return _json(self._message(channel_id, payload, files))
            if m == "PATCH" and len(parts) == 4:
                return _json(self._message(channel_id, payload, files) | {"id": parts[3]})
            if m == "DELETE" and len(parts) == 4:
                return web.Response(status=204)
        return _error(404, 0, "404: Not Found")

    def _commands(self, m: str, parts: list[str], payload: Any) -> web.Response:
        guild = parts[3] if len(parts) == 5 else None
        if m == "GET":
            return _json(self.guild_commands.get(guild, []) if guild else self.global_commands)
        if m != "PUT":
            return _error(405, 0, "405: Method Not Allowed")
        body = payload if isinstance(payload, list) else []
        synced = [
            {
                **c,
                "id": str(snowflake(seq=next(self._ids))),
                "application_id": str(APP_ID),
                "version": "1",
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                **({"guild_id": guild} if guild else {}),
            }
            for c in body
        ]
        if guild:
            self.guild_commands[guild] = synced
        else:
            self.global_commands = synced
        self.commands = synced
        return _json(synced)

    # gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.compression = request.query.get("compress")
        sock = _GatewaySocket(ws, zlib_stream=self.compression == "zlib-stream")
        self.sockets.append(sock)
        try:
            await sock.send({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}})
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                await self._gateway_op(sock, json.loads(msg.data))
        finally:
            self.sockets.remove(sock)
        return ws

    async def _gateway_op(self, sock: _GatewaySocket, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d")
        if op == 1:  # heartbeat
            self.heartbeats += 1
            await sock.send({"op": 11})
        elif op == 2:  # identify
            shard = (data or {}).get("shard") or [0, 1]
            if not (
                isinstance(shard, list)
                and len(shard) == 2
                and all(isinstance(n, int) for n in shard)
                and 0 <= shard[0] < shard[1]
            ):
                await sock.ws.close(code=4010, message=b"Invalid shard")
                return
            sock.shard = (shard[0], shard[1])
            self.identify = data
            self.identifies.append(data)
            mine = [g for g in self.guilds if sock.serves(g)]
            await sock.dispatch(
                "READY",
                {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [{"id": str(g), "unavailable": True} for g in mine],
                    "shard": list(sock.shard),
                    "session_id": self._session_of(sock.shard),
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APP_ID), "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                },
            )
            for guild_id in mine:
                guild = guild_payload(guild_id=guild_id)
                guild["channels"] = [channel_payload(self.guilds[guild_id], guild_id=guild_id)]
                await sock.dispatch("GUILD_CREATE", guild)
            self.identified.set()
        elif op == 6:  # resume: the session's shard again
            session = str((data or {}).get("session_id") or "")
            sock.shard = self._resumed.get(session, (0, 1))
            await sock.dispatch("RESUMED", {})

    def _session_of(self, shard: tuple[int, int] | None) -> str:
        """One session per shard (unsharded: `session_id`), remembered for RESUME."""
        if shard is None or shard == (0, 1):
            return self.session_id
        session = f"{self.session_id}-{shard[0]}-{shard[1]}"
        self._resumed[session] = shard
        return session

    async def gateway_dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one event to the identified connections of its guild's shard (DMs: shard 0)."""
        await self.identified.wait()
        guild_id = int(data["guild_id"]) if data.get("guild_id") else None
        for sock in list(self.sockets):
            if sock.shard is not None and sock.serves(guild_id):
                await sock.dispatch(event, data)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a guild's events go to (Discord's formula)."""
    return (guild_id >> 22) % shard_count


class _GatewaySocket:
    def __init__(self, ws: web.WebSocketResponse, *, zlib_stream: bool) -> None:
        self.ws = ws
        self.seq = 0
        self.shard: tuple[int, int] | None = None  # [id, count] once identified
        self.events: list[tuple[str, int | None]] = []  # (event, guild id) dispatched
        self._zlib = zlib.compressobj() if zlib_stream else None

    def serves(self, guild_id: int | None) -> bool:
        """This connection gets the guild's events (None: a DM, shard 0's)."""
        shard_id, count = self.shard or (0, 1)
        return shard_id == (0 if guild_id is None else shard_of(guild_id, count))

    async def send(self, msg: dict[str, Any]) -> None:
        raw = json.dumps(msg).encode()
        if self._zlib is None:
            await self.ws.send_str(raw.decode())
        else:
            await self.ws.send_bytes(self._zlib.compress(raw) + self._zlib.flush(zlib.Z_SYNC_FLUSH))

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        guild = data.get("guild_id") or (data.get("id") if event == "GUILD_CREATE" else None)
        self.events.append((event, int(guild) if guild else None))
        await self.send({"op": 0, "t": event, "s": self.seq, "d": data})


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses JSON only when the content type is exactly "application/json".
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


# typed gateway payloads


def guild_payload(filesize_tier: int = 0, *, guild_id: int = GUILD_ID) -> dict[str, Any]:
    """A minimal GUILD_CREATE-style payload (premium tier decides the upload limit)."""
    return {
        "id": str(guild_id),
        "name": "studio",
        "icon": None,
        "owner_id": str(USER_ID),
        "roles": [],
        "emojis": [],
        "stickers": [],
        "features": [],
        "premium_tier": filesize_tier,
        "channels": [],
        "members": [],
        "threads": [],
        "member_count": 2,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
        "afk_timeout": 300,
    }


def channel_payload(
    channel_id: int, *, thread: bool = False, guild_id: int = GUILD_ID
) -> dict[str, Any]:
    """A guild text channel, or a public thread in one (type 11)."""
    base: dict[str, Any] = {
        "id": str(channel_id),
        "guild_id": str(guild_id),
        "name": "thread" if thread else "voice",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": str(CHANNEL_ID) if thread else None,
        "last_message_id": None,
        "type": 11 if thread else 0,
    }
    if thread:
        base |= {
            "owner_id": str(USER_ID),
            "member_count": 1,
            "message_count": 0,
            "rate_limit_per_user": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": "2025-01-01T00:00:00+00:00",
                "locked": False,
            },
        }
    return base


def attachment_payload(
    att_id: int, filename: str, url: str, size: int, content_type: str
) -> dict[str, Any]:
    return {
        "id": str(att_id),
        "filename": filename,
        "size": size,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
    }


def _base(
    kind: int,
    data: dict[str, Any],
    *,
    created_at: float | None,
    channel_id: int,
    size_limit: int,
    token: str,
    thread: bool = False,
    app_permissions: int = ALL_PERMISSIONS,
    guild_id: int = GUILD_ID,
) -> dict[str, Any]:
    return {
        "id": str(snowflake(created_at, seq=int(time.perf_counter_ns() % 1000))),
        "application_id": str(APP_ID),
        "type": kind,
        "data": data,
        "guild_id": str(guild_id),
        "channel_id": str(channel_id),
        "channel": channel_payload(channel_id, thread=thread, guild_id=guild_id),
        "member": {
            "user": USER,
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": "2248473465835073",
        },
        "token": token,
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id)},
        "context": 0,
        "attachment_size_limit": size_limit,
    }


def slash_payload(
    name: str,
    options: dict[str, str] | None = None,
    attachments: dict[str, dict[str, Any]] | None = None,
    *,
    created_at: float | None = None,
    channel_id: int = CHANNEL_ID,
    size_limit: int = 10 * 1024 * 1024,
    token: str = "itoken",
    thread: bool = False,
    app_permissions: int = ALL_PERMISSIONS,
    guild_id: int = GUILD_ID,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction: string options and attachment options by name.
    `app_permissions`: what the bot may do in the channel (WITHOUT_SEND: no Send Messages)."""
    opts: list[dict[str, Any]] = [
        {"name": k, "type": 3, "value": v} for k, v in (options or {}).items()
    ]
    resolved: dict[str, Any] = {}
    for opt_name, att in (attachments or {}).items():
        opts.append({"name": opt_name, "type": 11, "value": att["id"]})
        resolved.setdefault("attachments", {})[att["id"]] = att
    data: dict[str, Any] = {"id": str(snowflake(seq=7)), "name": name, "type": 1, "options": opts}
    if resolved:
        data["resolved"] = resolved
    return _base(
        2,
        data,
        created_at=created_at,
        channel_id=channel_id,
        size_limit=size_limit,
        token=token,
        thread=thread,
        app_permissions=app_permissions,
        guild_id=guild_id,
    )


def component_payload(
    custom_id: str,
    *,
    component_type: int = 2,
    values: list[str] | None = None,
    created_at: float | None = None,
    channel_id: int = CHANNEL_ID,
    size_limit: int = 10 * 1024 * 1024,
    token: str = "ctoken",
) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction (a button press or a select pick) on one of our messages."""
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = values
    payload = _base(
        3, data, created_at=created_at, channel_id=channel_id, size_limit=size_limit, token=token
    )
    payload["message"] = {
        "id": str(snowflake(seq=9)),
        "channel_id": str(channel_id),
        "author": BOT_USER,
        "content": "What next?",
        "timestamp": "2025-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 1, "label": "Export", "custom_id": custom_id}
                    if component_type == 2
                    else {"type": 3, "custom_id": custom_id, "options": []}
                ],
            }
        ],
    }
    return payload


def message_payload(
    content: str,
    *,
    mentions: list[dict[str, Any]] | None = None,
    reply_to: dict[str, Any] | None = None,
    channel_id: int = CHANNEL_ID,
) -> dict[str, Any]:
    """A MESSAGE_CREATE in the guild channel from the user; `reply_to`: the message it replies to
    (type 19, with `message_reference` and `referenced_message`, as Discord sends a reply)."""
    data: dict[str, Any] = {
        "id": str(snowflake(seq=int(time.perf_counter_ns() % 1000))),
        "channel_id": str(channel_id),
        "guild_id": str(GUILD_ID),
        "author": USER,
        "member": {
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
        },
        "content": content,
        "timestamp": "2025-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": mentions or [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if reply_to is not None:
        data["type"] = 19
        data["message_reference"] = {
            "type": 0,
            "message_id": reply_to["id"],
            "channel_id": reply_to["channel_id"],
            "guild_id": str(GUILD_ID),
        }
        data["referenced_message"] = reply_to
    return data


def bot_message_payload(content: str, *, channel_id: int = CHANNEL_ID) -> dict[str, Any]:
    """A message the bot sent earlier (what a reply refers to)."""
    return {
        "id": str(snowflake(seq=21)),
        "channel_id": str(channel_id),
        "author": BOT_USER,
        "content": content,
        "timestamp": "2025-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
