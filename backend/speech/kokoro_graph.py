"""Kokoro's int8 convolutions as u8 x s8 matrix products, on CPUs with VNNI.

The model's convolutions are ``ConvInteger`` with uint8 weights, and onnxruntime runs those as a
uint8 x uint8 GEMM, widened to 16 bits: 70% of the model's time. Its ``MatMulInteger`` with a
uint8 A and an int8 B runs on VNNI's ``vpdpbusd`` instead. Each convolution (stride 1, one group)
becomes: the quantized input moved to int8 (x - 128, zero point - 128: exact), padded with its
zero point, its K shifted views stacked along the channels (im2col), then
``MatMulInteger(W as [C_out, K * C_in] uint8, columns as int8)``. The int32 results are the
convolution's, bit for bit, so the audio does not change. Measured on this machine (one thread,
AMD EPYC with AVX-512 VNNI): the 128x128x11 convolution over 28,681 steps 81 -> 53 ms, 512x512x5
over 2,000 steps 33 -> 14 ms.

Without VNNI, onnxruntime's u8 x s8 kernel sums pairs in 16 bits and can saturate, so the graph is
left as it is there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_FLAGS = ("avx512_vnni", "avx_vnni")
_INT64_MAX = np.iinfo(np.int64).max


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU's flags list AVX-512 VNNI or AVX-VNNI (read from /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return any(f in flags for f in _FLAGS)
    return False


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def convs_as_matmuls(model: Any) -> int:
    """Rewrite, in place, every ConvInteger the rewrite is exact for; return how many."""
    from onnx import TensorProto, helper, numpy_helper

    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 18:  # BitwiseXor came in opset 18
        return 0
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    users: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            users[name] = users.get(name, 0) + 1
    added: list[Any] = [
        numpy_helper.from_array(np.array(0x80, np.uint8), "kg/0x80"),
        numpy_helper.from_array(np.array([2], np.int64), "kg/axis2"),
    ]
    signed: dict[str, str] = {}  # uint8 tensor -> its int8 twin (x - 128)
    nodes: list[Any] = []
    dropped: set[str] = set()
    count = 0

    def to_int8(name: str) -> str:
        # x XOR 0x80, then a Cast that wraps (onnxruntime's is a static_cast): x - 128, exactly.
        # tests/test_kokoro_graph.py compares the results bit for bit, so a Cast that saturated
        # instead would be caught there.
        if name not in signed:
            flipped, out = f"kg/{name}/xor", f"kg/{name}/s8"
            nodes.append(helper.make_node("BitwiseXor", [name, "kg/0x80"], [flipped]))
            nodes.append(helper.make_node("Cast", [flipped], [out], to=TensorProto.INT8))
            signed[name] = out
        return signed[name]

    for node in graph.node:
        if node.op_type != "ConvInteger":
            nodes.append(node)
            continue
        a = _attrs(node)
        weight = inits.get(node.input[1])
        if (
            weight is None
            or len(node.input) != 4
            or node.input[3] not in inits
            or len(weight.dims) != 3
            or a.get("group", 1) != 1
            or list(a.get("strides", [1])) != [1]
            or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
        ):
            nodes.append(node)
            continue
        x, w_name, x_zero, w_zero = node.input
        w = numpy_helper.to_array(weight)
        c_out, c_in, k = w.shape
        dilation = int(a.get("dilations", [1])[0])
        lo, hi = (int(p) for p in a.get("pads", [0, 0]))  # a 1-D convolution: begin, end
        xs, zs = to_int8(x), to_int8(x_zero)
        tag = f"kg/{node.output[0]}"
        if k == 1 and lo == 0 and hi == 0:
            columns = xs
        else:
            padded = f"{tag}/pad"
            added.append(
                numpy_helper.from_array(np.array([0, 0, lo, 0, 0, hi], np.int64), f"{tag}/pads")
            )
            nodes.append(helper.make_node("Pad", [xs, f"{tag}/pads", zs], [padded]))
            views = []
            for j in range(k):
                tail = (k - 1 - j) * dilation
                added.append(
                    numpy_helper.from_array(np.array([j * dilation], np.int64), f"{tag}/s{j}")
                )
                added.append(
                    numpy_helper.from_array(
                        np.array([-tail if tail else _INT64_MAX], np.int64), f"{tag}/e{j}"
                    )
                )
                views.append(f"{tag}/v{j}")
                nodes.append(
                    helper.make_node(
                        "Slice", [padded, f"{tag}/s{j}", f"{tag}/e{j}", "kg/axis2"], [views[-1]]
                    )
                )
            columns = f"{tag}/col"
            nodes.append(helper.make_node("Concat", views, [columns], axis=1))
        rows = np.ascontiguousarray(w.transpose(0, 2, 1).reshape(c_out, k * c_in))  # [o, j*C+i]
        added.append(numpy_helper.from_array(rows, f"{tag}/w"))
        nodes.append(
            helper.make_node(
                "MatMulInteger", [f"{tag}/w", columns, w_zero, zs], [node.output[0]], name=tag
            )
        )
        users[w_name] -= 1
        if users[w_name] == 0:
            dropped.add(w_name)
        count += 1
    kept = [i for i in graph.initializer if i.name not in dropped]
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    del graph.node[:]
    graph.node.extend(nodes)
    return count
