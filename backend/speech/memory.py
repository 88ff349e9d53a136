"""Keeping the backend's memory flat through long scripts (issue 13: RSS under 400 MB).

Measured on a 600-word Piper script in one process (VmRSS after / VmHWM peak): onnxruntime's CPU
arena keeps the largest sentence's tensors for good and grows in powers of two (364/364 MB); without
the arena glibc keeps the freed buffers in its heap instead (303/397 MB). Without the arena and with
buffers of 256 KB and more served by mmap, so a free gives them back to the system: 199/314 MB.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from typing import Any

_LOG = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024
TRIM_THRESHOLD = 1024 * 1024
_done = threading.Event()


def _libc() -> Any:
    """The C library, or None where it cannot be loaded."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def big_buffers_from_mmap() -> None:
    """Once per process: large allocations via mmap (returned on free), the heap trimmed at 1 MB.
    glibc only; elsewhere nothing changes."""
    if _done.is_set():
        return
    _done.set()
    libc = _libc()
    try:
        ok = libc is not None and bool(
            libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    except AttributeError:
        ok = False
    if not ok:
        _LOG.info("mallopt is not available: large buffers stay in the heap")


def session_options(ort: Any) -> Any:
    """onnxruntime SessionOptions without the CPU arena (see the module's figures), and without
    spinning: idle intra-op threads otherwise busy-wait for work, which on 2 cores takes CPU from
    the render pipeline and other chats. Measured on a 200-word Piper script (alternating runs,
    quiet): RTF 0.104-0.112 against 0.116-0.117 with spinning, 12.7-13.6 CPU-s against 16.0."""
    big_buffers_from_mmap()
    opts = ort.SessionOptions()
    opts.enable_cpu_mem_arena = False
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def trim_heap() -> None:
    """Give the heap's free pages back to the system (glibc's malloc_trim): loading Kokoro's model
    leaves its copies (the parts joined, the onnx graph, its serialization) freed but resident,
    414 MB -> 274 MB measured. Elsewhere nothing happens."""
    libc = _libc()
    try:
        if libc is not None:
            libc.malloc_trim(0)
    except AttributeError:
        pass
