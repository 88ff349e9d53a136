"""The web upload page, driven in a REAL headless Chromium (Debian's chromium + chromedriver, via Selenium)
against the REAL backend. Nothing is stubbed: the browser streams the file over HTTP into the session.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.messages import Link, Text
from tests.support.backend import Api, BackendProcess
from tests.support.ci import requires
from tests.support.media import make_test_video
from tests.support.standin import engine_harness

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
needs_browser = requires(
    Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(),
    reason="Debian chromium + chromium-driver not installed",
)


def big_mp4(path: Path, total_bytes: int) -> Path:
    """A real, playable MP4 padded with an ISO BMFF 'free' box up to ``total_bytes``."""
    clip = make_test_video(path.with_suffix(".small.mp4"), seconds=4, width=1280, height=720)
    data = clip.read_bytes()
    pad = total_bytes - len(data) - 8
    with path.open("wb") as fh:
        fh.write(data)
        fh.write(struct.pack(">I4s", pad + 8, b"free"))
        chunk = b"\0" * (1 << 20)
        while pad > 0:
            fh.write(chunk[: min(pad, len(chunk))])
            pad -= len(chunk)
    return path


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=420,860",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def upload_link(api: Api) -> str:
    r = api.post(f"/api/upload-link/nemo_agent/me/{api.sid}")
    assert r.json()["code"] == 0, r.text
    return str(r.json()["data"]["url"])


def _browser_upload(driver: Any, url: str, video: Path, shot: Path) -> tuple[str, str]:
    """Open the page, pick the file, submit; return the status line's class and text."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    assert "Send a file" in driver.title
    driver.save_screenshot(str(shot))
    driver.find_element(By.ID, "file").send_keys(str(video))
    driver.find_element(By.ID, "b").click()
    status = driver.find_element(By.ID, "s")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and status.get_attribute("class") not in ("ok", "err"):
        time.sleep(0.2)
    return str(status.get_attribute("class")), str(status.text)


@needs_browser
async def test_browser_uploads_60mb_video_and_chat_is_told(
    backend: BackendProcess, browser: Any, tmp_path: Path
) -> None:
    """Engine + console adapter + REAL backend + REAL Chromium: the user asks for the big-file link in
    chat, uploads 60 MB through the page, and the chat is told without asking again."""
    video = big_mp4(tmp_path / "campaign.mp4", 60 * 1024 * 1024)
    async with engine_harness(backend.url, tmp_path, upload_watch_interval_seconds=0.3) as (
        engine,
        console,
    ):
        await console.push_message("upload a big file", chat_id="big")
        links = [o for o in console.sent(Link, "big") if isinstance(o, Link)]
        assert len(links) == 1 and "/upload/" in links[0].url and "sig=" in links[0].url
        assert links[0].expires_at and links[0].expires_at > time.time() + 3000
        cls, text = await asyncio.to_thread(
            _browser_upload, browser, links[0].url, video, tmp_path / "page.png"
        )
        assert cls == "ok", text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(  # noqa: ASYNC110 (polling the recorder)
            "campaign.mp4" in x for x in console.texts("big")
        ):
            await asyncio.sleep(0.2)
        told = [x for x in console.texts("big") if "campaign.mp4" in x]
        assert told and "0:04" in told[0] and "720p" in told[0], console.texts("big")
        record = await engine.store.chat(console.chat_key("big"))
    # The file really is in that chat's session: read it back with the chat's own token.
    r = await httpx.AsyncClient().get(
        f"{backend.url}/api/state/nemo_agent/me/{record.session_id}/latest",
        headers={"Authorization": f"Bearer {record.token}"},
    )
    videos = r.json()["data"]["state"]["video_infos"]
    assert [(v["name"], v["size"], v["width"]) for v in videos] == [
        ("campaign.mp4", 60 * 1024 * 1024, 1280)
    ]


def test_tampered_and_expired_links_are_refused(backend: BackendProcess, api: Api) -> None:
    url = upload_link(api)
    r = httpx.get(url)
    assert r.status_code == 200 and "<input id=file type=file" in r.text
    tampered = url.replace("sig=", "sig=f")
    r = httpx.get(tampered)
    assert r.status_code == 403 and "expired or is not valid" in r.text
    expired = url.split("?")[0] + "?exp=1000&" + url.split("&", 1)[1]
    assert httpx.get(expired).status_code == 403
    other = Api(backend.url)  # a link is bound to its session: another session's path is refused
    r = httpx.get(url.replace(api.sid, other.sid))
    assert r.status_code == 403
    other.close()


def test_page_upload_without_javascript_goes_through_the_same_checks(
    backend: BackendProcess, api: Api
) -> None:
    url = upload_link(api)
    post = url.replace("/upload/" + api.sid, f"/upload/{api.sid}/files")
    r = httpx.post(post, files={"files": ("notes.pdf", b"%PDF-1.4 not a video")})
    assert r.status_code == 400 and "not supported" in r.text
    r = httpx.post(
        post,
        files={"files": ("s.txt", b"Hello from the web page. It works.")},
        headers={"Accept": "application/json"},
    )
    assert r.json()["code"] == 0 and r.json()["data"]["files"][0]["kind"] == "script"
    assert not list((backend.data_dir / "sessions").rglob("*.part"))


async def test_upload_link_watch_survives_a_bot_restart(
    backend: BackendProcess, tmp_path: Path
) -> None:
    """Engine + console adapter + REAL backend + REAL SQLite file: the link is handed out, the bot
    stops, the file arrives through the link while it is down, and the restarted bot still tells
    the chat (the watch is stored, not only held in memory)."""
    clip = make_test_video(tmp_path / "launch.mp4", seconds=3, width=1280, height=720)
    async with engine_harness(backend.url, tmp_path, upload_watch_interval_seconds=0.2) as (
        engine,
        console,
    ):
        await console.push_message("大文件", chat_id="r")
        links = [o for o in console.sent(Link, "r") if isinstance(o, Link)]
        assert len(links) == 1
        [told_link] = [o.text for o in console.sent(Text, "r") if isinstance(o, Text)]
        assert told_link.startswith("📤 打开此页面发送文件（最大 500 MB）"), told_link
        watches = await engine.store.upload_watches()
        assert [w.chat_key for w in watches] == [console.chat_key("r")]
    # The bot is down; the user uploads through the page (the form's plain POST).
    url = links[0].url
    sid = url.split("/upload/", 1)[1].split("?", 1)[0]
    post = url.replace(f"/upload/{sid}", f"/upload/{sid}/files")
    async with httpx.AsyncClient() as http:
        r = await http.post(
            post,
            files={"files": ("launch.mp4", clip.read_bytes())},
            headers={"Accept": "application/json"},
        )
    assert r.json()["code"] == 0, r.text
    async with engine_harness(backend.url, tmp_path, upload_watch_interval_seconds=0.2) as (
        engine,
        console,
    ):
        await engine.resume(console.replier_for)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(  # noqa: ASYNC110 (polling the recorder)
            "launch.mp4" in x for x in console.texts("r")
        ):
            await asyncio.sleep(0.1)
        told = [x for x in console.texts("r") if "launch.mp4" in x]
        # In the chat's language (it wrote Chinese), with what the file is.
        assert told and "0:03" in told[0] and "720p" in told[0], console.texts("r")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in told[0]), told
        while await engine.store.upload_watches():  # noqa: ASYNC110 (the watch ends after telling)
            await asyncio.sleep(0.05)
