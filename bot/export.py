"""Export: start a render, poll it with backoff, download the MP4 and deliver it (or a link).

In-flight renders are written to storage first, so a restarted bot picks them back up (`follow`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.bigfiles import is_loopback
from bot.client import Auth, BackendClient, BackendError, BackendUnavailable
from bot.error_text import is_transient
from bot.identity import Chat, Identities, Notice
from bot.messages import (
    FileDoc,
    Link,
    NotDelivered,
    Replier,
    Text,
    TooLargeForChat,
    VideoFile,
)
from bot.models import RenderStatus, SessionState
from bot.progress import ProgressLine
from bot.settings import Settings
from bot.summary import has_content
from bot.texts import human_size, t
from bot.turn import JobCeiling
from storage import ChatStore

log = logging.getLogger(__name__)

# The message of `Task.cancel` for /cancel: any other cancellation is the bot stopping.
USER_CANCEL = "user-cancel"


class ExportFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "chat"


def _progress_key(render_id: str) -> str:
    return f"progress:{render_id}"


def _expires(ts: float | None, lang: str) -> str:
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


class Exporter:
    """Renders and delivers videos for chats."""

    def __init__(
        self, client: BackendClient, store: ChatStore, ids: Identities, settings: Settings
    ) -> None:
        self.client = client
        self.store = store
        self.ids = ids
        self.settings = settings
        self._active: Counter[str] = Counter()  # chat key -> exports being started or followed

    def busy(self, chat_key: str) -> bool:
        """An export of this chat is being started or followed right now."""
        return self._active[chat_key] > 0

    @contextmanager
    def _exporting(self, chat_key: str) -> Iterator[None]:
        self._active[chat_key] += 1
        try:
            yield
        finally:
            self._active[chat_key] -= 1
            if self._active[chat_key] <= 0:
                del self._active[chat_key]

    async def export(
        self, chat: Chat, replier: Replier, notice: Notice | None = None
    ) -> Path | None:
        """Start a render of the chat's session and follow it to delivery; a session with no
        video and no voiceover gets "nothing to export yet" instead of a render."""
        with self._exporting(chat.key):
            return await self._export(chat, replier, notice)

    async def _export(self, chat: Chat, replier: Replier, notice: Notice | None) -> Path | None:
        states: dict[str, SessionState] = {}

        async def look(auth: Auth, sid: str) -> SessionState:
            states[sid] = await self.client.state(auth, sid)
            return states[sid]

        if not has_content(await self.ids.call(chat, look, notice=notice)):
            await replier.send(Text(t("nothing_to_export", chat.language)))
            return None
        # render_<ts> as the hosted service documents it, in microseconds: two chats of one bot
        # (or two replicas) exporting in the same millisecond must not share an id
        render_id = f"render_{time.time_ns() // 1_000}"
        started: list[str] = [next(iter(states), "")]
        # Recorded before the backend hears of it: a bot stopped while the request is out starts
        # the same render id at its next start (the backend takes a repeated id as one render).
        await self.store.add_job(chat.key, render_id, started[-1] or None, "starting")
        progress = ProgressLine(replier, "render")

        async def start(auth: Auth, sid: str) -> RenderStatus:
            status = await self._ask(auth, sid, render_id, states.get(sid))
            started.append(sid)
            return status

        try:
            await progress.show(t("rendering", chat.language))
            await self._remember(chat, render_id, progress)
            status = await self.ids.call(chat, start, notice=notice)
        except asyncio.CancelledError as exc:
            await self._interrupted(chat, progress, exc)
            raise
        except BaseException:
            await self.store.set_job_status(render_id, "failed")
            await self.store.set_setting(chat.key, _progress_key(render_id), None)
            raise
        await self.store.add_job(chat.key, status.id, started[-1], "queued")
        return await self.follow(chat, replier, status.id, progress)

    async def follow(
        self,
        chat: Chat,
        replier: Replier,
        render_id: str,
        progress: ProgressLine | None = None,
        started: float | None = None,
        restart_in: str | None = None,
    ) -> Path | None:
        """Poll until the render finishes (backing off from 0.5 s to 30 s), then deliver it.

        `restart_in`: the bot stopped while asking for this render (session id, or "" for the
        chat's current one); it is asked for again first, under the same id."""
        with self._exporting(chat.key):
            if restart_in is not None:
                await self._restart(chat, render_id, restart_in)
            return await self._follow(chat, replier, render_id, progress, started)

    async def _ask(
        self, auth: Auth, sid: str, render_id: str, state: SessionState | None = None
    ) -> RenderStatus:
        """Ask the backend for the render. The seed's export body carries the draft (the hosted
        service needs it); the self-hosted backend validates the one it gets like its own."""
        state = state or await self.client.state(auth, sid)
        draft = dict(state.draft) if state.has_draft else None
        return await self.client.start_render(auth, sid, render_id, draft)

    async def _restart(self, chat: Chat, render_id: str, session_id: str) -> None:
        async def again(auth: Auth, current: str) -> RenderStatus:
            return await self._ask(auth, session_id or current, render_id)

        try:
            status = await self.ids.call(chat, again)
        except BackendError:
            await self.store.set_job_status(render_id, "failed")
            raise
        await self.store.set_job_status(status.id, "queued")

    async def _remember(self, chat: Chat, render_id: str, progress: ProgressLine) -> None:
        handle = progress.handle
        if isinstance(handle, int | str) and not isinstance(handle, bool):
            # a bot restarted after a crash edits this message on, rather than leave it stuck
            await self.store.set_setting(chat.key, _progress_key(render_id), json.dumps(handle))

    async def _interrupted(
        self, chat: Chat, progress: ProgressLine, exc: asyncio.CancelledError
    ) -> None:
        """Stopped (SIGTERM/SIGINT: the render stays stored and resumes, editing this same
        message on) or /cancel-led: the message showing "Rendering... N%" says which."""
        cancelled = bool(exc.args) and exc.args[0] == USER_CANCEL
        text = t("cancelled" if cancelled else "render_interrupted", chat.language)
        try:
            async with asyncio.timeout(5):
                await progress.finish(text)
        except Exception:
            log.info("could not edit the progress message on the way out", exc_info=True)

    async def _follow(
        self,
        chat: Chat,
        replier: Replier,
        render_id: str,
        progress: ProgressLine | None,
        started: float | None,
    ) -> Path | None:
        if progress is None:
            progress = ProgressLine(replier, "render")
            stored = await self.store.get_setting(chat.key, _progress_key(render_id))
            if stored:
                progress.adopt(json.loads(stored))
        try:
            result = await self._poll(chat, replier, render_id, progress, started)
        except asyncio.CancelledError as exc:
            await self._interrupted(chat, progress, exc)
            raise
        except BaseException:
            await self.store.set_setting(chat.key, _progress_key(render_id), None)
            raise
        await self.store.set_setting(chat.key, _progress_key(render_id), None)
        return result

    async def _poll(
        self,
        chat: Chat,
        replier: Replier,
        render_id: str,
        progress: ProgressLine,
        started: float | None,
    ) -> Path | None:
        lang = chat.language
        delay = self.settings.render_poll_initial_seconds
        deadline = (started or time.time()) + self.settings.job_ceiling_seconds
        last_status = ""
        wait = self.settings.render_wait
        while True:
            asked, hold = time.monotonic(), delay if wait else 0.0
            try:
                status = await self.ids.call(
                    chat,
                    functools.partial(self._status, render_id, hold),
                    needs_session=False,
                )
            except BackendUnavailable:
                log.warning("render %s: backend unreachable while polling; will retry", render_id)
                status = None
            except BackendError as exc:
                # 429 and 5xx (a proxy's 502 included) say nothing about the render: keep polling,
                # backing off, until the job ceiling. Anything else (1002, 4xxx) is definitive.
                if not is_transient(exc.code):
                    await self.store.set_job_status(render_id, "failed")
                    raise
                log.warning(
                    "render %s: backend error %s while polling; will retry", render_id, exc.code
                )
                status = None
            if status is not None:
                if status.status != last_status and status.status in ("queued", "rendering"):
                    await self.store.set_job_status(render_id, status.status)
                last_status = status.status
                if status.status == "completed":
                    return await self._deliver(chat, replier, status, progress)
                if status.status == "failed":
                    await self.store.set_job_status(render_id, "failed")
                    reason = status.error_message or "unknown error"
                    log.warning("render %s failed: %r", render_id, reason)  # raw: for the log only
                    await progress.finish(t("render_failed", lang))
                    raise ExportFailed(reason)
                text = (
                    t("rendering_pct", lang, progress=status.progress)
                    if status.progress
                    else t("rendering", lang)
                )
                await progress.show(text)
            if time.time() + delay > deadline:
                await self.store.set_job_status(render_id, "timeout")
                raise JobCeiling
            # the status request itself waited (until the render ended or `delay` passed) on our
            # backend; one that answers at once (or an error) is followed by the rest of the delay
            await asyncio.sleep(max(0.0, delay - (time.monotonic() - asked)))
            # x1.3: a script-only render is often done within a second or two of the turn, and
            # a longer one is still seen within ~30% of its time (x1.6 waited up to 60% more)
            delay = min(delay * 1.3, self.settings.render_poll_max_seconds)

    async def _status(self, render_id: str, hold: float, auth: Auth, _sid: str) -> RenderStatus:
        return await self.client.render_status(auth, render_id, wait=hold)

    async def _deliver(
        self, chat: Chat, replier: Replier, status: RenderStatus, progress: ProgressLine
    ) -> Path | None:
        lang = chat.language
        out = status.output
        if out is None:
            await self.store.set_job_status(status.id, "failed")
            log.warning("render %s completed without an output URL", status.id)
            await progress.finish(t("render_failed", lang))
            raise ExportFailed("completed without an output URL")
        limit = replier.limits.max_upload_bytes
        if out.size is not None and out.size > limit:
            await self._send_link(chat, replier, status, out.size, progress)
            return None
        await progress.show(t("downloading", lang))
        dest = self.settings.output_dir / f"{_safe(chat.key)}_{_safe(status.id)}.mp4"
        auth = await self.ids.call_auth(chat)
        size = await self.client.download(out.url, dest, auth)
        if size > limit:
            await self._send_link(chat, replier, status, size, progress)
            return dest
        video = VideoFile(
            path=dest,
            caption=t("video_ready", lang),
            duration_ms=out.duration_ms,
            size=size,
            width=out.width,
            height=out.height,
        )
        try:
            await replier.send(video)
        except TooLargeForChat:  # the platform's real limit was below the one it told us
            log.warning("render %s: the chat refused %d bytes, sending the link", status.id, size)
            await self._send_link(chat, replier, status, size, progress)
            return dest
        except NotDelivered:  # refused for another reason: the file is kept, the link goes out
            log.warning("render %s: the chat did not take the video, sending the link", status.id)
            await self._send_link(chat, replier, status, size, progress, too_big=False)
            return dest
        await progress.finish(t("video_ready", lang))  # "ready" only once the file is there
        await self._send_captions(chat, replier, status, auth)
        await self.store.set_job_status(status.id, "delivered")
        log.info("render %s delivered to %s (%d bytes)", status.id, chat.key, size)
        return dest

    async def _send_captions(
        self, chat: Chat, replier: Replier, status: RenderStatus, auth: Auth
    ) -> None:
        """The SRT/VTT files the user asked for, beside the video."""
        assert status.output is not None
        for ext, url in status.output.captions:
            dest = self.settings.output_dir / f"{_safe(chat.key)}_{_safe(status.id)}.{ext}"
            size = await self.client.download(url, dest, auth)
            await replier.send(
                FileDoc(dest, t("caption_file", chat.language, ext=ext.upper()), size)
            )

    async def _send_link(
        self,
        chat: Chat,
        replier: Replier,
        status: RenderStatus,
        size: int,
        progress: ProgressLine,
        *,
        too_big: bool = True,  # False: the chat would not take the file (a rate limit, no right)
    ) -> None:
        assert status.output is not None
        out = status.output
        label = t(
            "link_label" if too_big else "link_label_not_taken",
            chat.language,
            size=human_size(size),
            expires=_expires(out.expires_at, chat.language),
        )
        await progress.finish(t("video_ready", chat.language))
        url = self.client.absolute(out.url)
        if (
            not replier.limits.same_machine
            and is_loopback(url)
            and not self.settings.allow_loopback_links
        ):
            log.warning(
                "not sending a loopback download link to %s: set PUBLIC_BASE_URL", chat.platform
            )
            key = "link_no_public_url" if too_big else "link_no_public_url_not_taken"
            await replier.send(Text(t(key, chat.language, size=human_size(size))))
        else:
            await replier.send(Link(url, label, out.expires_at, size))
        await self.store.set_job_status(status.id, "delivered")
