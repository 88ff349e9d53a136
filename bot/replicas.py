"""Bot replicas sharing a PostgreSQL chat store (``BOT_DATABASE_URL``): what one process does by
itself but several must do together.

- `adopt_orphans`: running replicas take over the renders and upload links of a replica that died
  (its advisory lock went with it); alone on SQLite there are never any.
- /cancel that reaches one replica while another runs the chat's job: the request is written to the
  store (a per-chat setting, a fresh value each time) and the replica running the job, which looks
  every `CANCEL_POLL_SECONDS` while a job runs, cancels it as a local /cancel would.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

from bot.export import USER_CANCEL
from bot.messages import ReplierFactory
from bot.settings import Settings
from storage import ChatStore

log = logging.getLogger(__name__)

CANCEL_KEY = "cancel_requested"
CANCEL_POLL_SECONDS = 1.0


class Resumes(Protocol):
    """The engine, as far as adopting goes (bot.engine.Engine)."""

    settings: Settings

    async def resume(
        self, replier_for: ReplierFactory, platform: str | None = None, *, orphans: bool = False
    ) -> int: ...


async def adopt_orphans(
    engine: Resumes, replier_for: ReplierFactory, platform: str | None = None
) -> None:
    """Until cancelled: every `orphan_sweep_seconds`, resume what dead replicas left."""
    while True:
        await asyncio.sleep(engine.settings.orphan_sweep_seconds)
        try:
            await engine.resume(replier_for, platform, orphans=True)
        except Exception:  # the database is away: look again at the next sweep
            log.warning("could not look for a gone replica's renders", exc_info=True)


async def request_cancel(store: ChatStore, chat_key: str) -> None:
    """Ask the replica running the chat's job to cancel it."""
    await store.set_setting(chat_key, CANCEL_KEY, uuid.uuid4().hex)


def watch_cancel(store: ChatStore, chat_key: str, job: asyncio.Task[None]) -> asyncio.Task[None]:
    """A task that cancels `job` (as /cancel does) when another replica asks; it ends with it."""

    async def watch() -> None:
        seen = await store.get_setting(chat_key, CANCEL_KEY)
        while not job.done():
            await asyncio.sleep(CANCEL_POLL_SECONDS)
            try:
                now = await store.get_setting(chat_key, CANCEL_KEY)
            except Exception:  # the database is away: look again
                log.info("could not look for a /cancel from another replica", exc_info=True)
                continue
            if now != seen:
                log.info("chat %s: cancelled through another replica", chat_key)
                job.cancel(USER_CANCEL)
                return

    watcher = asyncio.create_task(watch())
    job.add_done_callback(lambda _job: watcher.cancel())
    return watcher
