"""Timed synthesis: each cue of a timed script or SRT is spoken starting at its time.

A cue's slot runs from its start to its own end (SRT) or the next cue's start. Speech that would
overrun the slot is re-synthesized faster, never beyond MAX_SPEEDUP (DESIGN section 8); if it still
does not fit, it keeps that speed and the following cues start after it (never overlapping), and the
overrun is reported so the user can be told. Sentences come from the engine's per-sentence cache
(its key includes the speed), so re-timing a script re-synthesizes only what changed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from backend.core.types import Adjustment, Cue, Sentence, SpeechResult, Voice
from backend.speech.script import SENTENCE_GAP_MS, parse_script
from backend.speech.wav import EDGE_MS, Clip, SpeechWav, clip_ms, prepare_output


class ClipSource(Protocol):
    """What timed synthesis needs of the engine: one sentence's clip (from its cache or new)."""

    def sentence_clip(
        self, text: str, voice: Voice, speed: float, pronunciations: dict[str, str] | None
    ) -> tuple[Clip, bool]: ...

    def clip_key(
        self, text: str, voice: Voice, speed: float, pronunciations: dict[str, str] | None
    ) -> str: ...


_LOG = logging.getLogger(__name__)

MAX_SPEEDUP = 1.2
PUSH_GAP_MS = 150  # silence between a pushed cue and the one that overran before it


def _clip_ms(clip: Clip) -> float:
    return len(clip.audio) * 1000 / clip.sample_rate


class _Cue:
    """One cue's sentences and pauses at one speed."""

    def __init__(
        self,
        engine: ClipSource,
        text: str,
        voice: Voice,
        speed: float,
        pronunciations: dict[str, str] | None,
    ) -> None:
        self.parts: list[tuple[int, Clip | None, str]] = []  # (silence ms before, clip, text)
        self.keys: list[str] = []  # each part's cache key
        self.synthesized = self.cached = 0
        pending = 0
        spoken = 0
        for item in parse_script(text):
            if not item.text:
                pending += item.pause_ms
                continue
            clip, fresh = engine.sentence_clip(item.text, voice, speed, pronunciations)
            self.synthesized += fresh
            self.cached += not fresh
            gap = max(0, SENTENCE_GAP_MS - 2 * EDGE_MS) if spoken else 0
            self.parts.append((pending + gap, clip, item.text))
            self.keys.append(engine.clip_key(item.text, voice, speed, pronunciations))
            pending = 0
            spoken += 1
        self.trailing_ms = pending

    @property
    def length_ms(self) -> float:
        return sum(gap + (_clip_ms(c) if c else 0) for gap, c, _t in self.parts)


def synthesize_timed(
    engine: ClipSource,
    cues: Sequence[Cue],
    voice: Voice,
    speed: float = 1.0,
    *,
    out_path: Path,
    progress: Callable[[int, int], None] | None = None,
    pronunciations: dict[str, str] | None = None,
) -> SpeechResult:
    ordered = sorted(cues, key=lambda c: c.start_ms)
    total = sum(1 for c in ordered for it in parse_script(c.text) if it.text)
    tmp = prepare_output(speed, total, out_path)
    out_path = Path(out_path)
    sentences: list[Sentence] = []
    adjustments: list[Adjustment] = []
    synthesized = cached = 0
    clips: list[tuple[str, int]] = []
    prev_end_ms = 0.0
    with SpeechWav(tmp, out_path) as wav:
        for index, cue in enumerate(ordered):
            plan = _Cue(engine, cue.text, voice, speed, pronunciations)
            synthesized += plan.synthesized
            cached += plan.cached
            if not plan.parts:
                continue
            written_ms = wav.ms
            start = float(cue.start_ms)
            if prev_end_ms > start:  # the cue before overran: start after it
                start = prev_end_ms + PUSH_GAP_MS
            place = max(start - EDGE_MS, written_ms)  # the clip's lead-in silence is EDGE_MS
            slot_end = cue.end_ms
            if slot_end is None and index + 1 < len(ordered):
                slot_end = ordered[index + 1].start_ms
            factor = 1.0
            if slot_end is not None:
                avail = slot_end - place
                while plan.length_ms > avail + 1 and factor < MAX_SPEEDUP:
                    needed = plan.length_ms / avail if avail > 0 else 2 * MAX_SPEEDUP
                    wanted = math.ceil(min(factor * needed * 1.03, 9.0) * 100) / 100
                    factor = MAX_SPEEDUP if factor > 1.0 else min(MAX_SPEEDUP, wanted)
                    plan = _Cue(engine, cue.text, voice, speed * factor, pronunciations)
                    synthesized += plan.synthesized
                    cached += plan.cached
            end_ms = place + plan.length_ms
            overrun = max(0, round(end_ms - slot_end)) if slot_end is not None else 0
            if factor > 1.0 or overrun > 0:
                adjustments.append(Adjustment(index, round(factor, 3), overrun))
            wav.silence(round(place - written_ms))
            for (gap, clip, text), key in zip(plan.parts, plan.keys, strict=True):
                assert clip is not None
                clips.append((key, clip_ms(clip)))
                wav.silence(gap)
                sentences.append(wav.clip(text, clip))
                if progress is not None:
                    progress(len(sentences), total)
            prev_end_ms = wav.ms
            wav.silence(plan.trailing_ms)
        last_end = ordered[-1].end_ms
        if last_end is not None and last_end > wav.ms:  # keep the SRT's length
            wav.silence(round(last_end - wav.ms))
        duration_ms = wav.commit()
    done = len(sentences)
    _LOG.info(
        "timed synthesis: %d cues, %d sentences (%d new, %d cached), %d adjusted -> %s",
        len(ordered),
        done,
        synthesized,
        cached,
        len(adjustments),
        out_path,
    )
    return SpeechResult(
        path=out_path,
        duration_ms=duration_ms,
        sentences=tuple(sentences),
        synthesized=synthesized,
        cached=cached,
        adjustments=tuple(adjustments),
        clips=tuple(clips),
    )
