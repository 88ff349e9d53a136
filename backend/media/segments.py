"""A script-only video as segments: the picture cut at sentence starts into stretches of up to
about SEGMENT_MS, each encoded on its own into a content-addressed cache and joined by the concat demuxer
without re-encoding (issue 13: pipelining).

Why: the picture of a stretch depends only on the sentences spoken in it, so it can be encoded while
later sentences are still being synthesized (backend.runtime.pipeline), and an export that finds
every stretch (and the voice's AAC track, see backend.media.voice_track) in the cache only muxes.
A stretch's file is named by a hash of everything its pixels depend on (size, background, the ASS
text, the frame times, the encoder settings), so a cached file is never used for a picture it does
not show: any change of style, size or words is a miss and is encoded again.

Cut points depend only on the sentences before them (a cut falls on the end of the first sentence
ending long enough after the previous cut, see `cuts_at`), so the pipeline and the export cut a
script identically, and the pipeline encodes a stretch as soon as its last sentence is spoken (a
cut at the next sentence's start would wait for that sentence). Stretches start short (MIN_SEGMENT_MS) and grow to SEGMENT_MS: the pipeline's last stretch, the
one encoded after the last sentence is spoken, is then a few seconds for a short script (measured:
a 27 s picture took 1.0-1.4 s to encode, on the export's critical path), while a long script still
costs few encoder starts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from backend.core.types import RenderSpec, Sentence, TextOverlay, Word
from backend.media.captions import FONTS_DIR, ass_document, change_times, overlay_times
from backend.media.ffmpeg import Priority, run_ffmpeg
from backend.media.video import X264_STILL, filter_value, still_background

SEGMENT_MS = 30_000
MIN_SEGMENT_MS = 8_000
CACHE_VERSION = "1"
KEEP_SECONDS = 12 * 3600  # cached stretches unused this long are removed
MAX_BYTES = 2_000_000_000  # and the least recently used beyond this
_VIDEO = ["-c:v", "libx264", *X264_STILL, "-g", "30", "-pix_fmt", "yuv420p", "-fps_mode", "vfr"]


def cache_dir(data_dir: Path) -> Path:
    """Where stretches and voice tracks are cached (pipelines write, script-only renders read)."""
    return Path(data_dir) / "render-cache"


def cuts_at(cut_ms: int, end_ms: int) -> bool:
    """Whether the stretch begun at cut_ms ends with the sentence ending at end_ms."""
    return end_ms - cut_ms >= min(SEGMENT_MS, max(MIN_SEGMENT_MS, cut_ms // 2))


def cuts(sentences: Sequence[Sentence], total_ms: int) -> list[tuple[int, int]]:
    """The (start, end) ms of every stretch of a script-only video lasting total_ms."""
    points = [0]
    for sentence in sentences:
        if cuts_at(points[-1], sentence.end_ms) and sentence.end_ms < total_ms:
            points.append(sentence.end_ms)
    return list(zip(points, [*points[1:], total_ms], strict=True))


def _shift(sentence: Sentence, by: int) -> Sentence:
    words = tuple(Word(w.text, w.start_ms - by, w.end_ms - by) for w in sentence.words)
    return Sentence(sentence.text, sentence.start_ms - by, sentence.end_ms - by, words)


@dataclass(frozen=True)
class Stretch:
    """One segment's inputs: what it shows, on its own timeline starting at 0."""

    start_ms: int
    end_ms: int
    captions: tuple[Sentence, ...]
    titles: tuple[TextOverlay, ...]

    @property
    def ms(self) -> int:
        return self.end_ms - self.start_ms


def stretch(spec: RenderSpec, sentences: Sequence[Sentence], start_ms: int, end_ms: int) -> Stretch:
    """The stretch [start_ms, end_ms): the burned sentences starting in it and the titles shown
    in it, moved to start at 0 (a cut falls on a sentence end, so no sentence spans two)."""
    burn = spec.caption_style.enabled and spec.caption_style.burn_in
    shown = tuple(
        _shift(s, start_ms) for s in sentences if burn and start_ms <= s.start_ms < end_ms
    )
    titles = tuple(
        replace(t, start_ms=max(0, t.start_ms - start_ms), end_ms=min(t.end_ms, end_ms) - start_ms)
        for t in spec.titles
        if t.text.strip() and t.start_ms < end_ms and t.end_ms > start_ms and t.end_ms > t.start_ms
    )
    return Stretch(start_ms, end_ms, shown, titles)


def _inputs(spec: RenderSpec, part: Stretch) -> tuple[str, str]:
    """(ASS text, frame times) of a stretch: all that its pixels depend on besides the spec's
    size, background and style."""
    style = replace(spec.caption_style, enabled=True, burn_in=True)
    ass = ass_document(part.captions, style, spec.width, spec.height, titles=part.titles)
    times = change_times(part.captions, spec.width, spec.height) + overlay_times(part.titles)
    return ass, ",".join(str(t) for t in sorted(set(times)))


def key(spec: RenderSpec, part: Stretch) -> str:
    """The cache name of a stretch's encoded picture."""
    ass, times = _inputs(spec, part)
    payload = "\n".join(
        [
            CACHE_VERSION,
            f"{spec.width}x{spec.height}",
            spec.background,
            str(part.ms),
            " ".join(_VIDEO),
            times,
            ass,
        ]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def cached(cache: Path, spec: RenderSpec, part: Stretch) -> Path:
    return cache / f"seg-{key(spec, part)}.mp4"


def encode(
    spec: RenderSpec,
    part: Stretch,
    cache: Path,
    scratch: Path,
    cancel: threading.Event | None = None,
    progress: Callable[[float], None] | None = None,
    priority: Priority = Priority.NORMAL,
) -> Path:
    """The stretch's picture (H.264, no sound) in the cache, encoded now unless it is there (the
    pipeline's, beside the synthesis, in the idle class: backend.media.ffmpeg.Priority)."""
    out = cached(cache, spec, part)
    if out.is_file():
        os.utime(out)  # recently used: kept by prune
        return out
    cache.mkdir(parents=True, exist_ok=True)
    work = scratch / f"seg-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    tmp = cache / f".{out.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        ass, times = _inputs(spec, part)
        cues = [int(t) for t in times.split(",") if t]
        still_background(work, spec, part.ms / 1000, cues)
        graph = "[0:v:0]format=yuv420p"
        if part.captions or part.titles:
            (work / "captions.ass").write_text(ass, encoding="utf-8")
            (work / "fonts").symlink_to(FONTS_DIR, target_is_directory=True)
            graph += (
                f",ass=filename={filter_value('captions.ass')}:fontsdir={filter_value('fonts')}"
            )
        run_ffmpeg(
            [
                *("-f", "concat", "-i", "bg.ffconcat"),
                *("-filter_complex", f"{graph}[vout]", "-map", "[vout]"),
                *_VIDEO,
                *("-an", "-map_metadata", "-1", "-f", "mp4", f"file:{tmp}"),
            ],
            cwd=work,
            total_s=part.ms / 1000,
            progress=progress,
            cancel=cancel,
            priority=priority,
        )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    return out


def concat_list(parts: Sequence[tuple[Path, int]], scratch: Path) -> Path:
    """An ffconcat list of the stretches' files (linked into scratch under plain names, so the
    demuxer's safe mode holds), each lasting exactly its stretch."""
    lines = ["ffconcat version 1.0"]
    for i, (path, ms) in enumerate(parts):
        link = scratch / f"part{i:04d}.mp4"
        link.symlink_to(path)
        lines += [f"file {link.name}", f"duration {ms / 1000:.3f}"]
    out = scratch / "parts.ffconcat"
    out.write_text("\n".join(lines) + "\n", encoding="ascii")
    return out


def prune(cache: Path, keep_s: float = KEEP_SECONDS, max_bytes: int = MAX_BYTES) -> None:
    """Remove cached stretches and voice tracks unused for keep_s or beyond max_bytes (the least
    recently used first), and partial files and scratch dirs a killed process left."""
    if not cache.is_dir():
        return
    now = time.time()
    kept: list[tuple[float, int, Path]] = []
    for path in cache.iterdir():
        try:
            st = path.stat()
            age = now - st.st_mtime
            if path.name.startswith(".scratch-") and path.is_dir():
                if age > 3600:
                    shutil.rmtree(path, ignore_errors=True)
            elif path.name.endswith(".part"):
                if age > 3600:
                    path.unlink(missing_ok=True)
            elif age > keep_s:
                path.unlink(missing_ok=True)
            else:
                kept.append((st.st_mtime, st.st_size, path))
        except OSError:
            continue
    total = sum(size for _t, size, _p in kept)
    for _mtime, size, path in sorted(kept):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
