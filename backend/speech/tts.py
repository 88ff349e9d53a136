"""Piper text-to-speech: sentence-level synthesis with word timings and a disk cache.

Speech is made one sentence at a time so sentence boundaries are exact, repeated sentences come
from the cache, progress can be reported, and a long script never sits in memory as one array.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
import uuid
import wave
from collections import OrderedDict, deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.types import Sentence, SpeechResult, Voice
from backend.speech.alignment import (
    Phone,
    speech_bounds,
    word_spans,
)
from backend.speech.hibari_voice import HibariEngine
from backend.speech.kokoro import KokoroEngine
from backend.speech.piper_model import load_voice
from backend.speech.script import (
    PARAGRAPH_GAP_MS,
    SENTENCE_GAP_MS,
    caption_words,
    parse_script,
    spoken_text,
)
from backend.speech.wav import (
    EDGE_MS,
    Clip,
    SpeechTap,
    SpeechWav,
    TTSError,
    clip_ms,
    prepare_output,
)

_LOG = logging.getLogger(__name__)

# 3: the Mandarin G2P sets the tones of 一 and 不 and 得 "must" in context (zh_tones): the same
# spoken text is now said otherwise.
CACHE_VERSION = "3"


# ---------------------------------------------------------------------------------------------
# Engine


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
        self.kokoro = KokoroEngine()  # Kokoro voices (engine="kokoro"), loaded on first use
        self.hibari = HibariEngine()  # hibari's "heart" (engine="hibari"), loaded on first use

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
                _LOG.info("loading voice %s", voice.id)
                try:  # patched once to a file: PiperVoice.load kept ~110 MB of copies
                    piper_voice = load_voice(voice.model_path, voice.config_path, self.cache_dir)
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
        if voice.engine == "kokoro":
            return self.kokoro.sentence(text, spoken, voice, speed, pronunciations)
        if voice.engine == "hibari":
            return self.hibari.sentence(text, spoken, voice, speed, pronunciations)
        from piper import SynthesisConfig

        loaded = self._get_voice(voice)
        config = SynthesisConfig(length_scale=1.0 / speed)
        parts: list[np.ndarray] = []
        phones: list[Phone] = []
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
                    phones.append(Phone(str(al.phoneme), pos, pos + n))
                    pos += n
                if not chunk.phoneme_alignments:
                    phones.append(Phone("?", offset, offset + len(audio)))
                phones.append(Phone(" ", offset + len(audio), offset + len(audio)))
                parts.append(audio)
                offset += len(audio)

            def phonemize(word: str) -> str:
                return "".join("".join(s) for s in loaded.voice.phonemize(word))

            words = caption_words(text)
            spoken_words = [spoken_text(w + " ", pronunciations).strip() for w in words]
            spans = word_spans(words, spoken_words, phones, offset, phonemize)
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        # Trim silence at both ends, keeping EDGE_MS, never cutting into an aligned word.
        lo, hi = speech_bounds(audio)
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

    def clip_key(
        self, text: str, voice: Voice, speed: float, pronunciations: dict[str, str] | None
    ) -> str:
        """The cache key of one sentence's clip: who has voiced what is recorded by it, so the
        savings of the cache are per identity (``BackendStore.claim_voiced``)."""
        return self._cache_key(text, spoken_text(text, pronunciations), voice, speed)

    def sentence_clip(
        self, text: str, voice: Voice, speed: float, pronunciations: dict[str, str] | None
    ) -> tuple[Clip, bool]:
        """One sentence's trimmed audio and word spans, from the cache when it is there.
        Returns (clip, True if it was synthesized now)."""
        spoken = spoken_text(text, pronunciations)
        key = self._cache_key(text, spoken, voice, speed)
        clip = self._read_cache(key)
        if clip is not None:
            return clip, False
        clip = self._synthesize_sentence(text, spoken, voice, speed, pronunciations)
        self._write_cache(key, clip)
        return clip, True

    def _clips(
        self,
        texts: list[str],
        voice: Voice,
        speed: float,
        pronunciations: dict[str, str] | None,
    ) -> Generator[tuple[Clip, bool], None, None]:
        """sentence_clip of each text, in order. A Kokoro voice makes up to `kokoro.parallel` at
        once (each on one onnxruntime thread), up to twice that many ahead of the one being
        written, so a core that finished a short sentence does not wait for a long one; every
        other engine makes them one by one, as it always did. Closing the generator (the
        synthesis failed) drops what has not started and waits for what has."""
        width = self.kokoro.parallel if voice.engine == "kokoro" else 1
        if width <= 1 or len(texts) <= 1:
            for text in texts:
                yield self.sentence_clip(text, voice, speed, pronunciations)
            return
        pool = ThreadPoolExecutor(width, thread_name_prefix="kokoro-sentence")
        ahead: deque[Future[tuple[Clip, bool]]] = deque()
        todo = iter(texts)
        try:
            for text in itertools.islice(todo, 2 * width):
                ahead.append(pool.submit(self.sentence_clip, text, voice, speed, pronunciations))
            while ahead:
                clip = ahead.popleft().result()
                for text in itertools.islice(todo, 1):
                    ahead.append(
                        pool.submit(self.sentence_clip, text, voice, speed, pronunciations)
                    )
                yield clip
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- whole script ------------------------------------------------------------------------

    def synthesize(
        self,
        text: str,
        voice: Voice,
        speed: float = 1.0,
        *,
        out_path: Path,
        progress: Callable[[int, int], None] | None = None,
        pronunciations: dict[str, str] | None = None,
        tap: SpeechTap | None = None,
    ) -> SpeechResult:
        """Speak `text` into a mono int16 WAV at out_path, streaming sentence by sentence
        (and to `tap`, which may start rendering before the last sentence is spoken)."""
        items = parse_script(text)
        total = sum(1 for it in items if it.text)
        tmp = prepare_output(speed, total, out_path)
        sentences: list[Sentence] = []
        synthesized = cached = 0
        clips: list[tuple[str, int]] = []  # (cache key, ms) of each sentence spoken
        pending_ms = 0  # silence owed before the next sentence
        spoken = [it.text for it in items if it.text]
        made = self._clips(spoken, voice, speed, pronunciations)
        with SpeechWav(tmp, out_path, tap) as wav, contextlib.closing(made):
            for item in items:
                if not item.text:
                    pending_ms += item.pause_ms
                    continue
                clip, fresh = next(made)
                synthesized += fresh
                cached += not fresh
                key = self.clip_key(item.text, voice, speed, pronunciations)
                clips.append((key, clip_ms(clip)))
                if sentences:
                    base = PARAGRAPH_GAP_MS if item.paragraph_start else SENTENCE_GAP_MS
                    pending_ms += max(0, base - 2 * EDGE_MS)
                wav.silence(pending_ms)
                pending_ms = 0
                sentences.append(wav.clip(item.text, clip))
                if progress is not None:
                    progress(len(sentences), total)
            wav.silence(pending_ms)
            duration_ms = wav.commit()
        done = len(sentences)
        _LOG.info(
            "synthesized %d sentences (%d new, %d cached) -> %s",
            done,
            synthesized,
            cached,
            out_path,
        )
        return SpeechResult(
            path=out_path,
            duration_ms=duration_ms,
            sentences=tuple(sentences),
            synthesized=synthesized,
            cached=cached,
            clips=tuple(clips),
        )


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(audio.astype("<i2").tobytes())
