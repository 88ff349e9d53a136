"""The REAL backend run at DEBUG log level: a whole session (token, upload, voiceover, export,
download link) leaves no bearer token, no working signed link and no script text in its log."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.support.backend import Api, BackendProcess
from tests.support.wait import wait_for

SCRIPT = "Quartz lamps glow softly. Nobody else should read this line in a log."


def test_debug_log_holds_no_secrets_or_scripts(tmp_path: Path) -> None:
    proc = BackendProcess(tmp_path / "debug-backend", log_level="debug")
    proc.start()
    try:
        api = Api(proc.url)
        assert api.upload(("s.txt", SCRIPT.encode())).status_code == 200
        r, _ = api.say("generate a voiceover")
        assert r.status_code == 200
        result = api.poll(api.export())
        url = result["output"]["url"]
        assert "sig=" in url
        api.close()
    finally:
        proc.stop()
    log = (proc.data_dir / "backend.log").read_text(errors="replace")
    assert "DEBUG" in log  # the level took effect
    assert api.token not in log
    assert url.split("sig=", 1)[1].split("&", 1)[0] not in log
    assert not re.search(r"sig=[0-9a-f]{32,}", log)
    assert "Nobody else should read" not in log


def test_a_crash_mid_synthesis_strands_no_credits_or_files(tmp_path: Path) -> None:
    """REAL backend killed (SIGKILL) while it synthesizes: after the restart the freeze is
    released (the credits are the user's again) and no half-written file is left."""
    import threading
    import time

    proc = BackendProcess(tmp_path / "crash-backend")
    proc.start()
    try:
        api = Api(proc.url)
        script = " ".join(f"Sentence number {i} tells you about the lamp." for i in range(60))
        assert api.upload(("long.txt", script.encode())).status_code == 200
        threading.Thread(target=lambda: _quietly(api, "generate a voiceover"), daemon=True).start()
        deadline = time.monotonic() + 60
        frozen = 0
        while time.monotonic() < deadline and not frozen:
            frozen = _balance(proc, api)["frozen"]
            time.sleep(0.05)
        assert frozen > 0
        cache = proc.data_dir / "tts-cache"
        wait_for(lambda: any(cache.glob("*.wav")), 60, "a first sentence on disk")
        stray = proc.data_dir / "sessions" / "left-over.part"
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"cut off")
        proc.restart(kill=True)
        after = _balance(proc, api)
        assert after["frozen"] == 0 and after["available"] == 100, after
        leftovers = [p for p in proc.data_dir.rglob("*") if p.name.endswith((".part", ".tmp"))]
        assert leftovers == []
    finally:
        proc.stop()


def _quietly(api: Api, text: str) -> None:
    try:
        api.say(text)
    except Exception:  # the stream dies with the killed backend
        pass


def _balance(proc: BackendProcess, api: Api) -> dict[str, int]:
    """Read on a client of its own (the session's client is busy streaming in another thread)."""
    r = httpx.get(f"{proc.url}/api/credits/balance/simple", headers=api.headers, timeout=10)
    return dict(r.json()["data"])
