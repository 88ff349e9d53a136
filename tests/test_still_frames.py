"""The still picture of a script-only video: a frame at every caption change and at least one a
second, and no other (each repeat costs the encoder as much as a new frame). Real ffmpeg/x264:
the encoded stretch's frame times are read back with PyAV."""

from __future__ import annotations

import itertools
from pathlib import Path

import av

from backend.core.types import CaptionStyle, RenderSpec
from backend.media import segments
from backend.media.video import still_background
from bench.bench_render import caption_track


def _entries(scratch: Path) -> list[tuple[int, int]]:
    """(start ms, duration ms) of every frame of the concat list."""
    lines = (scratch / "bg.ffconcat").read_text().splitlines()
    durations = [round(float(x.split()[1]) * 1000) for x in lines if x.startswith("duration")]
    starts = [sum(durations[:i]) for i in range(len(durations))]
    return list(zip(starts, durations, strict=True))


def test_frames_at_changes_and_at_least_every_second(tmp_path: Path) -> None:
    cues = [0, 300, 650, 900, 4200, 4500, 9800]  # a 3.3 s and a 5.3 s pause
    still_background(tmp_path, RenderSpec(duration_ms=12_000), 12.0, cues)
    entries = _entries(tmp_path)
    starts = [s for s, _ in entries]
    assert set(cues) <= set(starts)
    assert max(d for _, d in entries) <= 1000
    assert sum(d for _, d in entries) == 12_000
    # the pauses get the fewest repeats that keep frames at most 1 s apart: 3 + 5 + 2 (the end)
    assert len(entries) == len(cues) + 3 + 5 + 2 + 1  # + the last short frame
    assert starts == sorted(starts)


def test_an_encoded_stretch_has_those_frames(tmp_path: Path) -> None:
    sentences = [s for s in caption_track(20) if s.end_ms <= 9000]
    style = CaptionStyle(enabled=True, burn_in=True)
    spec = RenderSpec(duration_ms=9000, width=640, height=360, caption_style=style)
    part = segments.stretch(spec, sentences, 0, sentences[-1].end_ms)
    out = segments.encode(spec, part, tmp_path / "cache", tmp_path)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [
            float(p.pts * stream.time_base) for p in container.demux(stream) if p.pts is not None
        ]
    pts = sorted(round(t * 1000) for t in times)
    words = {w.start_ms for s in part.captions for w in s.words}
    assert len(pts) >= len(words)
    # the still is a 25 fps stream (a conventional frame rate for players), so a change shows on
    # the next 40 ms tick, never earlier
    assert all(b - a <= 1000 + 40 for a, b in itertools.pairwise(pts))
    assert all(any(0 <= p - w < 40 for p in pts) for w in words)
