"""The conversation engine: `Engine.handle(inbound, replier)`.

Messages of one chat run in order (one lock per chat, FIFO), chats run concurrently, and a message
that arrives while a job runs is queued with a notice. /cancel bypasses the queue. The engine talks
to the backend only through `BackendClient` and to people only through a `Replier`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from bot.bigfiles import BigFiles
from bot.buttons import is_button_payload, next_steps, voice_payload
from bot.client import Auth, BackendClient, BackendError, BackendUnavailable, StreamCut
from bot.error_text import error_text
from bot.export import USER_CANCEL, Exporter
from bot.failures import reported
from bot.identity import Chat, Identities, Notice
from bot.messages import (
    Inbound,
    Replier,
    ReplierFactory,
    Text,
    split_text,
)
from bot.models import SessionState
from bot.progress import ProgressLine
from bot.replicas import request_cancel, watch_cancel
from bot.resume import Resumer
from bot.router import (
    GuiAction,
    Intent,
    Route,
    is_only_upload_words,
    route,
    translate_gui,
    without_command,
)
from bot.settings import Settings
from bot.summary import has_voiceover, state_summary
from bot.texts import detect_language, t
from bot.turn import TurnResult, TurnWatcher
from bot.uploads import Uploader
from bot.voices import VoiceMenu
from storage import ChatStore

log = logging.getLogger(__name__)

MAX_INPUT_BYTES = 500 * 1024 * 1024


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    current: asyncio.Task[None] | None = None
    generation: int = 0
    language: str = "en"
    exports: int = 0  # export requests waiting in line or being worked on


class Engine:
    """Platform-agnostic conversation engine; one instance serves every chat of the process."""

    def __init__(self, client: BackendClient, store: ChatStore, settings: Settings) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.ids = Identities(client, store, settings)
        self.exporter = Exporter(client, store, self.ids, settings)
        self.bigfiles = BigFiles(client, self.ids, settings)
        self.uploader = Uploader(client, self.ids, settings, self.bigfiles)
        self.voices = VoiceMenu(client, self.ids, settings)
        self._slots: dict[str, _Slot] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._notices: set[asyncio.Task[object]] = set()

    def _slot(self, key: str) -> _Slot:
        return self._slots.setdefault(key, _Slot())

    def busy(self, chat_key: str) -> bool:
        slot = self._slots.get(chat_key)
        return bool(slot and slot.lock.locked())

    async def handle(self, inbound: Inbound, replier: Replier) -> None:
        """Handle one message; returns when it has been answered (or dropped by /cancel)."""
        key = inbound.chat_key
        slot = self._slot(key)
        # Inconclusive text ("/credits", "👍") keeps the chat's stored language, and so does a
        # button press: its payload is the engine's own English, not the person's words.
        detected = inbound.language or (
            None
            if is_button_payload(inbound.text)
            else detect_language(without_command(inbound.text), None)
        )
        lang = detected or slot.language
        rt = route(inbound.text, bool(inbound.attachments))
        if rt.intent is Intent.CANCEL:
            await self._cancel(key, slot, replier, lang)
            return
        export = rt.intent is Intent.EXPORT
        busy = slot.exports or self.exporter.busy(key)
        if export and not rt.text and (busy or await self.store.exporting_elsewhere(key)):
            await replier.send(Text(t("already_exporting", lang)))  # the same MP4 twice otherwise
            return
        slot.exports += int(export)
        try:
            await self._queue(inbound, rt, replier, detected, lang)
        finally:
            slot.exports -= int(export)

    async def _queue(
        self, inbound: Inbound, rt: Route, replier: Replier, detected: str | None, lang: str
    ) -> None:
        """Wait for the chat's earlier messages (telling the person if there are any), then run."""
        slot = self._slot(inbound.chat_key)
        generation = slot.generation
        notice = None
        started = False
        if slot.lock.locked() or await self.store.chat_elsewhere(inbound.chat_key):
            # The place in line is taken first (`async with` below joins the lock's FIFO before
            # it yields), the notice is sent meanwhile: a slow send must not let a later message
            # overtake this one.
            notice = self._spawn(replier.send(Text(t("queued", lang))))
        try:
            # then the chat's turn across bot replicas (PostgreSQL; nothing to wait for alone)
            async with slot.lock, self.store.chat_turn(inbound.chat_key):
                if notice is not None:
                    await notice  # the notice goes out before this message's own replies
                if slot.generation != generation:
                    return  # cancelled while waiting in the queue
                started = True
                await self._run(
                    slot, self._process(inbound, rt, replier, detected), inbound.chat_key
                )
        except asyncio.CancelledError:
            # The bot is stopping (the adapter cancels its handlers); a platform does not send
            # a message twice, so say what happens to it rather than drop it silently.
            await self._restart_notice(replier, lang, inbound.text, started)
            raise

    async def _restart_notice(self, replier: Replier, lang: str, text: str, started: bool) -> None:
        snippet = " ".join(text.split())
        snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
        key = "restart_working" if started else "restart_queued"
        try:
            async with asyncio.timeout(5):
                await replier.send(Text(t(key, lang, text=snippet or "📎")))
        except Exception:  # shutting down: a notice that cannot go out is only logged
            log.info("could not send the restart notice", exc_info=True)

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
        """A task kept alive until done (the caller may be cancelled before it awaits it)."""
        task = asyncio.create_task(coro)
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    async def _run(self, slot: _Slot, job: Coroutine[Any, Any, None], key: str = "") -> None:
        task = asyncio.create_task(job)
        slot.current = task
        if key and self.store.shared:  # a /cancel may reach another bot replica
            watch_cancel(self.store, key, task)
        try:
            await task
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if not task.cancelled() or (me is not None and me.cancelling()):
                raise  # we are being shut down, not /cancel-led
        finally:
            slot.current = None

    async def _cancel(self, key: str, slot: _Slot, replier: Replier, lang: str) -> None:
        slot.generation += 1
        if slot.current is not None and not slot.current.done():
            slot.current.cancel(USER_CANCEL)
            await self.store.settle_chat_jobs(key, "cancelled")
            await replier.send(Text(t("cancelled", lang)))
        elif await self.store.chat_elsewhere(key):  # the job runs on another bot replica
            await request_cancel(self.store, key)
            await self.store.settle_chat_jobs(key, "cancelled")
            await replier.send(Text(t("cancelled", lang)))
        else:
            await replier.send(Text(t("nothing_to_cancel", lang)))

    async def _chat(self, key: str, lang: str | None, fallback: str | None = None) -> Chat:
        """The chat with its language: the message's if it tells, else the stored one, else the
        person's app language (`fallback`)."""
        record = await self.store.chat(key)
        language = lang or record.language or fallback or "en"
        if record.language != language:
            record.language = language
            await self.store.save_chat(record)
        self._slot(key).language = language
        return Chat(key, language, record)

    async def _process(
        self, inbound: Inbound, rt: Route, replier: Replier, lang: str | None
    ) -> None:
        chat = await self._chat(inbound.chat_key, lang, inbound.user_language)
        try:
            async with reported(chat, replier, self.settings, self.error_text):
                await self._dispatch(chat, inbound, rt, replier)
        except Exception:
            log.exception("chat %s: unexpected error", chat.key)
            await replier.send(Text(t("err_internal", chat.language)))

    def _notice(self, replier: Replier, chat: Chat) -> Notice:
        async def notice(key: str) -> None:
            await replier.send(Text(t(key, chat.language)))

        return notice

    async def _dispatch(self, chat: Chat, inbound: Inbound, rt: Route, replier: Replier) -> None:
        lang = chat.language
        intent = rt.intent
        if intent is Intent.START:
            await replier.send(Text(t("greeting", lang)))
        elif intent is Intent.HELP:
            await replier.send(Text(self._help(inbound, lang)))
        elif intent is Intent.NEW:
            await self.ids.reset_session(chat)
            await replier.send(Text(t("new_session", lang)))
        elif intent is Intent.CREDITS:
            credits = await self.ids.call(
                chat, lambda a, _s: self.client.credits(a), needs_session=False
            )
            await replier.send(
                Text(
                    t(
                        "credits",
                        lang,
                        available=credits.available,
                        frozen=credits.frozen,
                        total=credits.total,
                    )
                )
            )
        elif intent is Intent.STATUS:
            await self.show_state(chat, replier)
        elif intent is Intent.VOICE:
            if rt.text:
                await self.converse(chat, voice_payload(rt.text), replier)
            else:
                await self.voices.pick(chat, replier)
        elif intent is Intent.VOICES:
            await self.voices.show(chat, replier)
        elif intent is Intent.EXPORT and rt.text:  # "export in 720p": the edit, then the export
            await self.converse(chat, rt.text, replier, then_export=True)
        elif intent is Intent.EXPORT:
            await self.exporter.export(chat, replier, self._notice(replier, chat))
        elif intent is Intent.BIG_UPLOAD:
            await self.bigfiles.offer(chat, replier)
        elif intent is Intent.UPLOAD and rt.urls:
            await self.uploader.upload_urls(chat, rt.urls, replier)
        elif intent is Intent.UPLOAD:
            if not inbound.attachments:
                await replier.send(Text(t("upload_hint", lang)))
                return
            asked = bool(rt.text) and not is_only_upload_words(rt.text)
            uploaded = await self.uploader.upload(chat, inbound.attachments, replier, asked=asked)
            if uploaded and asked:
                await self.converse(chat, rt.text, replier)
        elif not rt.text:
            await replier.send(Text(self._help(inbound, lang)))
        else:
            await self.converse(chat, rt.text, replier)

    @staticmethod
    def _help(inbound: Inbound, lang: str) -> str:
        """The help, plus how to reach the bot where the platform delivers commands only."""
        extra = "\n\n" + t("help_commands_only", lang) if inbound.commands_only else ""
        return t("help", lang) + extra

    async def _state(self, chat: Chat) -> SessionState:
        return await self.ids.call(chat, lambda a, sid: self.client.state(a, sid))

    async def show_state(self, chat: Chat, replier: Replier) -> None:
        summary = state_summary(await self._state(chat), chat.language)
        text = t("state", chat.language, summary=summary) if summary else None
        await replier.send(Text(text or t("state_empty", chat.language)))

    async def converse(
        self, chat: Chat, text: str, replier: Replier, *, then_export: bool = False
    ) -> None:
        """One agent turn, then GUI translation, no-text fallback and follow-up actions
        (`then_export`: the user asked for the export in the same message)."""
        lang = chat.language
        progress = ProgressLine(replier, "turn")
        watcher = TurnWatcher(
            progress, lang, self.settings.still_working_seconds, self.settings.job_ceiling_seconds
        )

        # Where the chat's player hides subtitle tracks the backend burns captions in by default.
        delta = None if replier.limits.soft_subtitles else {"player_soft_subtitles": False}

        async def op(auth: Auth, sid: str) -> None:
            await watcher.run(self.client.run_sse(auth, sid, text, delta))

        try:
            await self.ids.call(chat, op, notice=self._notice(replier, chat))
        except StreamCut:
            log.warning("chat %s: SSE stream cut", chat.key)
            await progress.finish(watcher.stage_text())
            await self._after_cut(chat, replier)
            return
        except BaseException:
            if progress.text:
                await progress.finish(watcher.stage_text())
            raise
        await progress.finish(watcher.done_text())
        result = watcher.result
        translated = translate_gui(result.text)
        state = None
        if translated.text:
            for piece in split_text(translated.text, replier.limits.max_message_chars):
                await replier.send(Text(piece))
        elif not result.text:
            state = await self._state(chat)
            summary = state_summary(state, lang)
            if summary:
                await replier.send(Text(t("no_text_changed", lang, summary=summary)))
            else:
                await replier.send(Text(t("no_text_nothing", lang)))
        for note in sorted(result.notes):  # e.g. why the captions are in the picture (once)
            await replier.send(Text(t(note, lang)))
        if GuiAction.SHOW_STATE in translated.actions:
            await self.show_state(chat, replier)
        if then_export or GuiAction.EXPORT in translated.actions:
            await self.exporter.export(chat, replier, self._notice(replier, chat))
        elif await self._voiced(chat, result, state):
            await replier.send(next_steps(lang))

    async def _voiced(self, chat: Chat, result: TurnResult, state: SessionState | None) -> bool:
        """The turn left a voiceover to export, slow down or reframe (the next-step buttons): it
        recorded one, or it changed a timeline that has one. "Please send a script first" also
        passes through the timeline step, on a project with nothing on it."""
        if "synthesize_speech" in result.calls:
            return True
        if not result.produced:
            return False
        try:
            return has_voiceover(state or await self._state(chat))
        except (BackendError, BackendUnavailable):
            return False

    async def _after_cut(self, chat: Chat, replier: Replier) -> None:
        try:
            state = await self._state(chat)
        except (BackendError, BackendUnavailable):
            await replier.send(Text(t("err_stream_cut_unknown", chat.language)))
            return
        summary = state_summary(state, chat.language) or t("state_empty", chat.language)
        await replier.send(Text(t("err_stream_cut", chat.language, summary=summary)))

    async def error_text(self, exc: BackendError, chat: Chat) -> str:
        """The person-facing message for a backend error code (bot/error_text.py)."""
        return await error_text(exc, chat, self.ids, self.client, self.settings)

    # resuming renders after a restart (bot/resume.py)

    async def resume(
        self, replier_for: ReplierFactory, platform: str | None = None, *, orphans: bool = False
    ) -> int:
        """Pick up renders in flight when the bot stopped (see `Resumer.resume`)."""
        return await Resumer(self).resume(replier_for, platform, orphans=orphans)

    async def wait_background(self) -> None:
        """Wait for resumed renders (tests, graceful shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        await self.bigfiles.aclose()
        tasks: list[asyncio.Task[Any]] = [*self._background, *self._notices]
        for slot in self._slots.values():
            if slot.current is not None:
                tasks.append(slot.current)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
