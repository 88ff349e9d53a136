"""Issue 11, class 9: script-only renders never stall on a loaded machine.

The main pass of a script-only render (a concat list of still frames, the audio graph, libass)
used to carry an output ``-t`` equal to the length its inputs already end at. On a busy 2-core
machine about half of those ffmpeg runs deadlocked at the end of the stream (every thread waiting,
0% CPU); the watchdog killed each after 20 s and the same run deadlocked again, three times. Here
renders run in parallel beside two CPU hogs, and not one ffmpeg run may need the watchdog."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from backend.core.types import MusicSpec, RenderSpec, SpeechResult
from backend.media.render import render
from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine
from tests.support.media import make_music, probe

SCRIPT = "Lumen keeps your desk bright all day. [pause 2s] Try it free for thirty days."
HOG = "x = 0\nwhile True:\n    x = (x * 31 + 7) % 1000003\n"


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechResult:
    root = tmp_path_factory.mktemp("load")
    voice = discover_voices(None)[0]
    return TTSEngine(root / "cache").synthesize(SCRIPT, voice, out_path=root / "voice.wav")


def test_parallel_script_renders_beside_cpu_hogs_never_stall(
    speech: SpeechResult, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="backend.media.ffmpeg")
    music = make_music(tmp_path / "music.mp3", seconds=3.0, tone_hz=220, level_db=-20)
    hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
    outputs: list[Path] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        for k in range(2):
            spec = RenderSpec(
                duration_ms=speech.duration_ms,
                width=640,
                height=360,
                voice=speech.path,
                captions=list(speech.sentences),
                music=MusicSpec(music, volume=0.3, fade_ms=1000) if k else None,
            )
            out = tmp_path / f"out-{n}-{k}.mp4"
            try:
                render(spec, out, tmp_path / f"work-{n}")
                outputs.append(out)
            except BaseException as exc:  # reported below, with the stall warnings
                errors.append(exc)

    try:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    stalls = [r.getMessage()[:200] for r in caplog.records if "no progress" in r.getMessage()]
    assert not errors and not stalls, (errors, stalls)
    assert len(outputs) == 6
    for out in outputs:  # the render still ends where the voice does (AAC adds one frame)
        assert abs(probe(out)["duration_s"] - speech.duration_ms / 1000) < 0.15
