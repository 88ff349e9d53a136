"""Render jobs: queued in SQLite, run on a worker thread pool (ffmpeg is a subprocess), resumed after a restart.

With a work queue (``backend.runtime.queue``, issue 14) the API only enqueues and worker processes
run ``JobRunner.run`` (``backend.runtime.worker``), writing progress to the job row.

The event loop only schedules and records; rendering never runs on it. Progress lives in memory while a
job runs (it changes many times a second) and status changes go to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from backend.core.i18n import t
from backend.core.settings import BackendSettings
from backend.core.signing import sign
from backend.core.types import RenderSpec
from backend.objects.store import ObjectStore
from backend.runtime.queue import WorkQueue
from backend.state.draft import DraftError, to_spec
from backend.state.interface import Store
from backend.state.records import Job

log = logging.getLogger(__name__)
CONTENT_TYPES = {"mp4": "video/mp4", "srt": "application/x-subrip", "vtt": "text/vtt"}


class JobFailed(Exception):
    """The renderer refused or failed; its message is for a person."""


class FairSlots:
    """Render slots shared fairly between identities.

    At most ``per_identity`` renders of one identity run at once, and a free slot goes to the next
    identity in turn (round robin over the identities that wait), not to the oldest job: someone
    who queues ten renders delays only themselves, another user's single render starts next."""

    def __init__(self, slots: int, per_identity: int) -> None:
        self.free = max(1, slots)
        self.per_identity = max(1, per_identity)
        self.running: dict[str, int] = {}
        self.waiting: dict[str, deque[asyncio.Future[None]]] = {}  # identity -> its waiters
        # when each identity with work was last given a slot: the least recently served goes next
        self.served: dict[str, int] = {}
        self._turns = 0

    async def acquire(self, who: str) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(who, deque()).append(waiter)
        self._dispatch()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(who)  # granted, then cancelled before it ran: give the slot back
            else:
                queue = self.waiting.get(who)
                if queue is not None and waiter in queue:
                    queue.remove(waiter)
                    if not queue:
                        del self.waiting[who]
                        if who not in self.running:
                            self.served.pop(who, None)
            raise

    def release(self, who: str) -> None:
        self.free += 1
        left = self.running.get(who, 0) - 1
        if left > 0:
            self.running[who] = left
        else:
            self.running.pop(who, None)
            if who not in self.waiting:
                self.served.pop(who, None)  # no work left: forgotten
        self._dispatch()

    def _dispatch(self) -> None:
        while self.free > 0:
            ready = [
                w
                for w, queue in self.waiting.items()
                if queue and self.running.get(w, 0) < self.per_identity
            ]
            if not ready:
                return
            who = min(ready, key=lambda w: self.served.get(w, -1))  # ties: who came first
            queue = self.waiting[who]
            waiter = queue.popleft()
            if not queue:
                del self.waiting[who]
            if waiter.done():  # cancelled while waiting
                continue
            self.free -= 1
            self.running[who] = self.running.get(who, 0) + 1
            self._turns += 1
            self.served[who] = self._turns
            waiter.set_result(None)

    @contextlib.asynccontextmanager
    async def slot(self, who: str) -> AsyncIterator[None]:
        await self.acquire(who)
        try:
            yield
        finally:
            self.release(who)


class JobRunner:
    def __init__(
        self,
        store: Store,
        settings: BackendSettings,
        pool: ThreadPoolExecutor,
        queue: WorkQueue | None = None,
        *,
        objects: ObjectStore | None = None,
    ) -> None:
        self.store = store
        self.queue = queue
        # where outputs are published and inputs fetched from (local disk unless S3 is set)
        self.objects = objects or ObjectStore(settings.data_dir)
        self.settings = settings
        self.pool = pool
        self.progress: dict[str, float] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.cancels: dict[str, threading.Event] = {}
        self.slots = FairSlots(settings.render_workers, settings.renders_per_identity)
        self.out_dir = settings.data_dir / "renders"
        self._settled = asyncio.Event()  # set (and replaced) whenever a render here ends

    async def settled(self, seconds: float) -> None:
        """Return when a render in this process completes or fails, or after `seconds`: a status
        request that waits (``?wait=``) then reads the render's row again. Renders on a worker
        elsewhere are seen by that re-read alone."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), seconds)

    def _ended(self) -> None:
        self._settled.set()
        self._settled = asyncio.Event()

    def output_path(self, job_id: str) -> Path:
        return self.out_dir / f"{job_id}.mp4"

    def _own_paths(self, job_id: str) -> tuple[Path, Path] | None:
        """The job's work dir and output file, or None unless each is directly inside its folder.

        The API only accepts ``render_<letters, digits, _ ->`` ids; this guards rows from anywhere else
        (an older version, a hand edit), since the work dir is deleted after the render.
        """
        work_root = (self.settings.data_dir / "work").resolve()
        work = (work_root / job_id).resolve()
        out = self.output_path(job_id).resolve()
        if work.parent != work_root or out.parent != self.out_dir.resolve():
            return None
        return work, out

    async def signed_url(self, job_id: str, ext: str = "mp4") -> tuple[str, int]:
        """A presigned object storage link, or the backend's own signed ``/files`` link."""
        ttl = self.settings.signed_url_ttl_seconds
        file = self.output_path(job_id).with_suffix(f".{ext}")
        name = f"voiceover-{job_id}.{ext}"
        presigned = await self.objects.download_url(file, ttl, name, CONTENT_TYPES[ext])
        if presigned is not None:
            return presigned
        path, expires = sign(self.settings.secret(), f"/files/{job_id}.{ext}", ttl)
        return self.settings.base_url + path, expires

    async def _links(self, job_id: str, captions: list[str]) -> dict[str, Any]:
        """Signed links to the MP4 and, when they were made, its SRT/VTT caption files."""
        url, expires = await self.signed_url(job_id)
        links: dict[str, Any] = {"url": url, "expires_at": expires}
        if captions:
            links["captions"] = {ext: (await self.signed_url(job_id, ext))[0] for ext in captions}
        return links

    def submit(self, job: Job) -> None:
        self.progress[job.id] = 0.0
        task = asyncio.create_task(self._run(job), name=f"render-{job.id}")
        self.tasks[job.id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(job.id, None))

    async def start(self, job: Job) -> None:
        """Run ``job`` here, or put it on the work queue (its id is its key: never queued twice)."""
        if self.queue is None:
            self.submit(job)
        elif not await self.queue.enqueue_render(job.id, job.identity_id):
            log.info("render %s is already on the queue", job.id)

    async def run(self, job: Job) -> None:
        """Render ``job`` now, in this process (a worker's entry point)."""
        await self._run(job)

    async def check_queued(self, job: Job) -> Job:
        """With a queue, an unfinished render as the queue sees it: put back if it never got there
        (its replica died right after the row was written), failed if the queue gave up on it
        (every worker that took it died). Without a queue, ``job`` as it is."""
        if self.queue is None or job.status not in ("queued", "rendering"):
            return job
        found = await self.queue.status(job.id)
        if found is None:
            await self.start(job)
        elif found[0] in ("failed", "aborted"):
            session = await self.store.session(job.session_id)
            lang = session[1] if session else "en"
            await self._fail(job.id, None, t("render_failed", lang, reason="its workers stopped"))
            return await self.store.job(job.id) or job
        return job

    async def resume(self) -> int:
        """Queue again every job a previous process left unfinished."""
        jobs = await self.store.unfinished_jobs()
        if self.queue is not None:  # a worker may be rendering it: only make sure it is queued
            for job in jobs:
                await self.start(job)
            return len(jobs)
        for job in jobs:
            log.info("resuming render %s", job.id)
            await self.store.update_job(job.id, "queued", progress=0)
            self.submit(job)
        return len(jobs)

    async def shutdown(self) -> None:
        for ev in self.cancels.values():
            ev.set()
        for task in list(self.tasks.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _spec(self, job: Job) -> RenderSpec:
        items = {m.id: m for m in await self.store.media(job.session_id)}

        used: list[Path] = []

        def resolve(media_id: str) -> tuple[Path, dict[str, Any]] | None:
            item = items.get(media_id)
            if item:
                used.append(item.path)
            return (item.path, item.info) if item else None

        spec = to_spec(job.draft, resolve)
        for path in used:  # uploads and voiceovers another process may have written
            await self.objects.ensure_local(path)
        return spec

    async def _run(self, job: Job) -> None:
        lang = "en"
        found = await self.store.session(job.session_id)
        if found:
            lang = found[1]
        async with self.slots.slot(job.identity_id):
            await self.store.update_job(job.id, "rendering", progress=0)
            log.info("render %s started for %s", job.id, job.identity_id)
            paths = self._own_paths(job.id)
            if paths is None:
                await self._fail(job.id, None, t("render_failed", lang, reason="bad render id"))
                return
            work, out = paths
            cancel = threading.Event()
            self.cancels[job.id] = cancel
            work.mkdir(parents=True, exist_ok=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            try:
                spec = await self._spec(job)
                await self._render(job.id, spec, out, work, cancel)
            except DraftError as exc:
                await self._fail(job.id, out, t("render_failed", lang, reason=str(exc)))
                return
            except JobFailed as exc:
                await self._fail(job.id, out, t("render_failed", lang, reason=str(exc)))
                return
            except asyncio.CancelledError:
                cancel.set()
                raise
            except Exception:
                log.exception("render %s crashed", job.id)
                await self._fail(job.id, out, t("internal", lang))
                return
            finally:
                self.cancels.pop(job.id, None)
                assert work.parent == (self.settings.data_dir / "work").resolve(), work
                shutil.rmtree(work, ignore_errors=True)
            captions = [e for e in ("srt", "vtt") if out.with_suffix(f".{e}").exists()]
            for path in [out, *(out.with_suffix(f".{e}") for e in captions)]:
                await self.objects.publish(path)
            output = {
                **await self._links(job.id, captions),
                "size": out.stat().st_size,
                "duration_ms": spec.duration_ms,
                "width": spec.width,
                "height": spec.height,
                "format": "mp4",
            }
            await self.store.update_job(job.id, "completed", progress=100, output=output)
            self.progress.pop(job.id, None)
            self._ended()
            log.info("render %s completed (%d bytes)", job.id, output["size"])

    async def _render(
        self, job_id: str, spec: RenderSpec, out: Path, work: Path, cancel: threading.Event
    ) -> None:
        """The render on the pool; a worker wraps it to write progress through."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.pool, self._render_sync, job_id, spec, out, work, cancel)

    def _render_sync(
        self, job_id: str, spec: RenderSpec, out: Path, work: Path, cancel: threading.Event
    ) -> None:
        def progress(fraction: float) -> None:
            self.progress[job_id] = round(max(0.0, min(1.0, fraction)) * 100, 1)

        from backend.media.render import (  # the ffmpeg pipeline, loaded on first use
            RenderError,
            render,
        )
        from backend.media.segments import cache_dir

        try:  # the cache holds what a pipeline encoded while the voice was spoken
            cache = cache_dir(self.settings.data_dir)
            render(spec, out, work, progress=progress, cancel=cancel, cache=cache)
        except RenderError as exc:
            raise JobFailed(str(exc)) from exc

    async def _fail(self, job_id: str, out: Path | None, message: str) -> None:
        if out is not None:
            await asyncio.to_thread(out.unlink, missing_ok=True)
        self.progress.pop(job_id, None)
        await self.store.update_job(job_id, "failed", error={"code": 5000, "message": message})
        self._ended()
        log.warning("render %s failed: %s", job_id, message)

    async def fresh_output(self, job: Job) -> dict[str, Any] | None:
        """A completed job's output with a newly signed URL (old links may have expired)."""
        if job.status != "completed" or not job.output:
            return job.output
        if not await self.objects.exists(self.output_path(job.id)):
            return job.output
        captions = list(job.output.get("captions") or {})
        return {**job.output, **await self._links(job.id, captions)}
