"""The ffmpeg runner's stall watchdog, with the REAL ffmpeg blocked on a FIFO nobody writes to."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from backend.media import ffmpeg as audio
from backend.media.ffmpeg import RenderError, run_ffmpeg


def test_a_stalled_ffmpeg_is_killed_retried_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fifo = tmp_path / "never.wav"
    os.mkfifo(fifo)
    monkeypatch.setattr(audio, "STALL_SECONDS", 0.5)
    with caplog.at_level(logging.WARNING, logger=audio.__name__), pytest.raises(RenderError) as err:
        run_ffmpeg(["-i", f"file:{fifo}", "-f", "null", "-"], cwd=tmp_path)
    assert "stopped making progress" in str(err.value)
    stalls = [r for r in caplog.records if "made no progress" in r.getMessage()]
    assert len(stalls) == audio.ATTEMPTS
    assert not list(tmp_path.glob("ffmpeg-*.log"))  # no leftovers


def test_a_healthy_run_is_not_disturbed_by_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio, "STALL_SECONDS", 1.0)
    seen: list[float] = []
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-af",
            "arealtime",
            "-f",
            "null",
            "-",
        ],
        cwd=tmp_path,
        total_s=3.0,
        progress=seen.append,
    )
    assert seen and max(seen) > 0.9  # it ran (in real time, 3 s) to the end without being killed
