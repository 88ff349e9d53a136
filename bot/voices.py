"""`/voices`: the catalogue in words, one spoken sample per voice (so people pick by ear), then a
button per voice.

The samples come from the self-hosted backend (`GET /api/voices`, one MP3 per voice, synthesized
once and kept there). The hosted service has no such route: then the engine offers the buttons of
the voice names `/healthz` lists, as before. The engine decides what is said and sent; adapters
only render the `AudioAlbum` (Telegram: one album; Discord: files on one message; console: paths).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.buttons import voice_buttons, voice_names
from bot.client import Auth, BackendClient, BackendError, BackendUnavailable
from bot.identity import Chat, Identities
from bot.messages import (
    AudioAlbum,
    AudioFile,
    NotDelivered,
    Replier,
    Text,
    TooLargeForChat,
    split_text,
)
from bot.progress import ProgressLine
from bot.settings import Settings
from bot.texts import t

log = logging.getLogger(__name__)

ALBUM_MAX = 10  # Telegram's media group and Discord's files per message
PROGRESS_SECONDS = 2.0  # samples from the backend's cache arrive at once: no edit for each


@dataclass(frozen=True)
class VoiceEntry:
    id: str
    name: str
    description: str
    sample_url: str

    @classmethod
    def parse(cls, raw: Any) -> VoiceEntry | None:
        if not isinstance(raw, Mapping) or not raw.get("id") or not raw.get("name"):
            return None
        return cls(
            str(raw["id"]),
            str(raw["name"]),
            str(raw.get("description") or ""),
            str(raw.get("sample_url") or ""),
        )

    def line(self) -> str:
        return f"• {self.name}: {self.description}" if self.description else f"• {self.name}"


class VoiceMenu:
    """What `/voices` and `/voice` show in one chat."""

    def __init__(self, client: BackendClient, ids: Identities, settings: Settings) -> None:
        self.client = client
        self.ids = ids
        self.settings = settings

    async def catalogue(self, chat: Chat) -> list[VoiceEntry]:
        """The backend's catalogue ([] where it has none: the hosted service)."""

        async def op(auth: Auth, _sid: str) -> list[Any]:
            return await self.client.voice_catalogue(auth)

        try:
            raw = await self.ids.call(chat, op, needs_session=False)
        except BackendError as exc:
            log.info("chat %s: no voice catalogue (%s)", chat.key, exc)
            return []
        return [e for e in map(VoiceEntry.parse, raw) if e is not None]

    async def buttons(self, chat: Chat, replier: Replier, entries: list[VoiceEntry]) -> None:
        """A button per voice; the names of `/healthz` where there is no catalogue."""
        names = [e.name for e in entries]
        if not names:
            try:
                names = voice_names(await self.client.voices())
            except (BackendError, BackendUnavailable):
                names = []
        if not names:
            await replier.send(Text(t("voices_unknown", chat.language)))
            return
        await replier.send(voice_buttons(names, chat.language))

    async def pick(self, chat: Chat, replier: Replier) -> None:
        """`/voice`: the buttons only."""
        await self.buttons(chat, replier, await self.catalogue(chat))

    async def show(self, chat: Chat, replier: Replier) -> None:
        """`/voices`: the list, the samples, the buttons."""
        lang = chat.language
        entries = await self.catalogue(chat)
        if not entries:
            await self.buttons(chat, replier, [])
            return
        lines = "\n".join(e.line() for e in entries)
        for piece in split_text(
            t("voices_list", lang, voices=lines), replier.limits.max_message_chars
        ):
            await replier.send(Text(piece))
        work = Path(tempfile.mkdtemp(prefix="voices-", dir=self._tmp_root()))
        try:
            clips = await self._samples(chat, replier, entries, work)
            for lo in range(0, len(clips), ALBUM_MAX):
                try:
                    await replier.send(AudioAlbum(tuple(clips[lo : lo + ALBUM_MAX])))
                except (TooLargeForChat, NotDelivered) as exc:  # the buttons still go out
                    log.warning("chat %s: samples not delivered (%s)", chat.key, exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        await self.buttons(chat, replier, entries)

    def _tmp_root(self) -> Path:
        root = self.settings.data_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return root

    async def _samples(
        self, chat: Chat, replier: Replier, entries: list[VoiceEntry], work: Path
    ) -> list[AudioFile]:
        """Each voice's sample on disk (the first `/voices` of a backend makes them: progress)."""
        lang = chat.language
        progress = ProgressLine(replier, "voices")
        await progress.show(t("voices_samples", lang, done=0, total=len(entries)))
        loop = asyncio.get_running_loop()
        shown = loop.time()
        clips: list[AudioFile] = []
        for n, entry in enumerate(entries, 1):
            if not entry.sample_url:
                continue
            dest = work / f"{entry.id}.mp3"

            async def fetch(
                auth: Auth, _sid: str, url: str = entry.sample_url, to: Path = dest
            ) -> int:
                return await self.client.download(url, to, auth)

            try:
                size = await self.ids.call(chat, fetch, needs_session=False)
            except BackendError as exc:  # one voice that cannot speak does not stop the others
                log.warning("chat %s: no sample for %s (%s)", chat.key, entry.id, exc)
                continue
            if 0 < size <= replier.limits.max_upload_bytes:
                caption = f"{entry.name}: {entry.description}" if entry.description else entry.name
                clips.append(AudioFile(dest, caption, entry.name, size=size))
            if loop.time() - shown >= PROGRESS_SECONDS:  # only while samples are being made
                shown = loop.time()
                await progress.show(t("voices_samples", lang, done=n, total=len(entries)))
        done = "voices_samples_done" if clips else "voices_samples_none"
        await progress.finish(t(done, lang, total=len(clips)))
        return clips
