"""Piper TTS: catalogue, sentence synthesis, word timings, cache, pauses, pronunciations (real Piper)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import wave
from pathlib import Path

import numpy as np
import pytest

from backend.conversation.voice_choice import Choice, for_script, spoken_languages
from backend.core.types import Cue, SpeechResult, Voice
from backend.speech.catalog import discover_voices
from backend.speech.cues import parse_cues
from backend.speech.script import (
    caption_words,
    estimate_duration_ms,
    parse_script,
    script_language,
    split_sentences,
)
from backend.speech.timed import synthesize_timed
from backend.speech.tts import TTSEngine
from backend.speech.wav import TTSError
from tests.support.media import speech_onsets

TEXT = "Lumen keeps your desk bright. It costs 3.5 dollars a month, e.g. less than a coffee! Try it today."


@pytest.fixture(scope="module")
def joe() -> Voice:
    return next(v for v in discover_voices(None) if v.id == "en_US-joe-medium")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> TTSEngine:
    return TTSEngine(tmp_path_factory.mktemp("tts-cache"))


@pytest.fixture(scope="module")
def speech(engine: TTSEngine, joe: Voice, tmp_path_factory: pytest.TempPathFactory) -> SpeechResult:
    return engine.synthesize(TEXT, joe, out_path=tmp_path_factory.mktemp("out") / "speech.wav")


def wav_samples(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wf:
        assert wf.getnchannels() == 1 and wf.getsampwidth() == 2
        return np.frombuffer(wf.readframes(wf.getnframes()), dtype="<i2"), wf.getframerate()


def window_db(samples: np.ndarray, rate: int, start_ms: int, end_ms: int) -> float:
    part = samples[rate * start_ms // 1000 : rate * end_ms // 1000].astype(np.float64) / 32768
    rms = float(np.sqrt(np.mean(part**2))) if part.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else -120.0


def test_catalogue_has_joe(joe: Voice) -> None:
    assert (joe.name, joe.language, joe.gender) == ("Joe", "en_US", "male")
    assert joe.model_path.is_file() and joe.config_path.is_file()


def test_dropped_in_voice_is_discovered(joe: Voice, tmp_path: Path) -> None:
    (tmp_path / "en_GB-alan-medium.onnx").symlink_to(joe.model_path)
    config = json.loads(joe.config_path.read_text())
    config["language"] = {"code": "en_GB"}
    config["dataset"] = "alan"
    (tmp_path / "en_GB-alan-medium.onnx.json").write_text(json.dumps(config))
    (tmp_path / "orphan.onnx").write_bytes(b"no config next to me")
    voices = {v.id: v for v in discover_voices(tmp_path)}
    kokoro = {"af_heart", "am_michael", "bf_emma", "bm_george", "zf_xiaoxiao", "zm_yunxi"}
    assert set(voices) == {"en_US-joe-medium", "en_GB-alan-medium", "hibari_heart", *kokoro}
    alan = voices["en_GB-alan-medium"]
    assert (alan.name, alan.language, alan.gender) == ("Alan", "en_GB", "male")


def test_sentence_splitting() -> None:
    assert split_sentences(
        "Hello Mr. Smith. The price is 3.5 dollars, e.g. cheap. Really?! Yes"
    ) == [
        "Hello Mr. Smith.",
        "The price is 3.5 dollars, e.g. cheap.",
        "Really?!",
        "Yes",
    ]
    assert split_sentences("你好。今天天气很好！是吗？") == ["你好。", "今天天气很好！", "是吗？"]
    assert split_sentences('He said "stop." Then he left.') == ['He said "stop."', "Then he left."]
    items = parse_script("One. [pause 1.5s] Two.\n\nThree [pause 200ms] four.")
    assert [(i.text, i.pause_ms, i.paragraph_start) for i in items] == [
        ("One.", 0, True),
        ("", 1500, False),
        ("Two.", 0, False),
        ("Three", 0, True),
        ("", 200, False),
        ("four.", 0, False),
    ]
    assert caption_words("Wait — what?") == ["Wait —", "what?"]


def test_synthesize_writes_timed_speech(speech: SpeechResult) -> None:
    samples, rate = wav_samples(speech.path)
    assert rate == 22050
    assert abs(len(samples) * 1000 / rate - speech.duration_ms) <= 2
    assert len(speech.sentences) == 3
    assert speech.synthesized == 3 and speech.cached == 0
    # Sentences tile the file: each follows the previous with a short gap, the last ends it.
    assert speech.sentences[0].start_ms == 0
    assert abs(speech.sentences[-1].end_ms - speech.duration_ms) <= 2
    for prev, cur in zip(speech.sentences, speech.sentences[1:], strict=False):
        assert 150 <= cur.start_ms - prev.end_ms <= 300
    assert window_db(samples, rate, 0, speech.duration_ms) > -35
    words = [w for s in speech.sentences for w in s.words]
    assert [w.text for w in words] == TEXT.split()
    for s in speech.sentences:
        for w in s.words:
            assert s.start_ms <= w.start_ms < w.end_ms <= s.end_ms, (s.text, w)
    starts = [w.start_ms for w in words]
    assert starts == sorted(starts)
    # Every word window carries speech, and the gaps between sentences are quiet.
    for w in words:
        assert window_db(samples, rate, w.start_ms, w.end_ms) > -46, w  # short words ("a") are soft
    for prev, cur in zip(speech.sentences, speech.sentences[1:], strict=False):
        assert window_db(samples, rate, prev.end_ms + 30, cur.start_ms - 30) < -45


def test_second_call_is_served_from_cache(
    engine: TTSEngine, joe: Voice, speech: SpeechResult, tmp_path: Path
) -> None:
    again = engine.synthesize(TEXT, joe, out_path=tmp_path / "again.wav")
    assert again.synthesized == 0 and again.cached == 3
    assert again.sentences == speech.sentences
    assert (tmp_path / "again.wav").read_bytes() == speech.path.read_bytes()
    assert not [p for p in engine.cache_dir.iterdir() if p.name.endswith(".tmp")]


def test_pause_marker_lengthens_output(
    engine: TTSEngine, joe: Voice, speech: SpeechResult, tmp_path: Path
) -> None:
    paused = TEXT.replace("bright. ", "bright. [pause 1s] ")
    result = engine.synthesize(paused, joe, out_path=tmp_path / "p.wav")
    assert result.synthesized == 0  # same sentences, only the silence differs
    assert abs(result.duration_ms - speech.duration_ms - 1000) <= 30
    gap = result.sentences[1].start_ms - result.sentences[0].end_ms
    assert 1150 <= gap <= 1300


def test_paragraph_gap_is_longer(
    engine: TTSEngine, joe: Voice, speech: SpeechResult, tmp_path: Path
) -> None:
    result = engine.synthesize(
        TEXT.replace("bright. ", "bright.\n\n"), joe, out_path=tmp_path / "g.wav"
    )
    assert result.synthesized == 0
    gap = result.sentences[1].start_ms - result.sentences[0].end_ms
    assert 500 <= gap <= 650


def test_pronunciation_keeps_caption_words(engine: TTSEngine, joe: Voice, tmp_path: Path) -> None:
    plain = engine.synthesize("Lumen is bright.", joe, out_path=tmp_path / "a.wav")
    said = engine.synthesize(
        "Lumen is bright.", joe, out_path=tmp_path / "b.wav", pronunciations={"lumen": "Loo men"}
    )
    assert said.synthesized == 1  # a different pronunciation is a different cache entry
    assert [w.text for w in said.sentences[0].words] == ["Lumen", "is", "bright."]
    assert said.path.read_bytes() != plain.path.read_bytes()
    first, second = said.sentences[0].words[:2]
    assert first.end_ms <= second.start_ms


@pytest.mark.parametrize("text", ["", "   \n\n ", "[pause 1s]", "... !!"])
def test_empty_script_raises(engine: TTSEngine, joe: Voice, tmp_path: Path, text: str) -> None:
    with pytest.raises(TTSError, match="empty script"):
        engine.synthesize(text, joe, out_path=tmp_path / "x.wav")
    assert not list(tmp_path.iterdir())


def test_estimate_is_in_the_right_range(speech: SpeechResult) -> None:
    estimate = estimate_duration_ms(TEXT)
    assert 0.8 * speech.duration_ms <= estimate <= 1.4 * speech.duration_ms
    assert estimate_duration_ms(TEXT, speed=2.0) < estimate
    assert estimate_duration_ms("你好。今天天气很好！") > 1000


def test_speed_changes_length(
    engine: TTSEngine, joe: Voice, speech: SpeechResult, tmp_path: Path
) -> None:
    fast = engine.synthesize(TEXT, joe, speed=1.2, out_path=tmp_path / "f.wav")
    assert fast.synthesized == 3
    # About 9% shorter in median; Piper samples durations (noise_w), so one synthesis of a
    # sentence differs from the next by up to ~4%: 1% is the bound that holds every time.
    assert fast.duration_ms < speech.duration_ms * 0.99


def test_threads_share_the_engine(engine: TTSEngine, joe: Voice, tmp_path: Path) -> None:
    results: dict[int, SpeechResult] = {}
    errors: list[BaseException] = []
    progress: dict[int, list[tuple[int, int]]] = {0: [], 1: []}

    def work(i: int) -> None:
        def seen(done: int, total: int) -> None:
            progress[i].append((done, total))

        try:
            results[i] = engine.synthesize(
                f"Thread {i} says hello. And goodbye number {i}.",
                joe,
                out_path=tmp_path / f"t{i}.wav",
                progress=seen,
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(results[i].duration_ms > 1000 for i in range(2))
    assert progress[0] == [(1, 2), (2, 2)] and progress[1] == [(1, 2), (2, 2)]


def test_cache_survives_a_missing_file(engine: TTSEngine, joe: Voice, tmp_path: Path) -> None:
    copy = TTSEngine(tmp_path / "cache")
    first = copy.synthesize("A short line.", joe, out_path=tmp_path / "1.wav")
    for wav in (tmp_path / "cache").glob("*.wav"):
        wav.unlink()  # a half-cleaned cache re-synthesizes instead of failing
    second = copy.synthesize("A short line.", joe, out_path=tmp_path / "2.wav")
    assert first.synthesized == second.synthesized == 1
    shutil.rmtree(tmp_path / "cache")


def test_editing_one_sentence_resynthesizes_only_it(
    engine: TTSEngine, joe: Voice, tmp_path: Path
) -> None:
    before = "The lamp is warm. It folds flat. It charges by cable."
    first = engine.synthesize(before, joe, out_path=tmp_path / "a.wav")
    after = before.replace("It folds flat.", "It folds flat in one second.")
    edited = engine.synthesize(after, joe, out_path=tmp_path / "b.wav")
    assert edited.synthesized == 1 and edited.cached == 2
    assert edited.sentences[0] == first.sentences[0]


def test_timed_script_places_each_line_at_its_time(
    engine: TTSEngine, joe: Voice, tmp_path: Path
) -> None:
    cues = parse_cues("[00:00] First line.\n[00:05] Second line.\n[00:09] Third.")
    assert cues is not None
    result = synthesize_timed(engine, cues, joe, out_path=tmp_path / "timed.wav")
    assert result.adjustments == ()
    samples, rate = wav_samples(result.path)
    onsets = speech_onsets(samples, rate)
    assert len(onsets) == 3, onsets
    for onset, expected in zip(onsets, (0.0, 5.0, 9.0), strict=True):
        assert abs(onset - expected) <= 0.3, onsets
    # Sentence (caption) times are absolute and match the speech.
    for sentence, expected in zip(result.sentences, (0, 5000, 9000), strict=True):
        assert abs(sentence.start_ms - expected) <= 300
        assert sentence.words and sentence.words[0].start_ms >= sentence.start_ms


def test_timed_cue_too_long_for_its_slot(engine: TTSEngine, joe: Voice, tmp_path: Path) -> None:
    line = "This lamp folds flat, charges by cable and lights your desk for hours."
    # Piper samples noise, so a sentence's length varies by a few percent from one synthesis to
    # the next. Both lengths are measured first and land in the engine's sentence cache, so the
    # timed run below reuses exactly these clips at 1.0x and 1.2x.
    natural_clip, _ = engine.sentence_clip(line, joe, 1.0, None)
    fast_clip, _ = engine.sentence_clip(line, joe, 1.2, None)
    natural = len(natural_clip.audio) * 1000 // natural_clip.sample_rate
    fast = len(fast_clip.audio) * 1000 // fast_clip.sample_rate
    assert fast < natural * 0.96  # 1.2x shortens (less than in proportion: pauses do not scale)
    # A slot too short for the natural speech but long enough at 1.2x: sped up, and it fits.
    slot = (natural + fast) // 2
    fitted = synthesize_timed(
        engine, [Cue(line, 0), Cue("Next.", slot)], joe, out_path=tmp_path / "fit.wav"
    )
    (adj,) = fitted.adjustments
    assert adj.index == 0 and 1.0 < adj.speed <= 1.2 and adj.overrun_ms == 0
    assert fitted.sentences[0].end_ms <= slot
    assert abs(fitted.sentences[1].start_ms + 30 - slot) <= 60
    # A slot half the length: at most 1.2x, then the overrun is reported and the next cue waits.
    short = natural // 2
    pushed = synthesize_timed(
        engine, [Cue(line, 0), Cue("Next.", short)], joe, out_path=tmp_path / "push.wav"
    )
    first = pushed.adjustments[0]
    assert first.index == 0 and first.speed == 1.2 and first.overrun_ms > 0
    one, two = pushed.sentences
    assert two.start_ms >= one.end_ms  # never overlapping
    assert abs(one.end_ms - short - first.overrun_ms) <= 5
    assert one.end_ms - one.start_ms >= natural / 1.2 - 100  # never faster than 1.2x


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("你好，欢迎来到春季促销。", "zh"),
        ("Lumen 台灯今天八折，欢迎选购。", "zh"),
        ("こんにちは、春のセールです。", "ja"),
        ("안녕하세요, 봄 세일입니다.", "ko"),
        ("The spring sale starts today.", None),
        ("Buy the Lumen lamp (台灯) today, it is twenty percent off.", None),
        ("Der Frühlingsverkauf beginnt heute.", None),
    ],
)
def test_script_language_spots_what_a_latin_voice_cannot_read(text: str, lang: str | None) -> None:
    assert script_language(text) == lang


def test_a_voice_that_reads_the_script_is_picked(joe: Voice) -> None:
    """Voice choice only (no synthesis): a Chinese script moves from Joe to an installed Chinese
    voice, preferring the asked gender; with none installed there is no choice to make."""
    female = dataclasses.replace(
        joe, id="zh_CN-a-medium", name="A", language="zh_CN", gender="female"
    )
    male = dataclasses.replace(joe, id="zh_CN-b-medium", name="B", language="zh_CN", gender="male")
    voices = [joe, female, male]
    assert for_script(voices, Choice(joe), "zh", "male") == Choice(male)
    assert for_script(voices, Choice(joe), "zh", None) == Choice(female)
    assert for_script(voices, Choice(joe), None, None) == Choice(joe)
    assert for_script([joe], Choice(joe), "zh", None) is None
    assert spoken_languages(voices, "en") == "English, Chinese"


def test_a_script_without_full_stops_is_spoken_in_bounded_pieces(
    engine: TTSEngine, joe: Voice, tmp_path: Path
) -> None:
    """Piper's memory grows with what it speaks at once (about 9 MB a word), so a script with no
    full stop is cut into pieces of at most ~9 s, after commas where it can be: the whole text is
    still spoken, in order."""
    words = [f"lamp{i}," if i % 10 == 9 else f"lamp{i}" for i in range(90)]
    text = " ".join(words)
    pieces = split_sentences(text)
    assert len(pieces) >= 3
    assert all(len(p.split()) <= 27 for p in pieces), [len(p.split()) for p in pieces]
    assert all(p.endswith(",") for p in pieces[:-1])  # cut after commas
    assert " ".join(pieces) == text
    zh = split_sentences("我们" * 300)  # no punctuation, no spaces
    assert "".join(zh) == "我们" * 300 and max(len(p) for p in zh) <= 41
    speech = engine.synthesize("Lumen lights your desk " * 12, joe, out_path=tmp_path / "l.wav")
    assert len(speech.sentences) >= 2  # 48 words, no full stop: more than one synthesis
