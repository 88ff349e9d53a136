"""Work on a queue (issue 14): renders and speech synthesis as SAQ jobs in PostgreSQL.

Set ``VOBACKEND_QUEUE_URL`` (or use PostgreSQL for the store) and the API replicas only enqueue;
``python -m backend worker`` processes on any machine run the jobs (``backend.runtime.worker``).
Unset, nothing here is used: renders and synthesis run in the API process as before.

Why SAQ's choices fit: a job's key is its id, so the same render sent twice (or by two replicas)
is one job; a worker touches its job at least every few seconds (the heartbeat), and SAQ's sweep
puts back a job whose worker went quiet (``kill -9``) for another worker; ``group_key`` = the
identity means one identity has at most one job of a kind running in the whole cluster, so a user
who queues ten renders delays only themselves (the fair share FairSlots gives one process).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool
from saq import Job as QueueJob
from saq import Status
from saq.queue.postgres import PostgresQueue

from backend.core.settings import BackendSettings
from backend.core.types import Adjustment, Sentence, SpeechResult, Word
from backend.runtime.locks import lock_pool

log = logging.getLogger(__name__)

RENDER_QUEUE = "vo_render"
SPEECH_QUEUE = "vo_speech"
RENDER = "render"
SYNTHESIZE = "synthesize"
# A worker touches a running job every PROGRESS_SECONDS; one silent for HEARTBEAT_SECONDS is stuck
# and put back on the queue by the next sweep (every SWEEP_SECONDS, by one of the workers).
PROGRESS_SECONDS = 1.0
HEARTBEAT_SECONDS = 8
SWEEP_SECONDS = 3
RENDER_TIMEOUT_SECONDS = 3 * 3600
SPEECH_TIMEOUT_SECONDS = 3600
ATTEMPTS = 3  # a job whose worker died twice more is given up (a poison render must not loop)
KEEP_SECONDS = 24 * 3600  # finished jobs stay readable this long
POLL_SECONDS = 0.2


class QueueError(Exception):
    """A queued job failed or was aborted; the message is SAQ's (a traceback: logs only)."""


def queue_url(settings: BackendSettings) -> str:
    """The queue's PostgreSQL URL: VOBACKEND_QUEUE_URL, else the store's when it is PostgreSQL,
    else "" (embedded: work runs in the API process)."""
    if settings.queue_url:
        return settings.queue_url
    database = str(getattr(settings, "database_url", "") or "")
    return database if database.startswith(("postgres://", "postgresql://")) else ""


class WorkQueue:
    """The two queues (renders; speech) on one connection pool, for API replicas and workers,
    and the connections that hold the replicas' session locks."""

    def __init__(self, url: str, max_connections: int = 8) -> None:
        self.pool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            kwargs={"autocommit": True},
            check=AsyncConnectionPool.check_connection,  # a restarted server: reconnect
        )
        self.render = PostgresQueue(pool=self.pool, name=RENDER_QUEUE)
        self.speech = PostgresQueue(pool=self.pool, name=SPEECH_QUEUE)
        self.locks = lock_pool(url)  # the session turn locks of backend.runtime.locks

    async def connect(self) -> None:
        await self.pool.open(wait=True, timeout=30)
        await self.locks.open(wait=True, timeout=30)
        await self.render.connect()
        await self.speech.connect()

    async def close(self) -> None:
        await self.render.disconnect()
        await self.speech.disconnect()
        await self.pool.close()
        await self.locks.close()

    async def enqueue_render(self, job_id: str, identity_id: str) -> bool:
        """Queue render ``job_id`` (its key): False if a job with that key is queued or running."""
        job = QueueJob(
            function=RENDER,
            kwargs={"job_id": job_id},
            key=job_id,
            group_key=identity_id,
            timeout=RENDER_TIMEOUT_SECONDS,
            heartbeat=HEARTBEAT_SECONDS,
            retries=ATTEMPTS,
            ttl=KEEP_SECONDS,
        )
        return await self.render.enqueue(job) is not None

    async def cancel(self, key: str) -> bool:
        """Abort a queued or running job (the worker cancels its task); False if none is active."""
        for queue in (self.render, self.speech):
            job = await queue.job(key)
            if job is not None and job.status in (Status.QUEUED, Status.ACTIVE, Status.NEW):
                await queue.abort(job, error="cancelled")
                return True
        return False

    async def status(self, key: str) -> tuple[str, float] | None:
        """(SAQ status, progress 0..1) of a job, or None if there is no such job."""
        for queue in (self.render, self.speech):
            job = await queue.job(key)
            if job is not None:
                return job.status.value, job.progress
        return None

    async def synthesize(
        self,
        key: str,
        identity_id: str,
        kwargs: dict[str, Any],
        on_progress: Callable[[int, int], Awaitable[None]],
    ) -> dict[str, Any]:
        """Run a synthesis job and wait for its result; ``on_progress(done, total)`` as it goes.

        ``key`` makes it idempotent: a turn asking again (after a replica died) joins the job that
        is running or reads the result of the one that finished, instead of synthesizing twice.
        """
        job = QueueJob(
            function=SYNTHESIZE,
            kwargs=kwargs,
            key=key,
            group_key=f"speech:{identity_id}",
            timeout=SPEECH_TIMEOUT_SECONDS,
            heartbeat=HEARTBEAT_SECONDS,
            retries=ATTEMPTS,
            ttl=KEEP_SECONDS,
        )
        existing = await self.speech.job(key)
        if existing is None or existing.status in (Status.FAILED, Status.ABORTED):
            await self.speech.enqueue(job)  # None: another replica just did (joined below)
        seen: tuple[int, int] | None = None
        while True:
            found = await self.speech.job(key)
            if found is None:
                raise QueueError(f"speech job {key} is gone")
            step = found.meta.get("step")
            if isinstance(step, list) and len(step) == 2 and tuple(step) != seen:
                seen = (int(step[0]), int(step[1]))
                await on_progress(*seen)
            if found.status == Status.COMPLETE:
                result = found.result
                if not isinstance(result, dict):
                    raise QueueError(f"speech job {key} returned {type(result).__name__}")
                return result
            if found.status in (Status.FAILED, Status.ABORTED):
                raise QueueError(found.error or found.status.value)
            await asyncio.sleep(POLL_SECONDS)


def speech_to_dict(speech: SpeechResult, data_dir: Path) -> dict[str, Any]:
    """A synthesis result as JSON for the queue (its WAV path relative to the data dir)."""
    return {
        "path": str(speech.path.relative_to(data_dir)),
        "duration_ms": speech.duration_ms,
        "sentences": [
            [s.text, s.start_ms, s.end_ms, [[w.text, w.start_ms, w.end_ms] for w in s.words]]
            for s in speech.sentences
        ],
        "synthesized": speech.synthesized,
        "cached": speech.cached,
        "clips": [list(c) for c in speech.clips],
        "adjustments": [[a.index, a.speed, a.overrun_ms] for a in speech.adjustments],
    }


def speech_from_dict(data: dict[str, Any], data_dir: Path) -> SpeechResult:
    """The inverse of ``speech_to_dict``, with the WAV under this process's data dir."""
    return SpeechResult(
        path=data_dir / data["path"],
        duration_ms=int(data["duration_ms"]),
        sentences=tuple(
            Sentence(text, start, end, tuple(Word(*w) for w in words))
            for text, start, end, words in data["sentences"]
        ),
        synthesized=int(data["synthesized"]),
        cached=int(data["cached"]),
        clips=tuple((str(k), int(ms)) for k, ms in data["clips"]),
        adjustments=tuple(Adjustment(int(i), float(s), int(o)) for i, s, o in data["adjustments"]),
    )


async def open_queue(settings: BackendSettings) -> WorkQueue | None:
    """The connected work queue, or None when none is configured (embedded)."""
    url = queue_url(settings)
    if not url:
        return None
    queue = WorkQueue(url)
    await queue.connect()
    return queue
