"""Telegram side of the engine's `Replier`: renders `Outbound` replies as Bot API calls.

Everything the engine says goes out as HTML-escaped text (parse mode HTML), so Markdown or HTML in
user text that the engine echoes arrives as the characters the user typed. Progress is one message
edited in place; videos get duration, size and a JPEG thumbnail cut with ffmpeg. A 429 that outlives
the library's rate limiter retries is retried here, after `retry_after`: a reply is never dropped.
A video Telegram refuses as too large (HTTP 413) raises `TooLargeForChat`: the engine sends its
download link instead; the refusal says nothing about the next result, so no limit is lowered.

Groups get about 20 bot messages a minute (edits and chat actions included), so there a replier
spends them carefully: no chat actions; one message per job, created by its first progress line
and then edited in place, the job's replies and buttons folded into it (one edit, not one message
each); other people's "queued" notices folded in as notes (`note`); and `GroupBudget` counts the
group's calls before each one, skipping progress edits that are not needed when the budget runs low.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from adapters import telegram_rules
from adapters.telegram_audio import send_album
from adapters.telegram_rules import (
    CALLBACK_DATA_BYTES,
    CAPTION_CHARS,
    FOLD_SECONDS,
    MESSAGE_CHARS,
    GroupBudget,
    clip,
    make_thumbnail,
    pieces,
    too_large,
    units,
    with_retry,
)
from bot.messages import (
    AudioAlbum,
    Buttons,
    FileDoc,
    Limits,
    Link,
    Outbound,
    Progress,
    Text,
    TooLargeForChat,
    VideoFile,
)

log = logging.getLogger(__name__)


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
        budget: GroupBudget | None = None,
        live: MutableMapping[str, TelegramReplier] | None = None,
        key: str = "",
        busy: Callable[[str], bool] | None = None,
    ) -> None:
        self.bot = bot
        # groups: the job holding each chat's live message, so a message waiting in line behind
        # it folds its notice into that message (`busy`: the engine is working on the chat)
        self.live = live
        self.key = key
        self.busy = busy
        self.budget = budget  # set in groups: one message per job, calls counted
        self.chat_id = chat_id
        self.thread_id = thread_id
        self.who = who  # HTML mention prefixed to replies in groups ("@ann: ...")
        self.limits = limits
        self.callbacks = callbacks if callbacks is not None else {}
        self.action: str = ChatAction.TYPING
        # groups: the job's one message, its progress text, the notes and buttons folded in
        self._msg_id: int | None = None
        self._born = 0.0  # when it was sent (time.monotonic)
        # what the message shows, in order (escaped HTML), and which part is the live progress
        self._parts: list[str] = []
        self._head: int | None = None
        self._head_key = ""
        self._markup: InlineKeyboardMarkup | None = None
        self._shown = ""
        self._flush_timer: asyncio.Task[None] | None = None
        self._fold_lock = asyncio.Lock()

    @property
    def has_message(self) -> bool:
        return self._msg_id is not None

    # the Replier protocol

    async def send(self, out: Outbound) -> object:
        if self.budget is not None:
            return await self._group_send(out)
        return await self._send(out)

    async def _send(self, out: Outbound) -> object:
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
                raise TooLargeForChat(out.size or out.path.stat().st_size) from exc
        if isinstance(out, FileDoc):
            return await self._document(out.path, out.caption)
        if isinstance(out, AudioAlbum):
            return await send_album(self, out)
        raise TypeError(f"unknown outbound {out!r}")

    async def edit(self, handle: object, out: Outbound) -> None:
        if self.budget is not None and handle == self._msg_id and isinstance(out, Progress):
            await self._group_progress(out)
            return
        if not isinstance(handle, int) or not isinstance(out, Progress | Text):
            await self.send(out)
            return
        room = min(self.limits.max_message_chars, MESSAGE_CHARS - units(self.who or "") - 2)
        text = self._prefix(html.escape(clip(out.text, room), quote=False))
        if self.budget is not None:
            await self.budget.take()
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

    # groups

    async def _group_send(self, out: Outbound) -> object:
        current = self.live.get(self.key) if self.live is not None else None
        if (
            isinstance(out, Text)
            and self._msg_id is None
            and current is not None
            and current is not self
            and self.busy is not None
            and self.busy(self.key)
            and await current.note(self.who, out.text)
        ):
            return 0
        handle = await self._group_send_own(out)
        if self.live is not None and self._msg_id is not None:
            self.live[self.key] = self
        return handle

    async def close(self) -> None:
        """The job is over: its message shows everything, and is no longer the chat's live one."""
        await self.flush()
        if self.live is not None and self.live.get(self.key) is self:
            del self.live[self.key]

    async def _group_send_own(self, out: Outbound) -> object:
        if isinstance(out, Progress):
            if self._msg_id is None:
                self._set_progress(out)
                handle = await self._send(out)
                self._msg_id = handle if isinstance(handle, int) else None
                self._shown, self._born = self._body(), time.monotonic()
                return self._msg_id
            await self._group_progress(out)
            return self._msg_id
        if isinstance(out, Text | Buttons) and self._msg_id is not None:
            if time.monotonic() - self._born > telegram_rules.NOTIFY_AFTER_SECONDS:
                return await self._fresh_message(out)
            if isinstance(out, Buttons):
                self._markup = self._keyboard(out)
            if self._fits(out.text):
                self._parts.append(html.escape(out.text, quote=False))
                await self._schedule_flush(0.0 if isinstance(out, Buttons) else FOLD_SECONDS)
                return self._msg_id
        await self.flush()
        return await self._send(out)

    async def _fresh_message(self, out: Text | Buttons) -> object:
        """A late answer, sent (so people hear of it) as the job's message from now on."""
        await self.flush()
        markup = self._keyboard(out) if isinstance(out, Buttons) else None
        handle = await self._text(out.text, markup)
        self._msg_id = handle
        self._parts, self._head, self._markup = [html.escape(out.text, quote=False)], None, markup
        self._shown, self._born = self._body(), time.monotonic()
        return handle

    def _fits(self, text: str) -> bool:
        used = sum(units(n) + 2 for n in self._parts) + units(self.who or "") + 2
        return used + units(text) < MESSAGE_CHARS - 100

    def _set_progress(self, out: Progress) -> None:
        """A progress line replaces its own earlier text; a new one (the next stage of the job)
        goes below what the message already says."""
        text = html.escape(out.text, quote=False)
        if self._head is not None and out.key == self._head_key:
            self._parts[self._head] = text
        else:
            self._parts.append(text)
            self._head, self._head_key = len(self._parts) - 1, out.key

    async def _group_progress(self, out: Progress) -> None:
        self._set_progress(out)
        if out.done:  # the closing text: wait a moment for the replies to fold in
            await self._schedule_flush(FOLD_SECONDS)
            return
        assert self.budget is not None
        if await self.budget.take(optional=True):
            await self._edit_body()

    async def note(self, who: str | None, text: str) -> bool:
        """Fold someone else's short notice ("queued") into this job's message; False if there
        is no room."""
        if self._msg_id is None or not self._fits(text):
            return False
        escaped = html.escape(text, quote=False)
        self._parts.append(f"{who}: {escaped}" if who else escaped)
        await self._schedule_flush(FOLD_SECONDS)
        return True

    def _body(self) -> str:
        return self._prefix("\n\n".join(self._parts))

    async def _schedule_flush(self, delay: float) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()

        async def later() -> None:
            await asyncio.sleep(delay)
            self._flush_timer = None
            await self._flush_now()

        self._flush_timer = asyncio.create_task(later())

    async def flush(self) -> None:
        """Make the job's message show everything folded into it (when the job ends, or before
        something is sent on its own)."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        await self._flush_now()

    async def _flush_now(self) -> None:
        try:
            if self._msg_id is not None and self._body() != self._shown:
                assert self.budget is not None
                await self.budget.take()
                await self._edit_body()
        except Exception:  # a folded edit that fails must not kill the job
            log.warning("group message edit failed", exc_info=True)

    async def _edit_body(self) -> None:
        async with self._fold_lock:
            body = self._body()
            if body == self._shown or self._msg_id is None:
                return
            self._shown = body
            message_id = self._msg_id
            try:
                await with_retry(
                    lambda: self.bot.edit_message_text(
                        body,
                        chat_id=self.chat_id,
                        message_id=message_id,
                        parse_mode=ParseMode.HTML,
                        reply_markup=self._markup,
                    ),
                    "editMessageText",
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    raise

    # pieces

    def _prefix(self, escaped: str) -> str:
        return f"{self.who}: {escaped}" if self.who else escaped

    def common(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "message_thread_id": self.thread_id}

    async def _send_message(self, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        if self.budget is not None:
            await self.budget.take()
        msg: Message = await with_retry(
            lambda: self.bot.send_message(
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                **self.common(),
            ),
            "sendMessage",
        )
        return msg.message_id

    async def _text(self, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        room = MESSAGE_CHARS - units(self.who or "") - 2  # `who` is short: its HTML, at most
        parts = pieces(text, room)
        handle = 0
        for i, piece in enumerate(parts):
            last = i == len(parts) - 1
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

    def caption_html(self, caption: str) -> str:
        room = CAPTION_CHARS - units(self.who or "") - 2
        return self._prefix(html.escape(clip(caption, room), quote=False))

    async def _video(self, out: VideoFile) -> int:
        await self.chat_action(ChatAction.UPLOAD_VIDEO)
        if self.budget is not None:
            await self.budget.take()
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
                    caption=self.caption_html(out.caption),
                    parse_mode=ParseMode.HTML,
                    supports_streaming=True,
                    read_timeout=120,
                    write_timeout=600,
                    **self.common(),
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
        if self.budget is not None:
            await self.budget.take()
        msg: Message = await with_retry(
            lambda: self.bot.send_document(
                document=path,
                caption=self.caption_html(caption),
                parse_mode=ParseMode.HTML,
                read_timeout=120,
                write_timeout=600,
                **self.common(),
            ),
            "sendDocument",
        )
        return msg.message_id

    async def chat_action(self, action: str | None = None) -> None:
        """Show "typing..." / "sending video..." (Telegram clears it after about 5 s); not in
        groups, where every call spends the group's 20 a minute."""
        if self.budget is not None:
            return
        try:
            await self.bot.send_chat_action(action=action or self.action, **self.common())
        except Exception as exc:  # a lost chat action is cosmetic
            log.debug("sendChatAction failed: %s", exc)
