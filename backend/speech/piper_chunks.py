"""Piper's waveform decoder run on pieces of a long sentence (issue 13: backend RSS).

Why: a Piper voice turns a sentence into a latent sequence (one frame per 256 samples) and its
HiFi-GAN decoder turns the whole sequence into audio at once. The decoder's activations are the
process's biggest allocations, about 17 MB per second of speech (Joe, measured: a 7.2 s sentence
took the backend from 187 to 308 MB), so the backend's peak memory followed the longest sentence
of a script (up to 9 s: ~150 MB on top of ~260 MB).

The model is split once, in a child process, at the decoder's input: the text encoder, duration
predictor and flow (with their noise) run as before, and the decoder runs on pieces of at most
MAX_FRAMES frames, each with PAD_FRAMES frames of context on both sides, which are cut off again.
The decoder only looks about 11 frames around each frame (measured: with 12 frames of context the
pieces joined differ from the whole by 1e-8, with 8 by 1e-3), so the audio is the same as the whole
model's. Sentences up to MAX_FRAMES (4.5 s) are decoded whole, so short ones cost nothing more;
longer ones decode ~5% more frames. A model that does not split this way is used whole.
"""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.speech.memory import session_options

_LOG = logging.getLogger(__name__)

MAX_FRAMES = 384  # about 4.5 s of speech (256 samples a frame at 22,050 Hz): ~80 MB at most
PAD_FRAMES = 16  # context on each side of a piece (the decoder needs about 11)

# Source for a child process (onnx's copies of the model go away with it): split_voice(model, final)
# writes <final>-encoder.onnx and -decoder.onnx, then -split.txt with the latent's name (last: it
# marks both complete), or only an empty -split.txt when the model does not split this way (so a
# later load does not try again). piper_model runs it in
# the child that patches a voice (one onnx load for both); split_model runs it on its own for a
# model patched before.
SPLIT_SOURCE = """
def split_voice(model, final):
    import os
    import uuid

    import onnx
    from onnx.utils import Extractor
    stem, tag = final[: -len(".onnx")], uuid.uuid4().hex

    def mark(latent):
        with open(f"{stem}-split.txt.{tag}.part", "w", encoding="utf-8") as fh:
            fh.write(latent)
        os.replace(f"{stem}-split.txt.{tag}.part", stem + "-split.txt")

    graph = model.graph
    # the decoder's first node in Piper's exported models
    first = next((n for n in graph.node if n.name == "/dec/conv_pre/Conv"), None)
    if first is None or not graph.output:
        return mark("")
    latent, audio = first.input[0], graph.output[0].name
    rest = [o.name for o in graph.output[1:]]
    extractor = Extractor(model)
    decoder = extractor.extract_model([latent], [audio])
    if [i.name for i in decoder.graph.input] != [latent]:
        return mark("")  # the decoder needs more than the latent (a speaker embedding)
    encoder = extractor.extract_model([i.name for i in graph.input], [latent, *rest])
    if len(encoder.graph.node) + len(decoder.graph.node) != len(graph.node):
        return mark("")
    for part, suffix in ((encoder, "-encoder.onnx"), (decoder, "-decoder.onnx")):
        onnx.save(part, f"{stem}{suffix}.{tag}.part")
        os.replace(f"{stem}{suffix}.{tag}.part", stem + suffix)
    mark(latent)
"""
_SPLIT = (
    SPLIT_SOURCE
    + """
import sys
import onnx
split_voice(onnx.load(sys.argv[1]), sys.argv[1])
"""
)


def enabled() -> bool:
    return os.environ.get("VOBACKEND_PIPER_CHUNKS", "1") != "0"


def pieces(
    frames: int, max_frames: int = MAX_FRAMES, pad: int = PAD_FRAMES
) -> list[tuple[int, int, int, int]]:
    """(start, end, lo, hi) of each piece of a `frames`-long latent: [start, end) is kept, [lo, hi)
    is decoded. Pieces are of equal size (within one frame), at most max_frames each."""
    if frames <= max_frames:
        return [(0, frames, 0, frames)]
    count = -(-frames // max_frames)
    bounds = [round(i * frames / count) for i in range(count + 1)]
    return [(a, b, max(0, a - pad), min(frames, b + pad)) for a, b in itertools.pairwise(bounds)]


def split_paths(model: Path) -> tuple[Path, Path, Path]:
    """(encoder, decoder, marker) files of a patched model's split."""
    stem = model.with_suffix("")
    encoder, decoder, marker = (
        stem.with_name(stem.name + end) for end in ("-encoder.onnx", "-decoder.onnx", "-split.txt")
    )
    return encoder, decoder, marker


def split_model(model: Path) -> tuple[Path, Path, str] | None:
    """(encoder, decoder, latent tensor name) of a patched Piper model, or None if it does not
    split; made by a child process if the model was patched before its split was."""
    encoder, decoder, marker = split_paths(model)
    if not marker.is_file():
        proc = subprocess.run(
            [sys.executable, "-c", _SPLIT, str(model)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0:
            _LOG.warning("voice model %s could not be split: %s", model.name, proc.stderr[-500:])
    latent = marker.read_text(encoding="utf-8").strip() if marker.is_file() else ""
    if not (latent and encoder.is_file() and decoder.is_file()):
        _LOG.info("voice model %s is decoded whole (it does not split)", model.name)
        return None
    return encoder, decoder, latent


@dataclass
class ChunkedSession:
    """Stands in for the whole model's onnxruntime session in ``piper.PiperVoice``: ``run`` gives
    the same outputs (audio, then the alignment), the audio decoded piece by piece."""

    encoder: Any
    decoder: Any
    latent: str
    hop: int = 256

    def run(self, output_names: Any, feed: dict[str, Any]) -> list[np.ndarray]:
        latent, *rest = self.encoder.run(None, feed)
        frames = int(latent.shape[2])
        audio = []
        for start, end, lo, hi in pieces(frames):
            part = np.ascontiguousarray(latent[:, :, lo:hi])
            decoded = self.decoder.run(None, {self.latent: part})[0]
            audio.append(decoded[..., (start - lo) * self.hop : (end - lo) * self.hop])
        return [np.concatenate(audio, axis=-1), *rest]


def chunked_session(model: Path, hop: int) -> ChunkedSession | None:
    """A ChunkedSession for the patched model, or None (switched off, or it does not split)."""
    if not enabled():
        return None
    split = split_model(model)
    if split is None:
        return None
    encoder, decoder, latent = split
    return ChunkedSession(cpu_session(encoder), cpu_session(decoder), latent, hop)


def cpu_session(path: Path) -> Any:
    """An onnxruntime session of a Piper model file on the CPU, with the backend's options."""
    import onnxruntime

    return onnxruntime.InferenceSession(
        str(path), sess_options=session_options(onnxruntime), providers=["CPUExecutionProvider"]
    )
