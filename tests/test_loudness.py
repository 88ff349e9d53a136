"""The numpy loudness meter against ffmpeg's ebur128 (real ffmpeg, real Piper speech), and the voice
track's calibration: the gain it finds brings the voice to -16 LUFS through the real limiter."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import pytest

from backend.media import loudness
from backend.media.audio import TARGET_LUFS, measure
from backend.media.ffmpeg import run_ffmpeg
from backend.media.voice_track import _chain, calibrate
from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine


def _write(path: Path, samples: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes((np.clip(samples, -1, 32767 / 32768) * 32768).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    root = tmp_path_factory.mktemp("loud")
    voice = next(v for v in discover_voices(None) if v.engine == "piper")
    text = (
        "The lamp wakes up slowly in the morning. It listens to the room and adjusts its "
        "brightness and warmth on its own. Nobody has to touch a switch again."
    )
    TTSEngine(root / "cache").synthesize(text, voice, out_path=root / "v.wav")
    with wave.open(str(root / "v.wav")) as wf:
        return loudness.pcm16(wf.readframes(wf.getnframes())), wf.getframerate()


def test_a_full_scale_sine_reads_as_the_standard_says() -> None:
    """BS.1770: a 0 dBFS 1 kHz sine on one channel reads -3.01 LUFS; half amplitude 6.02 less."""
    for rate in (22050, 24000, 48000):
        t = np.arange(rate * 3) / rate
        assert loudness.integrated(np.sin(2 * np.pi * 1000 * t), rate) == pytest.approx(
            -3.01, abs=0.05
        )
        half = 0.5 * np.sin(2 * np.pi * 1000 * t)
        assert loudness.integrated(half, rate) == pytest.approx(-9.03, abs=0.05)
        assert loudness.integrated(half, rate, channels=2) == pytest.approx(-6.02, abs=0.05)


def test_silence_and_too_short_are_minus_infinity() -> None:
    assert loudness.integrated(np.zeros(22050 * 2), 22050) == -math.inf
    assert loudness.integrated(np.full(100, 0.5), 22050) == -math.inf


def test_speech_and_noise_read_as_ffmpeg_reads_them(
    speech: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    samples, rate = speech
    rng = np.random.default_rng(7)
    gated = np.concatenate([samples, np.zeros(rate * 2), samples * 0.05])  # quiet tail is gated
    cases = {
        "speech": (samples, rate),
        "speech, silence and a whisper": (gated, rate),
        "low noise at 24 kHz": (rng.normal(0, 0.01, 24000 * 4), 24000),
        "bass-heavy at 48 kHz": (
            0.3 * np.sin(2 * np.pi * 60 * np.arange(48000 * 3) / 48000),
            48000,
        ),
    }
    for name, (x, r) in cases.items():
        ours = loudness.integrated(x, r)
        theirs = measure(_write(tmp_path / "x.wav", x, r), tmp_path).integrated
        assert ours == pytest.approx(theirs, abs=0.1), name


def test_calibrated_gain_lands_at_minus_16_through_the_limiter(
    speech: tuple[np.ndarray, int], tmp_path: Path
) -> None:
    samples, rate = speech
    for level in (1.0, 0.1):  # as Piper writes it (peaks at full scale), and 20 dB quieter
        head = (samples * level * 32768).astype("<i2").tobytes()
        gain = calibrate(head, rate, tmp_path, None)
        src = _write(tmp_path / "head.wav", samples * level, rate)
        run_ffmpeg(
            ["-i", str(src), "-af", _chain(gain), "-c:a", "pcm_f32le", "out.wav"], cwd=tmp_path
        )
        assert measure(tmp_path / "out.wav", tmp_path).integrated == pytest.approx(
            TARGET_LUFS, abs=0.3
        ), level
    assert calibrate(b"\0\0" * rate * 3, rate, tmp_path, None) == 0.0
    assert not list(tmp_path.glob("head*.wav"))[1:]  # calibrate leaves no file of its own
