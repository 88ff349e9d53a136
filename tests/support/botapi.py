"""A STAND-IN of the Telegram Bot API HTTP server for tests. It is NOT Telegram.

The real python-telegram-bot `Application` talks to it through `base_url`/`base_file_url` on
127.0.0.1. It serves just enough of the Bot API: `getMe`, `getUpdates` (long polling over scripted
updates), `getFile` and file downloads (refusing files above the hosted 20,000,000-byte limit, as
Telegram does), `setMyCommands`, `sendChatAction`, `deleteWebhook`, and it records every call, with
uploaded files, for assertions: `sendMessage`, `editMessageText`, `sendVideo`, `sendDocument`,
`answerCallbackQuery`... Faults (429 with `retry_after`) are scripted per method; uploads above
`upload_limit` bytes are answered 413 "Request Entity Too Large", as Telegram answers above 50 MB.
Runs with uvicorn in a thread, like tests/support/standin.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.threaded import ThreadedServer

TOKEN = "123456:TEST-stand-in-token-never-real"
BOT_ID = 123456
BOT_USERNAME = "voiceover_test_bot"
HOSTED_DOWNLOAD_LIMIT = 20_000_000  # the Bot API's MB are decimal
TOO_LARGE = {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}

Json = dict[str, Any]


@dataclass
class Call:
    """One Bot API call the bot made: its parameters and any files it uploaded."""

    method: str
    params: Json
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    failed: bool = False  # answered with a scripted error (e.g. 429)

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


@dataclass
class StoredFile:
    file_id: str
    data: bytes
    size: int  # what Telegram reports (tests may claim a size without holding the bytes)


def _decode(value: str) -> Any:
    """python-telegram-bot sends nested values (reply_markup, commands) as JSON strings."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def entities_for(text: str) -> list[Json]:
    """The entities Telegram would attach: a leading /command and @mentions."""
    found: list[Json] = []
    command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
    if command:
        found.append({"type": "bot_command", "offset": 0, "length": command.end()})
    for m in re.finditer(r"(?<![\w/])@[A-Za-z0-9_]{5,}", text):
        found.append({"type": "mention", "offset": m.start(), "length": m.end() - m.start()})
    return found


class BotApiStandIn:
    """The stand-in Bot API: `start()`, then `push_*` updates and read `calls`."""

    def __init__(self, local_dir: Path | None = None) -> None:
        # With `local_dir`, a local Bot API server (`--local`): getFile answers an absolute path
        # of a file on this machine, without the hosted download limit.
        self.local_dir = local_dir
        self.calls: list[Call] = []
        self.downloads: list[str] = []  # file paths the bot downloaded
        self.files: dict[str, StoredFile] = {}
        self.faults: dict[str, deque[Json]] = {}
        self.upload_limit: int | None = None  # uploads above it (all files together) get a 413
        self._updates: list[Json] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadedServer | None = None
        self.port = 0

    # URLs for the Application builder

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # scripting

    def fail(self, method: str, code: int = 429, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer an error (429 carries `retry_after`)."""
        body: Json = {"ok": False, "error_code": code, "description": f"stand-in error {code}"}
        if code == 429:
            body["description"] = f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        with self._lock:
            self.faults.setdefault(method, deque()).extend([body] * times)

    def add_file(self, data: bytes, size: int | None = None) -> str:
        """Hold a file the user "sent"; `size` may claim more than `data` (for limit tests)."""
        file_id = f"file-{next(self._file_ids)}"
        self.files[file_id] = StoredFile(file_id, data, len(data) if size is None else size)
        return file_id

    def push(self, update: Json) -> int:
        """Queue a raw update for getUpdates; returns its update_id."""
        with self._lock:
            update_id = next(self._update_ids)
            self._updates.append({"update_id": update_id, **update})
        return update_id

    def message(
        self,
        chat: Json,
        user: Json,
        text: str | None = None,
        *,
        caption: str | None = None,
        thread_id: int | None = None,
        reply_to: Json | None = None,
        **media: Any,
    ) -> Json:
        """A Message object as Telegram would deliver it (entities included)."""
        msg: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
        }
        if text is not None:
            msg["text"] = text
            if ents := entities_for(text):
                msg["entities"] = ents
        if caption is not None:
            msg["caption"] = caption
            if ents := entities_for(caption):
                msg["caption_entities"] = ents
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        if reply_to is not None:
            msg["reply_to_message"] = reply_to
        msg.update(media)
        return msg

    def push_message(self, chat: Json, user: Json, text: str | None = None, **kw: Any) -> Json:
        msg = self.message(chat, user, text, **kw)
        self.push({"message": msg})
        return msg

    def push_document(
        self,
        chat: Json,
        user: Json,
        name: str,
        data: bytes,
        mime: str,
        *,
        size: int | None = None,
        caption: str | None = None,
        **kw: Any,
    ) -> str:
        file_id = self.add_file(data, size)
        doc = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": mime,
            "file_size": self.files[file_id].size,
        }
        self.push_message(chat, user, caption=caption, document=doc, **kw)
        return file_id

    def push_callback(self, chat: Json, user: Json, data: str, message_id: int) -> None:
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Voiceover"},
            "text": "What next?",
        }
        self.push(
            {
                "callback_query": {
                    "id": f"cb{next(self._update_ids)}",
                    "from": user,
                    "chat_instance": "ci",
                    "message": message,
                    "data": data,
                }
            }
        )

    def pending(self) -> int:
        with self._lock:
            return len(self._updates)

    def sent(self, *methods: str, chat_id: int | None = None, failed: bool = False) -> list[Call]:
        """Recorded calls of these methods (optionally to one chat), in order; answered ones
        only, unless `failed` (then only the ones that got a scripted error)."""
        with self._lock:
            calls = list(self.calls)
        return [
            c
            for c in calls
            if c.method in methods
            and c.failed == failed
            and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    # the Bot API

    def _ok(self, result: Any) -> JSONResponse:
        return JSONResponse({"ok": True, "result": result})

    def _bot_message(self, params: Json, **extra: Any) -> Json:
        chat_id = int(params.get("chat_id", 0))
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id < 0:
            chat["title"] = "stand-in group"
        msg: Json = {
            "message_id": int(params.get("message_id") or next(self._message_ids)),
            "date": int(time.time()),
            "chat": chat,
            "from": {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Voiceover",
                "username": BOT_USERNAME,
            },
        }
        if "message_thread_id" in params:
            msg["message_thread_id"] = int(params["message_thread_id"])
        msg.update(extra)
        return msg

    async def method(self, request: Request) -> Response:
        name = request.path_params["method"]
        if request.path_params["token"] != TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        params: Json = {}
        files: dict[str, tuple[str, bytes]] = {}
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            params = await request.json()
        elif ctype:
            form = await request.form()
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files[key] = (value.filename or key, await value.read())
                else:
                    params[key] = _decode(value)
        if name != "getUpdates":
            with self._lock:
                queue = self.faults.get(name)
                fault = queue.popleft() if queue else None
                uploaded = sum(len(data) for _name, data in files.values())
                if fault is None and self.upload_limit is not None and uploaded > self.upload_limit:
                    fault = TOO_LARGE
                self.calls.append(Call(name, params, files, failed=fault is not None))
            if fault is not None:
                return JSONResponse(fault, status_code=int(fault["error_code"]))
        handler = getattr(self, f"_m_{name}", None)
        if handler is None:
            return self._ok(True)
        result: Response = await handler(params, files)
        return result

    async def _m_getMe(self, params: Json, files: Any) -> Response:
        return self._ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "Voiceover",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _m_getUpdates(self, params: Json, files: Any) -> Response:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 1.0)
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates[: int(params.get("limit") or 100)])
            if ready or time.monotonic() >= deadline:
                return self._ok(ready)
            await asyncio.sleep(0.02)

    async def _m_getFile(self, params: Json, files: Any) -> Response:
        stored = self.files.get(str(params.get("file_id")))
        if stored is None:
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                status_code=400,
            )
        path = f"documents/{stored.file_id}"
        if self.local_dir is not None:
            local = self.local_dir / path
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(stored.data)
            path = str(local.resolve())
        elif stored.size > HOSTED_DOWNLOAD_LIMIT:
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"},
                status_code=400,
            )
        return self._ok(
            {
                "file_id": stored.file_id,
                "file_unique_id": f"u{stored.file_id}",
                "file_size": stored.size,
                "file_path": path,
            }
        )

    async def _m_sendMessage(self, params: Json, files: Any) -> Response:
        return self._ok(self._bot_message(params, text=params.get("text", "")))

    async def _m_editMessageText(self, params: Json, files: Any) -> Response:
        return self._ok(self._bot_message(params, text=params.get("text", "")))

    async def _m_sendVideo(self, params: Json, files: dict[str, tuple[str, bytes]]) -> Response:
        video = {
            "file_id": f"sent-{next(self._file_ids)}",
            "file_unique_id": "v",
            "width": int(params.get("width") or 0),
            "height": int(params.get("height") or 0),
            "duration": int(float(params.get("duration") or 0)),
        }
        return self._ok(self._bot_message(params, video=video))

    async def _m_sendDocument(self, params: Json, files: Any) -> Response:
        doc = {"file_id": f"sent-{next(self._file_ids)}", "file_unique_id": "d"}
        return self._ok(self._bot_message(params, document=doc))

    async def file(self, request: Request) -> Response:
        if request.path_params["token"] != TOKEN:
            return Response(status_code=401)
        path = request.path_params["path"]
        with self._lock:
            self.downloads.append(path)
        stored = self.files.get(path.rsplit("/", 1)[-1])
        if stored is None:
            return Response(status_code=404)
        return Response(stored.data, media_type="application/octet-stream")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self.method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self.file),
            ]
        )

    # lifecycle

    def start(self) -> BotApiStandIn:
        self._server = ThreadedServer(self.app(), "botapi")
        self.port = self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
