"""The backend's long-lived parts, built once in the app's lifespan and shared by every request."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request

from backend.db import Identity, Store
from backend.errors import BAD_TOKEN, FORBIDDEN, NO_SESSION, api_error
from backend.i18n import pick_lang
from backend.jobs import JobRunner
from backend.mediatypes import Voice
from backend.settings import BackendSettings
from backend.tts import TTSEngine


@dataclass
class Backend:
    settings: BackendSettings
    store: Store
    runner: JobRunner
    tts: TTSEngine
    voices: list[Voice]
    http: httpx.AsyncClient
    tts_pool: ThreadPoolExecutor
    # One lock per session: two messages to one session never edit its state at once.
    session_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, sid: str) -> asyncio.Lock:
        return self.session_locks.setdefault(sid, asyncio.Lock())


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def request_lang(request: Request) -> str:
    return pick_lang(request.headers.get("accept-language"))


async def authenticate(request: Request) -> Identity:
    """The identity behind the bearer token, or 1001."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    lang = request_lang(request)
    if scheme.lower() != "bearer" or not token.strip():
        raise api_error(BAD_TOKEN, "bad_token", lang)
    ident = await backend_of(request).store.identity_for_token(token.strip())
    if ident is None:
        raise api_error(BAD_TOKEN, "bad_token", lang)
    return ident


async def load_session(request: Request, sid: str, ident: Identity) -> tuple[str, dict[str, Any]]:
    """(language, state) of a session the identity owns; 1002 if unknown, 4003 if someone else's.
    The language is the request's Accept-Language when it has one, else the session's."""
    found = await backend_of(request).store.session(sid)
    lang = request_lang(request)
    if found is None:
        raise api_error(NO_SESSION, "no_session", lang)
    owner, session_lang, state = found
    if owner != ident.id:
        raise api_error(FORBIDDEN, "forbidden_session", lang)
    # The chat's language now (a client that sends it) beats the one the session was created in.
    return (lang if request.headers.get("accept-language") else session_lang), state
