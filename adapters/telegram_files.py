"""Telegram files: the Bot API's size limits and fetching what users send.

- Limits are python-telegram-bot's `FileSizeLimit`: the Bot API counts decimal megabytes (hosted:
  20,000,000 bytes down, 50,000,000 up; a local server: 2,000,000,000). The MB settings that
  override them are decimal too.
- Downloads never block the event loop nor hold a whole file in memory: a local Bot API server's
  file (a path on this machine) is copied in a worker thread; a hosted one is streamed to disk
  (python-telegram-bot's `download_to_drive` reads the whole body into memory, then writes it).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from telegram import Bot
from telegram.constants import FileSizeLimit
from telegram.error import BadRequest

from bot.messages import TooLargeToFetch
from bot.settings import Settings

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

MB = 1_000_000  # the Bot API's megabytes are decimal
CHUNK = 1 << 16


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


def _encoded(url: str) -> str:
    """The file URL with its path percent-encoded (file paths may hold any UTF-8)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=quote(parts.path)))


async def download(bot: Bot, file_id: str, dest: Path, limit: int) -> Path:
    """`getFile`, then the file into `dest`: copied in a thread from a local Bot API server,
    streamed to disk in chunks from a hosted one (at most `limit` bytes)."""
    try:
        tg_file = await bot.get_file(file_id, read_timeout=60)
    except BadRequest as exc:  # the update need not carry file_size: Telegram says it here
        if "too big" in str(exc).lower():
            raise TooLargeToFetch(limit) from exc
        raise
    source = tg_file.file_path
    if not source:
        raise ValueError("Telegram gave no path for the file")
    if not source.startswith(("http://", "https://")):  # a path: a local Bot API server's file
        await asyncio.to_thread(shutil.copyfile, source, dest)  # up to 2 GB: not on the loop
        return dest
    try:
        await _stream(_encoded(source), dest, limit)
    except BaseException:
        await asyncio.to_thread(dest.unlink, missing_ok=True)
        raise
    return dest


async def _stream(url: str, dest: Path, limit: int) -> None:
    got = 0
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0)) as http:
        async with http.stream("GET", url) as resp:
            if resp.status_code != 200:  # the URL holds the bot token: never put it in errors
                raise ValueError(f"Telegram file download failed: HTTP {resp.status_code}")
            with dest.open("wb") as f:
                async for chunk in resp.aiter_bytes(CHUNK):
                    got += len(chunk)
                    if got > limit:
                        raise ValueError(f"the file is larger than the {limit}-byte limit")
                    f.write(chunk)
