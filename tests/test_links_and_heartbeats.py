"""Expiry of signed links and SSE heartbeats, against a REAL backend started with short timings
(links live 2 s, heartbeats every 0.1 s) so the test does not have to wait for real durations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.backend import Api, BackendProcess
from tests.support.wait import wait_for


@pytest.fixture(scope="module")
def quick_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    proc = BackendProcess(
        tmp_path_factory.mktemp("quick"),
        env={
            "VOBACKEND_SIGNED_URL_TTL_SECONDS": "2",
            "VOBACKEND_UPLOAD_LINK_TTL_SECONDS": "2",
            "VOBACKEND_HEARTBEAT_SECONDS": "0.1",
        },
    )
    proc.start()
    yield proc
    proc.stop()


def test_download_link_works_then_expires(quick_backend: BackendProcess, tmp_path: Path) -> None:
    api = Api(quick_backend.url)
    api.say("voiceover\nscript: A short line for the link test.")
    url = api.poll(api.export())["output"]["url"]
    r = httpx.get(url)  # a plain client, no token
    assert (
        r.status_code == 200 and r.headers["content-type"] == "video/mp4" and len(r.content) > 1000
    )
    wait_for(lambda: httpx.get(url).status_code != 200, 15, "the link to expire")
    r = httpx.get(url)
    assert r.status_code == 403 and "expired" in r.text
    # Polling again hands out a freshly signed link for the same file.
    fresh = api.get(f"/api/render/proxy/lambda/{url.split('/files/')[1].split('.mp4')[0]}").json()[
        "data"
    ]
    assert httpx.get(fresh["output"]["url"]).status_code == 200
    api.close()


def test_upload_link_expires(quick_backend: BackendProcess) -> None:
    api = Api(quick_backend.url)
    url = api.post(f"/api/upload-link/nemo_agent/me/{api.sid}").json()["data"]["url"]
    assert httpx.get(url).status_code == 200
    wait_for(lambda: httpx.get(url).status_code != 200, 15, "the link to expire")
    page = httpx.get(url)
    assert page.status_code == 403 and "expired" in page.text
    post = url.replace(f"/upload/{api.sid}", f"/upload/{api.sid}/files")
    r = httpx.post(
        post,
        files={"files": ("s.txt", b"Too late for this link.")},
        headers={"Accept": "application/json"},
    )
    assert r.json()["code"] == 4003
    assert api.state()["uploads"] == []
    api.close()


def test_sse_sends_heartbeats_while_working(quick_backend: BackendProcess) -> None:
    api = Api(quick_backend.url)
    script = " ".join(
        f"Sentence number {i} keeps the synthesizer busy for a moment." for i in range(12)
    )
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": api.sid,
        "new_message": {"parts": [{"text": "voiceover\nscript: " + script}]},
    }
    pings = 0
    with api.http.stream(
        "POST", "/run_sse", json=body, headers={**api.headers, "Accept": "text/event-stream"}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith(":"):
                pings += 1
    assert pings >= 2  # comment lines kept the stream alive while the voice was synthesized
    api.close()
