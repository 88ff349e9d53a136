"""Per-chat identity and backend session, plus the one-retry recovery rules of DESIGN section 4.

A chat has its own client id and anonymous token unless NEMO_TOKEN is set, and one backend session
created on first need with the chat's language. `call` wraps any backend operation with: 1001 ->
new token, retry once; 1002 -> new session, retry once; 400 -> new client id, retry once; 429 ->
wait, retry once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.client import Auth, BackendClient, BackendError
from bot.messages import platform_of
from bot.redact import register_secret
from bot.settings import Settings
from storage import ChatRecord, ChatStore

log = logging.getLogger(__name__)

T = TypeVar("T")
Notice = Callable[[str], Awaitable[None]]  # tells the user something happened (text key)

_EXPIRY_MARGIN = 60.0
SESSION_FORBIDDEN = 4003  # the session belongs to another token (ours was replaced)


def _retry_after(exc: BackendError) -> float:
    """The server's hint, 0 when absent: a hint of days means one retry cannot help."""
    hint = exc.retry_after if exc.retry_after is not None else exc.data.get("retry_after")
    try:
        return float(hint) if hint is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


@dataclass
class Chat:
    """What one job knows about its chat: key, platform, language and stored record."""

    key: str
    language: str
    record: ChatRecord

    @property
    def platform(self) -> str:
        return platform_of(self.key)


class Identities:
    """Tokens and sessions for chats, with the recovery rules in one place."""

    def __init__(self, client: BackendClient, store: ChatStore, settings: Settings) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self._locks: dict[str, asyncio.Lock] = {}
        register_secret(settings.nemo_token)

    @property
    def registered(self) -> bool:
        """With NEMO_TOKEN the account is the operator's (registered); otherwise anonymous."""
        return self.settings.nemo_token is not None

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def auth(self, chat: Chat, *, force_new: bool = False, new_client: bool = False) -> Auth:
        """A valid token for the chat: NEMO_TOKEN, or the chat's anonymous token (issued on need)."""
        if self.settings.nemo_token:
            return Auth(self.settings.nemo_token, chat.platform, chat.language)
        async with self._lock(chat.key):
            rec = chat.record
            fresh = rec.token and (
                rec.token_expiry is None or rec.token_expiry > time.time() + _EXPIRY_MARGIN
            )
            if fresh and not force_new and not new_client:
                register_secret(rec.token)
                return Auth(rec.token or "", chat.platform, chat.language)
            if new_client or not rec.client_id:
                rec.client_id = str(uuid.uuid4())
            try:
                info = await self.client.anonymous_token(rec.client_id, chat.platform)
            except BackendError as exc:
                # A rejected token within its client's 7-day window cannot be re-issued for that
                # client id (429); a fresh client id is the only way back in. Its sessions differ.
                if exc.code != 429 or not rec.token:
                    raise
                log.info("chat %s: token re-issue rate limited; using a new client id", chat.key)
                rec.client_id, rec.session_id = str(uuid.uuid4()), None
                info = await self.client.anonymous_token(rec.client_id, chat.platform)
            rec.token, rec.token_expiry, rec.client_id = info.token, info.expires_at, info.client_id
            rec.bind_id = info.bind_id or rec.bind_id
            await self.store.save_chat(rec)
            log.info("chat %s: new anonymous token", chat.key)
            return Auth(info.token, chat.platform, chat.language)

    async def session(self, chat: Chat, auth: Auth, *, force_new: bool = False) -> str:
        """The chat's backend session, created on first need with the chat's language."""
        async with self._lock(chat.key):
            rec = chat.record
            if rec.session_id and not force_new:
                return rec.session_id
            info = await self.client.create_session(auth, chat.language)
            rec.session_id = info.session_id
            rec.bind_id = info.bind_id or rec.bind_id
            await self.store.save_chat(rec)
            log.info("chat %s: new backend session %s", chat.key, info.session_id)
            return info.session_id

    async def reset_session(self, chat: Chat) -> str:
        auth = await self.call_auth(chat)
        return await self.session(chat, auth, force_new=True)

    async def call_auth(self, chat: Chat) -> Auth:
        """`auth` with the 400/429 recovery rules applied to token issue itself."""

        async def just_auth(auth: Auth, _sid: str) -> Auth:
            return auth

        return await self._with_retries(chat, just_auth, needs_session=False)

    async def call(
        self,
        chat: Chat,
        op: Callable[[Auth, str], Awaitable[T]],
        *,
        needs_session: bool = True,
        notice: Notice | None = None,
    ) -> T:
        """Run `op(auth, session_id)` with the one-retry recovery rules."""
        return await self._with_retries(chat, op, needs_session=needs_session, notice=notice)

    async def _with_retries(
        self,
        chat: Chat,
        op: Callable[[Auth, str], Awaitable[T]],
        *,
        needs_session: bool,
        notice: Notice | None = None,
    ) -> T:
        tried: set[int] = set()
        force_token = new_client = force_session = False
        while True:
            try:
                prior = chat.record.session_id
                auth = await self.auth(chat, force_new=force_token, new_client=new_client)
                force_token = new_client = False
                lost = prior is not None and chat.record.session_id is None  # new identity
                sid = ""
                if needs_session:
                    sid = await self.session(chat, auth, force_new=force_session)
                    if (force_session or lost) and notice is not None:
                        await notice("session_renewed")
                    force_session = False
                return await op(auth, sid)
            except BackendError as exc:
                if exc.in_stream or exc.code in tried:
                    raise
                tried.add(exc.code)
                if exc.code == 1001 and not self.settings.nemo_token:
                    log.info("chat %s: token rejected, re-authenticating", chat.key)
                    force_token = True
                elif exc.code in (1002, SESSION_FORBIDDEN) and needs_session:
                    log.info("chat %s: session not found, creating a new one", chat.key)
                    force_session = True
                elif exc.code == 400 and not self.settings.nemo_token:
                    new_client = True
                elif (
                    exc.code == 429 and _retry_after(exc) <= self.settings.rate_limit_retry_seconds
                ):
                    delay = self.settings.rate_limit_retry_seconds
                    log.info("chat %s: rate limited, retrying once in %.1f s", chat.key, delay)
                    await asyncio.sleep(delay)
                else:
                    raise
