"""Which synthesis a script needs: plain (sentence by sentence) or timed (``[00:05] text`` lines or
SRT/VTT cues placed at their times), its cost estimate, and what to tell the user about the timing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from backend.core.errors import BAD_INPUT, ApiError
from backend.core.i18n import t
from backend.core.types import Cue, SpeechResult, Voice
from backend.speech.cues import parse_cues, parse_srt
from backend.speech.script import estimate_duration_ms
from backend.speech.timed import synthesize_timed
from backend.speech.tts import TTSEngine
from backend.speech.wav import SpeechTap


def timed_cues(script: str, lang: str) -> list[Cue] | None:
    """The script's cues if it is timed, else None. Nonsense timestamps get a 4005 for a person."""
    try:
        if "-->" in script:
            return parse_srt(script)
        return parse_cues(script)
    except ValueError as exc:
        raise ApiError(BAD_INPUT, str(exc)) from exc


def estimate_ms(script: str, speed: float, lang: str = "en") -> int:
    """Expected length, to freeze credits before synthesis (timed scripts end after their last cue)."""
    cues = timed_cues(script, lang)
    if not cues:
        return estimate_duration_ms(script, speed)
    last = max(cues, key=lambda c: c.start_ms)
    return last.start_ms + estimate_duration_ms(last.text, speed)


def speak(
    engine: TTSEngine,
    script: str,
    voice: Voice,
    speed: float,
    out: Path,
    progress: Callable[[int, int], None],
    pronunciations: dict[str, str] | None,
    lang: str,
    tap: SpeechTap | None = None,
) -> SpeechResult:
    """Synthesize ``script`` into ``out`` (runs in a worker thread). A plain script's speech also
    goes to `tap` as it is written; a timed one is placed out of order, so it does not."""
    cues = timed_cues(script, lang)
    if cues:
        return synthesize_timed(
            engine,
            cues,
            voice,
            speed,
            out_path=out,
            progress=progress,
            pronunciations=pronunciations,
        )
    return engine.synthesize(
        script,
        voice,
        speed,
        out_path=out,
        progress=progress,
        pronunciations=pronunciations,
        tap=tap,
    )


def timing_notes(speech: SpeechResult, lang: str, video_ms: int | None) -> list[str]:
    """Sentences about lines sped up or pushed late, and about a voice that outlasts the video."""
    notes = []
    sped = [a for a in speech.adjustments if a.speed > 1.0 and a.overrun_ms == 0]
    late = [a for a in speech.adjustments if a.overrun_ms > 0]
    if sped:
        notes.append(t("timing_sped_up", lang, count=len(sped)))
    if late:
        notes.append(t("timing_overrun", lang, count=len(late)))
    if video_ms and speech.duration_ms > video_ms + 500:
        notes.append(t("voice_longer", lang, extra=(speech.duration_ms - video_ms) / 1000))
    return notes
