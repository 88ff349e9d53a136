"""Captions people can see where they watch (issue 13): where the chat's player ignores subtitle
tracks (Telegram, Discord) the adapter says so (`Limits.soft_subtitles=False`), the engine passes it
to the backend (run_sse `state_delta`), and the backend burns captions into the picture unless the
user said "no captions", asked for a subtitle track or for caption files. The user is told once why.
The console and plain protocol clients keep soft tracks over a copied video stream.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from adapters.discord_reply import limits_for
from backend.conversation.interpret import parse
from backend.state.draft import build_draft, burned_for_player
from backend.state.model import CaptionLine, SessionState, Voiceover
from bot.messages import Limits
from bot.texts import TEXTS
from tests.support.backend import Api, BackendProcess
from tests.support.botapi import BotApiStandIn
from tests.support.media import frame_rgb, make_test_video, probe
from tests.test_telegram import ANN, PRIVATE, botapi, keyboard, said, saw, telegram, until

__all__ = ["botapi"]  # the fixture, shared with tests/test_telegram.py

SCRIPT = (
    "Meet Lumen, the smart desk lamp that learns your rhythm. In the morning it wakes you with "
    "bright, cool light that helps you focus."
)
VIDEO = {"id": "vid_1", "name": "clip.mp4", "width": 640, "height": 360, "duration_ms": 8000}


def _state(**top: Any) -> SessionState:
    state = SessionState.new("project")
    state.video_id = "vid_1"
    state.voiceover = Voiceover(
        media_id="voi_1",
        voice="joe",
        voice_name="Joe",
        language="en",
        speed=1.0,
        duration_ms=4000,
        sentences=[CaptionLine(text="Hello there.", start_ms=0, end_ms=900, words=[])],
    )
    for name, value in top.items():
        setattr(state, name, value)
    return state


def _burn_in(state: SessionState) -> bool:
    draft = build_draft(state, VIDEO)
    caps = [s for t in draft["t"] for s in t["sg"] if s["m"].get("role") == "caption"]
    assert caps
    return bool(caps[0]["m"]["burn_in"])


def test_the_draft_burns_captions_only_where_the_player_hides_tracks() -> None:
    assert not _burn_in(_state())  # a client that did not tell: today's soft track
    assert not _burn_in(_state(player_soft_subtitles=True))
    assert _burn_in(_state(player_soft_subtitles=False))
    assert burned_for_player(_state(player_soft_subtitles=False))
    chose_track = _state(player_soft_subtitles=False)
    chose_track.settings.burn_captions = False
    assert not _burn_in(chose_track) and not burned_for_player(chose_track)
    files = _state(player_soft_subtitles=False)
    files.settings.sidecars = True
    assert not _burn_in(files)
    off = _state(player_soft_subtitles=False)
    off.settings.captions = False
    draft = build_draft(off, VIDEO)
    assert not [s for t in draft["t"] for s in t["sg"] if s["m"].get("role") == "caption"]
    # the hosted-compatible draft keeps its fields
    assert set(build_draft(_state(player_soft_subtitles=False), VIDEO)) == set(
        build_draft(_state(), VIDEO)
    )


def test_asking_for_a_subtitle_track_keeps_captions_soft() -> None:
    for text in ("captions as a subtitle track please", "use soft subtitles", "用字幕轨"):
        intent = parse(text)
        assert intent.burn_captions is False and intent.captions is True, text
    assert parse("burn in the captions").burn_captions is True
    assert parse("no subtitle track").captions is False


def test_platform_players_are_declared_by_the_adapters() -> None:
    assert limits_for(None).soft_subtitles is False
    assert Limits().soft_subtitles is True  # the console and any adapter that does not say
    assert TEXTS["captions_in_picture"]["en"] and TEXTS["captions_in_picture"]["zh"]


def test_protocol_clients_keep_soft_tracks_and_state_delta_burns(
    backend: BackendProcess, tmp_path: Path
) -> None:
    clip = make_test_video(tmp_path / "clip.mp4", seconds=4, width=640, height=360)
    plain, player = Api(backend.url), Api(backend.url)
    try:
        for api in (plain, player):
            assert api.upload(("clip.mp4", clip), ("script.txt", SCRIPT.encode())).is_success
        r, _ = plain.say("generate a natural male voiceover in English for my script")
        assert r.status_code == 200
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": player.sid,
            "new_message": {"parts": [{"text": "generate a voiceover"}]},
            "state_delta": {"player_soft_subtitles": False},
        }
        with player.http.stream("POST", "/run_sse", json=body, headers=player.headers) as r:
            lines = [line for line in r.iter_lines() if "captions_in_picture" in line]
        assert lines  # flagged once, for the client to explain
        caps = {}
        for name, api in (("plain", plain), ("player", player)):
            draft = api.state()["draft"]
            caps[name] = [s for t in draft["t"] for s in t["sg"] if s["m"].get("role") == "caption"]
        assert caps["plain"] and not any(s["m"]["burn_in"] for s in caps["plain"])
        assert caps["player"] and all(s["m"]["burn_in"] for s in caps["player"])
        # a later turn does not flag it again
        r, events = player.say("slower")
        assert "captions_in_picture" not in str(events)
    finally:
        plain.close()
        player.close()


def _caption_band(frame: np.ndarray) -> np.ndarray:
    """The bottom caption area (captions sit at the bottom, 8% margin, centred)."""
    h, w = frame.shape[:2]
    return frame[int(h * 0.70) : int(h * 0.93), int(w * 0.15) : int(w * 0.85)].astype(np.int16)


async def test_telegram_video_with_voiceover_shows_captions_in_the_picture(
    botapi: BotApiStandIn, backend: BackendProcess, tmp_path: Path
) -> None:
    clip = make_test_video(tmp_path / "launch.mp4", seconds=8, width=640, height=360)
    async with telegram(botapi, backend.url, tmp_path):
        file_id = botapi.add_file(clip.read_bytes())
        video = {
            "file_id": file_id,
            "file_unique_id": "u-launch",
            "width": 640,
            "height": 360,
            "duration": 8,
            "file_name": "launch.mp4",
            "mime_type": "video/mp4",
            "file_size": clip.stat().st_size,
        }
        botapi.push_message(PRIVATE, ANN, video=video)
        await until(saw(botapi, "Got launch.mp4"))
        botapi.push_document(PRIVATE, ANN, "lumen.txt", SCRIPT.encode(), "text/plain")
        await until(saw(botapi, "Got your script lumen.txt"))
        botapi.push_message(PRIVATE, ANN, "generate a natural male voiceover in English")
        await until(lambda: any(keyboard(c) for c in botapi.sent("sendMessage")), 180)
        note = TEXTS["captions_in_picture"]["en"]
        assert sum(note in s for s in said(botapi)) == 1, said(botapi)
        botapi.push_message(PRIVATE, ANN, "export")
        await until(lambda: bool(botapi.sent("sendVideo")), 300)
        assert sum(note in s for s in said(botapi)) == 1  # told once
    sent = botapi.sent("sendVideo")[0]
    _name, payload = next(f for f in sent.files.values() if f[1][4:8] == b"ftyp")
    out = tmp_path / "received.mp4"
    out.write_bytes(payload)
    info = probe(out)
    assert (info["width"], info["height"]) == (640, 360)
    assert not info["has_subtitles"]  # in the picture, not a track the player would hide
    # The same moment of the source and of the export: the caption area differs (white text with
    # a dark outline over the test pattern), the top of the picture does not.
    t = 1.0
    src, got = frame_rgb(clip, t), frame_rgb(out, t)
    band = np.abs(_caption_band(got) - _caption_band(src))
    top = np.abs(got[: 360 // 3].astype(np.int16) - src[: 360 // 3].astype(np.int16))
    assert float(band.mean()) > 4 * float(top.mean()) + 3, (band.mean(), top.mean())
    assert float((band.max(axis=2) > 96).mean()) > 0.02  # strokes of text, not encoder noise
