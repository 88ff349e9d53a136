"""The backend's timeline summary and the bot's are one function (backend.protocol.summary), in the
session's language. Real backend on 127.0.0.1, real session, real edits (no synthesis needed)."""

from __future__ import annotations

from backend.protocol.summary import timeline_summary
from tests.support.backend import Api, BackendProcess


def test_state_summary_is_in_the_sessions_language(backend: BackendProcess) -> None:
    zh = Api(backend.url, lang="zh")
    r, _ = zh.say('add title "城市之光" for the first 3 seconds')
    assert r.status_code == 200, r.text
    state = zh.state()
    assert state["draft"]["t"], "the title should be on the timeline"
    assert state["summary"] == timeline_summary(state["draft"], "zh")
    assert state["summary"].startswith("时间线（1 条轨道）")
    assert "城市之光" in state["summary"]
    # The request's Accept-Language beats the session's.
    r = zh.get(f"/api/state/nemo_agent/me/{zh.sid}/latest", headers={"Accept-Language": "en"})
    english = r.json()["data"]["state"]["summary"]
    assert english == timeline_summary(state["draft"], "en")
    assert english.startswith("Timeline (1 track): 1. Title:")


def test_empty_session_summary_in_each_language(backend: BackendProcess) -> None:
    assert Api(backend.url, lang="en").state()["summary"] == "Timeline (0 tracks): empty"
    assert Api(backend.url, lang="zh").state()["summary"] == "时间线（0 条轨道）：空"
