"""The picture of a script-only video is encoded cheaply (x264 ultrafast at a constant QP,
backend.media.video.X264_STILL) but must look no worse than CRF 23 veryfast (issue 13), where it
matters: the caption band. Real parts: the stretch encoder (backend.media.segments.encode), ffmpeg,
libass, x264 and PyAV decoding; the reference is the same stretch encoded losslessly."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from backend.core.types import CaptionStyle, RenderSpec, Sentence, Word
from backend.media import segments

_WORDS = (
    "Every great product starts with a simple idea and a team willing to test it against the "
    "real world, so we built this tool to turn your scripts into clear voiceovers in seconds"
).split()


def _sentences(total_ms: int) -> list[Sentence]:
    per = total_ms // len(_WORDS)
    words = [Word(w, i * per, (i + 1) * per - 20) for i, w in enumerate(_WORDS)]
    half = len(words) // 2
    return [
        Sentence(" ".join(w.text for w in part), part[0].start_ms, part[-1].end_ms, tuple(part))
        for part in (words[:half], words[half:])
    ]


def _luma(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack(
            [f.to_ndarray(format="gray").astype(np.float64) for f in container.decode(video=0)]
        )


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _encode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, video: list[str] | None
) -> Path:
    spec = RenderSpec(
        duration_ms=6000,
        caption_style=CaptionStyle(enabled=True, burn_in=True, position="bottom"),
    )
    part = segments.stretch(spec, _sentences(6000), 0, 6000)
    with monkeypatch.context() as patched:
        if video is not None:
            tail = ["-g", "30", "-pix_fmt", "yuv420p", "-fps_mode", "vfr"]
            patched.setattr(segments, "_VIDEO", ["-c:v", "libx264", *video, *tail])
        (tmp_path / name).mkdir()
        return segments.encode(spec, part, tmp_path / name / "cache", tmp_path / name)


def test_the_caption_band_of_a_still_is_no_worse_than_crf23_veryfast(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ours = _luma(_encode(monkeypatch, tmp_path, "ours", None))
    lossless = _luma(
        _encode(monkeypatch, tmp_path, "lossless", ["-preset", "ultrafast", "-qp", "0"])
    )
    veryfast = _luma(
        _encode(monkeypatch, tmp_path, "veryfast", ["-preset", "veryfast", "-crf", "23"])
    )
    assert ours.shape == lossless.shape == veryfast.shape
    assert ours.shape[0] >= len(_WORDS)  # a frame per highlighted word at least
    # the band the captions are drawn in: rows whose pixels change between frames
    moving = np.nonzero(np.ptp(lossless, axis=0).max(axis=1) > 0)[0]
    assert len(moving) > 20, "the captions did not change the picture"
    band = slice(int(moving.min()), int(moving.max()) + 1)
    ours_db = _psnr(ours[:, band], lossless[:, band])
    veryfast_db = _psnr(veryfast[:, band], lossless[:, band])
    assert ours_db >= veryfast_db, (ours_db, veryfast_db)
    # and the rest of the frame (the background) is kept as well
    rest = np.ones(ours.shape[1], dtype=bool)
    rest[band] = False
    assert _psnr(ours[:, rest], lossless[:, rest]) >= 45.0
