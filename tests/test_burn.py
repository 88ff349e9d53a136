"""Captions burned in through the band overlay (backend.media.burn) draw what libass draws.

Real parts: ffmpeg with libass, the project's ASS writer and fonts (DejaVu and the CJK fallback),
a testsrc2 picture. Each case renders the same frames twice, once with the direct `ass` filter and
once with libass drawing each caption state on a transparent canvas (as tall as the band for
captions at the top or bottom, the frame for centred ones) cropped to the band and overlaid,
and compares every frame (raw video, no encoder in between). A band too small, a
highlight on the wrong frame or a colour blended differently would show up as a difference.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from backend.core.types import CaptionStyle, RenderSpec, Sentence, Word
from backend.media.burn import STATES, band_graph, band_layout, burn_band
from backend.media.captions import FONTS_DIR, change_times, write_ass
from backend.media.ffmpeg import FFMPEG, _fontconfig_env
from backend.media.fonts import cjk_font_available
from backend.media.render import render
from tests.support.media import make_test_video, probe

SECONDS = 3


def _sentence(words: list[str], start_ms: int, step_ms: int, joiner: str = " ") -> Sentence:
    timed = tuple(
        Word(w, start_ms + i * step_ms, start_ms + (i + 1) * step_ms - 40)
        for i, w in enumerate(words)
    )
    return Sentence(joiner.join(words), timed[0].start_ms, timed[-1].end_ms, timed)


ENGLISH = [
    _sentence("Meet Lumen the smart desk lamp".split(), 0, 230),
    _sentence("that learns your rhythm and wakes you gently".split(), 1500, 180),
]
# a long phrase in a narrow picture: libass wraps it onto two lines
WRAPPING = [
    _sentence(
        "Wonderful Wednesday mornings with Lumen make everybody remarkably productive".split(),
        100,
        300,
    )
]
CHINESE = [
    _sentence(list("遇见智能台灯陪你专注"), 0, 140, ""),
    _sentence(list("晚上灯光变暖"), 1600, 200, ""),
]


def _frames(args: list[str], cwd: Path, width: int, height: int) -> np.ndarray:
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *args],
        cwd=cwd,
        env=_fontconfig_env(cwd),
        capture_output=True,
        check=True,
    )
    frame = width * height * 3 // 2
    raw = np.frombuffer(proc.stdout, np.uint8)
    assert raw.size % frame == 0 and raw.size
    return raw.reshape(-1, frame).astype(np.int16)


@pytest.mark.parametrize(
    ("name", "sentences", "width", "height", "position"),
    [
        ("english", ENGLISH, 640, 360, "bottom"),
        ("wrapping", WRAPPING, 360, 640, "bottom"),
        ("chinese", CHINESE, 640, 360, "bottom"),
        ("top", ENGLISH, 640, 360, "top"),
        ("wrapping at the top", WRAPPING, 360, 640, "top"),
        ("middle", ENGLISH, 640, 360, "middle"),
    ],
)
def test_the_band_overlay_draws_what_libass_draws(
    tmp_path: Path, name: str, sentences: list[Sentence], width: int, height: int, position: str
) -> None:
    if name == "chinese" and not cjk_font_available():
        pytest.skip("no CJK font on this machine")
    (tmp_path / "fonts").symlink_to(FONTS_DIR, target_is_directory=True)
    style = CaptionStyle(enabled=True, burn_in=True, position=position)
    write_ass(sentences, style, width, height, tmp_path / "c.ass")
    ass = "ass=filename=c.ass:fontsdir=fonts"
    cues = change_times(sentences, width, height)
    band = burn_band(tmp_path, ass, width, height, cues, SECONDS)
    assert band is not None
    assert band.w * band.h < width * height / 3  # a band, not the frame
    assert band.x % 2 == band.y % 2 == band.w % 2 == band.h % 2 == 0
    band_ass = band_layout(tmp_path, "c.ass", band, height)
    assert (band_ass is None) == (position == "middle")  # centred: the frame-sized canvas

    src = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={SECONDS}"]
    out = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    plain = _frames([*src, "-vf", "format=yuv420p", *out], tmp_path, width, height)
    direct = _frames([*src, "-vf", f"format=yuv420p,{ass}", *out], tmp_path, width, height)
    graph = "[0:v]format=yuv420p[base];" + band_graph(
        band, ass, "[1:v]", "[base]", width, height, band_ass
    )
    overlay = [*src, "-safe", "0", "-f", "concat", "-i", STATES, "-filter_complex", graph]
    banded = _frames([*overlay, "-map", "[vout]", *out], tmp_path, width, height)

    assert banded.shape == direct.shape == plain.shape
    drawn = np.abs(direct - plain).max(axis=1)
    assert (drawn > 100).sum() > len(drawn) * 0.8  # captions are on (nearly) every frame
    # Luma: rounding only (a highlight on the wrong frame moves it by ~45, a lost edge by 100+).
    # Chroma: overlay averages alpha over each 2x2 block where drawutils blends each pixel's, so
    # a coloured edge may differ a little more, on few samples.
    y = width * height
    luma, chroma = np.abs(banded[:, :y] - direct[:, :y]), np.abs(banded[:, y:] - direct[:, y:])
    assert luma.max() <= 6, f"frame {int(luma.max(axis=1).argmax())} differs by {luma.max()}"
    assert chroma.max() <= 40 and (chroma > 8).sum() < chroma.size * 0.001
    # and outside the band the picture is untouched
    picture = banded[:, :y].reshape(-1, height, width)
    mask = np.ones((height, width), bool)
    mask[band.y : band.y + band.h, band.x : band.x + band.w] = False
    base = plain[:, :y].reshape(-1, height, width)
    assert np.array_equal(picture[:, mask], base[:, mask])


def test_a_render_with_burned_captions_goes_through_the_band(tmp_path: Path) -> None:
    """The backend's own render of an uploaded video: captions in the picture where the style
    puts them, the sound kept."""
    clip = make_test_video(tmp_path / "clip.mp4", seconds=SECONDS, width=640, height=360)
    spec = RenderSpec(
        duration_ms=SECONDS * 1000,
        width=640,
        height=360,
        video=clip,
        video_has_audio=True,
        video_width=640,
        video_height=360,
        captions=ENGLISH,
        caption_style=CaptionStyle(enabled=True, burn_in=True),
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    info = probe(out)
    assert info["width"] == 640 and abs(info["duration_s"] - SECONDS) < 0.2
    assert info["has_audio"] and info["video_codec"] == "h264"
    plain = _frames(
        ["-i", str(clip), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], tmp_path, 640, 360
    )
    burned = _frames(
        ["-i", str(out), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], tmp_path, 640, 360
    )
    n = min(len(plain), len(burned))
    y = 640 * 360
    rows = np.abs(burned[:n, :y] - plain[:n, :y]).reshape(n, 360, 640).max(axis=(0, 2))
    changed = np.nonzero(rows > 120)[0]
    assert changed.size, "no caption in the picture"
    assert changed.min() > 360 * 0.6  # drawn near the bottom, where the style puts them
