"""Picking renders back up after a restart (or a dead replica's), for `bot.engine.Engine`.

A render is stored before the backend hears of it (bot/export.py), so a bot that stopped at any
point finds it here: "starting" is asked for again under the same id, the others are followed on,
each in its chat's turn, editing the progress message the first run sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from bot.bigfiles import BigFiles
from bot.client import BackendError
from bot.export import Exporter
from bot.failures import reported
from bot.identity import Chat
from bot.messages import NotDelivered, ReplierFactory, Text, platform_of
from bot.settings import Settings
from bot.texts import t
from storage import ChatStore, JobRecord

log = logging.getLogger(__name__)


class Host(Protocol):
    """What resuming needs of the engine (bot.engine.Engine), without importing it."""

    store: ChatStore
    settings: Settings
    exporter: Exporter
    bigfiles: BigFiles
    _background: set[asyncio.Task[None]]

    def _slot(self, key: str) -> Any: ...

    async def _chat(self, key: str, lang: str | None, fallback: str | None = None) -> Chat: ...

    async def _run(self, slot: Any, job: Coroutine[Any, Any, None], key: str = "") -> None: ...

    async def error_text(self, exc: BackendError, chat: Chat) -> str: ...


class Resumer:
    def __init__(self, engine: Host) -> None:
        self.engine = engine

    async def resume(
        self, replier_for: ReplierFactory, platform: str | None = None, *, orphans: bool = False
    ) -> int:
        """Pick up every render that was in flight when the bot stopped, and every upload link
        still waiting for its file; returns how many renders.

        With `platform`, only that platform's chats: each adapter of a process resumes its own.
        `orphans`: only those of a bot replica that has died since (see `adopt_orphans`).
        """
        engine = self.engine
        await engine.bigfiles.resume(replier_for, platform, orphans=orphans)
        jobs = [
            job
            for job in await engine.store.in_flight_jobs(platform, orphans_only=orphans)
            if platform is None or platform_of(job.chat_key) == platform
        ]
        for job in jobs:
            task = asyncio.create_task(self._resume_one(job, replier_for))
            engine._background.add(task)
            task.add_done_callback(engine._background.discard)
        if jobs:
            log.info("resuming %d in-flight render(s)", len(jobs))
        return len(jobs)

    async def _resume_one(self, rec: JobRecord, replier_for: ReplierFactory) -> None:
        engine = self.engine
        key, render_id = rec.chat_key, rec.render_id
        # "starting": the bot stopped while asking for it; it is asked for again, same id
        restart = (rec.session_id or "") if rec.status == "starting" else None
        slot = engine._slot(key)
        async with slot.lock, engine.store.chat_turn(key):
            replier = await replier_for(key)
            chat = await engine._chat(key, None)

            async def job() -> None:
                async with reported(chat, replier, engine.settings, engine.error_text):
                    await engine.exporter.follow(
                        chat, replier, render_id, started=rec.started, restart_in=restart
                    )

            try:
                await replier.send(Text(t("resumed", chat.language)))
                await engine._run(slot, job(), key)
            except NotDelivered:
                # The chat takes nothing from the bot (no permission, no DM): resuming again at
                # every start would fail the same way, so the render is settled here.
                log.warning(
                    "chat %s: render %s cannot be delivered; not resuming it", key, render_id
                )
                await engine.store.set_job_status(render_id, "undeliverable")
