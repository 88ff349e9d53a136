"""Plain data shared by TTS, captions and rendering.

Kept free of I/O so the API layer, the synthesizer and the renderer agree on one shape.
Times are integer milliseconds from the start of the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Voice:
    """An installed voice: a Piper model, or a Kokoro style vector (``engine="kokoro"``)."""

    id: str  # e.g. "en_US-joe-medium", "bf_emma"
    name: str  # human name, e.g. "Joe"
    language: str  # BCP-47-ish with underscore, e.g. "en_US"
    gender: str  # "male" | "female" | "unknown"
    model_path: Path  # Piper: the .onnx; Kokoro: the style vector (.bin)
    config_path: Path
    quality: str = "medium"
    engine: str = "piper"  # "piper" | "kokoro"
    description: str = ""  # a few words for people, English
    description_zh: str = ""  # the same in Chinese
    traits: tuple[str, ...] = ()  # "warm", "deep", "bright", ... for "a warmer voice"
    aliases: tuple[str, ...] = ()  # other names people may use ("晓晓")


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
class Cue:
    """One timed line of a script (``[00:05] text`` or an SRT cue): speech should start at ``start_ms``."""

    text: str
    start_ms: int
    end_ms: int | None = (
        None  # the slot's end, if the source gives one (SRT); else the next cue's start
    )


@dataclass(frozen=True)
class Adjustment:
    """What timed synthesis had to do to make a cue fit its slot."""

    index: int  # cue index
    speed: float  # speed-up applied (1.0 = none, at most 1.2)
    overrun_ms: int = 0  # how far it still runs past its slot after the speed-up (0 = fits)


@dataclass(frozen=True)
class SpeechResult:
    """A synthesized voiceover: one WAV file plus its sentence/word timing."""

    path: Path
    duration_ms: int
    sentences: tuple[Sentence, ...]
    synthesized: int = 0  # sentences synthesized now
    cached: int = 0  # sentences served from the cache (by anyone: not what a user is told)
    # (cache key, ms) of each clip in the output: what is charged is the length of the clips this
    # identity has not voiced before (backend.conversation.plan.speech_charge)
    clips: tuple[tuple[str, int], ...] = ()
    adjustments: tuple[Adjustment, ...] = ()  # timed scripts only


@dataclass
class CaptionStyle:
    enabled: bool = True
    burn_in: bool = True  # False: soft subtitle track (keeps an uploaded video stream copied)
    position: str = "bottom"  # "bottom" | "middle" | "top"
    size: str = "medium"  # "small" | "medium" | "large"


@dataclass(frozen=True)
class TextOverlay:
    """A title or text overlay shown from ``start_ms`` to ``end_ms`` (user text: escape it)."""

    text: str
    start_ms: int
    end_ms: int
    position: str = "center"  # "top" | "center" | "bottom"
    size: str = "large"  # "small" | "medium" | "large"


@dataclass(frozen=True)
class MusicSpec:
    """Background music: loudness-normalized, then set to ``volume`` (0..1 of the voice's level),
    ducked further under speech, looped or trimmed to the output, faded in and out."""

    path: Path
    volume: float = 0.3
    fade_ms: int = 1500
    loop: bool = True


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
    music: MusicSpec | None = None
    titles: list[TextOverlay] = field(default_factory=list)
    fit: str = "pad"  # how an uploaded video fills another aspect: "pad" | "blur" | "crop"
    trim_ms: int | None = None  # keep only the first N ms of the output
    hold_last_frame: bool = True  # voice longer than the video: freeze its last frame (re-encodes)
    sidecars: bool = False  # also write <out>.srt and <out>.vtt beside the MP4


@dataclass
class Received:
    """A file on disk, not yet classified."""

    name: str
    path: Path
    size: int = 0


@dataclass
class Ingested:
    kind: str  # script | video | audio | image
    fmt: str  # mp4, mov, txt, docx, mp3, ...
    mime: str
    info: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
