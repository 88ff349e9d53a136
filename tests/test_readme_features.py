"""Features the README lists, each reached for real: `./dev demo` itself, SRT scripts, MOV/WEBM/MKV/AVI
videos, AAC music and "louder music", "square", "bigger captions" and "no captions", each checked in
the rendered file. REAL backend (session fixture), real Piper and ffmpeg; media kept tiny."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.backend import Api, BackendProcess
from tests.support.media import _run, frame_rgb, make_music, probe, rms_db, tone_db

ROOT = Path(__file__).resolve().parents[1]


def render(api: Api, tmp_path: Path, name: str) -> Path:
    result = api.poll(api.export())
    assert result["status"] == "completed", result
    return api.download(result["output"]["url"], tmp_path / name)


def voiced(api: Api, script: str, name: str = "script.txt") -> dict[str, Any]:
    assert api.upload((name, script.encode())).status_code == 200
    r, events = api.say("generate a natural male voiceover in English")
    assert r.status_code == 200 and events[-1]["turnComplete"]
    return api.state()


def test_dev_demo_prints_a_playable_mp4(backend: BackendProcess, tmp_path: Path) -> None:
    """`./dev demo` runs `python -m bot demo`: the embedded backend, the scripted conversation, and
    the MP4's path on the last line. (The example script's speech is copied into its sentence cache
    from the session backend, where the conftest made it: only to save the synthesis time.)"""
    cache = tmp_path / "data" / "backend" / "tts-cache"
    shutil.copytree(backend.data_dir / "tts-cache", cache)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NEMO_API_BASE", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN")
    }
    env.update(
        BOT_DATA_DIR=str(tmp_path / "data"),
        BOT_OUTPUT_DIR=str(tmp_path / "output"),
        # polls of the render every 0.5 s at most, not the default backoff up to 30 s (which
        # left the finished MP4 waiting up to ~10 s for the next look on a busy machine)
        BOT_RENDER_POLL_INITIAL_SECONDS="0.2",
        BOT_RENDER_POLL_MAX_SECONDS="0.5",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    match = re.search(r"^MP4: (.+)$", proc.stdout, re.M)
    assert match, proc.stdout[-2000:]
    path = Path(match[1])
    assert path.parent == (tmp_path / "output").resolve() and path.is_file()
    info = probe(path)
    assert (info["video_codec"], info["audio_codec"]) == ("h264", "aac"), info
    assert (info["width"], info["height"]) == (1920, 1080)
    assert 15 < info["duration_s"] < 40, info
    assert rms_db(path, 0, info["duration_s"]) > -35  # the voiceover is there, not silence


def test_srt_script_is_spoken_at_its_times(api: Api, tmp_path: Path) -> None:
    srt = (
        "1\n00:00:00,000 --> 00:00:02,000\nWelcome to the show.\n\n"
        "2\n00:00:04,000 --> 00:00:06,000\nHere is the second line.\n"
    )
    state = voiced(api, srt, "lines.srt")
    caps = [s for tr in state["draft"]["t"] if tr["tt"] == 7 for s in tr["sg"]]
    assert [c["text"] for c in caps] == ["Welcome to the show.", "Here is the second line."]
    out = render(api, tmp_path, "srt.mp4")
    first_end = (caps[0]["s"] + caps[0]["d"]) / 1000
    assert first_end < 3.0
    assert rms_db(out, first_end + 0.2, 3.8) < -45  # silent until the second cue's time
    assert rms_db(out, 4.0, 4.6) > -35  # and spoken at 00:00:04


@pytest.mark.parametrize(
    ("ext", "codec"),
    [
        ("mov", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
        ("webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"]),
        ("mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]),
        ("avi", ["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    ],
)
def test_video_containers_upload_and_render(
    api: Api, tmp_path: Path, ext: str, codec: list[str]
) -> None:
    clip = tmp_path / f"clip.{ext}"
    _run(
        [
            "-y",
            *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=2"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2"),
            *codec,
            "-shortest",
            str(clip),
        ]
    )
    r = api.upload((clip.name, clip))
    [info] = r.json()["data"]["files"]
    assert (info["kind"], info["width"], info["height"]) == ("video", 320, 240), info
    assert 1800 < info["duration_ms"] < 2300
    out = render(api, tmp_path, f"{ext}.mp4")
    made = probe(out)
    assert (made["video_codec"], made["audio_codec"]) == ("h264", "aac"), made
    assert 1.8 < made["duration_s"] < 2.4
    assert frame_rgb(out, 1.0).std() > 20  # the test pattern, not a black frame


def test_aac_music_and_louder_music(api: Api, tmp_path: Path) -> None:
    voiced(api, "Lumen lights your desk. [pause 2s] It dims at night.")
    music = make_music(tmp_path / "tune.aac", 6.0)
    [info] = api.upload(("tune.aac", music)).json()["data"]["files"]
    assert info["kind"] == "audio", info
    api.say("add the music at 30%")
    assert "BGM: tune.aac" in api.state()["summary"]
    quiet = render(api, tmp_path, "m30.mp4")
    api.say("louder music")
    loud = render(api, tmp_path, "louder.mp4")
    probe_q = probe(quiet)
    end = probe_q["duration_s"]
    gain = tone_db(loud, 0.5, end - 0.5, 13000) - tone_db(quiet, 0.5, end - 0.5, 13000)
    assert gain > 2.0, gain  # the music is measurably louder in the file


def white_pixels(path: Path, t: float) -> int:
    frame = frame_rgb(path, t).astype(np.int32)
    return int((frame.min(axis=2) > 220).sum())


def test_square_bigger_captions_and_no_captions(api: Api, tmp_path: Path) -> None:
    voiced(api, "Square frames suit every feed today.")
    api.say("square")
    square = render(api, tmp_path, "square.mp4")
    info = probe(square)
    assert (info["width"], info["height"]) == (1080, 1080), info
    api.say("bigger captions")
    bigger = render(api, tmp_path, "bigger.mp4")
    api.say("no captions")
    bare = render(api, tmp_path, "bare.mp4")
    t = 1.0
    normal_px, bigger_px, bare_px = (white_pixels(p, t) for p in (square, bigger, bare))
    assert bare_px < 0.2 * normal_px, (normal_px, bare_px)  # no captions: the text is gone
    assert bigger_px > 1.2 * normal_px, (normal_px, bigger_px)  # bigger captions: more text
