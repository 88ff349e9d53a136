"""Word timing from Piper's phoneme alignments (or, failing that, from the text), and silence trimming."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

SILENCE_THRESHOLD = 330  # int16 amplitude (~ -40 dBFS) that counts as speech when trimming

_NON_SPEECH_PHONEMES = set("^$_ ,.!?;:-—…\"'()«»¡¿")


@dataclass
class Phone:
    symbol: str
    start: int  # sample offset inside the sentence
    end: int


def word_groups(phones: Sequence[Phone]) -> list[tuple[int, int]]:
    """(start, end) sample spans of the speech phonemes between word boundaries (' ')."""
    groups: list[tuple[int, int]] = []
    cur: list[int] | None = None
    for p in phones:
        if p.symbol in (" ", "^", "$", "_", "|"):
            if cur:
                groups.append((cur[0], cur[1]))
            cur = None
        elif p.symbol in _NON_SPEECH_PHONEMES:
            continue
        elif cur is None:
            cur = [p.start, p.end]
        else:
            cur[1] = p.end
    if cur:
        groups.append((cur[0], cur[1]))
    return groups


def match_by_phonemes(
    words: Sequence[str],
    spoken_words: Sequence[str],
    phones: Sequence[Phone],
    phonemize: Callable[[str], str],
) -> list[tuple[int, int]] | None:
    """Map each caption word to the aligned phonemes of its own phonemization (handles merges
    like "of the" -> one espeak word and expansions like "3.5" -> "three point five")."""
    speech = [p for p in phones if p.symbol not in _NON_SPEECH_PHONEMES and p.symbol not in "ˈˌ"]
    if not speech or len(spoken_words) != len(words):
        return None
    labels: list[int] = []
    symbols: list[str] = []
    for idx, word in enumerate(spoken_words):
        for sym in phonemize(word):
            if sym not in _NON_SPEECH_PHONEMES and sym not in "ˈˌ":
                symbols.append(sym)
                labels.append(idx)
    matcher = difflib.SequenceMatcher(None, symbols, [p.symbol for p in speech], autojunk=False)
    spans: list[list[int] | None] = [None] * len(words)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            idx = labels[block.a + k]
            p = speech[block.b + k]
            span = spans[idx]
            if span is None:
                spans[idx] = [p.start, p.end]
            else:
                span[0] = min(span[0], p.start)
                span[1] = max(span[1], p.end)
    if sum(s is not None for s in spans) < max(1, len(words) // 2):
        return None
    # Words with no matched phoneme share the gap between their matched neighbours.
    result: list[tuple[int, int]] = []
    i = 0
    while i < len(spans):
        span = spans[i]
        if span is not None:
            result.append((span[0], span[1]))
            i += 1
            continue
        j = i
        while j < len(spans) and spans[j] is None:
            j += 1
        prev_span = spans[i - 1] if i else None
        next_span = spans[j] if j < len(spans) else None
        lo = prev_span[1] if prev_span is not None else speech[0].start
        hi = next_span[0] if next_span is not None else speech[-1].end
        hi = max(hi, lo + 1)
        step = (hi - lo) / (j - i)
        result.extend((int(lo + k * step), int(lo + (k + 1) * step)) for k in range(j - i))
        i = j
    # Keep the spans monotonic.
    fixed: list[tuple[int, int]] = []
    for s, e in result:
        s = max(s, fixed[-1][1] if fixed else 0)
        fixed.append((s, max(e, s + 1)))
    return fixed


def distribute(words: Sequence[str], start: int, end: int) -> list[tuple[int, int]]:
    """Fallback: share the speech span by character counts."""
    weights = [max(1, len(re.sub(r"\W", "", w))) + 1 for w in words]
    total = sum(weights)
    spans = []
    pos = float(start)
    for w in weights:
        nxt = pos + (end - start) * w / total
        spans.append((int(pos), int(nxt)))
        pos = nxt
    return spans


def speech_bounds(audio: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > SILENCE_THRESHOLD)
    if loud.size == 0:
        return 0, len(audio)
    return int(loud[0]), int(loud[-1]) + 1


_LOG = logging.getLogger(__name__)


def word_spans(
    words: list[str],
    spoken_words: list[str],
    phones: list[Phone],
    total: int,
    phonemize: Callable[[str], str],
    *,
    unsure: str | None = "?",
) -> list[tuple[int, int]]:
    """Each caption word's sample span, for any engine that gives phonemes with sample positions:
    the phoneme groups between spaces when they pair up one to one (and no phoneme is the engine's
    ``unsure`` symbol: Piper's ``?``), else each word's own phonemes found in the spoken sequence,
    else a share by length."""
    if not words:
        return []
    groups = word_groups(phones)
    if len(groups) == len(words) and (unsure is None or unsure not in {p.symbol for p in phones}):
        return groups
    try:
        matched = match_by_phonemes(words, spoken_words, phones, phonemize)
    except Exception:  # timing is best effort; the audio is what matters
        _LOG.debug("phoneme matching failed", exc_info=True)
        matched = None
    if matched is not None:
        return matched
    start = groups[0][0] if groups else 0
    end = groups[-1][1] if groups else total
    return distribute(words, start, end)
