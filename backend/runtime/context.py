"""The backend's long-lived parts, built once in the app's lifespan and shared by every request."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from backend.core.settings import BackendSettings
from backend.core.types import Voice
from backend.objects.store import ObjectStore
from backend.runtime.jobs import JobRunner
from backend.runtime.locks import SessionLock
from backend.speech.tts import TTSEngine
from backend.state.interface import Store


@dataclass
class Backend:
    settings: BackendSettings
    store: Store
    runner: JobRunner
    tts: TTSEngine
    voices: list[Voice]
    http: httpx.AsyncClient
    tts_pool: ThreadPoolExecutor
    # Durable files: local disk, or S3 with the data dir as a cache (publish / ensure_local).
    objects: ObjectStore
    # One lock per session: two messages to one session never edit its state at once.
    session_locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, sid: str) -> SessionLock:
        """The session's turn lock: this process's, and the cluster's when there is a queue."""
        pool = self.runner.queue.locks if self.runner.queue is not None else None
        return SessionLock(self.session_locks.setdefault(sid, asyncio.Lock()), pool, sid)
