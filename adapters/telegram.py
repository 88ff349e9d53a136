"""Telegram adapter (python-telegram-bot v22): Telegram updates in, engine `Inbound`; replies out
through `TelegramReplier`. It decides nothing: the engine chooses every word.

- Private chats: every message. Groups and forum topics: commands (for this bot), @mentions of the
  bot and replies to the bot only; one engine session per chat, and per topic in forum supergroups.
  In privacy mode (the default for bots) Telegram delivers only commands and replies to the bot in
  groups, so everything works through those: `/voiceover <request>`, replies, and inline buttons.
- Groups get about 20 bot messages a minute: no chat actions there, one message per job edited in
  place, and the group's budget counted before sending (telegram_reply.GroupBudget).
- `from_user.language_code` ("zh-hans", "zh-CN"...) sets the reply language of a chat that has none.
- Files (documents, videos, video notes, audio, voice, photos) become lazy attachments: the engine
  checks the size against the Bot API's limit before anything is downloaded (`getFile`); the
  download itself is streamed to disk, or copied in a thread from a local Bot API server.
- Flood control: the library's `AIORateLimiter`, plus retries on 429 in the replier.
- Long polling by default; webhook mode when `TELEGRAM_WEBHOOK_URL` is set.

`python -m bot` calls `serve(engine, settings)` when `TELEGRAM_BOT_TOKEN` is set.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import BotCommand, Message, MessageEntity, Update, User
from telegram.constants import ChatType
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, ContextTypes, filters
from telegram.ext import MessageHandler as _MessageHandler

from adapters.telegram_files import download, file_limits
from adapters.telegram_reply import TelegramReplier
from adapters.telegram_rules import GroupBudget, run_ffmpeg
from adapters.telegram_webhook import start_webhook
from bot.messages import Attachment, Inbound, Limits, Replier
from bot.redact import install_redaction, register_secret
from bot.replicas import adopt_orphans
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.engine import Engine

log = logging.getLogger(__name__)

NAME = "telegram"
ACTION_EVERY_SECONDS = 4.0  # a chat action shows for about 5 s

COMMANDS = (
    BotCommand("start", "What this bot does"),
    BotCommand("voiceover", "Ask in words: /voiceover make it slower"),
    BotCommand("help", "How to use it"),
    BotCommand("new", "Start a fresh project"),
    BotCommand("credits", "Your credit balance"),
    BotCommand("status", "Show the project's timeline"),
    BotCommand("export", "Render and send the MP4"),
    BotCommand("voice", "Pick a voice"),
    BotCommand("voices", "Hear every voice, then pick one"),
    BotCommand("cancel", "Stop the current job"),
)

MEDIA = (
    filters.TEXT
    | filters.CAPTION
    | filters.Document.ALL
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.AUDIO
    | filters.VOICE
    | filters.PHOTO
)

App = Application[Any, Any, Any, Any, Any, Any]


def build_application(settings: Settings, *, max_retries: int = 3) -> App:
    """The python-telegram-bot Application for these settings (no handlers yet)."""
    token = settings.telegram_bot_token
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    register_secret(token)  # the library puts the token in every URL
    builder = (
        Application.builder()
        .token(token)
        .rate_limiter(AIORateLimiter(max_retries=max_retries))
        .concurrent_updates(True)  # the engine orders each chat's messages itself
        .local_mode(settings.telegram_local_mode)
    )
    if settings.telegram_api_base_url:
        base = settings.telegram_api_base_url.rstrip("/")
        builder = builder.base_url(base)
        builder = builder.base_file_url(
            settings.telegram_file_base_url or re.sub(r"/bot$", "/file/bot", base)
        )
    if settings.telegram_webhook_url:
        builder = builder.updater(None)
    return builder.build()


def chat_key_parts(chat_id: str) -> tuple[int, int | None]:
    """Inverse of `_chat_id`: "-100123:45" -> (-100123, 45)."""
    head, _, thread = chat_id.partition(":")
    return int(head), int(thread) if thread else None


def _chat_id(message: Message) -> str:
    """The engine's chat id: the chat, plus the topic in forum supergroups."""
    if message.chat.is_forum and message.is_topic_message and message.message_thread_id:
        return f"{message.chat.id}:{message.message_thread_id}"
    return str(message.chat.id)


def _thread(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None


def _mention(user: User) -> str:
    if user.username:
        return "@" + user.username
    return f'<a href="tg://user?id={user.id}">{html.escape(user.full_name)}</a>'


def user_language(user: User) -> str | None:
    """The engine's language for the person's Telegram app language ("zh-hans" -> "zh")."""
    code = (user.language_code or "").lower()
    if code.startswith("zh"):
        return "zh"
    return "en" if code.startswith("en") else None


def _safe_name(name: str, default: str) -> str:
    cleaned = re.sub(r"[^\w.-]+", "_", Path(name).name).strip("._")
    return cleaned or default


class TelegramAdapter:
    """Connects one engine to one Telegram bot."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        application: App | None = None,
        *,
        edit_interval: float = 2.0,
        group_edit_interval: float = 6.0,
        poll_timeout: float = 10.0,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.app = application or build_application(settings)
        self.download_limit, self.upload_limit = file_limits(settings)
        self.edit_interval = edit_interval
        self.group_edit_interval = group_edit_interval
        self.poll_timeout = poll_timeout
        self.callbacks: dict[str, str] = {}  # long button commands, by short callback data
        self.budgets: dict[int, GroupBudget] = {}  # per group: calls in the last minute
        self._live: dict[str, TelegramReplier] = {}  # per group chat key: the job's message
        self._tasks: set[asyncio.Task[Any]] = set()
        self._webhook: asyncio.Task[None] | None = None
        self._webhook_server: Any = None
        self.app.add_handler(CallbackQueryHandler(self._on_callback))
        self.app.add_handler(_MessageHandler(filters.UpdateType.MESSAGE & MEDIA, self._on_message))
        self.app.add_error_handler(self._on_error)

    # repliers

    def limits(self, chat_id: int) -> Limits:
        group = chat_id < 0
        return Limits(
            max_upload_bytes=self.upload_limit,
            max_download_bytes=self.download_limit,
            max_message_chars=4000,
            min_edit_interval_seconds=self.group_edit_interval if group else self.edit_interval,
            soft_subtitles=False,  # Telegram's players do not show MP4 subtitle tracks
        )

    def replier(
        self, key: str, chat_id: int, thread_id: int | None = None, who: str | None = None
    ) -> TelegramReplier:
        """Replies to the chat whose engine chat key is `key`."""

        budget = self.budgets.setdefault(chat_id, GroupBudget()) if chat_id < 0 else None
        return TelegramReplier(
            self.app.bot,
            chat_id,
            self.limits(chat_id),
            thread_id=thread_id,
            who=who,
            callbacks=self.callbacks,
            budget=budget,
            live=self._live if budget is not None else None,
            key=key,
            busy=self.engine.busy,
        )

    async def replier_for(self, key: str) -> Replier:
        """For renders resumed after a restart: the chat (and topic) behind a stored chat key."""
        chat_id, thread = chat_key_parts(key.split(":", 1)[1])
        return self.replier(key, chat_id, thread)

    # inbound

    def _addressed(self, message: Message) -> str | None:
        """The text meant for the bot, or None when a group message is not for it."""
        text = message.text or message.caption or ""
        if message.chat.type == ChatType.PRIVATE:
            return text
        me = self.app.bot.username.lower()
        entities = message.parse_entities() if message.text else message.parse_caption_entities()
        addressed = False
        for entity, value in entities.items():
            if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
                _, _, target = value.partition("@")
                if target and target.lower() != me:
                    return None  # a command for another bot
                addressed = True
            elif entity.type == MessageEntity.MENTION and value[1:].lower() == me:
                addressed = True
            elif entity.type == MessageEntity.TEXT_MENTION and entity.user is not None:
                addressed = addressed or entity.user.id == self.app.bot.id
        reply = message.reply_to_message
        if (
            reply is not None
            and reply.from_user is not None
            and reply.from_user.id == self.app.bot.id
            and reply.forum_topic_created is None
        ):
            addressed = True
        if not addressed:
            return None
        text = re.sub(rf"(?i)(?<!\S)@{re.escape(me)}\b[,:]?", "", text)
        return re.sub(r"\s{2,}", " ", text).strip()

    def _attachments(self, message: Message) -> tuple[Attachment, ...]:
        found: list[Attachment] = []
        if message.document:
            d = message.document
            name = _safe_name(d.file_name or "", "document")
            found.append(self._attachment(d.file_id, name, d.mime_type, d.file_size))
        if message.video:
            v = message.video
            name = _safe_name(v.file_name or "", "video.mp4")
            found.append(self._attachment(v.file_id, name, v.mime_type or "video/mp4", v.file_size))
        if message.video_note:
            n = message.video_note
            found.append(self._attachment(n.file_id, "video_note.mp4", "video/mp4", n.file_size))
        if message.audio:
            a = message.audio
            name = _safe_name(a.file_name or "", "audio.mp3")
            found.append(
                self._attachment(a.file_id, name, a.mime_type or "audio/mpeg", a.file_size)
            )
        if message.voice:
            o = message.voice
            found.append(
                self._attachment(o.file_id, "voice.m4a", "audio/mp4", o.file_size, ogg=True)
            )
        if message.photo:
            p = message.photo[-1]  # the largest size
            found.append(self._attachment(p.file_id, "photo.jpg", "image/jpeg", p.file_size))
        return tuple(found)

    def _attachment(
        self, file_id: str, name: str, mime: str | None, size: int | None, *, ogg: bool = False
    ) -> Attachment:
        """A lazy attachment: `getFile` and the download happen only if the engine fetches it."""
        bot, limit = self.app.bot, self.download_limit

        async def fetch(folder: Path) -> Path:
            if not ogg:
                return await download(bot, file_id, folder / name, limit)
            raw = await download(bot, file_id, folder / "voice.ogg", limit)
            out = folder / name
            if not await run_ffmpeg("-i", str(raw), "-vn", "-c:a", "aac", "-b:a", "96k", str(out)):
                raise ValueError("could not convert the voice message")
            return out

        return Attachment(
            name=name, mime=mime or "application/octet-stream", size=size, fetch=fetch
        )

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        user = message.from_user if message else None
        if message is None or user is None or user.is_bot:
            return
        text = self._addressed(message)
        if text is None:
            return
        attachments = self._attachments(message)
        if not text and not attachments:
            return
        group = message.chat.type != ChatType.PRIVATE
        inbound = Inbound(
            chat_id=_chat_id(message),
            user_id=str(user.id),
            user_name=user.username or user.full_name,
            text=text,
            attachments=attachments,
            platform=NAME,
            user_language=user_language(user),
            commands_only=group and self._privacy_mode(),
        )
        who = _mention(user) if group else None
        replier = self.replier(inbound.chat_key, message.chat.id, _thread(message), who)
        await self._handle(inbound, replier)

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        with suppress(Exception):  # an unanswered query only spins a little longer
            await query.answer()
        message = query.message
        if not isinstance(message, Message) or not query.data:
            return
        command = self.callbacks.get(query.data, query.data)
        user = query.from_user
        group = message.chat.type != ChatType.PRIVATE
        inbound = Inbound(
            chat_id=_chat_id(message),
            user_id=str(user.id),
            user_name=user.username or user.full_name,
            text=command,
            platform=NAME,
            user_language=user_language(user),
            commands_only=group and self._privacy_mode(),
        )
        who = _mention(user) if group else None
        replier = self.replier(inbound.chat_key, message.chat.id, _thread(message), who)
        await self._handle(inbound, replier)

    def _privacy_mode(self) -> bool:
        """Telegram delivers only commands and replies to the bot in groups (getMe says)."""
        return not self.app.bot.can_read_all_group_messages

    async def _handle(self, inbound: Inbound, replier: TelegramReplier) -> None:
        """Hand one message to the engine, with a chat action repeated while it works (in
        private chats; a group's messages are too few to spend on them)."""
        me = asyncio.current_task()
        if me is not None:
            self._tasks.add(me)
        ticker = None
        if replier.budget is None:
            ticker = asyncio.create_task(self._keep_action(replier, ACTION_EVERY_SECONDS))
        try:
            await self.engine.handle(inbound, replier)
        finally:
            if ticker is not None:
                ticker.cancel()
                with suppress(asyncio.CancelledError):
                    await ticker
            if replier.budget is not None:
                await replier.close()
            if me is not None:
                self._tasks.discard(me)

    @staticmethod
    async def _keep_action(replier: TelegramReplier, every: float) -> None:
        while True:
            await replier.chat_action()
            await asyncio.sleep(every)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram handler failed", exc_info=context.error)

    # lifecycle

    async def set_commands(self) -> None:
        await self.app.bot.set_my_commands(list(COMMANDS))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[TelegramAdapter]:
        """Start receiving updates (long polling or webhook); stop cleanly on exit."""
        await self.app.initialize()
        try:
            await self.set_commands()
            await self.app.start()
            if self.settings.telegram_webhook_url:
                self._webhook_server, self._webhook = await start_webhook(
                    self.app, self.settings, claim=partial(self.engine.store.claim_update, NAME)
                )
            else:
                assert self.app.updater is not None
                await self.app.updater.start_polling(
                    poll_interval=0.0,
                    timeout=int(self.poll_timeout),
                    allowed_updates=["message", "callback_query"],
                )
            log.info("telegram bot @%s is up", self.app.bot.username)
            yield self
        finally:
            await self._stop()

    async def _stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        if self._webhook_server is not None:
            self._webhook_server.should_exit = True
        if self._webhook is not None:
            await asyncio.gather(self._webhook, return_exceptions=True)
        for task in list(self._tasks):  # in-flight renders stay stored and resume on restart
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()


def quiet_token_loggers() -> None:
    """httpx logs every request URL at INFO, and Telegram URLs carry the bot token."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    install_redaction()


async def serve(engine: Engine, settings: Settings) -> None:
    """Run the Telegram bot until cancelled (Ctrl+C): the hook `python -m bot` calls."""
    quiet_token_loggers()
    adapter = TelegramAdapter(engine, settings)
    async with adapter.running():
        await engine.resume(adapter.replier_for, platform=NAME)
        await adopt_orphans(engine, adapter.replier_for, platform=NAME)  # until cancelled
