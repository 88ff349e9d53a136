"""The seed's whole flow over HTTP against the REAL backend (real Piper TTS, real ffmpeg, real SQLite).

token -> session -> upload -> run_sse -> state -> export -> poll -> download, with the MP4 checked.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import docx
import pytest

from tests.support.backend import Api, BackendProcess, function_names, iter_parts, texts
from tests.support.media import loudness, make_test_video, probe, video_packets

SCRIPT = (
    "Meet Lumen, the desk lamp that learns your rhythm. It wakes you gently with warm morning light. "
    "At night it fades to amber so you can wind down."
)


def speech_ms(state: dict) -> int:
    voice = [tr for tr in state["draft"]["t"] if tr["tt"] == 1]
    assert voice, state["summary"]
    return int(voice[0]["sg"][0]["d"])


@pytest.mark.both_modes
def test_script_txt_to_1080p_mp4(api: Api, tmp_path: Path) -> None:
    r = api.upload(("lumen.txt", SCRIPT.encode()))
    assert r.status_code == 200, r.text
    files = r.json()["data"]["files"]
    assert files[0]["kind"] == "script" and "path" not in files[0]

    r, events = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200
    assert events[-1]["turnComplete"] is True
    names = function_names(events)
    assert "synthesize_speech" in names and "place_on_timeline" in names
    responses = [
        p["functionResponse"]["name"] for p in iter_parts(events) if "functionResponse" in p
    ]
    assert set(names) <= set(responses)  # every call has its response
    assert "export" in texts(events).lower()

    state = api.state()
    tracks = {tr["tt"] for tr in state["draft"]["t"]}
    assert tracks == {1, 7}, state["summary"]  # voiceover + captions
    captions = next(tr for tr in state["draft"]["t"] if tr["tt"] == 7)["sg"]
    assert "Lumen" in " ".join(s["text"] for s in captions)
    assert state["summary"].startswith("Timeline (2 tracks): 1. Voiceover: Joe")
    duration = speech_ms(state)
    assert 6000 < duration < 20000

    job = api.export()
    result = api.poll(job)
    assert result["status"] == "completed", result
    out = api.download(result["output"]["url"], tmp_path / "out.mp4")
    info = probe(out)
    assert (info["width"], info["height"]) == (1920, 1080)
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    assert abs(info["duration_s"] - duration / 1000) < 0.5
    lufs, peak = loudness(out)
    assert -17.0 <= lufs <= -15.0, lufs
    assert peak <= -1.0 + 0.05, peak
    assert out.read_bytes()[:64].find(b"ftyp") >= 0


@pytest.mark.both_modes
def test_uploaded_video_is_copied_not_reencoded(api: Api, tmp_path: Path) -> None:
    clip = make_test_video(tmp_path / "clip.mp4", seconds=8, width=640, height=360)
    r = api.upload(("clip.mp4", clip), ("script.txt", SCRIPT.encode()))
    assert r.status_code == 200, r.text
    infos = r.json()["data"]["video_infos"]
    assert infos[0]["width"] == 640 and infos[0]["has_audio"] is True
    assert 7500 <= infos[0]["duration_ms"] <= 8500

    r, events = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200 and events[-1]["turnComplete"]
    state = api.state()
    assert {tr["tt"] for tr in state["draft"]["t"]} == {0, 1, 7}
    result = api.poll(api.export())
    assert result["status"] == "completed", result
    out = api.download(result["output"]["url"], tmp_path / "out.mp4")
    assert video_packets(out) == video_packets(clip)
    assert probe(out)["audio_codec"] == "aac"


@pytest.mark.both_modes
def test_docx_script_and_vertical(api: Api, tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Lumen keeps your desk bright.")
    document.add_paragraph("Try it for thirty days.")
    buf = io.BytesIO()
    document.save(buf)
    r = api.upload(("script.docx", buf.getvalue()))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["files"][0]["kind"] == "script"
    r, _events = api.say("make a vertical voiceover for my script")
    assert r.status_code == 200, r.text
    state = api.state()
    assert (state["draft"]["w"], state["draft"]["h"]) == (1080, 1920)
    assert "thirty days" in " ".join(
        s["text"] for tr in state["draft"]["t"] if tr["tt"] == 7 for s in tr["sg"]
    )
    result = api.poll(api.export())
    out = api.download(result["output"]["url"], tmp_path / "v.mp4")
    info = probe(out)
    assert (info["width"], info["height"]) == (1080, 1920)


def test_inline_script_voice_fallback_and_speed(api: Api) -> None:
    r, events = api.say(
        "Generate a female voiceover in Spanish.\nscript: Welcome to the spring sale. Everything is twenty percent off."
    )
    assert r.status_code == 200
    reply = texts(events)
    # No Spanish voice: the closest one (female, and the language of the script) reads it.
    assert "no female Spanish voice" in reply and "Heart" in reply
    first = speech_ms(api.state())
    r, events = api.say("slower")
    assert "synthesize_speech" in function_names(events)
    state = api.state()
    # Piper samples each sentence's durations, so the same text varies by about 4% from one
    # synthesis to the next; 0.87x lengthens this script by about 8% (edges and the gap between
    # sentences do not stretch). Longer is what holds every time.
    assert speech_ms(state) > first
    assert "0.87x" in state["summary"]
    # Credits were charged for two short syntheses, in proportion to length.
    bal = api.get("/api/credits/balance/simple").json()["data"]
    assert bal["frozen"] == 0 and 96 <= bal["available"] <= 98


def test_identical_sentences_are_cached(api: Api) -> None:
    api.say("voiceover please.\nscript: The cache test sentence is here. It has two sentences.")
    _, events = api.say("redo the voiceover")
    done = [
        p["functionResponse"]["response"]
        for p in iter_parts(events)
        if "functionResponse" in p and p["functionResponse"]["response"].get("status") == "done"
    ]
    assert done and done[0]["cached"] == done[0]["sentences"] == 2


def test_restart_between_export_and_poll(tmp_path: Path) -> None:
    proc = BackendProcess(tmp_path / "backend")
    proc.start()
    try:
        api = Api(proc.url)
        api.upload(("s.txt", SCRIPT.encode()))
        api.say("generate a natural male voiceover in English for my script")
        job = api.export()
        proc.restart(
            kill=True
        )  # killed while the job was queued or rendering; same port, same data dir
        result = api.poll(job)  # same token, same session: all of it lives in SQLite
        assert result["status"] == "completed", result
        out = api.download(result["output"]["url"], tmp_path / "after-restart.mp4")
        assert probe(out)["audio_codec"] == "aac"
        api.close()
    finally:
        proc.stop()


def test_download_link_is_signed_and_expires(api: Api, tmp_path: Path) -> None:
    api.say("voiceover\nscript: A short line to render.")
    url = api.poll(api.export())["output"]["url"]
    assert "sig=" in url and "exp=" in url
    import httpx

    assert httpx.get(url.replace("sig=", "sig=0")).status_code == 403
    expired = url.split("exp=")[0] + "exp=1&" + url.split("&", 1)[1]
    assert httpx.get(expired).status_code == 403
    with av.open(str(api.download(url, tmp_path / "ok.mp4"))) as c:
        assert c.streams.audio


def test_relative_data_dir_still_renders(tmp_path: Path) -> None:
    """`--data-dir data/backend` from a user's working directory: ffmpeg runs in its own scratch folder,
    so stored paths must be absolute (a fresh-clone demo once failed on exactly this)."""
    proc = BackendProcess(tmp_path / "rel", relative=True)
    proc.start()
    try:
        api = Api(proc.url)
        api.say("voiceover\nscript: Relative paths are resolved once, at start.")
        result = api.poll(api.export())
        assert result["status"] == "completed", result
        api.close()
    finally:
        proc.stop()
