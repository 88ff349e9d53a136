"""A script-only export from cached pieces: the picture's stretches (backend.media.segments) and the
voice's AAC track (backend.media.voice_track), joined by stream copy.

What the pipeline already encoded while the voice was synthesized is taken from the cache; what it
did not (another style, size or title, a trim, music, no pipeline at all) is encoded now, the sound
on one ffmpeg and the stretches one after another on a second, so both cores work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from backend.core.types import RenderSpec
from backend.media import segments
from backend.media.captions import write_srt
from backend.media.ffmpeg import run_ffmpeg
from backend.media.voice_track import cached_track

_LOG = logging.getLogger(__name__)
_WAIT_S = 600.0  # the longest an export waits for a pipeline still finishing the same voice

# Pipelines at work, by voice file: an export of that voice waits for its pipeline to finish
# (backend.runtime.pipeline registers and releases them).
_pending: dict[str, threading.Event] = {}
_pending_lock = threading.Lock()


def pipeline_started(voice: Path) -> threading.Event:
    done = threading.Event()
    with _pending_lock:
        _pending[str(Path(voice).resolve())] = done
    return done


def pipeline_finished(voice: Path, done: threading.Event) -> None:
    done.set()
    with _pending_lock:
        if _pending.get(str(Path(voice).resolve())) is done:
            del _pending[str(Path(voice).resolve())]


def _wait_for_pipeline(voice: Path, cancel: threading.Event | None) -> None:
    with _pending_lock:
        done = _pending.get(str(Path(voice).resolve()))
    waited = 0.0
    while done is not None and not done.wait(0.2) and waited < _WAIT_S:
        waited += 0.2
        if cancel is not None and cancel.is_set():
            return


def render_script(
    spec: RenderSpec,
    total_s: float,
    voice_s: float,
    soft: bool,
    cache: Path,
    scratch: Path,
    tmp: Path,
    make_audio: Callable[[Path], None],
    report: Callable[[float], None],
    cancel: threading.Event | None,
) -> None:
    """Write the MP4 to tmp."""
    segments.prune(cache)
    if spec.voice is not None:
        _wait_for_pipeline(Path(spec.voice), cancel)
    total_ms = round(total_s * 1000)
    track: Path | None = None
    plain_voice = (
        spec.voice is not None
        and spec.music is None
        and spec.voice_start_ms == 0
        and abs(voice_s - total_s) < 0.05
    )
    if plain_voice:
        assert spec.voice is not None
        track = cached_track(cache, Path(spec.voice))
    failure: list[BaseException] = []
    audio_thread = None
    if track is None:
        track = scratch / "track.m4a"
        target = track

        def audio() -> None:
            try:
                make_audio(target)
            except BaseException as exc:  # re-raised on the render's thread
                failure.append(exc)

        audio_thread = threading.Thread(target=audio, name="render-audio", daemon=True)
        audio_thread.start()
    parts = [
        segments.stretch(spec, spec.captions, a, b)
        for a, b in segments.cuts(spec.captions, total_ms)
    ]
    files: list[tuple[Path, int]] = []
    reused = 0
    done_ms = 0
    try:
        for part in parts:
            reused += segments.cached(cache, spec, part).is_file()
            base = done_ms

            def step(f: float, base: int = base, ms: int = part.ms) -> None:
                report(0.1 + 0.8 * (base + f * ms) / max(total_ms, 1))

            files.append((segments.encode(spec, part, cache, scratch, cancel, step), part.ms))
            done_ms += part.ms
            report(0.1 + 0.8 * done_ms / max(total_ms, 1))
    finally:
        if audio_thread is not None:
            audio_thread.join()
    if failure:
        raise failure[0]
    report(0.9)
    inputs = ["-f", "concat", "-i", segments.concat_list(files, scratch).name]
    inputs += ["-i", f"file:{track}"]
    maps = ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "copy"]
    if soft:
        write_srt(spec.captions, scratch / "captions.srt", spec.width, spec.height)
        inputs += ["-f", "srt", "-i", "captions.srt"]
        maps += ["-map", "2:s:0", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng"]
    out = ["-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4", f"file:{tmp}"]
    run_ffmpeg(
        [*inputs, *maps, *out],
        cwd=scratch,
        total_s=total_s,
        progress=lambda f: report(0.9 + 0.08 * f),
        cancel=cancel,
    )
    _LOG.info(
        "render mode=script-segments %dx%d %.2fs captions=%d: %d of %d stretches and %s voice "
        "track from the cache",
        spec.width,
        spec.height,
        total_s,
        len(spec.captions),
        reused,
        len(parts),
        "the" if audio_thread is None else "no",
    )
