"""Editing by conversation (issue 4), each capability checked in the RENDERED file, against the REAL
backend over HTTP (real Piper, real ffmpeg, real SQLite). No stand-ins.
"""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest

from backend.protocol.summary import timeline_summary
from tests.support.backend import Api, function_names, iter_parts, texts
from tests.support.media import audio_samples, frame_rgb, make_test_video, probe, rms_db

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
PAUSED = "Lumen lights your desk. [pause 2s] It dims at night."


def render(api: Api, tmp_path: Path, name: str) -> tuple[Path, dict[str, Any]]:
    result = api.poll(api.export())
    assert result["status"] == "completed", result
    return api.download(result["output"]["url"], tmp_path / name), result["output"]


def captions(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for tr in state["draft"]["t"]
        if tr["tt"] == 7
        for s in tr["sg"]
        if s["m"]["role"] == "caption"
    ]


def tone(path: Path, seconds: float, hz: int = 13000) -> Path:
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={hz}:sample_rate=48000:duration={seconds}",
            "-c:a",
            "libmp3lame",
            str(path),
        ],
        check=True,
    )
    return path


def band_db(path: Path, start: float, end: float, hz: float = 13000, width: float = 400) -> float:
    """Level of one narrow band (the music tone) in a window, so speech does not count."""
    x = audio_samples(path, start, end).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 48000)
    band = spectrum[(freqs > hz - width) & (freqs < hz + width)].sum()
    return float(10 * np.log10(band / len(x) + 1e-20))


def voiced(
    api: Api, script: str, ask: str = "generate a natural male voiceover in English"
) -> dict[str, Any]:
    r = api.upload(("script.txt", script.encode()))
    assert r.status_code == 200, r.text
    r, events = api.say(ask)
    assert r.status_code == 200 and events[-1]["turnComplete"], texts(events)
    return api.state()


def test_music_level_ducking_and_remove(api: Api, tmp_path: Path) -> None:
    state = voiced(api, PAUSED)
    cap = captions(state)
    gap = (cap[0]["s"] + cap[0]["d"]) / 1000 + 0.3, cap[1]["s"] / 1000 - 0.3
    speech = cap[1]["s"] / 1000 + 0.2, (cap[1]["s"] + cap[1]["d"]) / 1000 - 0.2
    assert gap[1] - gap[0] > 1.0
    r = api.upload(
        ("lofi.mp3", tone(tmp_path / "lofi.mp3", 3.0))
    )  # shorter than the video: must loop
    assert r.json()["data"]["files"][0]["kind"] == "audio"
    _, events = api.say("add lo-fi music at 30%")
    assert "synthesize_speech" not in function_names(events)  # no new speech for a music edit
    assert "BGM: lofi.mp3" in api.state()["summary"] and "30%)" in api.state()["summary"]
    out30, _ = render(api, tmp_path, "m30.mp4")
    api.say("music at 60%")
    out60, _ = render(api, tmp_path, "m60.mp4")
    # asked level: doubling the percentage raises the music by about 6 dB between phrases
    assert 4.5 < band_db(out60, *gap) - band_db(out30, *gap) < 7.5
    # ducked: the music band is clearly lower under speech than between phrases
    assert band_db(out30, *speech) < band_db(out30, *gap) - 4
    # looped: still there after its own 3 s ran out
    assert (
        band_db(out30, gap[0] + 0, gap[1]) > band_db(out30, 0.0, 0.15) + 6
    )  # and faded in at the start
    end = probe(out30)["duration_s"]
    assert band_db(out30, end - 2.2, end - 1.6) > -80
    _, events = api.say("remove the music")
    assert "BGM" not in api.state()["summary"]
    out0, _ = render(api, tmp_path, "m0.mp4")
    assert rms_db(out0, *gap) < -50  # the pause is silent again


def test_title_pixels_only_in_the_first_seconds(api: Api, tmp_path: Path) -> None:
    voiced(api, "Urban dreams start here. The city never sleeps. Neither do we, and that is fine.")
    _, _events = api.say("add title 'Urban Dreams' for the first 3 seconds")
    assert 'Title: "Urban Dreams" (0-3s)' in api.state()["summary"]
    out, _ = render(api, tmp_path, "title.mp4")
    duration = probe(out)["duration_s"]
    assert duration > 4.7
    early, late = frame_rgb(out, 1.0), frame_rgb(out, 4.5)
    h, w, _ = early.shape
    centre = (slice(int(h * 0.35), int(h * 0.65)), slice(int(w * 0.2), int(w * 0.8)))
    bright = lambda img: int((img[centre].mean(axis=2) > 200).sum())  # noqa: E731
    assert bright(early) > 2000  # white title letters
    assert bright(late) < 50  # gone after 3 s


def test_vertical_from_a_landscape_video_with_blur(api: Api, tmp_path: Path) -> None:
    clip = make_test_video(tmp_path / "wide.mp4", seconds=4, width=640, height=360)
    api.upload(("wide.mp4", clip), ("s.txt", b"A wide clip made tall. It still looks good."))
    api.say("generate a voiceover")
    _, _events = api.say("make it vertical")
    out, output = render(api, tmp_path, "tall.mp4")
    info = probe(out)
    assert (info["width"], info["height"]) == (1080, 1920) and (
        output["width"],
        output["height"],
    ) == (1080, 1920)
    top = frame_rgb(out, 1.0)[:300]
    assert top.mean() > 20  # blurred picture, not black bars


def test_caption_files_match_speech(api: Api, tmp_path: Path) -> None:
    voiced(
        api, "First we plan. [pause 1s] Then we build the thing. Finally we ship it to everyone."
    )
    _, events = api.say("give me SRT and VTT caption files too")
    assert "SRT" in texts(events)
    out, output = render(api, tmp_path, "cap.mp4")
    import httpx

    srt = httpx.get(output["captions"]["srt"]).text
    vtt = httpx.get(output["captions"]["vtt"]).text
    assert vtt.startswith("WEBVTT")
    stamp = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"
    cues = [
        (
            sum(float(x) * k for x, k in zip(m[:4], (3600, 60, 1, 0.001), strict=True)),
            sum(float(x) * k for x, k in zip(m[4:], (3600, 60, 1, 0.001), strict=True)),
        )
        for m in re.findall(stamp + r" --> " + stamp, srt)
    ]
    assert len(cues) >= 3 and len(re.findall(stamp + " --> ", vtt)) == len(cues)
    for start, _end in cues:  # speech is there within 0.3 s of every cue start
        assert max(rms_db(out, start + a, start + a + 0.1) for a in (0.0, 0.1, 0.2)) > -35
    assert cues[0][0] <= 0.35  # speech starts at once, and so does the first cue
    # No speech without a cue: the [pause 1s] is the longest gap between two cues, and silent.
    gaps = [(end, nxt) for (_s, end), (nxt, _e) in itertools.pairwise(cues)]
    quiet_from, quiet_to = max(gaps, key=lambda g: g[1] - g[0])
    assert quiet_to - quiet_from > 0.8, cues
    assert rms_db(out, quiet_from + 0.15, quiet_to - 0.15) < -45


def test_timed_script_places_each_line(api: Api, tmp_path: Path) -> None:
    state = voiced(
        api, "[00:00] Welcome to the show.\n[00:05] Here is the second line.\n[00:09] And the last."
    )
    starts = [c["s"] for c in captions(state)]
    out, _ = render(api, tmp_path, "timed.mp4")
    x = audio_samples(out).astype(np.float64)
    env = np.sqrt(np.convolve(x**2, np.ones(480) / 480, mode="same"))  # 10 ms RMS
    loud = env > 10 ** (-35 / 20)
    for t in (0.0, 5.0, 9.0):
        window = loud[int(max(0, t - 0.6) * 48000) : int((t + 0.6) * 48000)]
        onset = max(0, t - 0.6) + np.argmax(window) / 48000
        assert window.any() and abs(onset - t) <= 0.3, (t, onset, starts)


@pytest.mark.both_modes
def test_undo_second_video_and_help(api: Api, tmp_path: Path) -> None:
    one = make_test_video(tmp_path / "one.mp4", seconds=3, width=320, height=240)
    two = make_test_video(tmp_path / "two.mp4", seconds=5, width=480, height=270)
    api.upload(("one.mp4", one))
    api.upload(("two.mp4", two))
    voiced(api, "Two clips, one voice.")
    assert "two.mp4" in api.state()["summary"]
    _, events = api.say("do the same for the first video")
    assert "one.mp4" in api.state()["summary"] and "one.mp4" in texts(events)
    api.say("make it vertical")
    assert api.state()["draft"]["h"] == 1920
    _, events = api.say("add music at 30%")  # no music uploaded: changes nothing
    assert "music" in texts(events).lower() and api.state()["draft"]["h"] == 1920
    _, events = api.say("undo")  # undoes the last edit that changed something, and says which
    assert api.state()["draft"]["h"] == 240
    assert texts(events).startswith("Undone: Format set to 9:16 (1080x1920).")
    _, events = api.say("what is the weather in Paris")
    assert "I can" in texts(events) and function_names(events) == []


def test_trim_and_hold_last_frame(api: Api, tmp_path: Path) -> None:
    clip = make_test_video(tmp_path / "short.mp4", seconds=2, width=320, height=240)
    api.upload(("short.mp4", clip))
    state = voiced(
        api, "This voiceover runs a good deal longer than the two second clip it sits on."
    )
    speech = next(tr for tr in state["draft"]["t"] if tr["tt"] == 1)["sg"][0]["d"] / 1000
    out, _ = render(api, tmp_path, "hold.mp4")
    assert abs(probe(out)["duration_s"] - speech) < 0.5
    assert (
        np.abs(frame_rgb(out, speech - 0.2).astype(int) - frame_rgb(out, 1.99).astype(int)).mean()
        < 2  # the held last frame
    )
    api.say("only the first 3 seconds")
    out, _ = render(api, tmp_path, "trim.mp4")
    assert abs(probe(out)["duration_s"] - 3.0) < 0.3


@pytest.mark.both_modes
def test_iteration_reuses_speech(api: Api) -> None:
    voiced(api, "One. Two is here. Three is last.")
    api.upload(("script.txt", b"One. Two was changed. Three is last."))
    _, events = api.say("redo the voiceover")
    done = [
        p["functionResponse"]["response"]
        for p in iter_parts(events)
        if "functionResponse" in p and p["functionResponse"]["response"].get("status") == "done"
    ]
    assert done[0]["sentences"] == 3 and done[0]["cached"] == 2


def test_pronunciation_sticks(api: Api) -> None:
    voiced(api, "Lumen is bright.")
    before = captions(api.state())
    _, events = api.say("pronounce Lumen as LOO-men")
    assert "synthesize_speech" in function_names(events)
    after = captions(api.state())
    assert (
        after[0]["text"] == before[0]["text"] == "Lumen is bright."
    )  # captions keep the written word
    assert api.state()["settings"]["pronunciations"] == {"Lumen": "LOO-men"}


def test_chinese_reaches_the_same_actions(api: Api, backend: Any) -> None:
    voiced(api, "Same steps in two languages.")
    zh = Api(backend.url, lang="zh")
    voiced(zh, "Same steps in two languages.", ask="用英文男声生成配音")
    for en, cn in (
        ("make it vertical", "改成竖屏"),
        ("add title 'Hello' for the first 2 seconds", "添加标题“Hello”前2秒"),
        ("captions at the top", "字幕放在顶部"),
        ("only the first 2 seconds", "只要前2秒"),
    ):
        api.say(en)
        zh.say(cn)
        a, b = api.state(), zh.state()
        assert a["settings"] == b["settings"], (en, cn)
        # the same timeline, each summarized in its session's language
        assert a["summary"] == timeline_summary(b["draft"], "en"), (en, cn)
        assert b["summary"] == timeline_summary(b["draft"], "zh"), (en, cn)
        assert b["summary"].startswith("时间线"), cn
    zh.close()


def test_caption_position_on_an_uploaded_video_is_burned_in(api: Api, tmp_path: Path) -> None:
    """An uploaded video keeps its stream (captions as a soft track) until the user places the
    captions: then they are burned in where asked, so "captions at the top" is true in the file."""
    clip = make_test_video(tmp_path / "clip.mp4", seconds=4, width=640, height=360)
    api.upload(("clip.mp4", clip), ("s.txt", b"Captions go where you say. They stay readable."))
    _, events = api.say("generate a voiceover")
    assert [c["m"]["burn_in"] for c in captions(api.state())][:1] == [False]
    assert "burn in the captions" in texts(events)  # told how to make them visible everywhere
    _, events = api.say("redo the voiceover")
    assert "burn in the captions" not in texts(events)  # once is enough
    _, events = api.say("captions at the top")
    assert "top" in texts(events).lower()
    cap = captions(api.state())
    assert cap and all(c["m"]["burn_in"] and c["m"]["position"] == "top" for c in cap)
    out, _ = render(api, tmp_path, "top.mp4")
    t = (cap[0]["s"] + cap[0]["d"] / 2) / 1000
    made, source = frame_rgb(out, t).astype(np.int32), frame_rgb(clip, t).astype(np.int32)
    top = np.abs(made[:90] - source[:90]).mean()
    bottom = np.abs(made[-90:] - source[-90:]).mean()
    assert top > 2 * bottom + 3, (top, bottom)  # the caption is drawn at the top, not the bottom


@pytest.mark.both_modes
def test_only_newly_synthesized_speech_is_charged(api: Api) -> None:
    """Credits pay for synthesis: a redo that the sentence cache serves whole is free, and
    changing one sentence of six costs that sentence's share, not the whole script again."""
    lines = [
        "Lumen is a desk lamp that folds flat into your bag.",
        "It charges by cable and lasts for a whole working day.",
        "The light is warm in the evening and bright in the morning.",
        "A single touch on the base turns it on and off.",
        "It weighs less than a paperback and costs less than dinner.",
        "Order yours today and light up every desk you work at.",
    ]

    def available() -> int:
        return int(api.get("/api/credits/balance/simple").json()["data"]["available"])

    start = available()
    voiced(api, " ".join(lines))
    first = start - available()
    assert first >= 2  # about 20 s of speech at 10 s per credit
    before = available()
    _, events = api.say("redo the voiceover")
    assert "synthesize_speech" in function_names(events)
    assert available() == before  # every sentence came from the cache
    lines[2] = "The light is warm at night and crisp at dawn."
    api.upload(("script.txt", " ".join(lines).encode()))
    api.say("redo the voiceover")
    assert before - available() == 1 < first


def test_title_past_the_end_and_a_too_short_trim_are_refused(api: Api, tmp_path: Path) -> None:
    """Edits that would make a broken export are refused in the reply, with the reason, and leave
    the timeline as it was (before: the title stretched the video with a frozen frame, and the
    0.3 s trim made the export fail)."""
    state = voiced(api, "A short clip. Just two lines.")
    length = state["draft"]["d"]
    assert length < 9000
    _, events = api.say("add title 'Late' from 10 to 12 seconds")
    assert "never be seen" in texts(events) and "Late" in texts(events)
    _, events = api.say("only the first 0.3 seconds")
    assert "too short" in texts(events)
    state = api.state()
    assert state["draft"]["d"] == length and "Late" not in state["summary"]
    assert state["draft"].get("trim") is None
    out, _ = render(api, tmp_path, "ok.mp4")
    assert abs(probe(out)["duration_s"] - length / 1000) < 0.3


def test_title_timed_from_the_end_gets_a_specific_reply(api: Api) -> None:
    voiced(api, "Titles count from the start. Not from the end.")
    _, events = api.say("add title 'Bye' at the end and make it vertical")
    assert "not from its end" in texts(events)
    state = api.state()
    assert state["draft"]["h"] == 1920 and "Bye" not in state["summary"]
    _, events = api.say("add title 'Bye' for the last 3 seconds")
    assert "not from its end" in texts(events) and "upload a TXT" not in texts(events)


def test_replies_say_when_nothing_was_there(api: Api) -> None:
    """Removing music or titles that are not there says so, instead of claiming it removed them;
    "change the title" with no title yet just adds one."""
    voiced(api, "Nothing to remove here. Only speech.")
    _, events = api.say("remove the music")
    assert texts(events) == "There is no music to remove."
    _, events = api.say("remove the title")
    assert texts(events) == "There is no title to remove."
    zh = api.say("去掉背景音乐")[1]  # the Chinese phrasing reaches the same check
    assert texts(zh) == "There is no music to remove."


def test_slower_voiceover_reply_names_the_pace(api: Api) -> None:
    voiced(api, "Pace is part of the reply. It says how fast.")
    _, events = api.say("slower")
    assert "at 0.87x" in texts(events) and "2 sentences" in texts(events)


def test_unsupported_asks_get_a_specific_reply(api: Api) -> None:
    voiced(api, "Some asks cannot be done. The reply says why.")
    _, events = api.say("make the voice louder")
    assert "-16 LUFS" in texts(events) and "synthesize_speech" not in function_names(events)
    _, events = api.say("export in 4k")
    assert "720p or 1080p" in texts(events) and api.state()["draft"]["h"] == 1080


def test_a_very_long_title_is_refused_not_spoken(api: Api) -> None:
    """A 10,000-character quoted title was read as a new script (and charged); now it is a title
    that is too long, said so, and nothing is synthesized."""
    voiced(api, "A short voiceover. It stays as it is.")
    before = api.get("/api/credits/balance/simple").json()["data"]["available"]
    r, events = api.say('add title "' + "Big sale " * 1200 + '" for the first 2 seconds')
    said = texts(events) if events else r.json()["message"]  # 4005: too long for a request
    assert "too long" in said and "synthesize_speech" not in function_names(events)
    assert api.get("/api/credits/balance/simple").json()["data"]["available"] == before
