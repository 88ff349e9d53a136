"""A STAND-IN of the Telegram Bot API HTTP server for tests. It is NOT Telegram.

The real python-telegram-bot `Application` talks to it through `base_url`/`base_file_url` on
127.0.0.1. It serves just enough of the Bot API: `getMe`, `getUpdates` (long polling over scripted
updates), `getFile` and file downloads (refusing files above the hosted 20,000,000-byte limit, as
Telegram does), `setMyCommands`, `sendChatAction`, `deleteWebhook`, and it records every call, with
uploaded files, for assertions: `sendMessage`, `editMessageText`, `sendVideo`, `sendDocument`,
`answerCallbackQuery`... Faults (429 with `retry_after`) are scripted per method; uploads above
`upload_limit` bytes (50,000,000 by default, as hosted Telegram) are answered 413 "Request Entity Too
Large". Runs with uvicorn in a thread, like tests/support/standin.py.

It is strict in the documented ways (https://core.telegram.org/bots/api, /bots/faq, /bots/features):
- an unknown method is 404 "Not Found";
- text over 4096 characters (after HTML entity parsing) is 400 "Bad Request: message is too long",
  a caption over 1024 "Bad Request: message caption is too long", empty text "message text is
  empty", malformed HTML "can't parse entities", `callback_data` over 64 bytes "BUTTON_DATA_INVALID";
- flood control: a chat gets about one message a second (short bursts allowed), a group at most 20
  calls a minute; beyond that 429 "Too Many Requests: retry after N" with `parameters.retry_after`;
- `sendAudio` takes MP3 or M4A only; `sendMediaGroup` 2-10 items, audio never mixed with another
  kind, each caption within 1024, each `attach://` file sent with the call (an album counts once
  against flood control);
- privacy mode (on by default, as for every new bot): in groups only commands, replies to the bot's
  own messages and service messages are delivered; everything else never becomes an update;
- webhooks: one per bot (`setWebhook` replaces the URL and secret; `deleteWebhook` removes it);
  while one is set `getUpdates` is 409 "Conflict"; updates are POSTed to it one at a time, in
  order, with the `X-Telegram-Bot-Api-Secret-Token` header, and an update is sent again until it
  gets a 2xx (`last_error_message` in `getWebhookInfo`); the secret is 1-256 characters of
  A-Z a-z 0-9 _ -. Unlike Telegram it takes http:// URLs on 127.0.0.1 (tests have no certificate).
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

import httpx
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
HOSTED_UPLOAD_LIMIT = 50_000_000
TOO_LARGE = {"ok": False, "error_code": 413, "description": "Request Entity Too Large"}
MESSAGE_CHARS = 4096
CAPTION_CHARS = 1024
CALLBACK_DATA_BYTES = 64
CHAT_BURST = 8  # messages a chat may get at once, then about one a second
CHAT_WINDOW = 8.0
GROUP_PER_MINUTE = 20
# Real methods that answer `True` here (anything else unknown to the stand-in is a 404).
TRUE_METHODS = frozenset(
    {
        "setMyCommands",
        "deleteMyCommands",
        "sendChatAction",
        "answerCallbackQuery",
        "deleteMessage",
        "close",
        "logOut",
    }
)
# Calls that put something in a chat, and count against its flood limits.
CHAT_CALLS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
        "sendVideo",
        "sendDocument",
        "sendPhoto",
        "sendAudio",
        "sendVoice",
        "sendMediaGroup",  # an album counts once: Telegram takes 10 at a time
        "sendChatAction",
    }
)
MEDIA_GROUP = (2, 10)  # sendMediaGroup: 2-10 items, audio only with audio, documents with documents
HTML_TAGS = frozenset(
    "b strong i em u ins s strike del a code pre span tg-spoiler tg-emoji blockquote".split()
)

Json = dict[str, Any]


def bad_request(description: str, code: int = 400) -> Json:
    return {"ok": False, "error_code": code, "description": description}


def parsed_html(text: str) -> str | None:
    """What Telegram shows for `text` in parse mode HTML, or None if it cannot parse it."""
    stack: list[str] = []
    out: list[str] = []
    pos = 0
    for m in re.finditer(
        r"<(/?)([A-Za-z-]*)([^<>]*)>|<|>|&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&", text
    ):
        out.append(text[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("<", "&"):
            return None  # a bare "<" or "&" must be escaped
        if token == ">":
            out.append(">")
        elif token.startswith("&"):
            entity = m.group(4)
            names = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
            if entity.startswith("#"):
                out.append(chr(int(entity[2:], 16) if entity[1] == "x" else int(entity[1:])))
            elif entity in names:
                out.append(names[entity])
            else:
                return None
        else:
            closing, tag = m.group(1), m.group(2).lower()
            if tag not in HTML_TAGS:
                return None
            if closing:
                if not stack or stack.pop() != tag:
                    return None
            else:
                stack.append(tag)
    out.append(text[pos:])
    return None if stack else "".join(out)


def visible_length(text: str, parse_mode: str | None) -> int | None:
    """Telegram's length of a text (UTF-16 code units, after entity parsing); None if unparsable."""
    shown = parsed_html(text) if str(parse_mode or "").upper() == "HTML" else text
    return None if shown is None else len(shown.encode("utf-16-le")) // 2


@dataclass
class Call:
    """One Bot API call the bot made: its parameters and any files it uploaded."""

    method: str
    params: Json
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    failed: bool = False  # answered with an error (scripted, a limit, flood control)
    code: int = 200  # the HTTP status it got
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


@dataclass
class StoredFile:
    file_id: str
    data: bytes
    size: int  # what Telegram reports (tests may claim a size without holding the bytes)


def is_mp3_or_m4a(data: bytes) -> bool:
    """An MP3 (ID3 tag or MPEG audio frame sync) or an M4A (ISO BMFF `ftyp` box)."""
    mp3 = data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    return mp3 or data[4:8] == b"ftyp"


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
        # cleared: file downloads wait until it is set again (a slow download, for tests that need
        # a turn to be still running when the next update arrives); at most a minute
        self.files_flowing = threading.Event()
        self.files_flowing.set()
        self.files: dict[str, StoredFile] = {}
        self.faults: dict[str, deque[Json]] = {}
        # uploads above it (all files together) get a 413; a local Bot API server takes 2 GB
        self.upload_limit: int | None = None if local_dir is not None else HOSTED_UPLOAD_LIMIT
        self.privacy = True  # privacy mode, on by default for bots (BotFather's /setprivacy)
        self.flood = True  # the per-chat and per-group flood limits
        self.withheld: list[Json] = []  # group messages privacy mode kept from the bot
        self._chat_times: dict[str, deque[float]] = {}
        self._group_times: dict[str, deque[float]] = {}
        self._updates: list[Json] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadedServer | None = None
        self.port = 0
        # webhook mode: the one webhook, every POST made to it (update id, HTTP status or 0 for
        # no answer), and the thread that makes them
        self.webhook: Json | None = None
        self.webhook_posts: list[tuple[int, int]] = []
        self.webhook_retry_seconds = 0.2  # Telegram waits longer; tests need not
        self._last_webhook_error: tuple[int, str] | None = None
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._deliverer: threading.Thread | None = None

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

    def delivered(self, message: Json) -> bool:
        """Privacy mode: in groups the bot gets commands (not another bot's), replies to its own
        messages and service messages only."""
        if not self.privacy or message.get("chat", {}).get("type") == "private":
            return True
        text = message.get("text") or message.get("caption") or ""
        command = re.match(r"/[A-Za-z0-9_]+(?:@([A-Za-z0-9_]+))?", text)
        if command:
            return command.group(1) is None or command.group(1).lower() == BOT_USERNAME.lower()
        reply = message.get("reply_to_message") or {}
        if (reply.get("from") or {}).get("id") == BOT_ID:
            return True
        content = {"text", "caption", "document", "video", "audio", "voice", "photo", "video_note"}
        return not content & message.keys()  # a service message

    def push(self, update: Json) -> int:
        """Queue a raw update for getUpdates; returns its update_id (0: privacy mode kept a group
        message from the bot, as Telegram would)."""
        message = update.get("message")
        if message is not None and not self.delivered(message):
            self.withheld.append(message)
            return 0
        with self._lock:
            update_id = next(self._update_ids)
            self._updates.append({"update_id": update_id, **update})
            self._wake.notify_all()
        return update_id

    # webhook delivery (a thread of its own, as Telegram's servers are)

    def _next_for_webhook(self) -> tuple[Json, Json] | None:
        """Wait for an update to POST and the webhook to POST it to (None: stopping)."""
        with self._lock:
            while not self._stopping:
                hook = self.webhook
                if hook is not None and self._updates:
                    allowed = hook.get("allowed_updates") or []
                    update = self._updates[0]
                    if allowed and not any(kind in update for kind in allowed):
                        self._updates.pop(0)  # a kind the bot did not ask for is never sent
                        continue
                    return update, hook
                self._wake.wait(0.5)
        return None

    def _deliver(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while (ready := self._next_for_webhook()) is not None:
                update, hook = ready
                headers = {}
                if hook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = str(hook["secret_token"])
                try:
                    status = client.post(hook["url"], json=update, headers=headers).status_code
                    error = f"Wrong response from the webhook: {status}"
                except httpx.HTTPError as exc:
                    status, error = 0, f"Connection failed: {type(exc).__name__}"
                with self._lock:
                    self.webhook_posts.append((update["update_id"], status))
                    if 200 <= status < 300:
                        if self._updates and self._updates[0] is update:
                            self._updates.pop(0)
                        continue
                    self._last_webhook_error = (int(time.time()), error)
                time.sleep(self.webhook_retry_seconds)  # then the same update again

    def webhook_deliveries(self) -> list[int]:
        """The update ids the webhook answered with a 2xx, in order."""
        with self._lock:
            return [uid for uid, status in self.webhook_posts if 200 <= status < 300]

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

    def push_callback(
        self, chat: Json, user: Json, data: str, message_id: int, *, thread_id: int | None = None
    ) -> None:
        message: Json = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Voiceover"},
            "text": "What next?",
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
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

    def _invalid(self, name: str, params: Json) -> Json | None:
        """The documented 400s for what the bot asked (None: a valid call)."""
        mode = params.get("parse_mode")
        if name in ("sendMessage", "editMessageText"):
            text = str(params.get("text") or "")
            if not text.strip():
                return bad_request("Bad Request: message text is empty")
            length = visible_length(text, mode)
            if length is None:
                return bad_request("Bad Request: can't parse entities")
            if length > MESSAGE_CHARS:
                return bad_request("Bad Request: message is too long")
        elif "caption" in params and params["caption"] is not None:
            length = visible_length(str(params["caption"]), mode)
            if length is None:
                return bad_request("Bad Request: can't parse entities")
            if length > CAPTION_CHARS:
                return bad_request("Bad Request: message caption is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, dict):
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_BYTES:
                        return bad_request("Bad Request: BUTTON_DATA_INVALID")
        return None

    def _invalid_media(
        self, name: str, params: Json, files: dict[str, tuple[str, bytes]]
    ) -> Json | None:
        """sendAudio takes MP3 or M4A; sendMediaGroup 2-10 items of one kind, each caption within
        1024 and each `attach://` file sent with it (the documented rules)."""
        if name == "sendAudio":
            data = files.get("audio", ("", b""))[1]
            return None if is_mp3_or_m4a(data) else bad_request("Bad Request: wrong audio format")
        if name != "sendMediaGroup":
            return None
        media = params.get("media")
        if not isinstance(media, list) or not MEDIA_GROUP[0] <= len(media) <= MEDIA_GROUP[1]:
            return bad_request("Bad Request: media group must have 2-10 items")
        kinds = {str(m.get("type")) for m in media if isinstance(m, dict)}
        if len(kinds) > 1 and kinds & {"audio", "document"}:  # photos and videos may mix
            return bad_request("Bad Request: MEDIA_GROUP_INVALID")
        for item in media:
            length = visible_length(str(item.get("caption") or ""), item.get("parse_mode"))
            if length is None:
                return bad_request("Bad Request: can't parse entities")
            if length > CAPTION_CHARS:
                return bad_request("Bad Request: message caption is too long")
            ref = str(item.get("media") or "")
            if not ref.startswith("attach://") or ref[9:] not in files:
                return bad_request("Bad Request: wrong file identifier/HTTP URL specified")
            if item.get("type") == "audio" and not is_mp3_or_m4a(files[ref[9:]][1]):
                return bad_request("Bad Request: wrong audio format")
        return None

    def _flooded(self, name: str, params: Json) -> Json | None:
        """A 429 when this call would go over the chat's or the group's flood limit; else the
        call is counted (under the lock)."""
        if not self.flood or name not in CHAT_CALLS or "chat_id" not in params:
            return None
        chat = str(params["chat_id"])
        now = time.monotonic()
        waits: list[float] = []
        chat_times = self._chat_times.setdefault(chat, deque())
        while chat_times and chat_times[0] <= now - CHAT_WINDOW:
            chat_times.popleft()
        counts_in_chat = name != "sendChatAction"
        if counts_in_chat and len(chat_times) >= CHAT_BURST:
            waits.append(chat_times[0] + CHAT_WINDOW - now)
        group_times = self._group_times.setdefault(chat, deque())
        if chat.startswith("-"):
            while group_times and group_times[0] <= now - 60:
                group_times.popleft()
            if len(group_times) >= GROUP_PER_MINUTE:
                waits.append(group_times[0] + 60 - now)
        if waits:
            retry = max(1, int(max(waits) + 0.999))
            body = bad_request(f"Too Many Requests: retry after {retry}", 429)
            body["parameters"] = {"retry_after": retry}
            return body
        if counts_in_chat:
            chat_times.append(now)
        if chat.startswith("-"):
            group_times.append(now)
        return None

    def group_calls(self, chat_id: int) -> int:
        """Calls counted against the group's 20 a minute so far (answered ones)."""
        return len([c for c in self.sent(*CHAT_CALLS, chat_id=chat_id)])

    async def method(self, request: Request) -> Response:
        name = request.path_params["method"]
        if request.path_params["token"] != TOKEN:
            return JSONResponse(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401
            )
        handler = getattr(self, f"_m_{name}", None)
        if handler is None and name not in TRUE_METHODS:
            with self._lock:
                self.calls.append(Call(name, {}, failed=True))
            return JSONResponse(bad_request("Not Found", 404), status_code=404)
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
                fault = (
                    fault
                    or self._invalid(name, params)
                    or self._invalid_media(name, params, files)
                    or self._flooded(name, params)
                )
                code = int(fault["error_code"]) if fault is not None else 200
                self.calls.append(Call(name, params, files, failed=fault is not None, code=code))
            if fault is not None:
                return JSONResponse(fault, status_code=int(fault["error_code"]))
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
                "can_read_all_group_messages": not self.privacy,
                "supports_inline_queries": False,
            }
        )

    async def _m_setWebhook(self, params: Json, files: Any) -> Response:
        url = str(params.get("url") or "")
        if not url:  # an empty URL removes the webhook, as deleteWebhook does
            return await self._m_deleteWebhook(params, files)
        local = re.match(r"http://127\.0\.0\.1(:\d+)?/", url)
        if not url.startswith("https://") and not local:
            return self._refuse(
                "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            return self._refuse("Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        with self._lock:  # one webhook per bot: this one replaces any other
            self.webhook = {
                "url": url,
                "secret_token": secret,
                "allowed_updates": _decode(allowed) if isinstance(allowed, str) else allowed,
            }
            self._last_webhook_error = None
            self._wake.notify_all()
        return self._ok(True)

    async def _m_deleteWebhook(self, params: Json, files: Any) -> Response:
        with self._lock:
            self.webhook = None
            if str(params.get("drop_pending_updates")).lower() == "true":
                self._updates.clear()
        return self._ok(True)

    async def _m_getWebhookInfo(self, params: Json, files: Any) -> Response:
        with self._lock:
            hook, pending, error = self.webhook, len(self._updates), self._last_webhook_error
        info: Json = {"url": hook["url"] if hook else "", "has_custom_certificate": False}
        info["pending_update_count"] = pending
        if hook and hook.get("allowed_updates"):
            info["allowed_updates"] = hook["allowed_updates"]
        if error is not None:
            info["last_error_date"], info["last_error_message"] = error
        return self._ok(info)

    def _refuse(self, description: str, code: int = 400) -> Response:
        return JSONResponse(bad_request(description, code), status_code=code)

    async def _m_getUpdates(self, params: Json, files: Any) -> Response:
        if self.webhook is not None:
            return self._refuse(
                "Conflict: can't use getUpdates method while webhook is active;"
                " use deleteWebhook to delete the webhook first",
                409,
            )
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

    def _audio(self, data: bytes, title: Any) -> Json:
        return {
            "file_id": f"sent-{next(self._file_ids)}",
            "file_unique_id": "a",
            "duration": 0,
            "mime_type": "audio/mpeg",
            "file_size": len(data),
            **({"title": str(title)} if title else {}),
        }

    async def _m_sendAudio(self, params: Json, files: dict[str, tuple[str, bytes]]) -> Response:
        audio = self._audio(files["audio"][1], params.get("title"))
        return self._ok(self._bot_message(params, audio=audio, caption=params.get("caption")))

    async def _m_sendMediaGroup(
        self, params: Json, files: dict[str, tuple[str, bytes]]
    ) -> Response:
        group = f"g{next(self._file_ids)}"
        sent = []
        for item in params["media"]:
            audio = self._audio(files[item["media"][9:]][1], item.get("title"))
            msg = self._bot_message(
                params, audio=audio, caption=item.get("caption"), media_group_id=group
            )
            sent.append(msg)
        return self._ok(sent)

    async def _m_sendDocument(self, params: Json, files: Any) -> Response:
        doc = {"file_id": f"sent-{next(self._file_ids)}", "file_unique_id": "d"}
        return self._ok(self._bot_message(params, document=doc))

    async def file(self, request: Request) -> Response:
        if request.path_params["token"] != TOKEN:
            return Response(status_code=401)
        path = request.path_params["path"]
        for _ in range(3000):
            if self.files_flowing.is_set():
                break
            await asyncio.sleep(0.02)
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
        self._deliverer = threading.Thread(target=self._deliver, name="botapi-webhook", daemon=True)
        self._deliverer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        if self._deliverer is not None:
            self._deliverer.join(timeout=15)
        if self._server is not None:
            self._server.stop()
