"""Files above the platform's limits: hand out the backend's web upload link and tell the chat when
the file arrives, without the user having to come back and ask (issue 7).

The link is signed and bound to the chat's session. On a real platform a loopback link would be useless
(and leaks nothing but is confusing), so it is refused unless a public base URL is configured.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from bot.client import BackendClient, BackendError, BackendUnavailable
from bot.identity import Chat, Identities
from bot.messages import Link, Replier, ReplierFactory, Text, platform_of
from bot.settings import Settings
from bot.texts import human_size, t

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.", "localhost", "[::1]", "::1", "0.0.0.0")


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.startswith(LOOPBACK_HOSTS) or host in ("localhost", "::1")


def describe_media(item: Mapping[str, Any]) -> str:
    """`, 2:14, 1080p` for a video; `, 412 words` for a script."""
    parts = []
    ms = item.get("duration_ms")
    if isinstance(ms, int) and ms > 0:
        seconds = round(ms / 1000)
        parts.append(f"{seconds // 60}:{seconds % 60:02d}")
    height, width = item.get("height"), item.get("width")
    if isinstance(height, int) and isinstance(width, int) and height:
        parts.append(f"{min(width, height)}p")
    elif isinstance(item.get("size"), int):
        parts.append(human_size(item["size"]))
    return (", " + ", ".join(parts)) if parts else ""


class BigFiles:
    """Offers the web upload link and watches the session for what arrives through it."""

    def __init__(self, client: BackendClient, ids: Identities, settings: Settings) -> None:
        self.client = client
        self.ids = ids
        self.settings = settings
        self._watchers: dict[str, asyncio.Task[None]] = {}

    async def offer(
        self, chat: Chat, replier: Replier, too_big: tuple[int | None, int] | None = None
    ) -> None:
        """Send the link; ``too_big`` = (size, limit) when a file the user sent was over the limit."""
        lang = chat.language
        link = await self.ids.call(chat, lambda a, sid: self.client.upload_link(a, sid))
        if too_big is not None and too_big[0] is None:
            limit = human_size(too_big[1])
            await replier.send(Text(t("big_upload_too_large_unknown", lang, limit=limit)))
        elif too_big is not None:
            await replier.send(
                Text(
                    t(
                        "big_upload_too_large",
                        lang,
                        size=human_size(too_big[0]),
                        limit=human_size(too_big[1]),
                    )
                )
            )
        if (
            not replier.limits.same_machine
            and is_loopback(link.url)
            and not self.settings.allow_loopback_links
        ):
            log.warning(
                "refusing to hand out a loopback upload link on %s: set PUBLIC_BASE_URL",
                chat.platform,
            )
            await replier.send(Text(t("big_upload_no_public_url", lang)))
            return
        expires = (
            datetime.fromtimestamp(link.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            if link.expires_at
            else "?"
        )
        await replier.send(Text(t("big_upload_link", lang, expires=expires)))
        await replier.send(Link(link.url, t("big_upload_label", lang), link.expires_at, None))
        known = {
            str(u.get("id"))
            for u in (await self.ids.call(chat, lambda a, sid: self.client.state(a, sid))).uploads
        }
        deadline = min(
            link.expires_at or time.time() + 3600, time.time() + self.settings.upload_watch_seconds
        )
        await self.ids.store.add_upload_watch(chat.key, known, deadline)
        self._start_watch(chat, replier, known, deadline)

    async def resume(
        self, replier_for: ReplierFactory, platform: str | None = None, *, orphans: bool = False
    ) -> int:
        """Watch again for the files of links handed out before a restart (`orphans`: by a bot
        replica that has died since); returns how many."""
        watches = [
            w
            for w in await self.ids.store.upload_watches(platform, orphans_only=orphans)
            if platform is None or platform_of(w.chat_key) == platform
        ]
        for watch in watches:
            record = await self.ids.store.chat(watch.chat_key)
            chat = Chat(watch.chat_key, record.language or "en", record)
            replier = await replier_for(watch.chat_key)
            self._start_watch(chat, replier, set(watch.known), watch.deadline)
        if watches:
            log.info("resuming %d upload-link watch(es)", len(watches))
        return len(watches)

    def _start_watch(self, chat: Chat, replier: Replier, known: set[str], deadline: float) -> None:
        old = self._watchers.pop(chat.key, None)
        if old:
            old.cancel()
        task = asyncio.create_task(
            self._watch(chat, replier, known, deadline), name=f"bigfile-{chat.key}"
        )
        self._watchers[chat.key] = task
        task.add_done_callback(
            lambda _t: (
                self._watchers.pop(chat.key, None) if self._watchers.get(chat.key) is _t else None
            )
        )

    async def _watch(self, chat: Chat, replier: Replier, known: set[str], deadline: float) -> None:
        """Poll the session until a new upload shows up, say what it is, and forget the watch.
        A bot stopped meanwhile keeps the stored watch, and `resume` picks it up."""
        await self._poll(chat, replier, known, deadline)
        await self.ids.store.remove_upload_watch(chat.key)

    async def _poll(self, chat: Chat, replier: Replier, known: set[str], deadline: float) -> None:
        interval = self.settings.upload_watch_interval_seconds
        while time.time() < deadline:
            await asyncio.sleep(interval)
            try:
                state = await self.ids.call(chat, lambda a, sid: self.client.state(a, sid))
            except (BackendError, BackendUnavailable) as exc:
                log.info("chat %s: upload watch poll failed (%s)", chat.key, type(exc).__name__)
                continue
            new = [u for u in state.uploads if str(u.get("id")) not in known]
            if new:
                for item in new:
                    await replier.send(
                        Text(
                            t(
                                "big_upload_arrived",
                                chat.language,
                                name=item.get("name", "file"),
                                details=describe_media(item),
                            )
                        )
                    )
                return

    async def aclose(self) -> None:
        for task in list(self._watchers.values()):
            task.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
