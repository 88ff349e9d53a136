"""Kokoro's convolutions as u8 x s8 matrix products (backend.speech.kokoro_graph).

REAL onnxruntime throughout: small graphs built here (DynamicQuantizeLinear feeding ConvInteger,
the model's own pattern) and the REAL Kokoro int8 model, each run as given and rewritten; the
results must be the same bit for bit. The rewrite is only made on CPUs with VNNI (onnxruntime's
u8 x s8 kernel can saturate without it), so those checks skip elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from backend.speech import kokoro
from backend.speech.catalog import discover_voices
from backend.speech.kokoro_graph import convs_as_matmuls, cpu_has_vnni

needs_vnni = pytest.mark.skipif(not cpu_has_vnni(), reason="the rewrite is made only with VNNI")


def test_vnni_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    assert cpu_has_vnni(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx_vnni\n")
    assert cpu_has_vnni(info)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert not cpu_has_vnni(info)
    assert not cpu_has_vnni(tmp_path / "missing")


def _conv_model(
    c_in: int,
    c_out: int,
    k: int,
    dilation: int,
    pads: tuple[int, int],
    stride: int,
    seed: int,
    opset: int = 20,
) -> onnx.ModelProto:
    """x (float) -> DynamicQuantizeLinear -> ConvInteger (uint8 weights, a zero point not 128)
    -> int32, as the quantized Kokoro graph has it."""
    rng = np.random.default_rng(seed)
    w = rng.integers(0, 256, (c_out, c_in, k), dtype=np.uint8)
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node(
            "ConvInteger",
            ["xq", "w", "xz", "wz"],
            ["y"],
            dilations=[dilation],
            pads=list(pads),
            strides=[stride],
            kernel_shape=[k],
        ),
    ]
    inits = [
        numpy_helper.from_array(w, "w"),
        numpy_helper.from_array(np.array(int(rng.integers(30, 100)), np.uint8), "wz"),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c_in, None])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(
        model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )
    return np.asarray(session.run(None, {"x": x})[0])


@needs_vnni
@settings(max_examples=25, deadline=None)
@given(
    c_in=st.integers(1, 40),
    c_out=st.integers(1, 40),
    k=st.sampled_from([1, 3, 5, 7, 11]),
    dilation=st.integers(1, 5),
    pad_lo=st.integers(0, 12),
    pad_hi=st.integers(0, 12),
    steps=st.integers(60, 400),
    seed=st.integers(0, 2**16),
)
def test_a_rewritten_convolution_gives_the_same_int32_results(
    c_in: int,
    c_out: int,
    k: int,
    dilation: int,
    pad_lo: int,
    pad_hi: int,
    steps: int,
    seed: int,
) -> None:
    model = _conv_model(c_in, c_out, k, dilation, (pad_lo, pad_hi), 1, seed)
    x = np.random.default_rng(seed + 1).normal(0.3, 1.0, (1, c_in, steps)).astype(np.float32)
    before = _run(model, x)
    assert convs_as_matmuls(model) == 1
    assert [n.op_type for n in model.graph.node].count("ConvInteger") == 0
    assert "w" not in {i.name for i in model.graph.initializer}  # the old weights are dropped
    after = _run(model, x)
    assert after.shape == before.shape
    assert np.array_equal(after, before)


def test_strided_convolutions_are_left_as_they_are() -> None:
    model = _conv_model(8, 8, 3, 1, (1, 1), 2, 7)
    assert convs_as_matmuls(model) == 0
    assert [n.op_type for n in model.graph.node] == ["DynamicQuantizeLinear", "ConvInteger"]


def test_a_graph_older_than_opset_18_is_left_as_it_is() -> None:
    model = _conv_model(8, 8, 3, 1, (1, 1), 1, 7, opset=17)  # no BitwiseXor before opset 18
    assert convs_as_matmuls(model) == 0
    assert [n.op_type for n in model.graph.node] == ["DynamicQuantizeLinear", "ConvInteger"]


@needs_vnni
def test_the_kokoro_model_says_the_same_samples_rewritten(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real model, once as shipped and once rewritten: the same sentence, the same audio to
    the last bit, and the same per-token durations (the word timings)."""
    voice = next(v for v in discover_voices(None) if v.id == "bm_george")
    style = np.fromfile(voice.model_path, dtype="<f4").reshape(-1, 256)
    text = "Setup takes less than a minute, and the app lets you schedule scenes."
    monkeypatch.setenv("VOBACKEND_KOKORO_MATMUL", "0")
    plain = kokoro._Model(1)
    assert plain.rewritten == 0
    phonemes = kokoro._Phonemizer("en_GB")(text)
    ids = [plain.vocab[c] for c in phonemes if c in plain.vocab]
    audio_plain, frames_plain = plain.run(ids, style, 1.0)
    del plain
    monkeypatch.delenv("VOBACKEND_KOKORO_MATMUL")
    fast = kokoro._Model(1)
    assert fast.rewritten == 84  # the model has 87 ConvInteger, 84 of them stride 1
    audio_fast, frames_fast = fast.run(ids, style, 1.0)
    assert len(audio_plain) / kokoro.SAMPLE_RATE > 3  # the sentence was really spoken
    assert np.array_equal(frames_fast, frames_plain)
    assert audio_fast.tobytes() == audio_plain.tobytes()
