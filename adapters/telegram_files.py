"""Telegram files: the Bot API's size limits, and the download-link fallback when Telegram
refuses a result as too large.

- Limits are python-telegram-bot's `FileSizeLimit`: the Bot API counts decimal megabytes (hosted:
  20,000,000 bytes down, 50,000,000 up; a local server: 2,000,000,000). The MB settings that
  override them are decimal too.
- A result Telegram still refuses (HTTP 413) is delivered again by the engine through a replier
  whose upload limit is below that file's size, so the engine sends its own download link.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from telegram.constants import FileSizeLimit

from bot.identity import Chat
from bot.messages import Outbound, Progress, Replier
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.engine import Engine

log = logging.getLogger(__name__)

MB = 1_000_000  # the Bot API's megabytes are decimal


def file_limits(settings: Settings) -> tuple[int, int]:
    """(download, upload) bytes: the hosted Bot API's, a local server's, or the settings'."""
    if settings.telegram_local_mode:
        down = up = int(FileSizeLimit.FILESIZE_UPLOAD_LOCAL_MODE)
    else:
        down, up = int(FileSizeLimit.FILESIZE_DOWNLOAD), int(FileSizeLimit.FILESIZE_UPLOAD)
    if settings.telegram_max_download_mb:
        down = int(settings.telegram_max_download_mb * MB)
    if settings.telegram_max_upload_mb:
        up = int(settings.telegram_max_upload_mb * MB)
    return down, up


class LinkOnly:
    """A replier for delivering a result again as a link: an upload limit below the size Telegram
    refused, and no second progress line (the first one already says the video is ready)."""

    def __init__(self, inner: Replier, max_upload_bytes: int) -> None:
        self.inner = inner
        self.limits = replace(inner.limits, max_upload_bytes=max(0, max_upload_bytes))

    async def send(self, out: Outbound) -> object:
        if isinstance(out, Progress):
            return None
        return await self.inner.send(out)

    async def edit(self, handle: object, out: Outbound) -> None:
        if not isinstance(out, Progress):
            await self.inner.send(out)


async def link_instead(engine: Engine, key: str, replier: Replier, size: int) -> bool:
    """After Telegram refused a `size`-byte result of chat `key`: the engine delivers the chat's
    render again, through a replier that cannot upload that much, so it sends its download link.
    False when no render of the chat is being delivered (nothing to link to)."""
    jobs = [job for job in await engine.store.in_flight_jobs() if job.chat_key == key]
    if not jobs:
        return False
    record = await engine.store.chat(key)
    chat = Chat(key, record.language or "en", record)
    await engine.exporter.follow(chat, LinkOnly(replier, size - 1), jobs[-1].render_id)
    return True
