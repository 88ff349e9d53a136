"""Spoken samples for ``/voices``: one short line per voice, synthesized once and kept on disk, so
people pick a voice by ear and the second ``/voices`` costs no synthesis.

A sample's file name carries a digest of what makes it (voice id, line, model file size), so a
changed line or voice gets a new file and a stale one is never served. Encoding to the delivered
format is given by the caller (ffmpeg lives in the media layer).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

from backend.core.types import Voice
from backend.speech.tts import TTSEngine

_LOG = logging.getLogger(__name__)

SAMPLE_EXT = "mp3"
SAMPLE_MIME = "audio/mpeg"
_VERSION = "1"  # bump when the lines or the encoding change
_OLD = re.compile(r"-[0-9a-f]{16}\." + SAMPLE_EXT)
_LINES = {
    "en": "Hi, I'm {name}, and this is how I sound.",
    "zh": "你好，我是{name}，这是我的声音。",
}

Encoder = Callable[[Path, Path], None]  # (wav in, sample out)


def sample_line(voice: Voice) -> str:
    """The line a voice says, in its own language and with the name people call it by."""
    if voice.language.startswith("zh"):
        name = next((a for a in voice.aliases if any("\u4e00" <= c <= "\u9fff" for c in a)), "")
        return _LINES["zh"].format(name=name or voice.name)
    return _LINES["en"].format(name=voice.name)


def sample_name(voice: Voice) -> str:
    """``<voice id>-<digest>.mp3``: the digest changes whenever the sample would."""
    try:
        size = voice.model_path.stat().st_size
    except OSError:
        size = -1
    key = f"{_VERSION}|{voice.id}|{voice.engine}|{size}|{sample_line(voice)}"
    return f"{voice.id}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.{SAMPLE_EXT}"


class SampleCache:
    """Samples in ``root``: made at most once per voice, even when asked for concurrently."""

    def __init__(self, root: Path, tts: TTSEngine, encode: Encoder) -> None:
        self.root = root
        self.tts = tts
        self.encode = encode
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.made = 0  # samples synthesized by this process (what a cache hit saves)

    def path(self, voice: Voice) -> Path:
        return self.root / sample_name(voice)

    def get(self, voice: Voice) -> tuple[Path, bool]:
        """The sample's path, and True if it was synthesized by this call. Blocking: call it from
        a worker thread."""
        target = self.path(voice)
        if target.is_file():
            return target, False
        with self._guard:
            lock = self._locks.setdefault(voice.id, threading.Lock())
        with lock:
            if target.is_file():
                return target, False
            self.root.mkdir(parents=True, exist_ok=True)
            wav = target.with_name(f".{target.stem}.wav.tmp")
            part = target.with_name(f".{target.name}.tmp")
            try:
                self.tts.synthesize(sample_line(voice), voice, out_path=wav)
                self.encode(wav, part)
                os.replace(part, target)
            finally:
                wav.unlink(missing_ok=True)
                part.unlink(missing_ok=True)
            for old in self.root.glob(f"{voice.id}-*.{SAMPLE_EXT}"):
                if old != target and _OLD.fullmatch(old.name[len(voice.id) :]):
                    old.unlink(missing_ok=True)  # an earlier line or model of this voice
            self.made += 1
            _LOG.info("voice sample for %s made (%d bytes)", voice.id, target.stat().st_size)
            return target, True
