"""Loading a Piper voice without holding it in memory three times (issue 13: backend RSS).

``PiperVoice.load(..., include_alignments=True)`` reads the model with ``onnx`` (a protobuf copy),
patches it to output phoneme alignments, serializes it (a bytes copy) and hands the bytes to
onnxruntime (its own copy). The first two are garbage afterwards, but the heap keeps the pages: the
Joe voice (63 MB) left the backend at 328 MB after loading (peak 398 MB), against 218 MB for the
same session loaded from a file. So the patched model is written once to the cache directory by a
child process (whose memory goes away with it), and the backend loads that file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from backend.speech.piper_chunks import SPLIT_SOURCE, ChunkedSession, chunked_session, cpu_session
from backend.speech.wav import TTSError

_LOG = logging.getLogger(__name__)

_PATCH = (
    SPLIT_SOURCE
    + """
import sys
import onnx
from piper.patch_voice_with_alignment import add_alignment_output
model = onnx.load(sys.argv[1])
try:
    add_alignment_output(model)
except ValueError:
    pass  # already has the output
onnx.save(model, sys.argv[2])
try:
    split_voice(model, sys.argv[3])  # backend.speech.piper_chunks: the decoder on its own
except Exception as exc:
    print(f"not split: {exc}", file=sys.stderr)
"""
)


def patched_model(model_path: Path, cache_dir: Path) -> Path:
    """The voice's model with the alignment output, made once per model file (size and mtime)."""
    stat = model_path.stat()
    key = hashlib.sha256(f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    out = cache_dir / "models" / f"{model_path.stem}-{key.hexdigest()[:16]}.onnx"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PATCH, str(model_path), str(tmp), str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode != 0 or not tmp.is_file():
            raise TTSError(
                f"voice model {model_path.name} could not be prepared: {proc.stderr[-500:]}"
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def load_voice(model_path: Path, config_path: Path, cache_dir: Path) -> Any:
    """A ``piper.PiperVoice`` with alignments, its onnxruntime session built from a file."""
    from piper import PiperVoice
    from piper.config import PiperConfig

    path = patched_model(Path(model_path), Path(cache_dir))
    config = PiperConfig.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
    session: Any = chunked_session(path, config.hop_length)  # bounded memory: piper_chunks
    if session is None:
        session = cpu_session(path)
    _LOG.info(
        "voice model %s loaded from %s%s",
        model_path.name,
        path.name,
        ", its decoder run on pieces of long sentences"
        if isinstance(session, ChunkedSession)
        else "",
    )
    return PiperVoice(config=config, session=session)
