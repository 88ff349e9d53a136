"""Rendering with real Piper speech and real ffmpeg: script-only, stream copy, captions, failures."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from backend.core.types import (
    CaptionStyle,
    MusicSpec,
    RenderSpec,
    Sentence,
    SpeechResult,
    TextOverlay,
    Word,
)
from backend.media import fonts
from backend.media.captions import ass_document, phrases, timed_phrases, write_srt, write_vtt
from backend.media.render import RenderError, render, sidecar_paths
from backend.speech.catalog import discover_voices
from backend.speech.cues import parse_srt
from backend.speech.tts import TTSEngine
from tests.support.ci import requires
from tests.support.media import (
    audio_samples,
    frame_rgb,
    loudness,
    make_music,
    make_test_video,
    probe,
    rms_db,
    video_packets,
)
from tests.support.media import tone_db as tone_level

TONE = 13000
SCRIPT = "Lumen keeps your desk bright all day. Try it free for thirty days."


def _speak(factory: pytest.TempPathFactory, name: str, script: str) -> SpeechResult:
    root = factory.mktemp(name)
    voice = discover_voices(None)[0]
    return TTSEngine(root / "cache").synthesize(script, voice, out_path=root / "voice.wav")


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechResult:
    return _speak(tmp_path_factory, "speech", SCRIPT)


def tone_db(path: Path, start_s: float, end_s: float, freq: float = 440.0) -> float:
    """Level of one pure tone in a window (a spectral line, so speech barely disturbs it)."""
    x = audio_samples(path, start_s, end_s).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / 48000)
    band = (freqs > freq - 5) & (freqs < freq + 5)
    return float(20 * np.log10(spectrum[band].max() + 1e-12))


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920)])
def test_script_only_render(speech: SpeechResult, tmp_path: Path, size: tuple[int, int]) -> None:
    width, height = size
    spec = RenderSpec(
        duration_ms=speech.duration_ms,
        width=width,
        height=height,
        voice=speech.path,
        captions=list(speech.sentences),
    )
    seen: list[float] = []
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work", progress=seen.append)
    info = probe(out)
    assert (info["width"], info["height"]) == size
    assert info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["audio_codec"] == "aac" and info["sample_rate"] == 48000 and info["channels"] == 2
    assert abs(info["duration_s"] - speech.duration_ms / 1000) < 0.5
    lufs, peak = loudness(out)
    assert -17.0 <= lufs <= -15.0, lufs
    assert peak <= -1.0, peak
    assert rms_db(out, 0.2, speech.duration_ms / 1000 - 0.2) > -35
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert out.read_bytes()[4:8] == b"ftyp"
    assert not list((tmp_path / "work").iterdir())  # scratch files are gone

    # During a word, the caption band near the bottom holds bright text; the sky above does not.
    word = speech.sentences[0].words[2]
    frame = frame_rgb(out, (word.start_ms + word.end_ms) / 2000).astype(np.int32)
    band = frame[int(height * 0.75) : int(height * 0.95)]
    sky = frame[: int(height * 0.4)]
    assert (band.min(axis=2) > 200).sum() > 500  # white/gold glyph pixels
    assert sky.max() < 90
    assert np.abs(band - band.mean(axis=(0, 1))).max() > 150


def test_copy_mode_keeps_video_and_ducks_its_sound(speech: SpeechResult, tmp_path: Path) -> None:
    # Piper speech (22.05 kHz) has nothing above 11 kHz: a 13 kHz tone is measurable under it.
    clip = make_test_video(tmp_path / "clip.mp4", seconds=6, width=640, height=360, tone_hz=TONE)
    start_ms = 1500
    shifted = [
        Sentence(
            s.text,
            s.start_ms + start_ms,
            s.end_ms + start_ms,
            tuple(Word(w.text, w.start_ms + start_ms, w.end_ms + start_ms) for w in s.words),
        )
        for s in speech.sentences
    ]
    spec = RenderSpec(
        duration_ms=6000,
        width=640,
        height=360,
        video=clip,
        video_has_audio=True,
        video_width=640,
        video_height=360,
        voice=speech.path,
        voice_start_ms=start_ms,
        captions=shifted,
        caption_style=CaptionStyle(burn_in=False),
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    assert video_packets(out) == video_packets(clip)
    info = probe(out)
    assert info["audio_codec"] == "aac" and info["subtitle_codec"] == "mov_text"
    speech_end_s = (start_ms + speech.duration_ms) / 1000
    assert abs(info["duration_s"] - max(6.0, speech_end_s)) < 0.3
    # Before the voice starts the tone is as loud as in the clip; under speech it is ducked.
    assert abs(tone_db(out, 0.2, 1.3, TONE) - tone_db(clip, 0.2, 1.3, TONE)) < 2.0
    windows = np.arange(start_ms / 1000 + 0.1, speech_end_s - 0.5, 0.5)
    drops = [tone_db(clip, a, a + 0.5, TONE) - tone_db(out, a, a + 0.5, TONE) for a in windows]
    assert float(np.median(drops)) > 9.0, drops
    _lufs, peak = loudness(out)
    assert peak <= -1.0


def test_reencode_when_size_changes(speech: SpeechResult, tmp_path: Path) -> None:
    clip = make_test_video(
        tmp_path / "clip.mp4", seconds=2, width=320, height=240, with_audio=False
    )
    spec = RenderSpec(
        duration_ms=speech.duration_ms,
        width=640,
        height=360,
        fps=25,
        video=clip,
        video_width=320,
        video_height=240,
        voice=speech.path,
        captions=list(speech.sentences),
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    info = probe(out)
    assert (info["width"], info["height"]) == (640, 360) and info["video_codec"] == "h264"
    # The voice is longer than the clip: the last frame is held until the speech ends.
    assert abs(info["duration_s"] - speech.duration_ms / 1000) < 0.3
    frame = frame_rgb(out, 0.5)
    assert frame[:, :40].max() < 40  # letterbox bars left and right


def test_ass_escaping_keeps_user_text_literal() -> None:
    hack = "{\\fs200}hack\\N"
    sentence = Sentence(hack + " ok}", 0, 2000, (Word(hack, 0, 900), Word("ok}", 900, 2000)))
    doc = ass_document([sentence], CaptionStyle(), 1920, 1080)
    dialogues = [
        ln.split(",,", 1)[1].split(",", 3)[-1]
        for ln in doc.splitlines()
        if ln.startswith("Dialogue:")
    ]
    assert len(dialogues) == 2
    for text in dialogues:
        unescaped_blocks = re.findall(r"(?<!\\)\{[^}]*\}", text)
        assert set(unescaped_blocks) <= {"{\\c&H0000D7FF&}", "{\\r}"}, text
        assert (
            "\\N" not in text and "\\n" not in text and "\\fs" not in text.replace("\\\u2060fs", "")
        )
        assert "\n" not in text


def test_phrases_and_sidecars(tmp_path: Path) -> None:
    words = tuple(Word(f"w{i}", i * 300, i * 300 + 250) for i in range(16))
    sentence = Sentence(" ".join(w.text for w in words), 0, 4800, words)
    lines = phrases([sentence], max_words=7, max_chars=42)
    assert [len(p.words) for p in lines] == [7, 7, 2]
    assert all(p.start_ms < p.end_ms for p in lines)
    assert [len(p.words) for p in phrases([sentence], max_words=5, max_chars=24)] == [5, 5, 4, 2]
    write_srt([sentence], tmp_path / "c.srt")
    write_vtt([Sentence("<b>a & b</b>", 0, 1000)], tmp_path / "c.vtt")
    srt = (tmp_path / "c.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:02,050\nw0 w1 w2 w3 w4 w5 w6\n")
    vtt = (tmp_path / "c.vtt").read_text()
    assert vtt.startswith("WEBVTT\n") and "&lt;b&gt;a &amp; b&lt;/b&gt;" in vtt
    assert "00:00:00.000 --> " in vtt


def test_corrupt_video_fails_cleanly(speech: SpeechResult, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    out = tmp_path / "out" / "final.mp4"
    work = tmp_path / "work"
    spec = RenderSpec(duration_ms=2000, width=640, height=360, video=bad, voice=speech.path)
    with pytest.raises(RenderError, match="could not be read"):
        render(spec, out, work)
    assert not out.exists()
    assert not list(work.iterdir())


def test_truncated_video_fails_cleanly(speech: SpeechResult, tmp_path: Path) -> None:
    clip = make_test_video(tmp_path / "clip.mp4", seconds=2)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 3])
    out = tmp_path / "final.mp4"
    spec = RenderSpec(duration_ms=2000, width=640, height=360, video=cut, voice=speech.path)
    with pytest.raises(RenderError):
        render(spec, out, tmp_path / "work")
    assert not out.exists() and not list((tmp_path / "work").iterdir())


def test_cancel_stops_the_render(speech: SpeechResult, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    spec = RenderSpec(
        duration_ms=speech.duration_ms, voice=speech.path, captions=list(speech.sentences)
    )
    out = tmp_path / "final.mp4"
    with pytest.raises(RenderError, match="cancelled"):
        render(spec, out, tmp_path / "work", cancel=cancel)
    assert not out.exists() and not list((tmp_path / "work").iterdir())


# ---------------------------------------------------------------------------------------------
# Editing: music, titles, fit, trim, hold, sidecars

MUSIC_HZ = 13000
GAP_SCRIPT = "Lumen keeps your desk bright all day. [pause 2s] Try it free for thirty days."


@pytest.fixture(scope="module")
def gap_speech(tmp_path_factory: pytest.TempPathFactory) -> SpeechResult:
    return _speak(tmp_path_factory, "gap", GAP_SCRIPT)


def test_music_is_normalized_ducked_looped_and_faded(
    gap_speech: SpeechResult, tmp_path: Path
) -> None:
    music = make_music(tmp_path / "music.mp3", seconds=3.0, tone_hz=MUSIC_HZ, level_db=-20)
    spec = RenderSpec(
        duration_ms=gap_speech.duration_ms,
        width=640,
        height=360,
        voice=gap_speech.path,
        captions=list(gap_speech.sentences),
        music=MusicSpec(music, volume=0.3, fade_ms=1000),
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    first, second = gap_speech.sentences
    # Between phrases: the music at its loudness-normalized level minus 10.5 dB (30%).
    music_lufs, _ = loudness(music)
    normalized = tone_level(music, 0.5, 2.5, MUSIC_HZ) + (-16.0 - music_lufs)
    gap = tone_level(out, first.end_ms / 1000 + 0.9, second.start_ms / 1000 - 0.2, MUSIC_HZ)
    assert abs(gap - (normalized - 10.46)) < 3.0, (gap, normalized)
    # Under speech it is ducked; it fades in; it loops past the 3 s track (the output is longer).
    spoken = [
        tone_level(out, a, a + 0.4, MUSIC_HZ)
        for a in np.arange(second.start_ms / 1000 + 0.2, second.end_ms / 1000 - 0.6, 0.4)
    ]
    assert spoken and float(np.median(spoken)) < gap - 4.0, (spoken, gap)
    assert tone_level(out, 0.0, 0.2, MUSIC_HZ) < gap - 10.0
    assert gap_speech.duration_ms > 4500
    assert tone_level(out, 3.2, 3.6, MUSIC_HZ) > gap - 20.0  # still there after the loop point
    lufs, peak = loudness(out)
    assert -17.0 <= lufs <= -15.0, lufs
    assert peak <= -1.0, peak


def test_music_with_an_uploaded_video_keeps_the_stream_copied(
    speech: SpeechResult, tmp_path: Path
) -> None:
    clip = make_test_video(tmp_path / "clip.mp4", seconds=5, width=640, height=360, tone_hz=1000)
    music = make_music(tmp_path / "music.wav", seconds=2.0, tone_hz=MUSIC_HZ)
    spec = RenderSpec(
        duration_ms=5000,
        width=640,
        height=360,
        video=clip,
        video_has_audio=True,
        video_width=640,
        video_height=360,
        voice=speech.path,
        voice_start_ms=500,
        music=MusicSpec(music, volume=0.5, fade_ms=300),
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    assert video_packets(out) == video_packets(clip)
    end = max(5.0, 0.5 + speech.duration_ms / 1000)
    assert abs(probe(out)["duration_s"] - end) < 0.3
    # Before the voice: the video's own tone and the music are both there.
    assert tone_level(out, 0.1, 0.45, 1000) > -50
    assert tone_level(out, 0.1, 0.45, MUSIC_HZ) > -60
    lufs, peak = loudness(out)
    assert -17.0 <= lufs <= -15.0 and peak <= -1.0, (lufs, peak)


def test_title_is_burned_for_its_time_range(speech: SpeechResult, tmp_path: Path) -> None:
    spec = RenderSpec(
        duration_ms=speech.duration_ms,
        width=1280,
        height=720,
        voice=speech.path,
        captions=list(speech.sentences),
        caption_style=CaptionStyle(enabled=False),
        titles=[TextOverlay("Urban Dreams", 0, 3000)],
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    area = (slice(260, 460), slice(240, 1040))
    shown = frame_rgb(out, 1.0)[area].astype(np.int32)
    gone = frame_rgb(out, 5.0)[area].astype(np.int32)
    assert np.abs(shown - gone).mean() > 12
    assert (shown.min(axis=2) > 220).sum() > 2000  # white glyphs
    assert gone.max() < 90  # only the dark background is left


def test_title_text_is_escaped(speech: SpeechResult, tmp_path: Path) -> None:
    doc = ass_document(
        [], CaptionStyle(), 1280, 720, titles=[TextOverlay("{\\b1}Big\nDeal\\N", 0, 1)]
    )
    line = next(ln for ln in doc.splitlines() if ln.startswith("Dialogue:"))
    text = line.split(",,", 1)[1].split(",", 3)[-1]
    assert not re.findall(r"(?<!\\)\{[^}]*\}", text), text
    assert "\\N" not in text and "\n" not in text
    spec = RenderSpec(
        duration_ms=1500,
        width=640,
        height=360,
        voice=speech.path,
        titles=[TextOverlay("{\\b1}Urban\\N {Dreams}", 0, 1000, position="top", size="small")],
    )
    render(spec, tmp_path / "out.mp4", tmp_path / "work")
    assert probe(tmp_path / "out.mp4")["width"] == 640


@pytest.mark.parametrize("fit", ["blur", "pad", "crop"])
def test_fit_a_wide_video_into_a_vertical_frame(tmp_path: Path, fit: str) -> None:
    clip = make_test_video(tmp_path / "wide.mp4", seconds=1.5, width=640, height=360)
    width, height = (1080, 1920) if fit == "blur" else (720, 1280)
    spec = RenderSpec(
        duration_ms=1500,
        width=width,
        height=height,
        video=clip,
        video_has_audio=True,
        video_width=640,
        video_height=360,
        fit=fit,
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    info = probe(out)
    assert (info["width"], info["height"]) == (width, height)
    frame = frame_rgb(out, 0.7).astype(np.int32)
    band = height // 10
    top, bottom = frame[:band], frame[-band:]
    middle = frame[height // 2 - band // 2 : height // 2 + band // 2]
    if fit == "pad":
        assert top.max() < 30 and bottom.max() < 30
    else:
        assert top.mean() > 30 and bottom.mean() > 30  # no black bands
        assert top.max(axis=2).mean(axis=1).min() > 10
    if fit == "blur":
        assert np.abs(top - middle).mean() > 10  # blurred fill, not the picture itself
        assert np.abs(np.diff(top, axis=1)).mean() < np.abs(np.diff(middle, axis=1)).mean() / 2


def test_trim_cuts_speech_captions_and_music(tmp_path: Path) -> None:
    voice = discover_voices(None)[0]
    long = TTSEngine(tmp_path / "cache").synthesize(
        "Lumen keeps your desk bright. [pause 9s] Try it free. [pause 9s] Really.",
        voice,
        out_path=tmp_path / "long.wav",
    )
    assert long.duration_ms > 20000
    music = make_music(tmp_path / "m.wav", seconds=30, tone_hz=MUSIC_HZ)
    spec = RenderSpec(
        duration_ms=long.duration_ms,
        width=640,
        height=360,
        voice=long.path,
        captions=list(long.sentences),
        music=MusicSpec(music, volume=0.3, fade_ms=1500),
        trim_ms=8000,
        sidecars=True,
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    assert abs(probe(out)["duration_s"] - 8.0) < 0.3
    cues = parse_srt(out.with_suffix(".srt").read_text())
    assert cues and all((c.end_ms or 0) <= 8000 for c in cues)
    # The music fades out at the new end.
    assert tone_level(out, 7.75, 7.95, MUSIC_HZ) < tone_level(out, 4.0, 5.0, MUSIC_HZ) - 8


def test_hold_last_frame_when_the_voice_is_longer(gap_speech: SpeechResult, tmp_path: Path) -> None:
    clip = make_test_video(tmp_path / "short.mp4", seconds=3, width=640, height=360)
    spec = RenderSpec(
        duration_ms=gap_speech.duration_ms,
        width=640,
        height=360,
        video=clip,
        video_has_audio=True,
        video_width=640,
        video_height=360,
        voice=gap_speech.path,
        hold_last_frame=True,
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    voice_s = gap_speech.duration_ms / 1000
    assert voice_s > 5.0
    assert abs(probe(out)["duration_s"] - voice_s) < 0.3
    last = frame_rgb(clip, 2.99).astype(np.int32)
    for t in (voice_s - 1.5, voice_s - 0.1):
        assert np.abs(frame_rgb(out, t).astype(np.int32) - last).mean() < 6


def test_video_longer_than_the_voice_keeps_its_length(speech: SpeechResult, tmp_path: Path) -> None:
    clip = make_test_video(tmp_path / "long.mp4", seconds=10, width=320, height=240)
    spec = RenderSpec(
        duration_ms=10000,
        width=320,
        height=240,
        video=clip,
        video_has_audio=True,
        video_width=320,
        video_height=240,
        voice=speech.path,
    )
    assert speech.duration_ms < 6000
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    assert abs(probe(out)["duration_s"] - 10.0) < 0.3
    assert video_packets(out) == video_packets(clip)


def test_sidecars_match_the_captions_and_the_speech(tmp_path: Path) -> None:
    voice = discover_voices(None)[0]
    said = TTSEngine(tmp_path / "cache").synthesize(
        "[pause 1s] " + SCRIPT, voice, out_path=tmp_path / "v.wav"
    )
    spec = RenderSpec(
        duration_ms=said.duration_ms,
        width=1280,
        height=720,
        voice=said.path,
        captions=list(said.sentences),
        sidecars=True,
    )
    out = tmp_path / "out.mp4"
    render(spec, out, tmp_path / "work")
    srt_path, vtt_path = sidecar_paths(out)
    burned = timed_phrases(said.sentences, 1280, 720)
    for path in (srt_path, vtt_path):
        cues = parse_srt(path.read_text(encoding="utf-8"))
        assert len(cues) == len(burned)
        for cue, (start, end, text) in zip(cues, burned, strict=True):
            assert abs(cue.start_ms - start) <= 50 and abs((cue.end_ms or 0) - end) <= 50
            assert cue.text == text
    for start, _end, _text in burned:
        assert rms_db(out, start / 1000 + 0.05, start / 1000 + 0.3) > -40, start
    first = burned[0][0] / 1000
    assert 0.7 <= first <= 1.3
    assert rms_db(out, 0.1, first - 0.3) < -55


def test_failed_render_leaves_no_sidecars(speech: SpeechResult, tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    spec = RenderSpec(
        duration_ms=speech.duration_ms,
        voice=speech.path,
        captions=list(speech.sentences),
        sidecars=True,
    )
    out = tmp_path / "final.mp4"
    with pytest.raises(RenderError):
        render(spec, out, tmp_path / "work", cancel=cancel)
    assert not [p for p in tmp_path.iterdir() if p.suffix in {".mp4", ".srt", ".vtt"}]


def _title_pixels(text: str, voice: Path, tmp_path: Path) -> np.ndarray:
    spec = RenderSpec(
        duration_ms=1000, width=640, height=360, voice=voice, titles=[TextOverlay(text, 0, 1000)]
    )
    out = tmp_path / f"{len(list(tmp_path.glob('*.mp4')))}.mp4"
    render(spec, out, tmp_path / f"work-{out.stem}")
    return frame_rgb(out, 0.5)[120:240, 120:520].astype(np.int32)


@requires(fonts.cjk_font_available(), "no CJK font on this machine")
def test_chinese_titles_use_the_system_cjk_font(speech: SpeechResult, tmp_path: Path) -> None:
    """REAL ffmpeg + libass. DejaVu has no Chinese glyphs: without a fallback font, every character
    is the same empty box, so two different phrases render alike. With the machine's CJK font
    (CI installs fonts-wqy-microhei) they render as different glyphs."""
    try:
        fonts.configure([])  # bundled font only
        boxes = [_title_pixels(t, speech.path, tmp_path) for t in ("春季促销", "你好世界")]
        fonts.configure(None)  # detect, as the backend does by default
        glyphs = [_title_pixels(t, speech.path, tmp_path) for t in ("春季促销", "你好世界")]
    finally:
        fonts.configure(None)
    assert all((g.min(axis=2) > 200).sum() > 500 for g in glyphs)  # white text is drawn
    tofu = np.abs(boxes[0] - boxes[1]).mean()
    real = np.abs(glyphs[0] - glyphs[1]).mean()
    assert real > 3 * tofu + 5, (real, tofu)


def test_chinese_captions_break_by_width_and_keep_no_spaces() -> None:
    """A Chinese sentence (one caption "word" per character) fills a line by width, not by the
    English 7-word limit, and the karaoke highlight never puts a space between characters."""
    text = "欢迎来到春季促销活动，所有商品八折，数量有限，先到先得，快来选购吧"
    chars = [c for c in text if c != "，"]
    words: list[Word] = []
    t = 0
    for c in text:
        if c == "，":
            words[-1] = Word(words[-1].text + c, words[-1].start_ms, words[-1].end_ms)
            continue
        words.append(Word(c, t, t + 200))
        t += 200
    lines = phrases([Sentence(text, 0, t, tuple(words))], max_words=7, max_chars=42)
    assert all(len(p.text) * 2 <= 42 + 2 for p in lines), [p.text for p in lines]
    assert len(lines[0].words) > 7  # more than the English word limit on a line
    assert "".join(p.text for p in lines) == text
    doc = ass_document([Sentence(text, 0, t, tuple(words))], CaptionStyle(), 1280, 720)
    dialogue = [
        ln.split(",,", 1)[1].split(",", 3)[-1]
        for ln in doc.splitlines()
        if ln.startswith("Dialogue:")
    ]
    assert len(dialogue) == len(chars)
    assert all(" " not in d for d in dialogue), dialogue[:3]
