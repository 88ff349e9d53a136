"""``python -m backend worker``: a process that runs the queue's renders and syntheses (issue 14).

Start any number, on any machine that reaches the database (and the object store, or the same
data dir). Each runs up to ``VOBACKEND_RENDER_WORKERS`` renders and one synthesis at a time, writes
progress to the job row (any API replica reports it) and touches its queue job while it works, so a
worker killed mid-job is noticed within seconds and its job is run again by another. SIGTERM lets
running jobs finish for a grace period, then puts them back on the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from saq import Status, Worker
from saq.types import Context

from backend.core.i18n import t
from backend.core.settings import BackendSettings
from backend.core.types import RenderSpec, Voice
from backend.objects import ObjectStore, open_objects
from backend.runtime.jobs import JobRunner
from backend.runtime.queue import (
    PROGRESS_SECONDS,
    RENDER,
    SWEEP_SECONDS,
    SYNTHESIZE,
    WorkQueue,
    queue_url,
    speech_to_dict,
)
from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine
from backend.speech.voiceover import speak
from backend.speech.wav import TTSError
from backend.state.factory import open_store
from backend.state.interface import Store
from backend.state.records import MediaItem

log = logging.getLogger(__name__)
GRACE_SECONDS = 20  # SIGTERM: running jobs get this long, then go back on the queue


async def every(seconds: float, action: Callable[[], Awaitable[None]]) -> None:
    """Run ``action`` every ``seconds`` until cancelled; a failed write is logged, not fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await action()
        except Exception:
            log.warning("progress write failed", exc_info=True)


def local_path(path: Path, data_dir: Path) -> Path:
    """Where a session's media file recorded by another process lives in this one's data dir.

    A replica stores the path it wrote (under its own data dir); the object key is that path
    relative to the data dir (``sessions/<sid>/media/<file>``), so here it is the same key under
    ours, fetched by ``ObjectStore.ensure_local``."""
    parts = path.parts
    if len(parts) >= 4 and parts[-4] == "sessions" and parts[-2] == "media":
        return data_dir.joinpath(*parts[-4:])
    return path


class LocalPaths:
    """The store as a worker sees it: media paths under the worker's data dir."""

    def __init__(self, store: Store, data_dir: Path) -> None:
        self._store = store
        self._data_dir = data_dir

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _local(self, item: MediaItem) -> MediaItem:
        return dataclasses.replace(item, path=local_path(item.path, self._data_dir))

    async def media(self, session_id: str, kind: str | None = None) -> list[MediaItem]:
        return [self._local(m) for m in await self._store.media(session_id, kind)]

    async def media_item(self, session_id: str, media_id: str) -> MediaItem | None:
        item = await self._store.media_item(session_id, media_id)
        return self._local(item) if item else None


class WorkerRunner(JobRunner):
    """A JobRunner whose renders write their progress to the job row and touch the queue job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue_jobs: dict[str, Any] = {}  # render id -> its SAQ job (to touch it)

    async def _render(
        self, job_id: str, spec: RenderSpec, out: Path, work: Path, cancel: threading.Event
    ) -> None:
        queued = self.queue_jobs.get(job_id)
        last = -1.0

        async def write() -> None:
            nonlocal last
            now = self.progress.get(job_id, 0.0)
            if now != last:
                await self.store.update_job(job_id, "rendering", progress=now)
                last = now
            if queued is not None:
                await queued.update(progress=now / 100)  # also the heartbeat

        writer = asyncio.create_task(every(PROGRESS_SECONDS, write))
        try:
            await super()._render(job_id, spec, out, work, cancel)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer  # stopped before the caller writes "completed"


@dataclass
class WorkerContext:
    settings: BackendSettings
    store: Store
    runner: WorkerRunner
    tts: TTSEngine
    tts_pool: ThreadPoolExecutor
    voices: dict[str, Voice]
    objects: ObjectStore


class VoContext(Context, total=False):
    vo: WorkerContext


async def render(ctx: VoContext, *, job_id: str) -> str:
    """The queue's render job: run it unless it already finished (a retry after the row was written)."""
    vo = ctx["vo"]
    job = await vo.store.job(job_id)
    if job is None or job.status in ("completed", "failed"):
        return job.status if job else "missing"
    queued = ctx["job"]
    vo.runner.queue_jobs[job_id] = queued
    try:
        await vo.runner.run(job)
    except asyncio.CancelledError:
        # aborted (WorkQueue.cancel): the row says so; a worker stopping leaves it for a retry
        now = await queued.get_queue().job(job_id)
        if now is not None and now.status in (Status.ABORTING, Status.ABORTED):
            error = {"code": 5000, "message": t("render_failed", "en", reason="cancelled")}
            await vo.store.update_job(job_id, "failed", error=error)
        raise
    finally:
        vo.runner.queue_jobs.pop(job_id, None)
    done = await vo.store.job(job_id)
    return done.status if done else "missing"


async def synthesize(
    ctx: VoContext,
    *,
    script: str,
    voice: str,
    speed: float,
    out: str,
    pron: dict[str, str] | None,
    lang: str,
) -> dict[str, Any]:
    """The queue's speech job: the WAV at ``out`` (its object key), published, and its timing;
    ``{"refused": reason}`` when the text cannot be spoken (a retry would not help)."""
    vo = ctx["vo"]
    queued = ctx["job"]
    chosen = vo.voices.get(voice)
    if chosen is None:
        raise LookupError(f"voice {voice} is not installed on this worker")
    path = vo.objects.path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    step: list[int] = [0, 0]

    def progress(done: int, total: int) -> None:
        step[:] = [done, total]  # read by the writer below, on the loop

    async def write() -> None:
        await queued.update(meta={"step": list(step)})  # also the heartbeat

    writer = asyncio.create_task(every(PROGRESS_SECONDS / 2, write))
    try:
        loop = asyncio.get_running_loop()
        speech = await loop.run_in_executor(
            vo.tts_pool,
            lambda: speak(vo.tts, script, chosen, speed, path, progress, pron, lang),
        )
    except TTSError as exc:
        return {"refused": str(exc)}
    finally:
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    try:  # the last step as well: a synthesis quicker than one interval (cached) reported none
        await write()
    except Exception:
        log.warning("progress write failed", exc_info=True)
    await vo.objects.publish(path)
    return speech_to_dict(speech, vo.settings.data_dir)


async def serve(settings: BackendSettings) -> None:
    url = queue_url(settings)
    if not url:  # embedded: the backend renders itself; a Procfile's worker line just waits
        log.warning("no work queue (VOBACKEND_QUEUE_URL or a PostgreSQL store): nothing to do")
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    queue = WorkQueue(url)
    await queue.connect()
    store = await open_store(settings)  # PostgreSQL in a cluster (SQLite: a shared data dir)
    async with open_objects(settings) as objects:
        try:
            await _serve(settings, queue, store, objects)
        finally:
            await store.close()
            await queue.close()


async def _serve(
    settings: BackendSettings, queue: WorkQueue, store: Store, objects: ObjectStore
) -> None:
    render_pool = ThreadPoolExecutor(settings.render_workers, thread_name_prefix="render")
    tts_pool = ThreadPoolExecutor(1, thread_name_prefix="tts")
    vo = WorkerContext(
        settings=settings,
        store=store,
        runner=WorkerRunner(
            cast(Store, LocalPaths(store, settings.data_dir)),
            settings,
            render_pool,
            objects=objects,
        ),
        tts=TTSEngine(settings.data_dir / "tts-cache"),
        tts_pool=tts_pool,
        voices={v.id: v for v in discover_voices(settings.data_dir / "voices")},
        objects=objects,
    )
    timers: Any = {"sweep": SWEEP_SECONDS, "abort": 1}
    workers: list[Worker[VoContext]] = [
        Worker(
            queue.render,
            [(RENDER, render)],
            concurrency=settings.render_workers,
            timers=timers,
            shutdown_grace_period_s=GRACE_SECONDS,
        ),
        Worker(
            queue.speech,
            [(SYNTHESIZE, synthesize)],
            concurrency=1,
            timers=timers,
            shutdown_grace_period_s=GRACE_SECONDS,
        ),
    ]
    for w in workers:
        w.SIGNALS = []  # one handler below stops both
        w.context["vo"] = vo

    def stop() -> None:
        for w in workers:
            if not w.job_task_contexts:  # idle: its grace would only wait on its empty dequeue
                w._shutdown_grace_period_s = 0
            w.event.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    log.info("worker ready: %d render slot(s), 1 speech slot", settings.render_workers)
    try:
        await asyncio.gather(*(w.start() for w in workers))
    finally:
        render_pool.shutdown(wait=False, cancel_futures=True)
        tts_pool.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backend worker", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    overrides = {"data_dir": args.data_dir} if args.data_dir is not None else {}
    settings = BackendSettings(**overrides)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("saq").setLevel(logging.WARNING)  # one line per job event otherwise
    asyncio.run(serve(settings))
