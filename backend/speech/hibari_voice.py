"""hibari "heart": a fast American woman's voice (a 7.9 MB model distilled from Kokoro's af_heart),
bundled in PyPI ``hibari-tts`` 0.2.1. Only "heart" ships in the package; hibari's other voices are
downloaded at run time, so they are never offered.

The network predicts a spectrum per 12.5 ms frame and hibari's own DSP turns it into a waveform.
Word timings come, as for Kokoro, from the model's predicted duration of every input token (the
graph gets one more output, ``/Cast_32_output_0``: frames in units of two hops, 600 samples, what
the decoder expands by), so captions follow what was spoken.
"""

from __future__ import annotations

import importlib.resources as resources
import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.types import Voice
from backend.speech.alignment import Phone
from backend.speech.kokoro import chunks, clip_of, duration_phones
from backend.speech.wav import Clip, TTSError

_LOG = logging.getLogger(__name__)

VOICE_ID = "hibari_heart"
MAX_PHONEMES = 400  # hibari's own cut: longer phoneme strings go in pieces, after punctuation
_DURATIONS = "/Cast_32_output_0"
# The model's `speed` input is not the speaking rate: measured over four sentences (word spans),
# speed 1.2 speaks 1.09x faster, 1.3 1.14x, and between 1.32 and 1.34 the rate jumps from 1.16x to
# 1.45x. Rate -> speed, read off those measurements (rates inside the jump get its nearer side).
_RATE = (
    0.611,
    0.703,
    0.804,
    0.957,
    1.0,
    1.025,
    1.09,
    1.141,
    1.155,
    1.454,
    1.509,
    1.581,
    1.658,
    1.811,
)
_SPEED = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.32, 1.34, 1.36, 1.5, 1.6, 2.0)


def model_speed(rate: float) -> float:
    """The `speed` input that makes hibari speak `rate` times as fast as at 1.0 (as near as the
    model allows)."""
    lo, hi = _RATE[8], _RATE[9]  # the jump
    if lo < rate < hi:
        rate = lo if rate - lo <= hi - rate else hi
    return float(np.interp(rate, _RATE, _SPEED))


def _assets() -> Any:
    return resources.files("hibari") / "assets"


def catalogue() -> list[Voice]:
    """The bundled "heart", if this hibari ships it (checked by its registry's `bundled`)."""
    try:
        registry = json.loads((_assets() / "voices.json").read_text(encoding="utf-8"))
    except (ModuleNotFoundError, OSError, ValueError):
        return []
    heart = registry.get("heart") or {}
    model = _assets() / str(heart.get("file") or "")
    if not heart.get("bundled") or not model.is_file():
        return []
    return [
        Voice(
            id=VOICE_ID,
            name="Hibari",
            language="en_US",
            gender="female",
            model_path=Path(str(model)),
            config_path=Path(str(_assets() / "voices.json")),
            quality="medium",
            engine="hibari",
            description="quick, warm American woman (Heart's voice, the fastest)",
            description_zh="轻快温暖的美式女声（Heart 的声音，速度最快）",
            traits=("warm", "bright", "fast"),
            aliases=("fast heart",),
        )
    ]


class HibariEngine:
    """Sentence clips for the hibari voice: the model and the G2P load on first use, once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._vocab: dict[str, int] = {}
        self._g2p: Any = None
        self._g2p_lock = threading.Lock()  # the G2P keeps state between calls

    def _load(self, voice: Voice) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnx
                import onnxruntime as ort
                from hibari.g2p import G2P

                model = onnx.load(str(voice.model_path))
                model.graph.output.append(
                    onnx.helper.make_tensor_value_info(_DURATIONS, onnx.TensorProto.INT64, None)
                )
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # ~100x real time
                opts.log_severity_level = 3
                self._vocab = json.loads((_assets() / "vocab.json").read_text(encoding="utf-8"))
                self._g2p = G2P(british=False)
                self._session = ort.InferenceSession(
                    model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:
                raise TTSError(f"the hibari voice could not be loaded: {exc}") from exc

    def phonemize(self, text: str) -> str:
        with self._g2p_lock:
            out = self._g2p(text)
        return str((out[0] if isinstance(out, tuple) else out) or "")

    def sentence(
        self,
        text: str,
        spoken: str,
        voice: Voice,
        speed: float,
        pronunciations: dict[str, str] | None,
    ) -> Clip:
        """One sentence: trimmed int16 audio and its caption words' spans (ms)."""
        from hibari import dsp

        self._load(voice)
        symbols = [ch for ch in self.phonemize(spoken) if ch in self._vocab]
        rng = np.random.default_rng(0)  # the same sentence sounds the same every time
        audio_parts: list[np.ndarray] = []
        phones: list[Phone] = []
        for lo, hi in chunks(symbols, MAX_PHONEMES):
            ids = [0, *(self._vocab[s] for s in symbols[lo:hi]), 0]
            feeds = {
                "ids": np.asarray([ids], np.int64),
                "speed": np.asarray([model_speed(speed)], np.float32),
            }
            with self._lock:
                *params, durations = self._session.run(None, feeds)
            lh, th, ln, lr, phi, f0 = (p[0] for p in params)
            audio = np.asarray(dsp.synth(lh, th, ln, lr, phi, f0, rng), np.float32)
            offset = sum(map(len, audio_parts))
            phones += duration_phones(symbols[lo:hi], np.asarray(durations).ravel(), offset)
            audio_parts.append(audio)
        return clip_of(audio_parts, phones, text, pronunciations, self.phonemize)
