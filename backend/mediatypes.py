"""Plain data shared by TTS, captions and rendering.

Kept free of I/O so the API layer, the synthesizer and the renderer agree on one shape.
Times are integer milliseconds from the start of the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Voice:
    """An installed Piper voice."""

    id: str  # e.g. "en_US-joe-medium"
    name: str  # human name, e.g. "Joe"
    language: str  # BCP-47-ish with underscore, e.g. "en_US"
    gender: str  # "male" | "female" | "unknown"
    model_path: Path
    config_path: Path
    quality: str = "medium"


@dataclass(frozen=True)
class Word:
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Sentence:
    text: str
    start_ms: int
    end_ms: int
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class SpeechResult:
    """A synthesized voiceover: one WAV file plus its sentence/word timing."""

    path: Path
    duration_ms: int
    sentences: tuple[Sentence, ...]
    synthesized: int = 0  # sentences synthesized now
    cached: int = 0  # sentences served from the cache


@dataclass
class CaptionStyle:
    enabled: bool = True
    burn_in: bool = True  # False: soft subtitle track (keeps an uploaded video stream copied)
    position: str = "bottom"  # "bottom" | "middle" | "top"
    size: str = "medium"  # "small" | "medium" | "large"


@dataclass
class RenderSpec:
    """Everything ffmpeg needs for one export, with sources already resolved to local files."""

    duration_ms: int
    width: int = 1920
    height: int = 1080
    fps: int = 30
    video: Path | None = None  # uploaded video, if any
    video_has_audio: bool = False
    video_width: int = 0
    video_height: int = 0
    voice: Path | None = None  # speech WAV
    voice_start_ms: int = 0
    captions: list[Sentence] = field(default_factory=list)
    caption_style: CaptionStyle = field(default_factory=CaptionStyle)
    background: str = "#1b2735"
