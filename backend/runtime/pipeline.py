"""Rendering a script-only video while its voice is still being synthesized (issue 13: pipelining).

A turn that synthesizes a script with no uploaded video hands a Pipeline to the synthesis as its
SpeechTap. On its own thread the pipeline passes the voice on to its AAC track (a VoiceFeed, on
a thread of its own: backend.media.voice_track) and hands each stretch of the picture (8 s
growing to 30 s, see backend.media.segments) to an encoder thread as soon as its last sentence
is spoken. Both land in the render cache, so the export that usually follows only joins them by
stream copy. The picture is encoded with the look the session has now (size, caption style,
titles); anything the user changes before exporting is a cache miss, encoded at export.

Synthesis keeps about 1.7 of the 2 cores busy; the pipeline's ffmpeg takes the rest, at a lower
priority (backend.media.ffmpeg.Priority), and what the export waits for once the last sentence is
spoken runs at normal priority. The queue between them is
bounded, so a pipeline that falls behind slows the synthesis down instead of holding the voice in
memory. Two pipelines run at most; a third synthesis meanwhile gets none (it is exported as
before). A pipeline never fails a turn: its errors are logged and the export encodes what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Awaitable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path
from typing import TYPE_CHECKING

from backend.core.queues import put_unless_gone
from backend.core.types import CaptionStyle, RenderSpec, Sentence, SpeechResult, TextOverlay
from backend.media import segments
from backend.media.ffmpeg import Priority
from backend.media.script_video import pipeline_finished, pipeline_started
from backend.media.voice_track import VoiceFeed
from backend.state.draft import output_size
from backend.state.model import SessionState

if TYPE_CHECKING:
    from backend.runtime.context import Backend

_LOG = logging.getLogger(__name__)

_AT_ONCE = threading.Semaphore(2)  # a pipeline finishing its last stretch, and the next one
_GRACE_S = 2.0  # at the end, how long a stretch still in the idle class may take before a redo
_QUEUE_ITEMS = 64  # sentences and 1 s silence blocks: a few MB of samples at most


def visuals(state: SessionState) -> RenderSpec:
    """The picture a script-only export of this session would have now (as build_draft/to_spec
    would make it), without its voice and captions."""
    settings = state.settings
    width, height = output_size(settings.aspect, None, settings.resolution)
    style = CaptionStyle(
        enabled=settings.captions,
        burn_in=settings.burn_captions is not False,  # a script-only video re-encodes: burned
        position=settings.caption_position,
        size=settings.caption_size,
    )
    titles = [
        TextOverlay(t.text[:200], t.start_ms, t.end_ms, t.position, t.size) for t in state.titles
    ]
    return RenderSpec(duration_ms=0, width=width, height=height, caption_style=style, titles=titles)


class Pipeline:
    """A SpeechTap: what synthesis writes goes onto a queue, this pipeline's thread encodes it."""

    def __init__(
        self, spec: RenderSpec, voice: Path, cache: Path, slot: threading.Semaphore | None = None
    ) -> None:
        self.spec, self.voice, self.cache, self.slot = spec, Path(voice), cache, slot
        self.scratch = cache / f".scratch-{uuid.uuid4().hex[:12]}"
        self.items: queue.Queue[tuple[str, object]] = queue.Queue(_QUEUE_ITEMS)
        self.sentences: list[Sentence] = []
        self.cut_ms = 0  # where the stretch being collected starts
        self.feed = VoiceFeed(cache, self.scratch, _QUEUE_ITEMS)
        # stretches are encoded off this thread, so the voice keeps streaming meanwhile
        self.encodes = ThreadPoolExecutor(2, thread_name_prefix="render-stretch")
        self.pending: list[tuple[Future[Path], segments.Stretch, threading.Event]] = []
        self.broken = False
        self.closed = False  # the thread is gone: what synthesis still writes is dropped
        self.stopped = threading.Event()
        self.done = pipeline_started(self.voice)
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._work, name="render-pipeline", daemon=True)
        self.thread.start()

    # -- the synthesis side (a TTS worker thread) -----------------------------------------------

    def _put(self, kind: str, value: object) -> None:
        put_unless_gone(self.items, (kind, value), lambda: self.closed)

    def pcm(self, data: bytes, rate: int) -> None:
        self._put("pcm", (data, rate))

    def sentence(self, sentence: Sentence) -> None:
        self._put("sentence", sentence)

    def finish(self, duration_ms: int) -> None:
        self._put("end", duration_ms)

    def abort(self) -> None:
        """Stop at the next item, without waiting (called on the event loop when a turn fails)."""
        self.stopped.set()
        for _done, _part, cancel in list(self.pending):
            cancel.set()
        try:
            self.items.put_nowait(("abort", None))  # wakes the thread if it waits for work
        except queue.Full:
            pass  # it is busy and sees `stopped` at its next item

    # -- the pipeline's thread ------------------------------------------------------------------

    def _work(self) -> None:
        try:
            while True:
                kind, value = self.items.get()
                if kind == "abort" or self.stopped.is_set():
                    return
                if self.broken:
                    if kind == "end":
                        return
                    continue  # drained, so synthesis never waits on a broken pipeline
                try:
                    if kind == "end":
                        assert isinstance(value, int)
                        self._end(value)
                        return
                    self._take(kind, value)
                except Exception:
                    _LOG.exception(
                        "render pipeline for %s failed; the export encodes it", self.voice
                    )
                    if kind == "end":  # nothing more comes: waiting for it would hold exports
                        return
                    self.broken = True
        finally:
            self.closed = True
            self.stopped.set()  # stretches still encoding stop (an ended pipeline waited for them)
            for _done, _part, cancel in self.pending:
                cancel.set()
            self.encodes.shutdown(wait=True, cancel_futures=True)
            self.feed.abort()
            self.feed.thread.join(timeout=30)  # before its scratch goes (it stops within 0.5 s)
            shutil.rmtree(self.scratch, ignore_errors=True)
            pipeline_finished(self.voice, self.done)
            if self.slot is not None:
                self.slot.release()

    def _take(self, kind: str, value: object) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        if kind == "pcm":
            assert isinstance(value, tuple)
            self.feed.write(*value)
        elif kind == "sentence":
            assert isinstance(value, Sentence)
            self.sentences.append(value)
            if segments.cuts_at(self.cut_ms, value.end_ms):  # as segments.cuts cuts
                self._encode(self.cut_ms, value.end_ms)
                self.cut_ms = value.end_ms

    def _encode(self, start_ms: int, end_ms: int) -> None:
        """Hand the stretch to an encoder thread, in the idle class: it takes only the CPU the
        synthesis leaves (backend.media.ffmpeg.Priority)."""
        part = segments.stretch(self.spec, self.sentences, start_ms, end_ms)
        cancel = threading.Event()
        done = self.encodes.submit(self._picture, part, cancel, Priority.IDLE)
        self.pending.append((done, part, cancel))

    def _picture(self, part: segments.Stretch, cancel: threading.Event, priority: Priority) -> Path:
        return segments.encode(self.spec, part, self.cache, self.scratch, cancel, None, priority)

    def _end(self, duration_ms: int) -> None:
        """The export waits now: the last stretch at normal priority (the voice feed catches up
        meanwhile on its own thread), then the ones still in the idle class. Those get the CPU
        once synthesis is over, unless something else keeps both cores busy; one not done within
        _GRACE_S is stopped and encoded at normal priority."""
        if duration_ms > self.cut_ms:
            last = segments.stretch(self.spec, self.sentences, self.cut_ms, duration_ms)
            self._picture(last, self.stopped, Priority.NORMAL)
        for done, part, cancel in self.pending:
            if done.cancel():  # not started yet
                self._picture(part, self.stopped, Priority.NORMAL)
                continue
            try:
                done.result(timeout=_GRACE_S)
                continue
            except FuturesTimeout:
                cancel.set()
                with contextlib.suppress(Exception):
                    done.result()
            except Exception:  # starved past the watchdog, or failed: once more
                pass
            _LOG.info("stretch at %d ms encoded again at normal priority", part.start_ms)
            self._picture(part, self.stopped, Priority.NORMAL)
        self.feed.finish(self.voice)
        _LOG.info(
            "render pipeline for %s done: %d sentences, %.1f s after the voice started",
            self.voice.name,
            len(self.sentences),
            time.monotonic() - self.started,
        )


def start(backend: Backend, state: SessionState, voice: Path) -> Pipeline | None:
    """A pipeline for this synthesis, or None: an uploaded video, a worker queue (the render runs
    elsewhere), or another pipeline at work."""
    if state.video_id is not None or backend.runner.queue is not None:
        return None
    if os.environ.get("VOBACKEND_RENDER_PIPELINE", "1") == "0":  # benches measure without it
        return None
    if not _AT_ONCE.acquire(blocking=False):
        return None
    try:
        cache = segments.cache_dir(backend.settings.data_dir)
        return Pipeline(visuals(state), voice, cache, _AT_ONCE)
    except Exception:
        _AT_ONCE.release()
        _LOG.exception("render pipeline could not start")
        return None


async def synthesized(pipeline: Pipeline | None, speech: Awaitable[SpeechResult]) -> SpeechResult:
    """Await the synthesis; then the pipeline finishes the last stretch and the voice track (or,
    when synthesis failed, stops)."""
    try:
        result = await speech
    except BaseException:
        if pipeline is not None:
            pipeline.abort()
        raise
    if pipeline is not None:  # may wait for room on the queue: not on the event loop
        await asyncio.to_thread(pipeline.finish, result.duration_ms)
    return result
