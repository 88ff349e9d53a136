"""The engine's typed boundary: what adapters hand in (`Inbound`) and what they render (`Outbound`).

Adapters translate platform events into these and back; they never decide anything. Keeping the
types small and frozen makes every adapter's job a mechanical mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

# A coroutine an adapter supplies for attachments it has not downloaded yet: it fetches the file
# into the given folder and returns its path. Lazy, so oversized files are refused before any byte moves.
Fetcher = Callable[[Path], Awaitable[Path]]


@dataclass(frozen=True)
class Attachment:
    """A file the user sent: already on disk (`path`), reachable by `url`, or fetchable lazily."""

    name: str
    mime: str = "application/octet-stream"
    size: int | None = None
    path: Path | None = None
    url: str | None = None
    fetch: Fetcher | None = None


@dataclass(frozen=True)
class Inbound:
    """One message from a chat, platform-neutral."""

    chat_id: str
    user_id: str
    user_name: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    language: str | None = None  # an explicit language from the platform, if it knows
    # The person's app language ("zh" for a zh-hans Telegram), for chats that have none yet.
    user_language: str | None = None
    # The platform delivers only commands and replies to the bot here (a Telegram group in privacy
    # mode): /help says how to talk to the bot in such a chat.
    commands_only: bool = False
    platform: str = "console"  # sent to the backend as X-Skill-Platform

    @property
    def chat_key(self) -> str:
        return chat_key(self.platform, self.chat_id)


def chat_key(platform: str, chat_id: str) -> str:
    """Chats of different platforms never share a backend session."""
    return f"{platform}:{chat_id}"


def platform_of(key: str) -> str:
    return key.split(":", 1)[0] if ":" in key else "console"


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Progress:
    """A status line created once per job, then edited in place (same `key`) as stages pass."""

    key: str
    text: str
    done: bool = False


@dataclass(frozen=True)
class VideoFile:
    path: Path
    caption: str = ""
    duration_ms: int | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class FileDoc:
    path: Path
    caption: str = ""
    size: int | None = None


@dataclass(frozen=True)
class AudioFile:
    """A short audio clip (a voice's spoken sample): `title` names it in the chat's player."""

    path: Path
    caption: str = ""
    title: str = ""
    duration_ms: int | None = None
    size: int | None = None


@dataclass(frozen=True)
class AudioAlbum:
    """Several clips sent as one message where the platform groups them (at most 10)."""

    files: tuple[AudioFile, ...]


@dataclass(frozen=True)
class Link:
    """A download link for results too big for the platform."""

    url: str
    label: str
    expires_at: float | None = None
    size: int | None = None


@dataclass(frozen=True)
class Button:
    label: str
    command: str  # sent back to the engine as the user's text when pressed


@dataclass(frozen=True)
class Buttons:
    text: str
    buttons: tuple[Button, ...] = ()


Outbound = Text | Progress | VideoFile | FileDoc | AudioAlbum | Link | Buttons


@dataclass(frozen=True)
class Limits:
    """What the platform allows; the engine checks sizes before it moves any bytes."""

    max_upload_bytes: int = 2**62  # largest file the bot may send to the chat
    max_download_bytes: int = 2**62  # largest file the bot may fetch from the chat
    max_message_chars: int = 4096
    min_edit_interval_seconds: float = 0.0  # flood control for progress edits
    # The person reads replies on this machine (the terminal chat), so 127.0.0.1 links work for them.
    same_machine: bool = False
    # The chat's video player shows soft subtitle tracks. Where it does not (Telegram, Discord),
    # the backend is told, and captions are burned into the picture unless the user says otherwise.
    soft_subtitles: bool = True


@runtime_checkable
class Replier(Protocol):
    """Implemented by each adapter for one chat: send a reply, or edit one sent before."""

    limits: Limits

    async def send(self, out: Outbound) -> object:
        """Deliver `out`; return a handle that `edit` understands."""
        ...

    async def edit(self, handle: object, out: Outbound) -> None:
        """Replace the message behind `handle` (used for `Progress`)."""
        ...


class TooLargeForChat(Exception):
    """Raised by a Replier's `send` when the platform refused a file for its size (Telegram's
    413): the engine then sends the download link instead. `size` is the refused file's size."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the platform refused a {size}-byte file as too large")
        self.size = size


class NotDelivered(Exception):
    """Raised by a Replier's `send` when the platform would not take the message by any way the
    adapter knows (no permission in the chat nor in a DM, a rate limit that outlasts its retries).
    The engine keeps the file and sends the download link, and never retries such a send forever."""


class TooLargeToFetch(Exception):
    """Raised by an attachment's `fetch` when the platform refused to hand the file to the bot for
    its size (Telegram's `getFile` "file is too big" when the update did not say the size): the
    engine then offers the big-file upload link. `size` is None when the platform did not tell."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        super().__init__(f"the platform will not hand over files above {limit} bytes")
        self.limit = limit
        self.size = size


# Adapters give the engine a Replier for a chat key without an inbound message (resumed renders).
ReplierFactory = Callable[[str], Awaitable[Replier]]


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at line breaks where possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > limit // 2 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text or not pieces else pieces
