"""The video side of a render: the still background of a script-only export and the filter chain
that fits an uploaded video into the output frame (pad / blur / crop), holds its last frame and
burns captions and titles, plus the x264 settings.

Speed on 2 cores: frames are dropped (fps) before scaling, scaling uses bilinear, the blurred fill
is blurred at 1/8 size and scaled back up, and unchanged steps (same size, same rate) are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from backend.core.types import RenderSpec

_MAX_FRAME_MS = 1000  # the longest a still's frame lasts
_SAFE_NAME = re.compile(r"^[\w.-]+$")
# A still's frames at a constant QP, not CRF: CRF has x264 analyse a half-size copy of every frame
# for its rate control, 1.3 ms of a 1080p frame's ~6 (a 10 s karaoke stretch: 0.32 -> 0.27 CPU-s).
# QP 20 keeps the caption band above CRF 23 veryfast (54.7 dB PSNR, SSIM 0.9988 against 50.6 dB,
# 0.9984) in 44% less file than CRF 22 here (which spent its bits on the gradient: 62.9 dB).
X264_STILL = ["-preset", "ultrafast", "-tune", "stillimage", "-qp", "20"]
# A re-encode (burned captions, titles, a new frame) costs what a plain ultrafast re-encode costs:
# libass adds a few percent (it draws only the caption band, glyphs cached), CABAC added ~35% on 2
# cores (bench/bench_render.py). At CRF 23 ultrafast spends about 3x veryfast's bits, so its frames
# measure above CRF 23 veryfast's (SSIM 0.998 vs 0.993 on the bench clip); files are ~5% bigger
# than with CABAC at CRF 22.
X264_VIDEO = ["-preset", "ultrafast", "-crf", "23"]
FITS = ("pad", "blur", "crop")
_SCALE = "flags=bilinear"


def filter_value(name: str) -> str:
    """A file name for a filter option. Only plain names are used (files live in the scratch dir,
    which is ffmpeg's cwd), so no path ever needs filtergraph escaping."""
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe filter file name {name!r}")
    return name


def _rgb(colour: str, factor: float) -> tuple[int, int, int]:
    """'#rrggbb' scaled by factor; a bad colour falls back to the default."""
    value = colour.strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        value = "1b2735"
    r, g, b = (min(255, round(int(value[i : i + 2], 16) * factor)) for i in (0, 2, 4))
    return r, g, b


def still_background(scratch: Path, spec: RenderSpec, total_s: float, cues: list[int]) -> None:
    """A one-frame gradient (y4m: no decoding cost) and a concat list that shows it once per
    caption/title change (and at least every second), so the encoder sees only frames that differ."""
    w, h = spec.width, spec.height
    top, bottom = _rgb(spec.background, 1.35), _rgb(spec.background, 0.7)
    mix = np.linspace(0.0, 1.0, h)[:, None]
    rgb = np.asarray(top)[None, :] * (1 - mix) + np.asarray(bottom)[None, :] * mix  # h x 3
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    plane_y = np.repeat(np.round(y).astype(np.uint8)[:, None], w, axis=1)
    half = slice(0, h, 2)
    plane_u = np.repeat(np.round(u[half]).astype(np.uint8)[:, None], w // 2, axis=1)
    plane_v = np.repeat(np.round(v[half]).astype(np.uint8)[:, None], w // 2, axis=1)
    with (scratch / "bg.y4m").open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\nFRAME\n".encode())
        for plane in (plane_y, plane_u, plane_v):
            f.write(plane.tobytes())
    total_ms = round(total_s * 1000)
    changes = sorted({0, *(t for t in cues if 0 < t < total_ms), max(total_ms - 40, 0)})
    # a frame at least every second: the same frame again only where nothing changes for longer
    # (every change is a frame anyway; ~1/4 of a karaoke video's frames were repeats on a fixed
    # 1 s grid, each costing the encoder as much as a new one)
    ordered: list[int] = []
    for start, end in zip(changes, [*changes[1:], total_ms], strict=True):
        ordered += range(start, end, _MAX_FRAME_MS) if end - start > _MAX_FRAME_MS else [start]
    lines = ["ffconcat version 1.0"]
    for start, end in zip(ordered, [*ordered[1:], total_ms], strict=True):
        if end > start:
            lines += ["file bg.y4m", f"duration {(end - start) / 1000:.3f}"]
    (scratch / "bg.ffconcat").write_text("\n".join(lines) + "\n", encoding="ascii")


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def fit_graph(
    src: str,
    *,
    src_w: int,
    src_h: int,
    src_fps: float,
    spec: RenderSpec,
    hold_s: float,
    ass: str,
    out: str = "[vout]",
) -> str:
    """filter_complex text taking `src` (e.g. "[0:v:0]") to `out` at the output size and rate."""
    w, h = spec.width, spec.height
    fps = max(1, min(spec.fps, 60))
    head = [] if abs(src_fps - fps) < 0.01 else [f"fps={fps}"]
    tail = ["setsar=1", "format=yuv420p"]
    if hold_s > 0.01:
        tail.append(f"tpad=stop_mode=clone:stop_duration={hold_s:.3f}")
    if ass:
        tail.append(ass)
    fit = spec.fit if spec.fit in FITS else "pad"
    same_aspect = abs(src_w * h - src_h * w) <= max(w, h) * 2  # within a pixel or two
    if (src_w, src_h) == (w, h):
        return f"{src}{','.join([*head, *tail])}{out}"
    if same_aspect:
        return f"{src}{','.join([*head, f'scale={w}:{h}:{_SCALE}', *tail])}{out}"
    if fit == "crop":
        scale = f"scale={w}:{h}:force_original_aspect_ratio=increase:{_SCALE},crop={w}:{h}"
        return f"{src}{','.join([*head, scale, *tail])}{out}"
    inner = f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:{_SCALE}"
    if fit == "pad":
        pad = f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black"
        return f"{src}{','.join([*head, inner, pad, *tail])}{out}"
    # blur: the source scaled to fill and heavily blurred (cheaply, at 1/8 size), the source
    # scaled to fit on top, centred.
    bw, bh = _even(w / 8), _even(h / 8)
    radius = max(2, min(bw, bh) // 6)
    split = ",".join([*head, "split=2[bgsrc][fgsrc]"])
    return ";".join(
        [
            f"{src}{split}",
            f"[bgsrc]scale={bw}:{bh}:force_original_aspect_ratio=increase:{_SCALE},"
            f"crop={bw}:{bh},boxblur={radius}:2,scale={w}:{h}:{_SCALE}[bg]",
            f"[fgsrc]{inner}[fg]",
            f"[bg][fg]overlay=(W-w)/2:(H-h)/2,{','.join(tail)}{out}",
        ]
    )
