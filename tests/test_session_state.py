"""The typed session state (backend/state/model.py): a state stored by the backend before the model
(version 0, a plain dict) migrates to version 1 with every value kept, dump/load round-trips, and a
data directory holding a version-0 session keeps working with the REAL backend after the upgrade.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from backend.conversation.apply_edits import forget_if_unchanged, remember, undo
from backend.state.draft import build_draft
from backend.state.model import (
    CURRENT_VERSION,
    SessionSettings,
    SessionState,
    Title,
    dump_state,
    load_state,
)
from backend.state.sessions import public_state
from tests.support.backend import Api, BackendProcess, texts

VOICEOVER: dict[str, Any] = {
    "media_id": "voi_0123456789ab",
    "voice": "en_US-joe-medium",
    "voice_name": "Joe",
    "language": "en_US",
    "speed": 1.1,
    "duration_ms": 4200,
    "sentences": [
        {
            "text": "Lumen lights your desk.",
            "start_ms": 0,
            "end_ms": 1900,
            "words": [
                ["Lumen", 0, 500],
                ["lights", 500, 900],
                ["your", 900, 1100],
                ["desk.", 1100, 1900],
            ],
        },
        {
            "text": "It dims at night.",
            "start_ms": 2300,
            "end_ms": 4200,
            "words": [
                ["It", 2300, 2500],
                ["dims", 2500, 3000],
                ["at", 3000, 3300],
                ["night.", 3300, 4200],
            ],
        },
    ],
}

DRAFT: dict[str, Any] = {
    "w": 1080,
    "h": 1920,
    "fps": 30,
    "d": 4200,
    "t": [
        {
            "tt": 1,
            "name": "Voiceover",
            "sg": [
                {
                    "id": "voice-1",
                    "name": "Voiceover: Joe",
                    "s": 0,
                    "d": 4200,
                    "m": {"role": "voiceover", "voice": "en_US-joe-medium", "volume": 100},
                    "src": "voi_0123456789ab",
                }
            ],
        }
    ],
    "fit": "blur",
    "trim": None,
    "sidecars": False,
    "hold": True,
}


def v0_document() -> dict[str, Any]:
    """A state as the backend wrote it before the model: no version, settings only where chosen,
    undo snapshots holding None for a key the state lacked (here ``titles`` in the first one)."""
    return {
        "script": {
            "text": "Lumen lights your desk. It dims at night.",
            "name": "lumen.txt",
            "media_id": "scr_0123456789ab",
        },
        "settings": {
            "voice": "en_US-joe-medium",
            "speed": 1.1,
            "aspect": "9:16",
            "captions": True,
            "caption_position": "top",
            "music_volume": 0.45,
            "trim_ms": None,
            "pronunciations": {"Lumen": "Loo-men"},
            "soft_hint_given": True,
            "legacy_setting": {"kept": [1, 2]},  # a key no version of the model knows
        },
        "video_id": None,
        "music_id": "aud_0123456789ab",
        "voiceover": copy.deepcopy(VOICEOVER),
        "draft": copy.deepcopy(DRAFT),
        "task_name": "project",
        "titles": [{"text": "Lumen", "start_ms": 0, "end_ms": 2000}],
        "history": [
            {
                "script": None,
                "settings": {"voice": None, "speed": 1.0, "aspect": None, "captions": True},
                "video_id": None,
                "music_id": None,
                "titles": None,
                "voiceover": None,
                "label": "Script set.",
            },
            {
                "script": {
                    "text": "Lumen lights your desk. It dims at night.",
                    "name": "lumen.txt",
                    "media_id": "scr_0123456789ab",
                },
                "settings": {
                    "voice": "en_US-joe-medium",
                    "speed": 1.1,
                    "aspect": None,
                    "captions": True,
                },
                "video_id": None,
                "music_id": None,
                "titles": [],
                "voiceover": copy.deepcopy(VOICEOVER),
                "label": "Format set to 9:16 (1080x1920).",
            },
        ],
    }


def test_v0_document_migrates_with_every_value_kept() -> None:
    doc = v0_document()
    state = load_state(json.dumps(doc))

    assert state.version == CURRENT_VERSION == 1
    assert state.script is not None
    assert (state.script.text, state.script.name, state.script.media_id) == (
        doc["script"]["text"],
        "lumen.txt",
        "scr_0123456789ab",
    )
    assert (state.video_id, state.music_id, state.task_name) == (
        None,
        "aud_0123456789ab",
        "project",
    )
    assert state.draft == DRAFT
    assert [(t.text, t.start_ms, t.end_ms) for t in state.titles] == [("Lumen", 0, 2000)]

    s = state.settings
    assert (s.voice, s.speed, s.aspect, s.captions) == ("en_US-joe-medium", 1.1, "9:16", True)
    assert (s.caption_position, s.music_volume, s.trim_ms) == ("top", 0.45, None)
    assert s.pronunciations == {"Lumen": "Loo-men"} and s.soft_hint_given is True
    assert s.chosen("caption_position") and not s.chosen("caption_size")
    assert s.caption_size == "medium"  # the default applies, and it is not shown as chosen
    assert s.model_extra == {"legacy_setting": {"kept": [1, 2]}}

    vo = state.voiceover
    assert vo is not None
    assert (vo.media_id, vo.voice, vo.voice_name, vo.language, vo.speed, vo.duration_ms) == (
        "voi_0123456789ab",
        "en_US-joe-medium",
        "Joe",
        "en_US",
        1.1,
        4200,
    )
    assert [
        (ln.text, ln.start_ms, ln.end_ms, [list(w) for w in ln.words]) for ln in vo.sentences
    ] == [(x["text"], x["start_ms"], x["end_ms"], x["words"]) for x in VOICEOVER["sentences"]]

    first, second = state.history
    assert first.label == "Script set." and second.label == "Format set to 9:16 (1080x1920)."
    assert first.titles == [] and first.script is None and first.voiceover is None
    assert first.settings.model_dump() == doc["history"][0]["settings"]
    assert second.settings.model_dump() == doc["history"][1]["settings"]
    assert second.voiceover == vo

    # What is stored now: the same document, versioned, with null containers made empty and the
    # titles' defaults (the draft always applied them) written out.
    stored = json.loads(dump_state(state))
    expected = v0_document()
    expected["version"] = 1
    expected["titles"][0].update(position="center", size="large")
    expected["history"][0]["titles"] = []
    assert stored == expected


def test_public_state_is_what_clients_saw_before() -> None:
    doc = v0_document()
    public = public_state(load_state(doc), [])
    assert public["settings"] == doc["settings"]  # chosen keys only, nulls and unknown keys kept
    assert public["draft"] == DRAFT
    assert public["script"] == {"name": "lumen.txt", "words": 8, "text": doc["script"]["text"]}

    new = public_state(SessionState.new("project"), [])
    assert new["settings"] == {"voice": None, "speed": 1.0, "aspect": None, "captions": True}
    assert new["draft"] == {"w": 1920, "h": 1080, "fps": 30, "t": []}
    assert new["script"] is None


def test_round_trip_keeps_values_and_what_was_chosen() -> None:
    state = load_state(v0_document())
    state.settings.caption_size = "large"  # chosen now, though "medium" was the default
    state.titles.append(Title(text="Bye", start_ms=3000, end_ms=4000, position="bottom"))
    text = dump_state(state)
    again = load_state(text)
    assert again == state
    assert dump_state(again) == text
    assert again.settings.model_fields_set == state.settings.model_fields_set
    assert again.settings.chosen("caption_size")
    assert json.loads(text)["settings"]["caption_size"] == "large"
    # and a v1 document is not migrated again
    assert load_state(json.loads(text)) == state


def test_settings_not_chosen_are_not_stored() -> None:
    settings = SessionSettings()
    assert settings.model_dump() == {}
    settings.caption_position = "bottom"  # the default value, but now chosen: captions burn in
    assert settings.model_dump() == {"caption_position": "bottom"}
    state = SessionState.new("p")
    voiced = load_state({**v0_document(), "settings": {}, "titles": []})
    assert state.settings.chosen("voice") and not state.settings.chosen("fit")
    soft = build_draft(voiced, {"id": "vid_1", "duration_ms": 4200, "width": 1920, "height": 1080})
    voiced.settings.caption_position = "bottom"
    burned = build_draft(
        voiced, {"id": "vid_1", "duration_ms": 4200, "width": 1920, "height": 1080}
    )
    burn = [
        tr["sg"][0]["m"]["burn_in"]
        for d in (soft, burned)
        for tr in d["t"]
        if tr["name"] == "Captions"
    ]
    assert burn == [False, True]


def test_undo_uses_migrated_history() -> None:
    state = load_state(v0_document())
    before = dump_state(state)
    remember(state)
    forget_if_unchanged(state)  # nothing changed: the undo point is dropped
    assert dump_state(state) == before

    remember(state)
    state.settings.fit = "crop"
    state.titles.append(Title(text="x", start_ms=0, end_ms=1))
    forget_if_unchanged(state)
    assert len(state.history) == 3
    assert state.history[-1].settings.fit is None  # a copy, not the live settings
    assert undo(state) == ""
    assert not state.settings.chosen("fit") and len(state.titles) == 1

    assert undo(state) == "Format set to 9:16 (1080x1920)."
    assert state.settings.aspect is None and state.titles == []
    assert undo(state) == "Script set."
    assert state.script is None and state.voiceover is None and state.music_id is None
    assert undo(state) is None


def test_newer_or_broken_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="newer"):
        load_state({**v0_document(), "version": CURRENT_VERSION + 1})
    with pytest.raises(ValueError):
        load_state("[]")
    with pytest.raises(ValueError):
        load_state({"settings": {"speed": "fast"}})


def test_a_v0_data_dir_keeps_working_after_the_upgrade(tmp_path: Path) -> None:
    proc = BackendProcess(tmp_path / "data")
    proc.start()
    try:
        api = Api(proc.url)  # an identity (and a session made by the new code) to own the old one
        proc.stop()
        db = sqlite3.connect(proc.data_dir / "backend.sqlite3")
        sid = uuid.uuid4().hex
        doc = v0_document()
        doc["settings"]["aspect"] = None
        doc["draft"] = {"w": 1920, "h": 1080, "fps": 30, "t": []}
        doc["history"] = doc["history"][:1]
        with db:
            db.execute(
                "INSERT INTO sessions (id, task_id, identity_id, language, created, state) VALUES (?,?,?,?,?,?)",
                (sid, "task_" + sid[:12], api.bind_id, "en", time.time(), json.dumps(doc)),
            )
        db.close()
        proc.start()
        api.sid = sid

        state = api.state()
        assert state["settings"] == doc["settings"]
        assert state["script"]["name"] == "lumen.txt"
        assert state["draft"] == doc["draft"]

        r, events = api.say("make it vertical")
        assert r.status_code == 200
        assert "1080x1920" in texts(events), texts(events)
        assert not any(e.get("errorCode") for e in events), events
        state = api.state()
        assert state["settings"]["aspect"] == "9:16"
        assert state["settings"]["legacy_setting"] == {"kept": [1, 2]}
        assert (state["draft"]["w"], state["draft"]["h"]) == (1080, 1920)
        tracks = {tr["name"]: tr for tr in state["draft"]["t"]}
        assert [s["text"] for s in tracks["Captions"]["sg"]] == [
            "Lumen lights your desk.",
            "It dims at night.",
        ]
        assert tracks["Captions"]["sg"][0]["m"]["words"] == VOICEOVER["sentences"][0]["words"]
        assert tracks["Captions"]["sg"][0]["m"]["position"] == "top"
        assert [s["text"] for s in tracks["Titles"]["sg"]] == ["Lumen"]

        with sqlite3.connect(proc.data_dir / "backend.sqlite3") as db:
            (raw,) = db.execute("SELECT state FROM sessions WHERE id = ?", (sid,)).fetchone()
        stored = json.loads(raw)
        assert stored["version"] == 1
        assert [p["label"] for p in stored["history"]] == [
            "Script set.",
            "Format set to 9:16 (1080x1920).",
        ]

        _, events = api.say("undo")  # the new edit, then the one from before the upgrade
        assert texts(events).startswith("Undone: Format set to 9:16"), texts(events)
        assert api.state()["settings"]["aspect"] is None
        _, events = api.say("undo")
        assert texts(events).startswith("Undone: Script set."), texts(events)
        after = api.state()
        assert after["script"] is None
        assert after["settings"] == {"voice": None, "speed": 1.0, "aspect": None, "captions": True}
        api.close()
    finally:
        proc.stop()
