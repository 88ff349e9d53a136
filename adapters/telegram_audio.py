"""Telegram rendering of an `AudioAlbum` (the voices' samples): one clip is a `sendAudio`, two to ten
are one `sendMediaGroup` album, each clip with its own caption and title, so a chat gets one
message (and a group spends one call of its budget) for the whole catalogue."""

from __future__ import annotations

from typing import Any, Protocol

from telegram import Bot, InputMediaAudio, Message
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from adapters.telegram_rules import GroupBudget, too_large, with_retry
from bot.messages import AudioAlbum, TooLargeForChat

ALBUM_MAX = 10  # sendMediaGroup takes 2-10 items


class Sender(Protocol):
    """What of a `TelegramReplier` this needs."""

    bot: Bot
    budget: GroupBudget | None

    async def chat_action(self, action: str | None = None) -> None: ...
    def caption_html(self, caption: str) -> str: ...
    def common(self) -> dict[str, Any]: ...


async def send_album(reply: Sender, out: AudioAlbum) -> int:
    """Send the clips; the first message's id is the handle. A 413 raises `TooLargeForChat`."""
    if not 1 <= len(out.files) <= ALBUM_MAX:
        raise ValueError(f"an album holds 1 to {ALBUM_MAX} clips, not {len(out.files)}")
    await reply.chat_action(ChatAction.UPLOAD_VOICE)
    if reply.budget is not None:
        await reply.budget.take()
    try:
        if len(out.files) == 1:
            clip = out.files[0]
            msg: Message = await with_retry(
                lambda: reply.bot.send_audio(
                    audio=clip.path,
                    filename=clip.path.name,
                    title=clip.title or None,
                    caption=reply.caption_html(clip.caption),
                    parse_mode=ParseMode.HTML,
                    read_timeout=60,
                    write_timeout=120,
                    **reply.common(),
                ),
                "sendAudio",
            )
            return msg.message_id
        media = [
            InputMediaAudio(
                media=clip.path.read_bytes(),
                filename=clip.path.name,
                title=clip.title or None,
                caption=reply.caption_html(clip.caption),
                parse_mode=ParseMode.HTML,
            )
            for clip in out.files
        ]
        sent = await with_retry(
            lambda: reply.bot.send_media_group(
                media=media, read_timeout=60, write_timeout=120, **reply.common()
            ),
            "sendMediaGroup",
        )
        return sent[0].message_id
    except TelegramError as exc:
        if too_large(exc):
            raise TooLargeForChat(sum(c.size or c.path.stat().st_size for c in out.files)) from exc
        raise
