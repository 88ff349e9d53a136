"""Rendering while the voice is synthesized (issue 13): real Piper speech streamed into a Pipeline,
real ffmpeg, then the export from the cache. The MP4 must be what a one-pass render makes: the
voice's length, at -16 LUFS, captions in the picture, progress only going up."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from backend.core.types import CaptionStyle, RenderSpec, Sentence, SpeechResult, Word
from backend.media import segments, voice_track
from backend.media.ffmpeg import Priority, RenderError, run_ffmpeg
from backend.media.render import render
from backend.media.voice_track import CALIBRATE_S
from backend.runtime import pipeline
from backend.runtime.pipeline import Pipeline
from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine
from backend.speech.wav import TTSError
from tests.support.media import frame_rgb, loudness, probe, rms_db

# About 45 s of speech: several stretches of the picture (8 s and up, cut at sentence ends).
SCRIPT = " ".join(
    f"Step {n}: the lamp learns your rhythm and shifts its light from cool to warm as the day goes."
    for n in range(1, 10)
)


def _look(width: int = 1280, height: int = 720, size: str = "medium") -> RenderSpec:
    style = CaptionStyle(enabled=True, burn_in=True, position="bottom", size=size)
    return RenderSpec(duration_ms=0, width=width, height=height, caption_style=style)


def _spec(look: RenderSpec, speech: SpeechResult) -> RenderSpec:
    return RenderSpec(
        duration_ms=speech.duration_ms,
        width=look.width,
        height=look.height,
        voice=speech.path,
        captions=list(speech.sentences),
        caption_style=look.caption_style,
    )


@pytest.fixture(scope="module")
def pipelined(tmp_path_factory: pytest.TempPathFactory) -> tuple[SpeechResult, Path, set[str]]:
    """The script synthesized with a pipeline tapping it; (speech, cache dir, cached files)."""
    root = tmp_path_factory.mktemp("pipelined")
    cache = root / "render-cache"
    voice = discover_voices(None)[0]
    out = root / "voice.wav"
    tap = Pipeline(_look(), out, cache)
    speech = TTSEngine(root / "tts").synthesize(SCRIPT, voice, out_path=out, tap=tap)
    tap.finish(speech.duration_ms)
    tap.thread.join(timeout=120)
    assert not tap.thread.is_alive()
    return speech, cache, {p.name for p in cache.iterdir()}


def test_pipeline_leaves_every_stretch_and_the_voice_track(
    pipelined: tuple[SpeechResult, Path, set[str]],
) -> None:
    speech, cache, names = pipelined
    parts = segments.cuts(list(speech.sentences), speech.duration_ms)
    assert speech.duration_ms > segments.SEGMENT_MS and len(parts) >= 2
    look = _look()
    expected = {
        segments.cached(cache, look, segments.stretch(look, speech.sentences, a, b)).name
        for a, b in parts
    }
    assert expected <= names
    assert sum(n.startswith("voice-") and n.endswith(".m4a") for n in names) == 1
    assert not [n for n in names if n.endswith(".part") or n.startswith(".scratch")]


def test_export_from_the_pipeline_is_the_voice_with_captions(
    pipelined: tuple[SpeechResult, Path, set[str]], tmp_path: Path
) -> None:
    speech, cache, names = pipelined
    seen: list[float] = []
    out = tmp_path / "out.mp4"
    render(_spec(_look(), speech), out, tmp_path / "work", progress=seen.append, cache=cache)
    assert {p.name for p in cache.iterdir()} == names  # nothing encoded again: all from the cache
    info = probe(out)
    assert info["width"] == 1280 and info["height"] == 720
    assert info["audio_codec"] == "aac" and info["channels"] == 2
    assert abs(info["duration_s"] - speech.duration_ms / 1000) < 0.15
    lufs, _peak = loudness(out)
    assert -17.0 <= lufs <= -15.0, lufs
    late = speech.sentences[-1]  # in the second stretch: the joined picture and sound line up
    middle = (late.words[0].start_ms + late.words[-1].end_ms) / 2000
    assert rms_db(out, middle - 0.3, middle + 0.3) > -40  # speech where the last sentence is
    with av.open(str(out)) as container:  # the voice in the middle: both channels the same
        planes = np.concatenate(
            [f.to_ndarray() for f in container.decode(container.streams.audio[0])], axis=1
        )
    voice_db = 10 * np.log10(np.mean(planes[0] ** 2))
    assert 10 * np.log10(np.mean((planes[0] - planes[1]) ** 2) + 1e-20) < voice_db - 30
    frame = frame_rgb(out, middle).astype(np.int16)
    band, sky = frame[int(720 * 0.75) : int(720 * 0.95)], frame[50:150]
    assert np.abs(band - band.mean(axis=(0, 1))).max() > 100  # caption glyphs, not a gradient
    assert np.abs(sky - sky.mean(axis=(0, 1))).max() < 40
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_a_changed_look_is_encoded_again_not_taken_from_the_cache(
    pipelined: tuple[SpeechResult, Path, set[str]], tmp_path: Path
) -> None:
    speech, cache, names = pipelined
    look = _look(size="large")
    out = tmp_path / "large.mp4"
    render(_spec(look, speech), out, tmp_path / "work", cache=cache)
    added = {p.name for p in cache.iterdir()} - names
    parts = segments.cuts(list(speech.sentences), speech.duration_ms)
    assert len([n for n in added if n.startswith("seg-")]) == len(parts)
    assert not [n for n in added if n.startswith("voice-")]  # the sound did not change
    assert abs(probe(out)["duration_s"] - speech.duration_ms / 1000) < 0.15


def test_a_failed_synthesis_leaves_nothing_and_never_blocks(tmp_path: Path) -> None:
    cache = tmp_path / "render-cache"
    voice = discover_voices(None)[0]
    tap = Pipeline(_look(), tmp_path / "voice.wav", cache)
    engine = TTSEngine(tmp_path / "tts")
    with pytest.raises(TTSError):
        engine.synthesize("   ", voice, out_path=tmp_path / "voice.wav", tap=tap)
    tap.abort()
    tap.thread.join(timeout=30)
    assert not tap.thread.is_alive()
    done = threading.Event()

    def late_writer() -> None:  # synthesis still running after the pipeline stopped
        for _ in range(200):
            tap.pcm(b"\0\0" * 22050, 22050)
        done.set()

    threading.Thread(target=late_writer, daemon=True).start()
    assert done.wait(30)
    left = [p.name for p in cache.iterdir()] if cache.exists() else []
    assert not [n for n in left if n.startswith("voice-") or n.endswith(".part")]


def test_stretches_that_cannot_be_written_end_the_pipeline_not_hang_it(tmp_path: Path) -> None:
    """Every stretch's encode fails at its last step (its cache name is taken by a directory):
    the pipeline still ends, and an export of that voice is not held waiting for it."""
    voice = discover_voices(None)[0]
    engine = TTSEngine(tmp_path / "tts")  # the sentence cache: both runs get the same timings
    text = "A short script to speak twice. The second time, nothing can be written."
    first = Pipeline(_look(), tmp_path / "a.wav", tmp_path / "cache-a")
    speech = engine.synthesize(text, voice, out_path=tmp_path / "a.wav", tap=first)
    first.finish(speech.duration_ms)
    first.thread.join(timeout=60)
    names = [p.name for p in (tmp_path / "cache-a").glob("seg-*.mp4")]
    assert names
    blocked = tmp_path / "cache-b"
    for name in names:
        (blocked / name).mkdir(parents=True)
        (blocked / name / "taken").write_bytes(b"x")
    tap = Pipeline(_look(), tmp_path / "b.wav", blocked)
    again = engine.synthesize(text, voice, out_path=tmp_path / "b.wav", tap=tap)
    assert [s.end_ms for s in again.sentences] == [s.end_ms for s in speech.sentences]
    tap.finish(again.duration_ms)
    tap.thread.join(timeout=60)
    assert not tap.thread.is_alive()
    assert tap.done.is_set()  # what an export of this voice waits for
    assert not [p for p in blocked.iterdir() if p.name.endswith(".part") or p.name[0] == "."]


def test_the_voice_track_encoder_runs_niced_beside_the_synthesis(tmp_path: Path) -> None:
    """The pipeline's ffmpeg yields to synthesis (nice 10), read from the kernel's process table."""
    tap = Pipeline(_look(), tmp_path / "voice.wav", tmp_path / "cache")
    rng = np.random.default_rng(3)
    second = (rng.normal(0, 3000, 22050)).astype("<i2").tobytes()
    for _ in range(int(CALIBRATE_S) + 2):  # enough to calibrate and start the AAC encoder
        tap.pcm(second, 22050)
    deadline = time.monotonic() + 60
    while tap.feed.encoder is None and time.monotonic() < deadline:
        time.sleep(0.05)
    encoder = tap.feed.encoder
    assert encoder is not None
    stat = Path(f"/proc/{encoder.proc.pid}/stat").read_text()
    nice = int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of stat
    tap.abort()
    tap.thread.join(timeout=30)
    assert nice == 10
    assert not tap.thread.is_alive()


def test_the_picture_is_not_held_up_by_the_voice_track(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The voice track calibrates and encodes on its own thread (a VoiceFeed): while its
    calibration is held (fault injected around the real one), the pipeline still hands the picture
    over when the sentence is spoken. Real pipeline, real ffmpeg; the samples are noise."""
    release = threading.Event()
    calibrating = threading.Event()
    real = voice_track.calibrate

    def held(*args: object, **kwargs: object) -> float:
        calibrating.set()
        release.wait(120)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(voice_track, "calibrate", held)
    cache = tmp_path / "cache"
    tap = Pipeline(_look(), tmp_path / "voice.wav", cache)
    rng = np.random.default_rng(5)
    second = (rng.normal(0, 3000, 22050)).astype("<i2").tobytes()
    end_ms = (int(CALIBRATE_S) + 1) * 1000
    try:
        for _ in range(end_ms // 1000):  # the calibration starts at CALIBRATE_S, then is held
            tap.pcm(second, 22050)
        words = tuple(Word(f"word{n}", n * 1000, n * 1000 + 800) for n in range(end_ms // 1000))
        tap.sentence(Sentence(" ".join(w.text for w in words), 0, end_ms, words))
        assert calibrating.wait(60)
        deadline = time.monotonic() + 60
        while not tap.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tap.pending and not release.is_set()  # handed over while the voice waits
    finally:
        release.set()
    tap.finish(end_ms)
    tap.thread.join(timeout=120)
    assert not tap.thread.is_alive()
    names = [p.name for p in cache.iterdir()]
    assert sum(n.startswith("voice-") and n.endswith(".m4a") for n in names) == 1
    assert sum(n.startswith("seg-") for n in names) == 1


def test_a_picture_stretch_beside_the_synthesis_runs_in_the_idle_class(tmp_path: Path) -> None:
    """Priority.IDLE (the pipeline's stretches while synthesis runs) is SCHED_IDLE, read from the
    kernel for a real ffmpeg run (policy 5 in /proc/<pid>/sched)."""
    cancel = threading.Event()
    failed: list[BaseException] = []

    def encode() -> None:
        try:
            args = ["-re", "-f", "lavfi", "-i", "testsrc=d=30:s=64x64", "-f", "null", "-"]
            run_ffmpeg(args, cwd=tmp_path, cancel=cancel, priority=Priority.IDLE)
        except RenderError as exc:  # cancelled below
            failed.append(exc)

    worker = threading.Thread(target=encode)
    worker.start()
    policy = nice = None
    deadline = time.monotonic() + 30
    while policy is None and time.monotonic() < deadline:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                comm = (stat.parent / "comm").read_text().strip()
                sched = (stat.parent / "sched").read_text()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and comm.startswith("ffmpeg"):
                policy = int(sched.split("policy")[1].split(":")[1].split()[0])
                nice = int(fields[16])
        time.sleep(0.05)
    cancel.set()
    worker.join(timeout=30)
    assert (policy, nice) == (5, 0)  # SCHED_IDLE
    assert failed and "cancelled" in str(failed[0])


def test_stretches_still_waiting_at_the_end_are_encoded_at_normal_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no grace at all, every idle-class stretch not finished when the synthesis ends is
    stopped and encoded again at normal priority: the cache still holds every stretch, whole."""
    monkeypatch.setattr(pipeline, "_GRACE_S", 0.0)
    voice = discover_voices(None)[0]
    out = tmp_path / "voice.wav"
    tap = Pipeline(_look(), out, tmp_path / "cache")
    speech = TTSEngine(tmp_path / "tts").synthesize(SCRIPT, voice, out_path=out, tap=tap)
    tap.finish(speech.duration_ms)
    tap.thread.join(timeout=120)
    assert not tap.thread.is_alive()
    look = _look()
    parts = segments.cuts(list(speech.sentences), speech.duration_ms)
    for a, b in parts:
        path = segments.cached(
            tmp_path / "cache", look, segments.stretch(look, speech.sentences, a, b)
        )
        assert path.is_file() and probe(path)["has_video"], (a, b)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".part")]


def test_prune_keeps_the_cache_recent_and_bounded(tmp_path: Path) -> None:
    cache = tmp_path / "render-cache"
    (cache / ".scratch-killed").mkdir(parents=True)
    old, fresh = time.time() - 13 * 3600, time.time()
    for name, size, when in (
        ("seg-old.mp4", 10, old),  # unused for 13 h
        ("seg-a.mp4", 600, fresh - 30),  # the least recently used of the fresh ones
        ("seg-b.mp4", 600, fresh - 20),
        ("voice-c.m4a", 600, fresh - 10),
        (".seg-d.mp4.1234.part", 10, fresh - 7200),  # a killed encoder's
    ):
        (cache / name).write_bytes(b"x" * size)
        os.utime(cache / name, (when, when))
    os.utime(cache / ".scratch-killed", (old, old))
    segments.prune(cache, max_bytes=1300)
    assert sorted(p.name for p in cache.iterdir()) == ["seg-b.mp4", "voice-c.m4a"]
