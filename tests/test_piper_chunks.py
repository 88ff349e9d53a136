"""Piper's decoder on pieces of a long sentence (backend.speech.piper_chunks). REAL parts: the Joe
voice from its registry package, onnx's extractor (in a child process) and onnxruntime. The audio
must be the whole model's, sample for sample, and the memory a long sentence takes must shrink;
memory is read from the kernel (VmHWM) in child processes of their own."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.speech import piper_chunks
from backend.speech.catalog import discover_voices
from backend.speech.piper_model import load_voice

LONG = (
    "The lamp learns your routine over the first week and adjusts its brightness and warmth "
    "on its own so you never have to think about it again on the darkest winter mornings"
)


@given(st.integers(1, 5000), st.integers(1, 600), st.integers(0, 40))
def test_pieces_cover_the_latent_once_and_stay_small(frames: int, most: int, pad: int) -> None:
    parts = piper_chunks.pieces(frames, most, pad)
    assert parts[0][0] == 0 and parts[-1][1] == frames
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(parts):
        assert end == start  # no gap, no overlap in what is kept
    for start, end, lo, hi in parts:
        assert 0 < end - start <= most
        assert lo == max(0, start - pad) and hi == min(frames, end + pad)
    sizes = [end - start for start, end, _, _ in parts]
    assert max(sizes) - min(sizes) <= 1  # even pieces: no tiny last one
    assert len(parts) == -(-frames // most)


@pytest.fixture(scope="module")
def joe() -> object:
    return next(v for v in discover_voices(None) if v.engine == "piper")


def _audio(voice: object, cache: Path, chunks: bool, monkeypatch: pytest.MonkeyPatch) -> tuple:
    from piper import SynthesisConfig

    monkeypatch.setenv("VOBACKEND_PIPER_CHUNKS", "1" if chunks else "0")
    piper_voice = load_voice(voice.model_path, voice.config_path, cache)  # type: ignore[attr-defined]
    assert isinstance(piper_voice.session, piper_chunks.ChunkedSession) == chunks
    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)  # the model's noise off: same audio
    out = list(piper_voice.synthesize(LONG, syn_config=quiet, include_alignments=True))
    audio = np.concatenate([c.audio_int16_array for c in out])
    aligned = np.concatenate([[a.num_samples for a in c.phoneme_alignments or []] for c in out])
    return audio, aligned


def test_a_long_sentence_decoded_in_pieces_is_the_whole_models_audio(
    joe: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole, whole_aligned = _audio(joe, tmp_path, False, monkeypatch)
    pieces, pieces_aligned = _audio(joe, tmp_path, True, monkeypatch)
    frames = len(whole) // 256
    assert frames > piper_chunks.MAX_FRAMES  # long enough to be cut
    assert len(piper_chunks.pieces(frames)) >= 2
    assert len(pieces) == len(whole)
    assert np.array_equal(pieces, whole)
    assert np.array_equal(pieces_aligned, whole_aligned)  # the word timings come from these
    assert np.sqrt(np.mean(whole.astype(np.float64) ** 2)) > 500  # speech, not silence
    names = {p.name for p in (tmp_path / "models").iterdir()}
    assert any(n.endswith("-encoder.onnx") for n in names)
    assert any(n.endswith("-decoder.onnx") for n in names)
    assert not any(n.endswith(".part") for n in names)


def test_a_voice_patched_before_is_split_on_its_own(joe: object, tmp_path: Path) -> None:
    """A cache from before the split (the patched model alone) gets its split at the next load."""
    from backend.speech.piper_model import patched_model

    model = patched_model(joe.model_path, tmp_path)  # type: ignore[attr-defined]
    for made in piper_chunks.split_paths(model):
        made.unlink()
    split = piper_chunks.split_model(model)
    assert split is not None
    encoder, decoder, latent = split
    assert encoder.stat().st_size > decoder.stat().st_size > 1_000_000  # both carry weights
    assert latent and piper_chunks.split_paths(model)[2].read_text(encoding="utf-8") == latent
    assert not [p for p in model.parent.iterdir() if p.name.endswith(".part")]


def test_a_model_that_does_not_split_is_used_whole_and_not_tried_again(tmp_path: Path) -> None:
    """No decoder to cut off (here a one-node graph): None, and the answer is kept, so the next
    load does not start the child process again."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "not-piper",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1])],
    )
    model = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph), str(model))
    assert piper_chunks.split_model(model) is None
    encoder, decoder, marker = piper_chunks.split_paths(model)
    assert (
        marker.read_text(encoding="utf-8") == "" and not encoder.exists() and not decoder.exists()
    )
    before = marker.stat().st_mtime_ns
    assert piper_chunks.split_model(model) is None
    assert marker.stat().st_mtime_ns == before  # answered from the marker


CHILD = r"""
import json, sys
from pathlib import Path
from piper import SynthesisConfig
from backend.speech.catalog import discover_voices
from backend.speech.piper_model import load_voice

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) // 1024

voice = next(v for v in discover_voices(None) if v.engine == "piper")
piper_voice = load_voice(voice.model_path, voice.config_path, Path(sys.argv[1]))
list(piper_voice.synthesize("Warm up.", syn_config=SynthesisConfig()))
before = status("VmRSS")
audio = sum(len(c.audio_int16_array) for c in piper_voice.synthesize(sys.argv[2]))
print(json.dumps({"grew": status("VmHWM") - before, "seconds": audio / 22050}))
"""


def _grew(cache: Path, chunks: bool) -> dict[str, float]:
    env = {"VOBACKEND_PIPER_CHUNKS": "1" if chunks else "0", "PATH": "/usr/bin:/bin"}
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache), LONG + ", " + LONG],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "PYTHONPATH": str(root)},
        check=True,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_a_long_sentence_takes_far_less_memory_in_pieces(tmp_path: Path) -> None:
    whole = _grew(tmp_path, False)
    pieces = _grew(tmp_path, True)
    assert whole["seconds"] > 9  # two sentences' worth at once: what used to cost the most
    assert pieces["grew"] < 0.6 * whole["grew"], (pieces, whole)
