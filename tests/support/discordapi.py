"""A STAND-IN of the pieces of Discord's HTTP API the adapter uses. It is NOT Discord.

An aiohttp server on 127.0.0.1 (aiohttp ships with discord.py). The real discord.py client is pointed
at it by setting `discord.http.Route.BASE` (the one URL prefix every REST and webhook call is built
from), so login, command sync, interaction callbacks, follow-ups, edits and channel messages all go
over real HTTP through discord.py's own code. It records every call (method, path, JSON payload,
uploaded files) and serves attachment bytes from a fake CDN path.

The builders at the bottom make typed gateway payloads (`INTERACTION_CREATE`) that tests hand to
`ConnectionState.parse_interaction_create`, the entry point the gateway uses. No websocket is opened.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

APP_ID = 900_000_000_000_000_001
BOT_ID = APP_ID
GUILD_ID = 900_000_000_000_000_002
CHANNEL_ID = 900_000_000_000_000_003
USER_ID = 900_000_000_000_000_004
DISCORD_EPOCH_MS = 1_420_070_400_000

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


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes

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


class DiscordStandIn:
    """The stand-in server; `calls` holds every request in order."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.cdn: dict[str, bytes] = {}
        self.commands: list[dict[str, Any]] = []
        # Files above this many bytes get Discord's 413 (its limit can be below the guild's figure).
        self.upload_limit: int | None = None
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base + "/api/v10"

    def add_file(self, name: str, data: bytes) -> str:
        """Serve bytes as an attachment; returns its CDN URL."""
        key = f"{next(self._ids)}/{name}"
        self.cdn[key] = data
        return f"{self.base}/cdn/attachments/{key}"

    # queries for tests

    def api_calls(self) -> list[Call]:
        return [c for c in self.calls if c.path.startswith("/api/")]

    def find(self, method: str, fragment: str) -> list[Call]:
        return [c for c in self.api_calls() if c.method == method and fragment in c.path]

    # server

    async def start(self) -> DiscordStandIn:
        app = web.Application(client_max_size=1024**3)
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
        path = request.path
        self.calls.append(Call(request.method, path, dict(request.query), payload, files))
        tail = path.removeprefix("/api/v10")
        m = request.method
        if self.upload_limit is not None and any(
            len(b) > self.upload_limit for b in files.values()
        ):
            return _json({"message": "Request entity too large", "code": 40005}, status=413)
        if m == "GET" and tail == "/users/@me":
            return _json(BOT_USER)
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
        if m == "PUT" and tail.endswith("/commands"):
            body = payload if isinstance(payload, list) else []
            self.commands = [
                {
                    **c,
                    "id": str(snowflake(seq=next(self._ids))),
                    "application_id": str(APP_ID),
                    "version": "1",
                    "default_member_permissions": None,
                    "dm_permission": True,
                    "nsfw": False,
                }
                for c in body
            ]
            return _json(self.commands)
        if m == "POST" and tail.startswith("/interactions/"):
            iid = tail.split("/")[2]
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
        if tail.startswith("/webhooks/"):
            if m == "DELETE":
                return web.Response(status=204)
            return _json(self._message(str(CHANNEL_ID), payload, files))
        if tail.startswith("/channels/") and "/messages" in tail:
            channel_id = tail.split("/")[2]
            return _json(self._message(channel_id, payload, files))
        return _json({"message": "not in the stand-in", "code": 0}, status=404)


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses JSON only when the content type is exactly "application/json".
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


# typed gateway payloads


def guild_payload(filesize_tier: int = 0) -> dict[str, Any]:
    """A minimal GUILD_CREATE-style payload (premium tier decides the upload limit)."""
    return {
        "id": str(GUILD_ID),
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


def channel_payload(channel_id: int, *, thread: bool = False) -> dict[str, Any]:
    """A guild text channel, or a public thread in one (type 11)."""
    base: dict[str, Any] = {
        "id": str(channel_id),
        "guild_id": str(GUILD_ID),
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
) -> dict[str, Any]:
    return {
        "id": str(snowflake(created_at, seq=int(time.perf_counter_ns() % 1000))),
        "application_id": str(APP_ID),
        "type": kind,
        "data": data,
        "guild_id": str(GUILD_ID),
        "channel_id": str(channel_id),
        "channel": channel_payload(channel_id, thread=thread),
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
        "app_permissions": "2248473465835073",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
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
) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction: string options and attachment options by name."""
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
