"""Telegram's rules as the Bot API documents them, in one place: message and caption sizes
(counted in UTF-16 code units, as Telegram counts), the 64-byte callback data, the group budget of
about 20 messages a minute, 429 retries after `retry_after`, and the JPEG thumbnail a video gets."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import imageio_ffmpeg
from telegram.error import RetryAfter, TelegramError

from bot.messages import split_text

log = logging.getLogger(__name__)

T = TypeVar("T")

MESSAGE_CHARS = 4096
CAPTION_CHARS = 1024
CALLBACK_DATA_BYTES = 64
RETRIES = 6  # 429s retried here, on top of the rate limiter's own retries
THUMB_BOX = 320  # Telegram: thumbnails at most 320x320, JPEG, under 200 kB

GROUP_PER_MINUTE = 20  # Telegram's limit for one group (the Bot FAQ)
OPTIONAL_RESERVE = 10  # progress edits stop when only this many of the minute's calls are left
BURST, BURST_SECONDS = 8, 8.0  # about one a second, with short bursts
FOLD_SECONDS = 0.4  # a job's closing edit waits this long for replies to fold into it
# Telegram notifies nobody of an edit: an answer that comes this long after the job's message
# was made goes out as a message of its own (and the job's message from then on), not folded in.
NOTIFY_AFTER_SECONDS = 8.0


class GroupBudget:
    """The calls made to one group, counted before each new one against Telegram's limits: 20 a
    minute, and about one a second (short bursts allowed)."""

    # (calls, seconds, how many of them optional calls leave for the ones that must go out)
    LIMITS = ((GROUP_PER_MINUTE, 60.0, OPTIONAL_RESERVE), (BURST, BURST_SECONDS, 2))

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._lock = asyncio.Lock()

    def _wait(self, now: float, optional: bool) -> float | None:
        """Seconds until one more call fits (0: now); None: an optional call that should not go."""
        while self._times and self._times[0] <= now - 60.0:
            self._times.popleft()
        wait = 0.0
        for calls, seconds, reserve in self.LIMITS:
            recent = [t for t in self._times if t > now - seconds]
            room = calls - len(recent)
            if optional and room <= reserve:
                return None
            if room <= 0:
                wait = max(wait, recent[-calls] + seconds - now + 0.05)
        return wait

    def left(self) -> int:
        now = asyncio.get_running_loop().time()
        return GROUP_PER_MINUTE - len([t for t in self._times if t > now - 60.0])

    async def take(self, *, optional: bool = False) -> bool:
        """Count one call, waiting for room if needed. An `optional` call (a progress edit that
        nobody must see) is refused (False) instead when the budget runs low."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            while True:
                wait = self._wait(loop.time(), optional)
                if wait is None:
                    return False
                if wait <= 0:
                    self._times.append(loop.time())
                    return True
                await asyncio.sleep(wait)


def units(text: str) -> int:
    """Telegram's length of a text: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, room: int) -> str:
    """The longest start of `text` within `room` UTF-16 code units."""
    if units(text) <= room:
        return text
    n = min(len(text), room)
    while n > 0 and units(text[:n]) > room:
        n -= max(1, (units(text[:n]) - room) // 2)
    return text[:n]


def pieces(text: str, room: int) -> list[str]:
    """`text` in messages of at most `room` UTF-16 code units, cut at line breaks (or spaces)
    where possible."""
    out: list[str] = []
    for part in split_text(text, room):
        while units(part) > room:
            head = clip(part, room)
            cut = max(head.rfind("\n"), head.rfind(" "))
            head = head[:cut] if cut > len(head) // 2 else head
            out.append(head)
            part = part[len(head) :].lstrip("\n")
        if part or not out:
            out.append(part)
    return out


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
