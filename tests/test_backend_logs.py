"""The REAL backend run at DEBUG log level: a whole session (token, upload, voiceover, export,
download link) leaves no bearer token, no working signed link and no script text in its log."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.backend import Api, BackendProcess

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
