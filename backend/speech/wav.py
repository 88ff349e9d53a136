"""The speech WAV as it is written, for plain and timed synthesis alike.

Opened on the first clip (whose sample rate it takes), appended strictly in order with silence in
bounded blocks, and renamed into place only when complete: a failed synthesis leaves no file.
"""

from __future__ import annotations

import os
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import numpy as np

from backend.core.types import Sentence, Word

EDGE_MS = 30  # silence kept at each end of a trimmed sentence (counts toward the gap)


@dataclass
class Clip:
    """One synthesized, trimmed sentence: its samples and word spans (ms, relative to the clip)."""

    audio: np.ndarray
    sample_rate: int
    words: list[tuple[str, int, int]]


def clip_ms(clip: Clip) -> int:
    """A clip's length in milliseconds."""
    return round(len(clip.audio) * 1000 / clip.sample_rate)


class TTSError(Exception):
    """Synthesis could not produce speech (empty script, broken voice)."""


def prepare_output(speed: float, sentences: int, out_path: Path) -> Path:
    """Check a synthesis request and return the temp file the WAV is written to before its rename."""
    if not 0.25 <= speed <= 4.0:
        raise TTSError(f"speed {speed} is out of range (0.25-4)")
    if sentences == 0:
        raise TTSError("empty script")
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    return Path(out_path).with_name(f".{Path(out_path).name}.{uuid.uuid4().hex}.tmp")


class SpeechTap(Protocol):
    """Sees the speech as it is written (a render pipelined with synthesis, backend.runtime.pipeline):
    every block of samples in file order, and each sentence once its audio is in."""

    def pcm(self, data: bytes, rate: int) -> None: ...

    def sentence(self, sentence: Sentence) -> None: ...


class SpeechWav:
    """Use as a context manager; `commit()` renames the finished file, an exception removes it."""

    def __init__(self, tmp: Path, out_path: Path, tap: SpeechTap | None = None) -> None:
        self.tmp = tmp
        self.out_path = Path(out_path)
        self.tap = tap
        self._writer: wave.Wave_write | None = None
        self.rate = 0
        self.samples = 0
        self._owed_ms = 0  # silence asked for before the first clip set the rate

    @property
    def ms(self) -> float:
        """How much is written, in milliseconds."""
        return self.samples * 1000 / self.rate if self.rate else 0.0

    def silence(self, ms: int) -> None:
        if self._writer is None:
            self._owed_ms += max(0, ms)
            return
        samples = self.rate * max(0, ms) // 1000
        left = samples
        block = np.zeros(min(left, self.rate), dtype="<i2").tobytes() if left else b""
        while left > 0:
            n = min(left, self.rate)
            self._writer.writeframes(block[: n * 2])
            if self.tap is not None:
                self.tap.pcm(block[: n * 2], self.rate)
            left -= n
        self.samples += samples

    def clip(self, text: str, clip: Clip) -> Sentence:
        """Append one sentence's audio; returns it with its words on the file's timeline."""
        if self._writer is None:
            self.rate = clip.sample_rate
            self._writer = wave.open(str(self.tmp), "wb")
            self._writer.setnchannels(1)
            self._writer.setsampwidth(2)
            self._writer.setframerate(self.rate)
            owed, self._owed_ms = self._owed_ms, 0
            self.silence(owed)
        elif clip.sample_rate != self.rate:
            raise TTSError("voice sample rate changed mid-script")
        start_ms = round(self.ms)
        data = clip.audio.astype("<i2").tobytes()
        self._writer.writeframes(data)
        self.samples += len(clip.audio)
        end_ms = round(self.ms)
        words = tuple(Word(w, start_ms + s, min(start_ms + e, end_ms)) for w, s, e in clip.words)
        sentence = Sentence(text, start_ms, end_ms, words)
        if self.tap is not None:
            self.tap.pcm(data, self.rate)
            self.tap.sentence(sentence)
        return sentence

    def commit(self) -> int:
        """Close and move the file into place; returns its duration in ms."""
        if self._writer is None:
            raise TTSError("empty script")
        self._writer.close()
        self._writer = None
        os.replace(self.tmp, self.out_path)
        return round(self.samples * 1000 / self.rate)

    def __enter__(self) -> SpeechWav:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:  # not committed: failed or cancelled
            self._writer.close()
            self._writer = None
        if kind is not None:
            self.tmp.unlink(missing_ok=True)
