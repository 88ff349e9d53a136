"""Burning karaoke captions into an uploaded video for little more than the encode itself.

ffmpeg's `ass` filter blends every caption bitmap into every frame with plain C (drawutils'
ff_blend_mask): on a 30 s 1080p clip that was about 1.4 s of CPU, some 15% of the whole
re-encode, for captions that change a few times a second. Here libass draws each caption state
once, onto a transparent canvas that has frames only where the captions change (a concat list of
a tiny transparent PNG); the canvas is cropped to the band the captions ever cover (found by a
quarter-size dry run, ~0.1 s) and ffmpeg's `overlay` (SIMD rows) blends that band onto each frame.
Measured on 2 cores (CPU seconds against a plain ultrafast re-encode): `ass` 1.12x, this 1.07x,
frames within 4 levels of the direct filter's. For captions at the top or the bottom the canvas
is only as tall as the band (band_layout: the same ASS with PlayResY the band's height and the
margin moved), so each caption state scales, converts and clears a band, not a whole frame: the canvas of
the bench's 30 s 1080p burn (120 states) took 0.24 -> 0.17 CPU-s run alone, and the burn went
from 1.15x to 1.13x of its floor (bench/bench_render.py, 7 alternating runs, same SSIM).

The canvas is exact only for opaque colours (drawutils weighs a translucent colour's alpha twice
when it blends into an alpha plane), so the caption style has no translucent part; titles (boxes
in translucent black) keep the direct `ass` filter.
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

from backend.media.ffmpeg import run_ffmpeg
from backend.media.video import filter_value

_BBOX = re.compile(r"x1:(\d+) x2:(\d+) y1:(\d+) y2:(\d+)")
_PAD = 8  # pixels around the band found at quarter size (one quarter-size pixel is 4)
_CLEAR = "clear.png"
STATES = "caption-states.ffconcat"


@dataclass(frozen=True)
class Band:
    """The part of the frame the captions ever cover, in output pixels (even, for 4:2:0)."""

    x: int
    y: int
    w: int
    h: int


def _png(path: Path, size: int = 16) -> None:
    """A fully transparent RGBA PNG (the canvas, scaled up by ffmpeg without cost)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + bytes(4 * size) for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_states(scratch: Path, cues_ms: list[int], total_s: float) -> None:
    """The canvas's frame list: one frame at 0 and at each change, each lasting until the next
    (the overlay holds the last one to the end); millisecond timestamps (image2's default
    1/25 s would move a highlight by up to 40 ms)."""
    _png(scratch / _CLEAR)
    total_ms = round(total_s * 1000)
    starts = sorted({0, *(c for c in cues_ms if 0 < c < total_ms)})
    lines = ["ffconcat version 1.0"]
    for start, end in zip(starts, [*starts[1:], total_ms], strict=True):
        lines += [f"file {_CLEAR}", "option framerate 1000", f"duration {(end - start) / 1000:.3f}"]
    (scratch / STATES).write_text("\n".join(lines) + "\n")


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


def find_band(
    scratch: Path, ass: str, width: int, height: int, cancel: threading.Event | None = None
) -> Band | None:
    """Where the captions fall, from libass itself at quarter size (layout scales with the frame:
    same lines, same wraps); None when nothing is drawn."""
    qw, qh = _even(width / 4), _even(height / 4)
    err = run_ffmpeg(
        [
            *("-safe", "0", "-f", "concat", "-i", STATES, "-fps_mode", "passthrough"),
            "-vf",
            f"scale={qw}:{qh}:flags=neighbor,format=yuva420p,{ass}:alpha=1,alphaextract,bbox",
            *("-f", "null", "-"),
        ],
        cwd=scratch,
        cancel=cancel,
    )
    boxes = [tuple(int(v) for v in m) for m in _BBOX.findall(err)]
    if not boxes:
        return None
    sx, sy = width / qw, height / qh
    x1 = max(0, int(min(b[0] for b in boxes) * sx) - _PAD) // 2 * 2
    y1 = max(0, int(min(b[2] for b in boxes) * sy) - _PAD) // 2 * 2
    x2 = min(width, int((max(b[1] for b in boxes) + 1) * sx) + _PAD)
    y2 = min(height, int((max(b[3] for b in boxes) + 1) * sy) + _PAD)
    w, h = min(x2 - x1 + 1, width - x1) // 2 * 2, min(y2 - y1 + 1, height - y1) // 2 * 2
    return Band(x1, y1, w, h)


_STYLE = re.compile(r"^Style: Caption,(.*)$", re.MULTILINE)
_FORMAT = re.compile(r"^\[V4\+ Styles\]\s*^Format: (.*)$", re.MULTILINE)


def band_layout(scratch: Path, name: str, band: Band, height: int) -> str | None:
    """Write the ASS file `name` (fonts in ``scratch/fonts``) again as ``band-<name>``, laid out
    on a canvas as tall as the band: PlayResY is the band's height (libass's scale stays 1, so
    sizes, outlines and wraps are the same) and the vertical margin is moved by what lies below
    the band (bottom captions) or above it (top ones). The `ass` filter that draws it, or None
    for centred captions (their place depends on the canvas's centre: they keep the frame-sized
    canvas). The Caption style's fields are found by the document's own Format line."""
    document = (scratch / name).read_text(encoding="utf-8")
    style, columns = _STYLE.search(document), _FORMAT.search(document)
    if style is None or columns is None or f"PlayResY: {height}\n" not in document:
        return None
    names = [c.strip() for c in columns.group(1).split(",")][1:]  # after Name, as style's fields
    fields = style.group(1).split(",")
    at_align, at_margin = names.index("Alignment"), names.index("MarginV")
    align, margin = int(fields[at_align]), int(fields[at_margin])
    if align in (1, 2, 3):
        margin -= height - (band.y + band.h)
    elif align in (7, 8, 9):
        margin -= band.y
    else:
        return None
    if margin < 0:
        return None
    fields[at_margin] = str(margin)
    document = document.replace(style.group(0), "Style: Caption," + ",".join(fields), 1)
    document = document.replace(f"PlayResY: {height}\n", f"PlayResY: {band.h}\n", 1)
    out = f"band-{name}"
    (scratch / out).write_text(document, encoding="utf-8")
    return f"ass=filename={filter_value(out)}:fontsdir={filter_value('fonts')}"


def band_graph(
    band: Band,
    ass: str,
    canvas: str,
    base: str,
    width: int,
    height: int,
    band_ass: str | None = None,
) -> str:
    """filter_complex text: captions drawn on `canvas`'s frames, cropped to the band, laid over
    `base` (the fitted picture) into [vout]. `band_ass` (the filter for band_layout's file) draws
    them on a canvas the band's height; without it the canvas is the frame."""
    if band_ass:
        draw = f"scale={width}:{band.h}:flags=neighbor,format=yuva420p,{band_ass}:alpha=1"
        crop = f"crop={band.w}:{band.h}:{band.x}:0"
    else:
        draw = f"scale={width}:{height}:flags=neighbor,format=yuva420p,{ass}:alpha=1"
        crop = f"crop={band.w}:{band.h}:{band.x}:{band.y}"
    return (
        f"{canvas}{draw},{crop}[caps];"
        f"{base}[caps]overlay={band.x}:{band.y}:format=yuv420:eof_action=repeat[vout]"
    )


def burn_band(
    scratch: Path,
    ass: str,
    width: int,
    height: int,
    cues_ms: list[int],
    total_s: float,
    cancel: threading.Event | None = None,
) -> Band | None:
    """Write the canvas's frame list (STATES, in `scratch`) and find the captions' band."""
    write_states(scratch, cues_ms, total_s)
    return find_band(scratch, ass, width, height, cancel)
