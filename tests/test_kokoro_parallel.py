"""Kokoro sentences synthesized side by side (issue 15's speed target): the same voiceover as one at a
time, written in order, with progress that only goes up.

REAL Kokoro (int8 ONNX) on both sides: one engine makes one sentence at a time on all threads, the
other two sentences at once on one thread each, from one shared session. Nothing is mocked; the
tap below is a real SpeechTap that keeps what it is given."""

from __future__ import annotations

import threading
import wave
from dataclasses import replace
from pathlib import Path

import pytest

from backend.core.types import Sentence, Voice
from backend.speech.catalog import discover_voices
from backend.speech.kokoro import KokoroEngine
from backend.speech.tts import TTSEngine
from backend.speech.wav import Clip, TTSError

SCRIPT = (
    "Meet Lumen. It learns your rhythm and wakes you with bright, cool light that helps you focus. "
    "At night it fades to amber. [pause 1s] Setup takes a minute.\n\n"
    "Light that works the way you do. See you soon."
)
SENTENCES = 6
VOICE = next(v for v in discover_voices(None) if v.id == "bf_emma")


class Counting(TTSEngine):
    """A TTSEngine that counts how many sentence clips are being made at the same moment."""

    def __init__(self, cache_dir: Path, parallel: int) -> None:
        super().__init__(cache_dir)
        self.kokoro = KokoroEngine(parallel=parallel)
        self.busy = self.most = 0
        self.guard = threading.Lock()

    def sentence_clip(
        self, text: str, voice: Voice, speed: float, pronunciations: dict[str, str] | None
    ) -> tuple[Clip, bool]:
        with self.guard:
            self.busy += 1
            self.most = max(self.most, self.busy)
        try:
            return super().sentence_clip(text, voice, speed, pronunciations)
        finally:
            with self.guard:
                self.busy -= 1


class Keeping:
    """A SpeechTap that keeps the sentences and the number of PCM bytes it was given."""

    def __init__(self) -> None:
        self.sentences: list[Sentence] = []
        self.bytes = 0

    def pcm(self, data: bytes, rate: int) -> None:
        self.bytes += len(data)

    def sentence(self, sentence: Sentence) -> None:
        self.sentences.append(sentence)


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Counting, Counting]:
    root = tmp_path_factory.mktemp("kokoro_parallel")
    return Counting(root / "one", parallel=1), Counting(root / "two", parallel=2)


def _frames(path: Path) -> int:
    with wave.open(str(path), "rb") as wf:
        return wf.getnframes()


def test_side_by_side_gives_the_same_voiceover_in_order(
    engines: tuple[Counting, Counting], tmp_path: Path
) -> None:
    """Same sentences in the same order, same lengths and word timings (within 5 ms; measured
    here they are sample-identical), progress 1..n of n, the tap given the whole WAV."""
    one, two = engines
    progress: list[tuple[int, int]] = []
    tap = Keeping()
    alone = one.synthesize(SCRIPT, VOICE, out_path=tmp_path / "one.wav")
    paired = two.synthesize(
        SCRIPT, VOICE, out_path=tmp_path / "two.wav", progress=lambda d, t: progress.append((d, t))
    )
    paired_tapped = two.synthesize(SCRIPT, VOICE, out_path=tmp_path / "tap.wav", tap=tap)
    assert one.most == 1 and two.most == 2  # really one, and really two at once
    assert paired.synthesized == SENTENCES and paired_tapped.cached == SENTENCES
    assert progress == [(n, SENTENCES) for n in range(1, SENTENCES + 1)]
    assert [s.text for s in paired.sentences] == [s.text for s in alone.sentences]
    assert [s.text for s in tap.sentences] == [s.text for s in alone.sentences]
    assert tap.bytes == 2 * _frames(tmp_path / "tap.wav")
    assert abs(paired.duration_ms - alone.duration_ms) <= 5  # measured here: identical
    for a, b in zip(alone.sentences, paired.sentences, strict=True):
        assert abs(a.start_ms - b.start_ms) <= 5 and abs(a.end_ms - b.end_ms) <= 5
        assert [w.text for w in a.words] == [w.text for w in b.words]
        for wa, wb in zip(a.words, b.words, strict=True):
            assert abs(wa.start_ms - wb.start_ms) <= 5 and abs(wa.end_ms - wb.end_ms) <= 5


def test_a_sentence_that_cannot_be_spoken_stops_the_others_and_leaves_no_file(
    engines: tuple[Counting, Counting], tmp_path: Path
) -> None:
    """A voice whose style file is gone fails every sentence: the synthesis raises TTSError, no
    worker is left making sentences, and no half-written WAV is left behind."""
    _, two = engines
    gone = replace(VOICE, id="bf_gone", model_path=tmp_path / "gone.bin")
    out = tmp_path / "gone.wav"
    with pytest.raises(TTSError):
        two.synthesize(SCRIPT, gone, out_path=out)
    assert two.busy == 0 and not list(tmp_path.glob("*gone.wav*"))
    assert not [t for t in threading.enumerate() if t.name.startswith("kokoro-sentence")]
