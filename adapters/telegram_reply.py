"""Telegram side of the engine's `Replier`: renders `Outbound` replies as Bot API calls.

Everything the engine says goes out as HTML-escaped text (parse mode HTML), so Markdown or HTML in
user text that the engine echoes arrives as the characters the user typed. Progress is one message
edited in place; videos get duration, size and a JPEG thumbnail cut with ffmpeg. A 429 that outlives
the library's rate limiter retries is retried here, after `retry_after`: a reply is never dropped.
A video Telegram refuses as too large (HTTP 413) raises `TooLargeForChat`: the engine sends its
download link instead, and `on_refused` lets the adapter lower its limit for later results.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import warnings
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, TypeVar

import imageio_ffmpeg
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError

from bot.messages import (
    Buttons,
    FileDoc,
    Limits,
    Link,
    Outbound,
    Progress,
    Text,
    TooLargeForChat,
    VideoFile,
    split_text,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MESSAGE_CHARS = 4096
CAPTION_CHARS = 1024
CALLBACK_DATA_BYTES = 64
RETRIES = 6  # 429s retried here, on top of the rate limiter's own retries
THUMB_BOX = 320  # Telegram: thumbnails at most 320x320, JPEG, under 200 kB

# Told the size Telegram refused, so later results of that size go out as links at once.
Refused = Callable[[int], None]


def too_large(exc: TelegramError) -> bool:
    """Telegram refused an upload for its size: HTTP 413 "Request Entity Too Large" (a
    `NetworkError` in python-telegram-bot) or a 400 "file is too big"."""
    text = str(exc).lower()
    return "413" in text or "too large" in text or "too big" in text


def retry_seconds(exc: RetryAfter) -> float:
    """`retry_after` in seconds (an int or a timedelta, depending on the library's settings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value: int | dt.timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


async def with_retry(call: Callable[[], Awaitable[T]], what: str) -> T:
    """Run a Bot API call, waiting out 429s (`retry_after`) instead of losing the reply."""
    for attempt in range(RETRIES):
        try:
            return await call()
        except RetryAfter as exc:
            delay = retry_seconds(exc) + 0.2
            log.warning("%s: flood control, retrying in %.1f s (%d)", what, delay, attempt + 1)
            await asyncio.sleep(delay)
    return await call()


async def run_ffmpeg(*args: str) -> bool:
    """Run the bundled ffmpeg quietly; True if it succeeded."""
    proc = await asyncio.create_subprocess_exec(
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-y",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        log.info("ffmpeg failed: %s", err.decode(errors="replace").strip()[-300:])
    return proc.returncode == 0


async def make_thumbnail(video: Path, duration_ms: int | None) -> Path | None:
    """A JPEG frame (at most 320x320) from up to 3 s into the video, or None if ffmpeg can't."""
    at = min(3.0, (duration_ms or 0) / 2000)
    out = video.with_name(video.stem + ".thumb.jpg")
    ok = await run_ffmpeg(
        "-ss",
        f"{at:.2f}",
        "-i",
        str(video),
        "-frames:v",
        "1",
        "-vf",
        f"scale={THUMB_BOX}:{THUMB_BOX}:force_original_aspect_ratio=decrease",
        "-q:v",
        "5",
        str(out),
    )
    if not ok or not out.is_file() or out.stat().st_size == 0:
        out.unlink(missing_ok=True)
        return None
    return out


class TelegramReplier:
    """Replies for one chat (and forum topic), on behalf of one user in groups."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        limits: Limits,
        *,
        thread_id: int | None = None,
        who: str | None = None,
        callbacks: MutableMapping[str, str] | None = None,
        on_refused: Refused | None = None,
    ) -> None:
        self.bot = bot
        self.on_refused = on_refused
        self.chat_id = chat_id
        self.thread_id = thread_id
        self.who = who  # HTML mention prefixed to replies in groups ("@ann: ...")
        self.limits = limits
        self.callbacks = callbacks if callbacks is not None else {}
        self.action: str = ChatAction.TYPING

    # the Replier protocol

    async def send(self, out: Outbound) -> object:
        if isinstance(out, Progress):
            if out.key.startswith("render"):
                self.action = ChatAction.UPLOAD_VIDEO
            return await self._text(out.text)
        if isinstance(out, Text):
            return await self._text(out.text)
        if isinstance(out, Buttons):
            return await self._text(out.text, self._keyboard(out))
        if isinstance(out, Link):
            link = f'<a href="{html.escape(out.url, quote=True)}">{html.escape(out.url)}</a>'
            return await self._send_message(
                self._prefix(html.escape(out.label, quote=False)) + "\n" + link
            )
        if isinstance(out, VideoFile):
            try:
                return await self._video(out)
            except TelegramError as exc:
                if not too_large(exc):
                    raise
                size = out.size or out.path.stat().st_size
                if self.on_refused is not None:
                    self.on_refused(size)
                raise TooLargeForChat(size) from exc
        if isinstance(out, FileDoc):
            return await self._document(out.path, out.caption)
        raise TypeError(f"unknown outbound {out!r}")

    async def edit(self, handle: object, out: Outbound) -> None:
        if not isinstance(handle, int) or not isinstance(out, Progress | Text):
            await self.send(out)
            return
        text = self._prefix(html.escape(out.text[: self.limits.max_message_chars], quote=False))
        try:
            await with_retry(
                lambda: self.bot.edit_message_text(
                    text, chat_id=self.chat_id, message_id=handle, parse_mode=ParseMode.HTML
                ),
                "editMessageText",
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                raise

    # pieces

    def _prefix(self, escaped: str) -> str:
        return f"{self.who}: {escaped}" if self.who else escaped

    def _common(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "message_thread_id": self.thread_id}

    async def _send_message(self, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        msg: Message = await with_retry(
            lambda: self.bot.send_message(
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                **self._common(),
            ),
            "sendMessage",
        )
        return msg.message_id

    async def _text(self, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        room = MESSAGE_CHARS - len(self.who or "") - 2
        pieces = split_text(text, room)
        handle = 0
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            handle = await self._send_message(
                self._prefix(html.escape(piece, quote=False)), markup if last else None
            )
        return handle

    def _keyboard(self, out: Buttons) -> InlineKeyboardMarkup:
        row: list[InlineKeyboardButton] = []
        rows: list[list[InlineKeyboardButton]] = []
        for button in out.buttons:
            data = button.command
            if len(data.encode()) > CALLBACK_DATA_BYTES:
                data = f"k:{len(self.callbacks)}"
                self.callbacks[data] = button.command
            row.append(InlineKeyboardButton(button.label, callback_data=data))
            if len(row) == 3:
                rows.append(row)
                row = []
        if row:
            rows.append(row)
        return InlineKeyboardMarkup(rows)

    def _caption(self, caption: str) -> str:
        room = CAPTION_CHARS - len(self.who or "") - 2
        return self._prefix(html.escape(caption[:room], quote=False))

    async def _video(self, out: VideoFile) -> int:
        await self.chat_action(ChatAction.UPLOAD_VIDEO)
        thumb = await make_thumbnail(out.path, out.duration_ms)
        try:
            msg: Message = await with_retry(
                lambda: self.bot.send_video(
                    video=out.path,
                    # the Bot API wants whole seconds
                    duration=dt.timedelta(seconds=round(out.duration_ms / 1000))
                    if out.duration_ms
                    else None,
                    width=out.width,
                    height=out.height,
                    thumbnail=thumb,
                    caption=self._caption(out.caption),
                    parse_mode=ParseMode.HTML,
                    supports_streaming=True,
                    read_timeout=120,
                    write_timeout=600,
                    **self._common(),
                ),
                "sendVideo",
            )
            return msg.message_id
        except BadRequest as exc:  # Telegram would not take it as a video: send the file
            if too_large(exc):
                raise
            log.warning("sendVideo refused (%s); sending the MP4 as a document", exc)
            return await self._document(out.path, out.caption)
        finally:
            if thumb is not None:
                thumb.unlink(missing_ok=True)

    async def _document(self, path: Path, caption: str) -> int:
        msg: Message = await with_retry(
            lambda: self.bot.send_document(
                document=path,
                caption=self._caption(caption),
                parse_mode=ParseMode.HTML,
                read_timeout=120,
                write_timeout=600,
                **self._common(),
            ),
            "sendDocument",
        )
        return msg.message_id

    async def chat_action(self, action: str | None = None) -> None:
        """Show "typing..." / "sending video..." (Telegram clears it after about 5 s)."""
        try:
            await self.bot.send_chat_action(action=action or self.action, **self._common())
        except Exception as exc:  # a lost chat action is cosmetic
            log.debug("sendChatAction failed: %s", exc)
